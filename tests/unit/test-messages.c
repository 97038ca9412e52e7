/* Every refused or failed disk call records a message of its own in
 * ni_error(), naming the disk: the tool prints it, and a caller must never
 * print an older message for a new failure.  The backing-error paths are
 * checked by test-faults; these are the requests refused before any I/O
 * and the read that fails on a tag mismatch. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "report.h"
#include "util.h"

#define SIZE (24 << 20)
#define SS 4096

static uint8_t buf[2 * SS];

/* Clears the message before a call that must fail with ERR, so that
 * fails_with finds only what the call itself recorded. */
static void
clear (void)
{
  ni_error_set ("%s", "");
}

static void
fails_with (int r, int err, const struct disk *d, const char *what)
{
  ck_assert_msg (r == -1, "%s succeeded", what);
  ck_assert_msg (errno == err, "%s: errno %d, not %d", what, errno, err);
  ck_assert_msg (strstr (ni_error (), disk_name (d)) != NULL,
                 "%s: no message naming the disk: '%s'", what, ni_error ());
}

START_TEST (requests_past_the_end)
{
  struct disk *d = open_disk (scratch_disk ("end.img", SIZE, NULL, SS));
  uint64_t end = disk_size (d);

  clear ();
  fails_with (disk_read (d, buf, SS, end), EINVAL, d, "read");
  clear ();
  fails_with (disk_write (d, buf, SS, end - 1, false), EINVAL, d, "write");
  clear ();
  fails_with (disk_trim (d, SS, end, false), EINVAL, d, "trim");
  clear ();
  fails_with (disk_zero (d, 2 * SS, end - SS, false), EINVAL, d, "zero");
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

START_TEST (changes_to_a_read_only_disk)
{
  const char *path = scratch_disk ("ro.img", SIZE, NULL, SS);
  struct disk_options opts = {.path = path, .readonly = true};
  struct disk *d = disk_open (&opts);

  ck_assert_msg (d != NULL, "%s", ni_error ());
  clear ();
  fails_with (disk_write (d, buf, SS, 0, false), EROFS, d, "write");
  clear ();
  fails_with (disk_zero_fast (d, SS, 0, false), EROFS, d, "fast zero");
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

START_TEST (fast_zero_of_part_of_a_sector)
{
  struct disk *d = open_disk (scratch_disk ("fz.img", SIZE, NULL, SS));

  clear ();
  fails_with (disk_zero_fast (d, 100, 0, false), ENOTSUP, d, "fast zero");
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

START_TEST (read_of_a_damaged_sector)
{
  const char *path = scratch_disk ("bad.img", SIZE, NULL, SS);
  struct disk *d = open_disk (path);
  uint64_t at = sb_data_offset (disk_superblock (d), 1);

  memset (buf, 'A', sizeof buf);
  ck_assert_int_eq (disk_write (d, buf, sizeof buf, 0, true), 0);
  ck_assert_int_eq (disk_close (d), 0);
  file_flip_bit (path, at + 100, 0);
  d = open_disk (path);
  clear ();
  fails_with (disk_read (d, buf, sizeof buf, 0), EIO, d, "read");
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("messages");
  TCase *tc = tcase_create ("messages");

  tcase_add_test (tc, requests_past_the_end);
  tcase_add_test (tc, changes_to_a_read_only_disk);
  tcase_add_test (tc, fast_zero_of_part_of_a_sector);
  tcase_add_test (tc, read_of_a_damaged_sector);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
