/* Write-back: see writeback.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "writeback.h"

struct writeback {
  struct journal *j;
  size_t budget;

  pthread_mutex_t lock; /* protects every field below */
  pthread_cond_t freed; /* room was given back */
  size_t used;          /* bytes allocated */
  unsigned waiting;     /* writers waiting for room */
  int err;              /* of a failed deferred write; 0 if none */
};

struct writeback *
writeback_new (struct journal *j, size_t budget)
{
  struct writeback *wb = calloc (1, sizeof *wb);

  if (wb == NULL)
    return NULL;
  wb->j = j;
  wb->budget = budget;
  pthread_mutex_init (&wb->lock, NULL);
  pthread_cond_init (&wb->freed, NULL);
  return wb;
}

void
writeback_free (struct writeback *wb)
{
  if (wb == NULL)
    return;
  pthread_cond_destroy (&wb->freed);
  pthread_mutex_destroy (&wb->lock);
  free (wb);
}

size_t
writeback_max_bytes (const struct writeback *wb)
{
  return wb->budget / 4;
}

void *
writeback_alloc (struct writeback *wb, size_t bytes)
{
  void *p;

  if (bytes > wb->budget) {
    errno = EINVAL; /* it would wait for ever */
    return NULL;
  }
  pthread_mutex_lock (&wb->lock);
  while (wb->used + bytes > wb->budget) {
    /* Whatever fills the budget is queued, or about to be: a writer that
     * queues while we wait sees us waiting (writeback_submitted). */
    wb->waiting++;
    pthread_mutex_unlock (&wb->lock);
    journal_commit_submitted (wb->j);
    pthread_mutex_lock (&wb->lock);
    if (wb->used + bytes > wb->budget)
      pthread_cond_wait (&wb->freed, &wb->lock);
    wb->waiting--;
  }
  wb->used += bytes;
  pthread_mutex_unlock (&wb->lock);
  p = malloc (bytes);
  if (p == NULL)
    writeback_release (wb, NULL, bytes);
  return p;
}

void
writeback_release (struct writeback *wb, void *p, size_t bytes)
{
  free (p);
  pthread_mutex_lock (&wb->lock);
  wb->used -= bytes;
  pthread_cond_broadcast (&wb->freed);
  pthread_mutex_unlock (&wb->lock);
}

void
writeback_submitted (struct writeback *wb, bool contended)
{
  bool commit;

  pthread_mutex_lock (&wb->lock);
  commit = contended || wb->waiting > 0 || wb->used >= wb->budget / 2;
  pthread_mutex_unlock (&wb->lock);
  if (commit)
    journal_commit_submitted (wb->j);
}

void
writeback_failed (struct writeback *wb, int err)
{
  pthread_mutex_lock (&wb->lock);
  if (wb->err == 0)
    wb->err = err ? err : EIO;
  pthread_mutex_unlock (&wb->lock);
}

int
writeback_flush (struct writeback *wb)
{
  int err;

  journal_commit_submitted (wb->j);
  pthread_mutex_lock (&wb->lock);
  err = wb->err;
  wb->err = 0;
  pthread_mutex_unlock (&wb->lock);
  if (err == 0)
    return 0;
  errno = err;
  return -1;
}

uint64_t
writeback_pending_bytes (struct writeback *wb)
{
  uint64_t used;

  pthread_mutex_lock (&wb->lock);
  used = wb->used;
  pthread_mutex_unlock (&wb->lock);
  return used;
}
