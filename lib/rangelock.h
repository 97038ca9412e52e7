/* Range locks over sector ranges: readers share, writers exclude.
 *
 * A request locks the sectors it touches for its whole duration, so a read
 * never sees data and tags from two different writes, and two overlapping
 * writes reach the journal and the disk in one order.  Holders live on the
 * caller's stack, or with a deferred write until it is applied; nothing is
 * allocated.
 *
 * A deferred write holds its range until some commit applies it.  So that
 * a request waiting for it does not wait for long, an acquire that must
 * wait calls BEFORE_WAIT first (it commits what is queued), and counts
 * itself in WAITING, which a deferred write reads once it is queued: one
 * of the two always sees the other.
 *
 * Finding conflicts.  A thousand deferred writes may hold ranges at once,
 * and every acquire looked at each of them.  So a hold is also filed by
 * the buckets of RANGELOCK_BUCKET_SECTORS it spans, in a table hashed by
 * bucket number: one spanning at most RANGELOCK_LINKS buckets is linked
 * into each of their lists, a wider one into the list of wide holds.  An
 * acquire looks only at the lists of the buckets it spans and at the wide
 * holds; one spanning more than RANGELOCK_SCAN_BUCKETS buckets (a trim of
 * much of the disk) looks at every hold instead.
 */
#ifndef NBD_INTEGRITY_RANGELOCK_H
#define NBD_INTEGRITY_RANGELOCK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define RANGELOCK_BUCKET_SHIFT 8 /* 256 sectors a bucket */
#define RANGELOCK_BUCKETS 4096   /* lists in the table */
#define RANGELOCK_LINKS 2
#define RANGELOCK_SCAN_BUCKETS 64

struct range_hold;

/* A hold's place in one list of the table, or in the wide holds. */
struct range_link {
  struct range_link *next, **pprev;
  struct range_hold *hold;
};

struct range_hold {
  uint64_t start, end; /* sectors [start, end) */
  bool exclusive;
  struct range_hold *next, **pprev; /* in held: every hold */
  struct range_link links[RANGELOCK_LINKS];
  unsigned nr_links;
};

struct rangelock {
  pthread_mutex_t lock; /* protects held, wide and buckets */
  pthread_cond_t released;
  struct range_hold *held;
  struct range_link *wide;
  struct range_link *buckets[RANGELOCK_BUCKETS];
  void (*before_wait) (void *opaque);
  void *opaque;
  atomic_uint waiting; /* acquires that found a conflict */
};

/* BEFORE_WAIT may be NULL. */
void rangelock_init (struct rangelock *rl, void (*before_wait) (void *opaque),
                     void *opaque);
void rangelock_destroy (struct rangelock *rl);

/* Blocks until [START, END) can be held, then holds it in HOLD. */
void rangelock_acquire (struct rangelock *rl, struct range_hold *hold,
                        uint64_t start, uint64_t end, bool exclusive);

/* Holds [START, END) in HOLD if nothing conflicts with it now; false,
 * holding nothing, if something does. */
bool rangelock_try_acquire (struct rangelock *rl, struct range_hold *hold,
                            uint64_t start, uint64_t end, bool exclusive);

void rangelock_release (struct rangelock *rl, struct range_hold *hold);

/* Whether one hold covers [START, END), an exclusive one if EXCLUSIVE:
 * for assertions that a "*_locked" function's caller holds its range. */
bool rangelock_covers (struct rangelock *rl, uint64_t start, uint64_t end,
                       bool exclusive);

/* True while some acquire is waiting. */
bool rangelock_contended (struct rangelock *rl);

#endif
