/* Backing-disk errors, after SQLite's fault-injection loop: for every
 * operation, fail its Nth backing I/O call, for N = 1, 2, ... until the
 * operation no longer reaches the fault.  At every N the operation fails
 * with the injected errno (never success on a failed write, never a
 * different error) and a message of its own naming the disk, the sectors
 * it did not touch are unharmed, and the disk goes on working: a rewrite
 * succeeds and survives a reopen. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "faulty.h"
#include "format.h"
#include "powerloss.h"
#include "report.h"
#include "util.h"

#define SIZE (24 << 20)
#define SS 4096
#define SECTORS 16
#define FIRST 4 /* the operation touches sectors FIRST..FIRST+3 */

static const int errnos[] = {EIO, ENOSPC};

static uint8_t *formatted;

static void
setup (void)
{
  formatted = formatted_image (SIZE);
}

static void
teardown (void)
{
  free (formatted);
}

/* Sectors outside the operation read as they were; inside, whatever each
 * reads is, whole, its old contents, what OP wrote, or zeroes, or an
 * error: never other data, nor a mix of them. */
static void
check_sectors (struct disk *d, enum disk_op op)
{
  static uint8_t old_data[SECTORS * SS], new_data[SECTORS * SS];
  static const uint8_t zeroes[SS];
  uint8_t buf[SS];

  memset (old_data, 'A', sizeof old_data);
  memcpy (new_data, old_data, sizeof new_data);
  apply_disk_op (new_data, op, FIRST);
  for (int s = 0; s < SECTORS; s++) {
    bool inside = s >= FIRST && s < FIRST + 4;
    int r = disk_read (d, buf, SS, s * SS);
    bool is_old = r == 0 && memcmp (buf, old_data + s * SS, SS) == 0;

    if (!inside) {
      ck_assert_msg (r == 0, "op %d: sector %d, outside it, fails", op, s);
      ck_assert_msg (is_old, "op %d changed sector %d, outside it", op, s);
    } else if (r == 0)
      ck_assert_msg (is_old || memcmp (buf, new_data + s * SS, SS) == 0 ||
                         memcmp (buf, zeroes, SS) == 0,
                     "op %d left sector %d neither old, new nor zeroes", op, s);
  }
}

static struct disk *
open_after (const uint8_t *image)
{
  struct disk_options opts = {.path = "reopened"};
  struct disk *d = disk_open_backing (powerloss_new (image, SIZE), &opts);

  ck_assert_ptr_nonnull (d);
  return d;
}

/* Returns true once the operation ran without reaching call N. */
static bool
one_fault (enum disk_op op, int err, uint64_t n)
{
  struct backing *mem = powerloss_new (formatted, SIZE);
  struct backing *b = faulty_new (mem);
  struct disk_options opts = {.path = "faulty"};
  uint8_t data[SECTORS * SS], rewritten[4 * SS], *after = NULL;
  struct disk *d;
  bool hit;
  int r;

  powerloss_keep_image (mem, &after, 0);
  d = disk_open_backing (b, &opts);
  ck_assert_ptr_nonnull (d);
  memset (data, 'A', sizeof data);
  ck_assert_int_eq (disk_write (d, data, sizeof data, 0, false), 0);
  ck_assert_int_eq (disk_flush (d), 0);

  faulty_arm (b, n, err, false);
  ni_error_set ("%s", ""); /* what the failure says must be its own */
  r = run_disk_op (d, op, FIRST);
  hit = faulty_hit (b);
  faulty_arm (b, 0, 0, false);
  if (!hit)
    ck_assert_int_eq (r, 0);
  else {
    ck_assert_msg (r == -1, "op %d ignored a fault at call %lu", op,
                   (unsigned long)n);
    ck_assert_int_eq (errno, err);
    ck_assert_msg (strstr (ni_error (), disk_name (d)) != NULL,
                   "op %d, fault at call %lu: no message naming the disk: "
                   "'%s'",
                   op, (unsigned long)n, ni_error ());
  }
  check_sectors (d, op);

  /* The disk goes on: a rewrite works and survives a reopen. */
  memset (data, 'C', 4 * SS);
  ck_assert_int_eq (disk_write (d, data, 4 * SS, FIRST * SS, false), 0);
  ck_assert_int_eq (disk_close (d), 0);
  d = open_after (after);
  memset (rewritten, 'C', sizeof rewritten);
  ck_assert_int_eq (disk_read (d, data, 4 * SS, FIRST * SS), 0);
  ck_assert_msg (memcmp (data, rewritten, sizeof rewritten) == 0,
                 "op %d: the rewrite did not survive a reopen", op);
  disk_close (d);
  free (after);
  return !hit;
}

START_TEST (every_call_of_every_operation)
{
  enum disk_op op = _i / 2;
  int err = errnos[_i % 2];
  uint64_t n = 1;

  while (!one_fault (op, err, n))
    n++;
  ck_assert_uint_gt (n, 1); /* every operation does some I/O */
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("faults");
  TCase *tc = tcase_create ("faults");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_loop_test (tc, every_call_of_every_operation, 0, 2 * NR_DISK_OPS);
  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
