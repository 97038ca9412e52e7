/* Rate-limited logging: the burst, the window, the count of what was
 * suppressed and the one line that reports it. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "ratelimit.h"
#include "report.h"
#include "util.h"

/* Messages captured from ni_log. */
static char captured[64][512];
static int nr_captured;

static void
capture (enum ni_log_level level, const char *msg)
{
  (void)level;
  ck_assert_int_lt (nr_captured, 64);
  snprintf (captured[nr_captured++], sizeof captured[0], "%s", msg);
}

/* Sends N messages at time NOW; returns how many were allowed. */
static int
send_messages (struct ratelimit *rl, int n, uint64_t now, uint64_t *ended)
{
  int allowed = 0;

  for (int i = 0; i < n; i++)
    allowed += ratelimit_allow (rl, now, ended);
  return allowed;
}

START_TEST (burst_then_count_until_the_window_ends)
{
  struct ratelimit rl;
  uint64_t ended;

  ratelimit_init (&rl, "disk.img", "mismatches");
  ck_assert_int_eq (send_messages (&rl, RATELIMIT_BURST, 5000, &ended),
                    RATELIMIT_BURST);
  ck_assert_uint_eq (ended, 0);
  ck_assert_int_eq (
      send_messages (&rl, 25, 5000 + RATELIMIT_INTERVAL_MS - 1, &ended), 0);
  ck_assert_uint_eq (ended, 0);
  /* Not over yet: nothing to report. */
  ck_assert_uint_eq (
      ratelimit_take_suppressed (&rl, 5000 + RATELIMIT_INTERVAL_MS - 1, false),
      0);
  /* The first message of the next window reports the last one's count. */
  ck_assert (ratelimit_allow (&rl, 5000 + RATELIMIT_INTERVAL_MS, &ended));
  ck_assert_uint_eq (ended, 25);
  ck_assert_int_eq (
      send_messages (&rl, 20, 5000 + RATELIMIT_INTERVAL_MS, &ended),
      RATELIMIT_BURST - 1);
  ck_assert_uint_eq (ended, 0);
  ratelimit_destroy (&rl);
}
END_TEST

/* A window starts at its first message, not on a fixed clock. */
START_TEST (window_starts_with_its_first_message)
{
  struct ratelimit rl;
  uint64_t ended;

  ratelimit_init (&rl, "disk.img", "mismatches");
  ck_assert_int_eq (send_messages (&rl, 1, 100, &ended), 1);
  ck_assert_int_eq (
      send_messages (&rl, 30, 100 + RATELIMIT_INTERVAL_MS, &ended),
      RATELIMIT_BURST);
  ck_assert_uint_eq (ended, 0);
  ck_assert_uint_eq (
      ratelimit_take_suppressed (&rl, 99 + 2 * RATELIMIT_INTERVAL_MS, false),
      0);
  ck_assert_uint_eq (
      ratelimit_take_suppressed (&rl, 100 + 2 * RATELIMIT_INTERVAL_MS, false),
      30 - RATELIMIT_BURST);
  /* Reported once only. */
  ck_assert_uint_eq (
      ratelimit_take_suppressed (&rl, 100 + 3 * RATELIMIT_INTERVAL_MS, true),
      0);
  ratelimit_destroy (&rl);
}
END_TEST

START_TEST (end_reports_the_window_in_progress)
{
  struct ratelimit rl;
  uint64_t ended;

  ratelimit_init (&rl, "disk.img", "mismatches");
  send_messages (&rl, RATELIMIT_BURST + 3, 0, &ended);
  ck_assert_uint_eq (ratelimit_take_suppressed (&rl, 1, true), 3);
  ck_assert_uint_eq (ratelimit_take_suppressed (&rl, 2, true), 0);
  ratelimit_destroy (&rl);
}
END_TEST

/* On the real clock: a flood logs the burst, then the one summary line. */
START_TEST (flood_logs_burst_and_one_summary)
{
  struct ratelimit rl;

  ni_log_set (capture);
  ratelimit_init (&rl, "disk.img", "mismatches");
  for (int i = 0; i < 100; i++)
    ratelimit_log (&rl, NI_LOG_ERROR, "disk.img: sector %d: bad", i);
  ck_assert_int_eq (nr_captured, RATELIMIT_BURST);
  ck_assert_str_eq (captured[0], "disk.img: sector 0: bad");
  ck_assert_str_eq (captured[RATELIMIT_BURST - 1], "disk.img: sector 9: bad");
  ratelimit_log_suppressed (&rl, true);
  ck_assert_int_eq (nr_captured, RATELIMIT_BURST + 1);
  ck_assert_str_eq (captured[RATELIMIT_BURST],
                    "disk.img: 90 more mismatches suppressed");
  ratelimit_log_suppressed (&rl, true);
  ck_assert_int_eq (nr_captured, RATELIMIT_BURST + 1);
  ratelimit_destroy (&rl);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("ratelimit");
  TCase *tc = tcase_create ("ratelimit");

  tcase_add_test (tc, burst_then_count_until_the_window_ends);
  tcase_add_test (tc, window_starts_with_its_first_message);
  tcase_add_test (tc, end_reports_the_window_in_progress);
  tcase_add_test (tc, flood_logs_burst_and_one_summary);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
