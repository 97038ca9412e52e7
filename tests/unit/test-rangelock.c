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

int
main (void)
{
  Suite *s = suite_create ("rangelock");
  TCase *tc = tcase_create ("release");

  tcase_add_test (tc, release_oldest_first);
  tcase_add_test (tc, release_newest_first);
  tcase_add_loop_test (tc, release_shuffled, 0, 20);
  tcase_add_test (tc, waiter_wakes_after_last_conflict);
  /* The waiter test waits up to 2 * BLOCKED_MS + 2 * WAKE_MS. */
  tcase_set_timeout (tc, 10);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
