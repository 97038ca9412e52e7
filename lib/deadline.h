/* Deadlines for pthread_cond_timedwait on a CLOCK_MONOTONIC condition
 * variable: the wall clock may jump, the monotonic clock does not. */
#ifndef NBD_INTEGRITY_DEADLINE_H
#define NBD_INTEGRITY_DEADLINE_H

#include <time.h>

/* The monotonic time MS milliseconds from now. */
static inline struct timespec
deadline_in_ms (long ms)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  ts.tv_nsec += ms * 1000000L;
  ts.tv_sec += ts.tv_nsec / 1000000000L;
  ts.tv_nsec %= 1000000000L;
  return ts;
}

/* Milliseconds from monotonic time T until now. */
static inline long
ms_since (const struct timespec *t)
{
  struct timespec now;

  clock_gettime (CLOCK_MONOTONIC, &now);
  return (now.tv_sec - t->tv_sec) * 1000L +
         (now.tv_nsec - t->tv_nsec) / 1000000L;
}

#endif
