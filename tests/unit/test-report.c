/* ni_error(): the message of the current call, never an earlier one.  A
 * failure that set no message since the last ni_error_clear reads as
 * strerror (errno), and the entry points the plugin and the tool call,
 * and the functions that handle a failure and go on, clear: a message
 * left by an earlier failure, reported or handled, is not handed out for
 * a later one that set none. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backing.h"
#include "disk.h"
#include "format.h"
#include "params.h"
#include "powerloss.h"
#include "report.h"
#include "status.h"
#include "util.h"

#define SIZE (24 << 20)
#define STALE "an earlier failure's message"

/* ni_error() for a failure with errno ERR that set no message: what the
 * fallback says, and errno is kept. */
static void
reads_as_errno (int err)
{
  errno = err;
  ck_assert_str_eq (ni_error (), strerror (err));
  ck_assert_int_eq (errno, err);
}

START_TEST (cleared_reads_as_errno)
{
  ni_error_set (STALE);
  ni_error_clear ();
  reads_as_errno (EIO);
  reads_as_errno (ENOSPC);
}
END_TEST

START_TEST (set_after_clear_is_the_message)
{
  ni_error_clear ();
  errno = EIO;
  ni_error_set ("disk.img: the message");
  ck_assert_str_eq (ni_error (), "disk.img: the message");
  ck_assert_int_eq (errno, EIO);
}
END_TEST

START_TEST (no_errno_is_unknown)
{
  ni_error_set (STALE);
  ni_error_clear ();
  errno = 0;
  ck_assert_str_eq (ni_error (), "unknown error");
}
END_TEST

/* A prefix names the disk on the fallback, not on the stale message. */
START_TEST (prefix_after_clear_names_errno)
{
  char want[256];

  ni_error_set ("disk.img: " STALE);
  ni_error_clear ();
  errno = ENOSPC;
  ni_error_prefix ("disk.img");
  snprintf (want, sizeof want, "disk.img: %s", strerror (ENOSPC));
  ck_assert_str_eq (ni_error (), want);
  ck_assert_int_eq (errno, ENOSPC);
}
END_TEST

START_TEST (prefix_keeps_a_message_naming_it)
{
  ni_error_clear ();
  ni_error_set ("disk.img: the message");
  ni_error_prefix ("disk.img");
  ck_assert_str_eq (ni_error (), "disk.img: the message");
  ni_error_prefix ("other.img");
  ck_assert_str_eq (ni_error (), "other.img: disk.img: the message");
}
END_TEST

static void *
set_stale (void *arg)
{
  (void)arg;
  ni_error_set (STALE);
  return NULL;
}

/* Another thread's message is not this thread's. */
START_TEST (messages_are_per_thread)
{
  pthread_t t;

  ni_error_clear ();
  pthread_create (&t, NULL, set_stale, NULL);
  pthread_join (t, NULL);
  reads_as_errno (EIO);
}
END_TEST

/* Formatting a blank disk reads its superblock first, and that fails:
 * a failure the format handles, whose message must not outlive it. */
START_TEST (format_forgets_the_blank_disk)
{
  struct format_options fo = {0};
  struct backing *b = powerloss_new (NULL, SIZE);

  ni_error_set (STALE);
  ck_assert_int_eq (format_backing (b, &fo), 0);
  backing_close (b);
  reads_as_errno (EIO);
}
END_TEST

/* So does a status file not there yet. */
START_TEST (status_path_forgets_a_missing_file)
{
  const char *disk = scratch_disk ("disk", SIZE, NULL, 0);

  ni_error_set (STALE);
  ck_assert_int_eq (status_check_path (scratch_path ("status"), disk, NULL), 0);
  reads_as_errno (EIO);
}
END_TEST

/* The entry points start a new call, failing or not. */
START_TEST (entry_points_clear)
{
  const char *disk = scratch_disk ("disk", SIZE, NULL, 0);
  union param_value v;
  struct disk *d;

  ni_error_set (STALE);
  ck_assert_int_eq (param_parse (param_by_name ("mode"), "tags", &v), 0);
  reads_as_errno (EIO);

  ni_error_set (STALE);
  d = open_disk (disk);
  reads_as_errno (EIO);
  ck_assert_int_eq (disk_close (d), 0);

  ni_error_set (STALE);
  ck_assert_int_eq (param_parse (param_by_name ("mode"), "bad", &v), -1);
  ck_assert_ptr_nonnull (strstr (ni_error (), "mode=bad"));
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("report");
  TCase *tc = tcase_create ("report");

  tcase_add_test (tc, cleared_reads_as_errno);
  tcase_add_test (tc, set_after_clear_is_the_message);
  tcase_add_test (tc, no_errno_is_unknown);
  tcase_add_test (tc, prefix_after_clear_names_errno);
  tcase_add_test (tc, prefix_keeps_a_message_naming_it);
  tcase_add_test (tc, messages_are_per_thread);
  tcase_add_test (tc, format_forgets_the_blank_disk);
  tcase_add_test (tc, status_path_forgets_a_missing_file);
  tcase_add_test (tc, entry_points_clear);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
