/* Range locks: see rangelock.h.  The list of held ranges is as long as
 * the requests in flight plus the deferred writes not yet applied (up to
 * a thousand: writeback.c), and a linear scan of it is still cheaper than
 * the commits it waits for. */
#include "lock.h"
#include "rangelock.h"

void
rangelock_init (struct rangelock *rl, void (*before_wait) (void *opaque),
                void *opaque)
{
  pthread_mutex_init (&rl->lock, NULL);
  pthread_cond_init (&rl->released, NULL);
  rl->held = NULL;
  rl->before_wait = before_wait;
  rl->opaque = opaque;
  atomic_init (&rl->waiting, 0);
}

void
rangelock_destroy (struct rangelock *rl)
{
  pthread_cond_destroy (&rl->released);
  pthread_mutex_destroy (&rl->lock);
}

static bool
conflicts (const struct rangelock *rl, uint64_t start, uint64_t end,
           bool exclusive)
{
  for (const struct range_hold *h = rl->held; h; h = h->next)
    if (h->start < end && start < h->end && (exclusive || h->exclusive))
      return true;
  return false;
}

void
rangelock_acquire (struct rangelock *rl, struct range_hold *hold,
                   uint64_t start, uint64_t end, bool exclusive)
{
  hold->start = start;
  hold->end = end;
  hold->exclusive = exclusive;
  pthread_mutex_lock (&rl->lock);
  if (conflicts (rl, start, end, exclusive)) {
    atomic_fetch_add (&rl->waiting, 1);
    do {
      if (rl->before_wait) {
        pthread_mutex_unlock (&rl->lock);
        rl->before_wait (rl->opaque);
        pthread_mutex_lock (&rl->lock);
        if (!conflicts (rl, start, end, exclusive))
          break;
      }
      pthread_cond_wait (&rl->released, &rl->lock);
    } while (conflicts (rl, start, end, exclusive));
    atomic_fetch_sub (&rl->waiting, 1);
  }
  hold->next = rl->held;
  hold->pprev = &rl->held;
  if (rl->held)
    rl->held->pprev = &hold->next;
  rl->held = hold;
  pthread_mutex_unlock (&rl->lock);
}

void
rangelock_release (struct rangelock *rl, struct range_hold *hold)
{
  pthread_mutex_lock (&rl->lock);
  /* Deferred writes release the oldest holds, at the end of the list:
   * unlinked in place, not found by a scan. */
  *hold->pprev = hold->next;
  if (hold->next)
    hold->next->pprev = hold->pprev;
  if (atomic_load (&rl->waiting) > 0)
    pthread_cond_broadcast (&rl->released);
  pthread_mutex_unlock (&rl->lock);
}

bool
rangelock_contended (struct rangelock *rl)
{
  return atomic_load (&rl->waiting) > 0;
}

bool
rangelock_covers (struct rangelock *rl, uint64_t start, uint64_t end,
                  bool exclusive)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&rl->lock);

  for (const struct range_hold *h = rl->held; h; h = h->next)
    if (h->start <= start && end <= h->end && (h->exclusive || !exclusive))
      return true;
  return false;
}
