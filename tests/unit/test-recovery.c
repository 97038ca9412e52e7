/* Recovery decisions, one outcome of a crash at a time: the journal holds
 * sector 5's new tag, and the data on the disk is new, old, or torn. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "format.h"
#include "powerloss.h"
#include "report.h"

#define SIZE (24 << 20)
#define SS 4096

static uint8_t old_data[SS], new_data[SS];
static uint8_t *crashed; /* the disk image, B journaled, A checkpointed */
static uint64_t offset5; /* sector 5's data on the backing */

static void
quiet (enum ni_log_level level, const char *msg)
{
  (void)level;
  (void)msg;
}

static struct disk *
open_image (const uint8_t *image)
{
  struct disk_options opts = {.path = "memory"};

  return disk_open_backing (powerloss_new (image, SIZE), &opts);
}

static void
setup (void)
{
  struct format_options fo = {.force = true};
  struct backing *b = powerloss_new (NULL, SIZE);
  struct disk_options opts = {.path = "memory"};
  struct disk *d;

  ni_log_set (quiet);
  memset (old_data, 'A', SS);
  memset (new_data, 'B', SS);
  ck_assert_int_eq (format_backing (b, &fo), 0);
  d = disk_open_backing (b, &opts);
  ck_assert_int_eq (disk_write (d, old_data, SS, 5 * SS, false), 0);
  ck_assert_int_eq (disk_write (d, old_data, SS, 7 * SS, false), 0);
  ck_assert_int_eq (disk_flush (d), 0);
  ck_assert_int_eq (disk_checkpoint (d), 0);
  ck_assert_int_eq (disk_write (d, new_data, SS, 5 * SS, false), 0);
  ck_assert_int_eq (disk_trim (d, SS, 7 * SS, false), 0);
  offset5 = sb_data_offset (disk_superblock (d), 5);
  /* The process dies here: everything written is on the disk. */
  crashed = malloc (SIZE);
  memcpy (crashed, powerloss_current (b), SIZE);
}

static void
teardown (void)
{
  free (crashed);
}

static void
expect_sector5 (struct disk *d, const uint8_t *want)
{
  uint8_t buf[SS];

  ck_assert_int_eq (disk_read (d, buf, SS, 5 * SS), 0);
  ck_assert_int_eq (memcmp (buf, want, SS), 0);
}

START_TEST (new_data_keeps_new_tag)
{
  struct disk *d = open_image (crashed);

  ck_assert_ptr_nonnull (d);
  ck_assert_uint_ge (disk_recovery_report (d)->kept_new, 1);
  expect_sector5 (d, new_data);
  disk_close (d);
}
END_TEST

START_TEST (old_data_keeps_old_tag)
{
  struct disk *d;

  memcpy (crashed + offset5, old_data, SS);
  d = open_image (crashed);
  ck_assert_uint_eq (disk_recovery_report (d)->kept_old, 1);
  expect_sector5 (d, old_data);
  disk_close (d);
}
END_TEST

START_TEST (torn_data_fails_neighbours_do_not)
{
  uint8_t buf[SS];
  struct disk *d;

  memcpy (crashed + offset5, old_data, SS / 2); /* first half old */
  d = open_image (crashed);
  ck_assert_uint_eq (disk_recovery_report (d)->neither, 1);
  ck_assert_int_eq (disk_read (d, buf, SS, 5 * SS), -1);
  ck_assert_int_eq (errno, EIO);
  ck_assert_int_eq (disk_read (d, buf, SS, 4 * SS), 0);
  ck_assert_int_eq (disk_read (d, buf, SS, 6 * SS), 0);
  disk_close (d);
}
END_TEST

START_TEST (trimmed_sector_reads_zeroes_or_old)
{
  static const uint8_t zeroes[SS];
  uint8_t buf[SS];
  struct disk *d = open_image (crashed);

  ck_assert_int_eq (disk_read (d, buf, SS, 7 * SS), 0);
  ck_assert (memcmp (buf, zeroes, SS) == 0 || memcmp (buf, old_data, SS) == 0);
  disk_close (d);
}
END_TEST

/* Recovering the same crash twice decides the same, and the disk that
 * recovery leaves behind still fails the torn sector and only it. */
START_TEST (recovery_is_idempotent)
{
  struct disk_options opts = {.path = "memory"};
  uint8_t *after = NULL, buf[SS];
  struct backing *b;
  struct disk *d;

  memcpy (crashed + offset5, old_data, SS / 2);
  for (int i = 0; i < 2; i++) {
    d = open_image (crashed);
    ck_assert_uint_eq (disk_recovery_report (d)->neither, 1);
    ck_assert_uint_eq (disk_recovery_report (d)->kept_new, 1); /* trim */
    disk_close (d);
  }
  b = powerloss_new (crashed, SIZE);
  powerloss_keep_image (b, &after, 1);
  disk_close (disk_open_backing (b, &opts));
  d = open_image (after);
  ck_assert_uint_eq (disk_recovery_report (d)->sectors, 0);
  ck_assert_int_eq (disk_read (d, buf, SS, 5 * SS), -1);
  ck_assert_int_eq (disk_read (d, buf, SS, 6 * SS), 0);
  disk_close (d);
  free (after);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("recovery");
  TCase *tc = tcase_create ("recovery");
  SRunner *sr;
  int failed;

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, new_data_keeps_new_tag);
  tcase_add_test (tc, old_data_keeps_old_tag);
  tcase_add_test (tc, torn_data_fails_neighbours_do_not);
  tcase_add_test (tc, trimmed_sector_reads_zeroes_or_old);
  tcase_add_test (tc, recovery_is_idempotent);
  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
