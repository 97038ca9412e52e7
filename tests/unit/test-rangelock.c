/* Range locks: holds are found conflicting while held and not once
 * released, whatever order they are released in (deferred writes release
 * the oldest first, requests in any order); a waiter stays blocked while
 * any conflicting hold remains, and wakes once none does. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "deadline.h"
#include "rangelock.h"
#include "util.h"

#define N 64

static size_t
count_held (const struct rangelock *rl)
{
  size_t n = 0;

  for (const struct range_hold *h = rl->held; h; h = h->next) {
    ck_assert_ptr_eq (*h->pprev, h);
    n++;
  }
  return n;
}

static bool
is_held (const struct rangelock *rl, const struct range_hold *hold)
{
  for (const struct range_hold *h = rl->held; h; h = h->next)
    if (h == hold)
      return true;
  return false;
}

/* Releases N holds in the order ORDER, checking the list after each. */
static void
release_in_order (const size_t order[N])
{
  struct rangelock rl;
  struct range_hold holds[N];
  bool released[N] = {false};

  rangelock_init (&rl, NULL, NULL);
  for (size_t i = 0; i < N; i++)
    rangelock_acquire (&rl, &holds[i], i * 8, i * 8 + 8, true);
  for (size_t k = 0; k < N; k++) {
    rangelock_release (&rl, &holds[order[k]]);
    released[order[k]] = true;
    ck_assert_uint_eq (count_held (&rl), N - k - 1);
    for (size_t i = 0; i < N; i++)
      ck_assert (is_held (&rl, &holds[i]) == !released[i]);
  }
  ck_assert_ptr_null (rl.held);
  rangelock_destroy (&rl);
}

START_TEST (release_oldest_first)
{
  size_t order[N];

  for (size_t i = 0; i < N; i++)
    order[i] = i;
  release_in_order (order);
}
END_TEST

START_TEST (release_newest_first)
{
  size_t order[N];

  for (size_t i = 0; i < N; i++)
    order[i] = N - 1 - i;
  release_in_order (order);
}
END_TEST

