/* Locks held for a scope, and the check that a lock is held.
 *
 * ACQUIRE_LOCK_FOR_CURRENT_SCOPE (M) locks the pthread mutex *M until the
 * enclosing block is left, however it is left (nbdkit's cleanup.h has the
 * same), so a function with several returns unlocks in one place.
 *
 * ASSERT_LOCKED (M) states a "*_locked" function's promise that its
 * caller holds *M.  A mutex does not say who holds it, so the check is
 * that someone does: a caller that forgot the lock usually finds it free.
 * It costs one atomic operation, and is compiled out with NDEBUG.
 */
#ifndef NBD_INTEGRITY_LOCK_H
#define NBD_INTEGRITY_LOCK_H

#include <assert.h>
#include <errno.h>
#include <pthread.h>

static inline void
lock_release (pthread_mutex_t **m)
{
  pthread_mutex_unlock (*m);
}

#define LOCK_NAME_(line) held_lock_##line
#define LOCK_NAME(line) LOCK_NAME_ (line)
#define ACQUIRE_LOCK_FOR_CURRENT_SCOPE(m)                                      \
  pthread_mutex_t *LOCK_NAME (__LINE__)                                        \
      __attribute__ ((cleanup (lock_release), unused)) = (m);                  \
  pthread_mutex_lock (LOCK_NAME (__LINE__))

#ifdef NDEBUG
#define ASSERT_LOCKED(m) ((void)(m))
#else
static inline int
lock_is_held (pthread_mutex_t *m)
{
  if (pthread_mutex_trylock (m) == EBUSY)
    return 1;
  pthread_mutex_unlock (m);
  return 0;
}
#define ASSERT_LOCKED(m) assert (lock_is_held (m))
#endif

#endif
