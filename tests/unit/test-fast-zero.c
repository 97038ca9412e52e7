/* Fast zero (disk_zero_fast): it zeroes whole sectors on a backing known
 * to punch, and everywhere else, where zeroes would have to be written,
 * fails with ENOTSUP having written nothing at all: no data, no journal
 * record, no tag.  What a backing can punch is learned from the open of a
 * file and from every punch. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "faulty.h"
#include "powerloss.h"
#include "util.h"

#define SIZE (24 << 20)
#define SS 4096
#define SECTORS 16

/* The backing bytes written since the last call. */
static uint64_t
written_since (struct disk *d, uint64_t *last)
{
  struct disk_counters c;
  uint64_t n;

  disk_get_counters (d, &c);
  n = c.backing_bytes_written - *last;
  *last = c.backing_bytes_written;
  return n;
}

static void
fill (struct disk *d, uint8_t *model)
{
  memset (model, 'A', SECTORS * SS);
  ck_assert_int_eq (disk_write (d, model, SECTORS * SS, 0, true), 0);
}

static void
check_model (struct disk *d, const uint8_t *model)
{
  static uint8_t back[SECTORS * SS];

  ck_assert_int_eq (disk_read (d, back, sizeof back, 0), 0);
  ck_assert_mem_eq (back, model, sizeof back);
}

/* A fast zero that must fail: ENOTSUP, nothing written, data kept. */
static void
refused (struct disk *d, uint32_t count, uint64_t offset, const uint8_t *model)
{
  uint64_t last = 0;

  written_since (d, &last);
  errno = 0;
  ck_assert_int_eq (disk_zero_fast (d, count, offset, true), -1);
  ck_assert_int_eq (errno, ENOTSUP);
  ck_assert_uint_eq (written_since (d, &last), 0);
  check_model (d, model);
}

static void
zeroed (struct disk *d, uint32_t count, uint64_t offset, uint8_t *model)
{
  ck_assert_int_eq (disk_zero_fast (d, count, offset, false), 0);
  memset (model + offset, 0, count);
  check_model (d, model);
}

/* A file on a file system that punches (the scratch directory's). */
START_TEST (whole_sectors_are_fast_partial_ones_refused)
{
  const char *path = scratch_disk ("file", SIZE, NULL, SS);
  struct disk *d = open_disk (path);
  static uint8_t model[SECTORS * SS];

  fill (d, model);
  zeroed (d, 4 * SS, 2 * SS, model);
  refused (d, 2 * SS, 8 * SS + 1, model);
  refused (d, SS + 1, 10 * SS, model);
  refused (d, 100, 12 * SS + 17, model);
  zeroed (d, SS, 14 * SS, model);
  ck_assert_int_eq (disk_close (d), 0);
  d = open_disk (path);
  check_model (d, model);
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

/* A backing not yet known to punch is refused until a punch works. */
START_TEST (refused_until_a_punch_has_worked)
{
  uint8_t *image = formatted_image (SIZE);
  struct disk_options opts = {.path = "memory"};
  struct disk *d = disk_open_backing (powerloss_new (image, SIZE), &opts);
  static uint8_t model[SECTORS * SS];

  ck_assert_ptr_nonnull (d);
  fill (d, model);
  refused (d, 4 * SS, 0, model);
  ck_assert_int_eq (disk_trim (d, SS, 15 * SS, false), 0);
  memset (model + 15 * SS, 0, SS);
  zeroed (d, 4 * SS, 0, model);
  ck_assert_int_eq (disk_close (d), 0);
  free (image);
}
END_TEST

/* A backing that cannot punch: zero writes zeroes, fast zero refuses. */
START_TEST (refused_where_the_backing_cannot_punch)
{
  uint8_t *image = formatted_image (SIZE);
  struct backing *b = faulty_new (powerloss_new (image, SIZE));
  struct disk_options opts = {.path = "no-punch"};
  struct disk *d = disk_open_backing (b, &opts);
  static uint8_t model[SECTORS * SS];

  ck_assert_ptr_nonnull (d);
  fill (d, model);
  faulty_target (b, FAULTY_PUNCH, 0, SIZE);
  faulty_arm (b, 1, EOPNOTSUPP, true);
  ck_assert_int_eq (disk_zero (d, 4 * SS, 4 * SS, false), 0);
  memset (model + 4 * SS, 0, 4 * SS);
  check_model (d, model);
  refused (d, 4 * SS, 8 * SS, model);
  ck_assert_int_eq (disk_close (d), 0);
  free (image);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("fast-zero");
  TCase *tc = tcase_create ("fast-zero");

  tcase_add_test (tc, whole_sectors_are_fast_partial_ones_refused);
  tcase_add_test (tc, refused_until_a_punch_has_worked);
  tcase_add_test (tc, refused_where_the_backing_cannot_punch);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
