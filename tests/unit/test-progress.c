/* The tool's progress bar (server/progress.c), drawn on a terminal: a
 * pseudo-terminal stands in for stderr, and the bar's clock is set back
 * instead of waiting.  At 16 TiB a tenth of a percent is minutes of
 * work, so the bar must say more than its percentage: bytes done of the
 * total, the speed, and the time left. */
#include <check.h>
#include <fcntl.h>
#include <pty.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"
#include "util.h"

static int master = -1;

/* Makes a pseudo-terminal stderr, whose output drawn() returns. */
static void
stderr_on_a_terminal (void)
{
  int slave;

  ck_assert_int_eq (openpty (&master, &slave, NULL, NULL, NULL), 0);
  ck_assert_int_ne (dup2 (slave, STDERR_FILENO), -1);
  close (slave);
  fcntl (master, F_SETFL, O_NONBLOCK);
}

/* What was drawn since the last call (at most a few lines). */
static const char *
drawn (void)
{
  static char buf[4096];
  ssize_t n, got = 0;

  while ((n = read (master, buf + got, sizeof buf - 1 - got)) > 0)
    got += n;
  buf[got] = '\0';
  return buf;
}

START_TEST (bytes_speed_and_time_left)
{
  struct progress p;
  const char *out;

  stderr_on_a_terminal ();
  progress_start_bytes (&p, "verifying");
  progress_update (&p, 1u << 30, 16ull << 40);
  ck_assert_str_eq (drawn (), ""); /* nothing in the first second */

  p.start -= 2 * G_USEC_PER_SEC; /* two seconds for 3 GiB: 1.61 GB/s */
  progress_update (&p, 3ull << 30, 16ull << 40);
  out = drawn ();
  ck_assert_msg (strstr (out, "verifying [") && strstr (out, "]   0.0%"),
                 "no bar: %s", out);
  /* 1.61 GB/s at 2 s exactly; the moments the test itself takes (13 ms
   * under ASan in CI) make it 1.60. */
  ck_assert_msg (strstr (out, "3.0 GiB of 16.0 TiB, 1.6") &&
                     strstr (out, " GB/s"),
                 "no bytes or speed: %s", out);
  /* (16 TiB - 3 GiB) at 3 GiB in 2 s: 10,920.7 s, and a little more for
   * those moments: 3:02 or 3:03. */
  ck_assert_msg ((strstr (out, ", 3:02:") || strstr (out, ", 3:03:")) &&
                     strstr (out, " left"),
                 "no time left: %s", out);

  progress_update (&p, 4ull << 30, 16ull << 40);
  ck_assert_str_eq (drawn (), ""); /* not redrawn within half a second */
  p.drawn -= G_USEC_PER_SEC;
  progress_update (&p, 16ull << 40, 16ull << 40);
  out = drawn ();
  ck_assert_msg (strstr (out, "100.0%") && strstr (out, "0:00:00 left"),
                 "the end not drawn: %s", out);
  progress_end (&p);
  ck_assert_str_eq (drawn (), "\r\n"); /* the terminal's newline */
}
END_TEST

START_TEST (counts_without_bytes)
{
  struct progress p;
  const char *out;

  stderr_on_a_terminal ();
  progress_start (&p, "formatting");
  p.start -= 2 * G_USEC_PER_SEC;
  progress_update (&p, 250, 1000);
  out = drawn ();
  ck_assert_msg (strstr (out, "formatting [##########") &&
                     strstr (out, "25.0% 0:00:06 left") && !strstr (out, "B/s"),
                 "a count is not bytes: %s", out);
  progress_end (&p);
}
END_TEST

START_TEST (nothing_without_a_terminal)
{
  struct progress p;
  int fds[2];
  char c;

  ck_assert_int_eq (pipe (fds), 0);
  ck_assert_int_ne (dup2 (fds[1], STDERR_FILENO), -1);
  close (fds[1]);
  fcntl (fds[0], F_SETFL, O_NONBLOCK);
  progress_start_bytes (&p, "verifying");
  p.start -= 2 * G_USEC_PER_SEC;
  progress_update (&p, 1, 2);
  progress_end (&p);
  ck_assert_int_eq (read (fds[0], &c, 1), -1);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("progress");
  TCase *tc = tcase_create ("progress");

  tcase_add_test (tc, bytes_speed_and_time_left);
  tcase_add_test (tc, counts_without_bytes);
  tcase_add_test (tc, nothing_without_a_terminal);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
