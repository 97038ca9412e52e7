/* A disk's counters as reports see them: the ring of recent mismatches
 * across its wrap, and the subtraction of a reset's baseline. */
#include <check.h>

#include "stats.h"
#include "status.h"
#include "util.h"

/* The ring keeps the last STATS_RECENT_MISMATCHES, newest first, across
 * its wrap; a reset keeps only those after it. */
START_TEST (recent_mismatches_and_reset)
{
  struct disk_counters c, baseline;
  struct disk_stats s;

  stats_init (&s);
  for (uint64_t i = 0; i < 3; i++)
    stats_count_mismatch (&s, 1000 + i);
  stats_copy (&s, &baseline);
  ck_assert_uint_eq (baseline.nr_recent, 3);
  ck_assert_uint_eq (baseline.recent_mismatches[0], 1002);
  ck_assert_uint_eq (baseline.recent_mismatches[2], 1000);

  for (uint64_t i = 3; i < 13; i++)
    stats_count_mismatch (&s, 1000 + i);
  atomic_fetch_add (&s.reads, 5);
  stats_copy (&s, &c);
  ck_assert_uint_eq (c.mismatches, 13);
  ck_assert_uint_eq (c.nr_recent, STATS_RECENT_MISMATCHES);
  for (uint64_t i = 0; i < STATS_RECENT_MISMATCHES; i++)
    ck_assert_uint_eq (c.recent_mismatches[i], 1012 - i);

  c.journal.total_blocks = baseline.journal.total_blocks = 256;
  status_subtract (&c, &baseline);
  ck_assert_uint_eq (c.mismatches, 10);
  ck_assert_uint_eq (c.reads, 5);
  ck_assert_uint_eq (c.journal.total_blocks, 256); /* a gauge */
  ck_assert_uint_eq (c.nr_recent, STATS_RECENT_MISMATCHES);

  stats_copy (&s, &baseline);
  stats_count_mismatch (&s, 7);
  stats_copy (&s, &c);
  status_subtract (&c, &baseline);
  ck_assert_uint_eq (c.mismatches, 1);
  ck_assert_uint_eq (c.nr_recent, 1);
  ck_assert_uint_eq (c.recent_mismatches[0], 7);
  stats_destroy (&s);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("stats");
  TCase *tc = tcase_create ("stats");

  tcase_add_test (tc, recent_mismatches_and_reset);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