START_TEST (release_shuffled)
{
  size_t order[N];

  srand (_i + 1);
  for (size_t i = 0; i < N; i++)
    order[i] = i;
  for (size_t i = N - 1; i > 0; i--) {
    size_t j = rand () % (i + 1), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  release_in_order (order);
}
END_TEST

/* How long the waiter must stay blocked for the test to believe it is:
 * long enough for a lock that let it through to have let it through.
 * And how long it may take to wake once free, generous for a busy machine
 * or a sanitizer. */
#define BLOCKED_MS 150
#define WAKE_MS 2000

struct waiter {
  struct rangelock *rl;
  struct range_hold hold;
  bool acquired;
};

static void *
acquire_overlapping (void *arg)
{
  struct waiter *w = arg;

  rangelock_acquire (w->rl, &w->hold, 4, 12, false);
  __atomic_store_n (&w->acquired, true, __ATOMIC_SEQ_CST);
  return NULL;
}

static bool
has_acquired (struct waiter *w)
{
  return __atomic_load_n (&w->acquired, __ATOMIC_SEQ_CST);
}

static bool
before (const struct timespec *deadline)
{
  struct timespec now;

  clock_gettime (CLOCK_MONOTONIC, &now);
  return now.tv_sec < deadline->tv_sec ||
         (now.tv_sec == deadline->tv_sec && now.tv_nsec < deadline->tv_nsec);
}

/* Polls for up to MS milliseconds until the waiter has acquired, or (if
 * OR_CONTENDED) until it waits for the lock.  Bounded, so that a lock
 * that never blocks, or never wakes its waiter, fails the test with a
 * message instead of hanging it. */
static bool
waiter_within (struct waiter *w, long ms, bool or_contended)
{
  const struct timespec pause = {.tv_nsec = 1000000};
  struct timespec deadline = deadline_in_ms (ms);

  while (!has_acquired (w) && !(or_contended && rangelock_contended (w->rl)) &&
         before (&deadline))
    nanosleep (&pause, NULL);
  return has_acquired (w) || (or_contended && rangelock_contended (w->rl));
}

/* A reader of a range two writers hold waits for both to release: it
 * stays blocked while either still holds part of it, for long enough
 * that a lock letting it through would have, and gets the range soon
 * after the last release. */
START_TEST (waiter_wakes_after_last_conflict)
{
  struct rangelock rl;
  struct range_hold a, b;
  struct waiter w = {.rl = &rl};
  pthread_t t;

  rangelock_init (&rl, NULL, NULL);
  rangelock_acquire (&rl, &a, 0, 8, true);
  rangelock_acquire (&rl, &b, 8, 16, true);
  pthread_create (&t, NULL, acquire_overlapping, &w);
  ck_assert_msg (waiter_within (&w, WAKE_MS, true),
                 "the waiter neither waited nor acquired in %d ms", WAKE_MS);
  ck_assert_msg (!waiter_within (&w, BLOCKED_MS, false),
                 "the reader got [4,12) while writers held [0,8) and [8,16)");
  rangelock_release (&rl, &a);
  ck_assert_msg (!waiter_within (&w, BLOCKED_MS, false),
                 "the reader got [4,12) while a writer still held [8,16)");
  rangelock_release (&rl, &b);
  ck_assert_msg (waiter_within (&w, WAKE_MS, false),
                 "the reader did not get [4,12) within %d ms of its release",
                 WAKE_MS);
  pthread_join (t, NULL);
  rangelock_release (&rl, &w.hold);
  ck_assert_ptr_null (rl.held);
  rangelock_destroy (&rl);
}
END_TEST

/* Conflicts, against a list checked one by one: holds of every width
 * (one sector, within one or two buckets, wide, and wider than an
 * acquire looks bucket by bucket), shared and exclusive, in places that
 * share buckets of the table and places whose buckets collide in it,
 * acquired and released at random. */
#define MODEL_HOLDS 48
#define MODEL_STEPS 20000

static uint64_t
model_random (uint64_t *state)
{
  *state ^= *state << 13;
  *state ^= *state >> 7;
  *state ^= *state << 17;
  return *state;
}

/* A range of some width, near one of a few places: two close together,
 * one a whole table of buckets further (the same lists), one far off. */
static void
model_range (uint64_t *state, uint64_t *start, uint64_t *end)
{
  static const uint64_t table = (uint64_t)RANGELOCK_BUCKETS
                                << RANGELOCK_BUCKET_SHIFT;
  static const uint64_t places[] = {0, 1000, table + 500, 7 * table + 3};
  static const uint64_t widths[] = {
      1, 7, 1u << RANGELOCK_BUCKET_SHIFT, 3u << RANGELOCK_BUCKET_SHIFT,
      (RANGELOCK_SCAN_BUCKETS + 5) << RANGELOCK_BUCKET_SHIFT};
  uint64_t r = model_random (state);

  *start = places[r % 4] + (r >> 8) % 2000;
  *end = *start + 1 + (r >> 24) % widths[(r >> 40) % 5];
}

static bool
model_conflicts (const struct range_hold *holds, const bool *held,
                 uint64_t start, uint64_t end, bool exclusive)
{
  for (size_t i = 0; i < MODEL_HOLDS; i++)
    if (held[i] && holds[i].start < end && start < holds[i].end &&
        (exclusive || holds[i].exclusive))
      return true;
  return false;
}

START_TEST (conflicts_match_a_model)
{
  static struct rangelock rl; /* its table is large for a stack */
  struct range_hold holds[MODEL_HOLDS];
  bool held[MODEL_HOLDS] = {false};
  uint64_t state = 0x5eed + _i, start, end;
  size_t granted = 0, refused = 0;

  rangelock_init (&rl, NULL, NULL);
  for (int step = 0; step < MODEL_STEPS; step++) {
    size_t i = model_random (&state) % MODEL_HOLDS;
    bool exclusive = model_random (&state) % 3 == 0, got, want;

    if (held[i]) {
      rangelock_release (&rl, &holds[i]);
      held[i] = false;
      continue;
    }
    model_range (&state, &start, &end);
    want = !model_conflicts (holds, held, start, end, exclusive);
    got = rangelock_try_acquire (&rl, &holds[i], start, end, exclusive);
    ck_assert_msg (got == want, "step %d: [%lu, %lu) %s: %s, expected %s", step,
                   (unsigned long)start, (unsigned long)end,
                   exclusive ? "exclusive" : "shared",
                   got ? "granted" : "refused", want ? "granted" : "refused");
    if (got) {
      ck_assert (rangelock_covers (&rl, start, end, exclusive));
      held[i] = true;
      granted++;
    } else
      refused++;
  }
  /* Both answers came up often, or the model proved little. */
  ck_assert_uint_gt (granted, MODEL_STEPS / 10);
  ck_assert_uint_gt (refused, MODEL_STEPS / 10);
  for (size_t i = 0; i < MODEL_HOLDS; i++)
    if (held[i])
      rangelock_release (&rl, &holds[i]);
  ck_assert_ptr_null (rl.held);
  ck_assert_ptr_null (rl.wide);
  for (size_t b = 0; b < RANGELOCK_BUCKETS; b++)
    ck_assert_ptr_null (rl.buckets[b]);
  rangelock_destroy (&rl);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("rangelock");
  TCase *tc = tcase_create ("release");

  tcase_add_test (tc, release_oldest_first);
  tcase_add_test (tc, release_newest_first);
  tcase_add_loop_test (tc, release_shuffled, 0, 20);
  tcase_add_test (tc, waiter_wakes_after_last_conflict);
  tcase_add_loop_test (tc, conflicts_match_a_model, 0, 4);
  /* The waiter test waits up to 2 * BLOCKED_MS + 2 * WAKE_MS. */
  tcase_set_timeout (tc, 10);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
