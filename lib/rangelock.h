/* Range locks over sector ranges: readers share, writers exclude.
 *
 * A request locks the sectors it touches for its whole duration, so a read
 * never sees data and tags from two different writes, and two overlapping
 * writes reach the journal and the disk in one order.  Holders live on the
 * caller's stack; nothing is allocated.
 */
#ifndef NBD_INTEGRITY_RANGELOCK_H
#define NBD_INTEGRITY_RANGELOCK_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct range_hold {
  uint64_t start, end; /* sectors [start, end) */
  bool exclusive;
  struct range_hold *next;
};

struct rangelock {
  pthread_mutex_t lock; /* protects held */
  pthread_cond_t released;
  struct range_hold *held;
};

void rangelock_init (struct rangelock *rl);
void rangelock_destroy (struct rangelock *rl);

/* Blocks until [START, END) can be held, then holds it in HOLD. */
void rangelock_acquire (struct rangelock *rl, struct range_hold *hold,
                        uint64_t start, uint64_t end, bool exclusive);

void rangelock_release (struct rangelock *rl, struct range_hold *hold);

#endif
