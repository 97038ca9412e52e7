/* Range locks: see rangelock.h for how holds are filed by bucket. */
#include <string.h>

#include "lock.h"
#include "rangelock.h"

void
rangelock_init (struct rangelock *rl, void (*before_wait) (void *opaque),
                void *opaque)
{
  pthread_mutex_init (&rl->lock, NULL);
  pthread_cond_init (&rl->released, NULL);
  rl->held = NULL;
  rl->wide = NULL;
  memset (rl->buckets, 0, sizeof rl->buckets);
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

/* The first and last buckets of [START, END), END > START. */
static uint64_t
first_bucket (uint64_t start)
{
  return start >> RANGELOCK_BUCKET_SHIFT;
}

static uint64_t
last_bucket (uint64_t end)
{
  return (end - 1) >> RANGELOCK_BUCKET_SHIFT;
}

static struct range_link **
bucket_list (struct rangelock *rl, uint64_t bucket)
{
  return &rl->buckets[bucket % RANGELOCK_BUCKETS];
}

static bool
overlaps (const struct range_hold *h, uint64_t start, uint64_t end,
          bool exclusive)
{
  return h->start < end && start < h->end && (exclusive || h->exclusive);
}

static bool
list_conflicts (const struct range_link *l, uint64_t start, uint64_t end,
                bool exclusive)
{
  for (; l; l = l->next)
    if (overlaps (l->hold, start, end, exclusive))
      return true;
  return false;
}

static bool
conflicts (struct rangelock *rl, uint64_t start, uint64_t end, bool exclusive)
{
  ASSERT_LOCKED (&rl->lock);
  uint64_t first = first_bucket (start), last = last_bucket (end);

  if (last - first >= RANGELOCK_SCAN_BUCKETS) {
    for (const struct range_hold *h = rl->held; h; h = h->next)
      if (overlaps (h, start, end, exclusive))
        return true;
    return false;
  }
  if (list_conflicts (rl->wide, start, end, exclusive))
    return true;
  for (uint64_t b = first; b <= last; b++)
    if (list_conflicts (*bucket_list (rl, b), start, end, exclusive))
      return true;
  return false;
}

static void
link_into (struct range_link **list, struct range_link *l,
           struct range_hold *hold)
{
  l->hold = hold;
  l->next = *list;
  l->pprev = list;
  if (*list)
    (*list)->pprev = &l->next;
  *list = l;
}

static void
unlink_from (struct range_link *l)
{
  *l->pprev = l->next;
  if (l->next)
    l->next->pprev = l->pprev;
}

/* Files HOLD, which nothing conflicts with, as held. */
static void
insert_locked (struct rangelock *rl, struct range_hold *hold)
{
  ASSERT_LOCKED (&rl->lock);
  uint64_t first = first_bucket (hold->start), last = last_bucket (hold->end);

  hold->next = rl->held;
  hold->pprev = &rl->held;
  if (rl->held)
    rl->held->pprev = &hold->next;
  rl->held = hold;
  if (last - first >= RANGELOCK_LINKS) {
    hold->nr_links = 1;
    link_into (&rl->wide, &hold->links[0], hold);
    return;
  }
  hold->nr_links = last - first + 1;
  for (unsigned i = 0; i < hold->nr_links; i++)
    link_into (bucket_list (rl, first + i), &hold->links[i], hold);
}

static void
set_range (struct range_hold *hold, uint64_t start, uint64_t end,
           bool exclusive)
{
  hold->start = start;
  hold->end = end;
  hold->exclusive = exclusive;
}

void
rangelock_acquire (struct rangelock *rl, struct range_hold *hold,
                   uint64_t start, uint64_t end, bool exclusive)
{
  set_range (hold, start, end, exclusive);
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
  insert_locked (rl, hold);
  pthread_mutex_unlock (&rl->lock);
}

bool
rangelock_try_acquire (struct rangelock *rl, struct range_hold *hold,
                       uint64_t start, uint64_t end, bool exclusive)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&rl->lock);

  set_range (hold, start, end, exclusive);
  if (conflicts (rl, start, end, exclusive))
    return false;
  insert_locked (rl, hold);
  return true;
}

void
rangelock_release (struct rangelock *rl, struct range_hold *hold)
{
  pthread_mutex_lock (&rl->lock);
  *hold->pprev = hold->next;
  if (hold->next)
    hold->next->pprev = hold->pprev;
  for (unsigned i = 0; i < hold->nr_links; i++)
    unlink_from (&hold->links[i]);
  if (atomic_load (&rl->waiting) > 0)
    pthread_cond_broadcast (&rl->released);
  pthread_mutex_unlock (&rl->lock);
}

bool
rangelock_contended (struct rangelock *rl)
{
  return atomic_load (&rl->waiting) > 0;
}

static bool
list_covers (const struct range_link *l, uint64_t start, uint64_t end,
             bool exclusive)
{
  for (; l; l = l->next)
    if (l->hold->start <= start && end <= l->hold->end &&
        (l->hold->exclusive || !exclusive))
      return true;
  return false;
}

/* A hold that covers the range holds its first sector, so it is in that
 * sector's bucket or among the wide holds. */
bool
rangelock_covers (struct rangelock *rl, uint64_t start, uint64_t end,
                  bool exclusive)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&rl->lock);

  return list_covers (*bucket_list (rl, first_bucket (start)), start, end,
                      exclusive) ||
         list_covers (rl->wide, start, end, exclusive);
}
