/* Invalidation (disk_invalidate): the sectors fail their reads, as
 * invalidated rather than damaged, in every crash mode and with keyed and
 * unkeyed tags, until rewritten; nothing else changes; and a power
 * failure during it leaves each sector as it was or invalidated, never
 * reading other data, and invalidated once it has returned. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "powerloss.h"
#include "report.h"
#include "util.h"

#define SIZE (24 << 20)
#define SS 4096
#define SECTORS 16
#define FIRST 3 /* the sectors invalidated: FIRST to FIRST + COUNT - 1 */
#define COUNT 3

static const enum disk_mode modes[] = {DISK_MODE_TAGS, DISK_MODE_FULL,
                                       DISK_MODE_NONE};
static const char *const hashes[] = {"crc32c", "blake2b-256-keyed"};

struct checks {
  enum sector_check of[SECTORS];
};

static void
record_check (void *opaque, uint64_t sector, enum sector_check why)
{
  struct checks *c = opaque;

  ck_assert_uint_lt (sector, SECTORS);
  c->of[sector] = why;
}

/* Reads every sector without failing: the data into BUF, checks into C. */
static void
read_checked (struct disk *d, uint8_t *buf, struct checks *c)
{
  memset (c, 0, sizeof *c);
  ck_assert_int_eq (disk_read_checked (d, buf, 0, SECTORS, record_check, c), 0);
}

static struct disk *
open_in (const char *path, enum disk_mode mode, const char *keyfile)
{
  struct disk_options opts = {.path = path, .mode = mode, .keyfile = keyfile};
  struct disk *d = disk_open (&opts);

  ck_assert_msg (d != NULL, "disk_open %s: %s", path, ni_error ());
  return d;
}

static void
fill (uint8_t *model)
{
  for (int s = 0; s < SECTORS; s++)
    memset (model + s * SS, 'a' + s, SS);
}

/* What every sector holds and how it checks: MODEL, and invalidated
 * exactly where INVALID says. */
static void
check_disk (struct disk *d, const uint8_t *model, const bool *invalid)
{
  static uint8_t buf[SECTORS * SS];
  struct checks c;

  read_checked (d, buf, &c);
  ck_assert_mem_eq (buf, model, sizeof buf);
  for (int s = 0; s < SECTORS; s++) {
    ck_assert_int_eq (c.of[s], invalid[s] ? SECTOR_INVALIDATED : SECTOR_OK);
    errno = 0;
    ck_assert_int_eq (disk_read (d, buf, SS, s * SS), invalid[s] ? -1 : 0);
    if (invalid[s])
      ck_assert_int_eq (errno, EIO);
  }
}

/* Test _i: mode _i % 3, hash _i / 3. */
START_TEST (invalidated_sectors_fail_until_rewritten)
{
  const char *hash = hashes[_i / 3];
  const char *key = strstr (hash, "keyed") ? scratch_key () : NULL;
  const char *path = scratch_disk_keyed ("disk", SIZE, hash, SS, key);
  enum disk_mode mode = modes[_i % 3];
  static uint8_t model[SECTORS * SS];
  bool invalid[SECTORS] = {false};
  struct disk *d = open_in (path, mode, key);

  fill (model);
  ck_assert_int_eq (disk_write (d, model, sizeof model, 0, true), 0);
  ck_assert_int_eq (disk_invalidate (d, FIRST, COUNT), 0);
  for (int s = FIRST; s < FIRST + COUNT; s++)
    invalid[s] = true;
  check_disk (d, model, invalid);
  ck_assert_int_eq (disk_close (d), 0);

  /* Durable, and undone by a write or a trim only. */
  d = open_in (path, mode, key);
  check_disk (d, model, invalid);
  memset (model + FIRST * SS, 'z', SS);
  ck_assert_int_eq (disk_write (d, model + FIRST * SS, SS, FIRST * SS, false),
                    0);
  ck_assert_int_eq (disk_trim (d, SS, (FIRST + 1) * SS, false), 0);
  memset (model + (FIRST + 1) * SS, 0, SS);
  invalid[FIRST] = invalid[FIRST + 1] = false;
  check_disk (d, model, invalid);
  ck_assert_int_eq (disk_close (d), 0);
  d = open_in (path, mode, key);
  check_disk (d, model, invalid);
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

/* A range past the end fails before anything changes. */
START_TEST (out_of_range_changes_nothing)
{
  const char *path = scratch_disk ("disk", SIZE, NULL, SS);
  struct disk *d = open_in (path, DISK_MODE_TAGS, NULL);
  uint64_t n = disk_superblock (d)->data_sectors;
  static uint8_t model[SECTORS * SS];
  bool invalid[SECTORS] = {false};
  struct disk_counters c0, c1;

  fill (model);
  ck_assert_int_eq (disk_write (d, model, sizeof model, 0, true), 0);
  disk_get_counters (d, &c0);
  errno = 0;
  ck_assert_int_eq (disk_invalidate (d, n - 1, 2), -1);
  ck_assert_int_eq (errno, EINVAL);
  ck_assert_int_eq (disk_invalidate (d, n, 1), -1);
  ck_assert_int_eq (disk_invalidate (d, 0, 0), -1);
  ck_assert_int_eq (disk_invalidate (d, 1, UINT64_MAX), -1);
  disk_get_counters (d, &c1);
  ck_assert_uint_eq (c1.backing_bytes_written, c0.backing_bytes_written);
  check_disk (d, model, invalid);
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

/* Power fails at I/O call _i + 1 of the invalidation, in tags mode. */
START_TEST (power_failure_leaves_old_or_invalidated)
{
  uint8_t *image = formatted_image (SIZE), *after = NULL;
  struct disk_options opts = {.path = "memory"};
  struct backing *b = powerloss_new (image, SIZE);
  struct disk *d = disk_open_backing (b, &opts);
  static uint8_t model[SECTORS * SS], buf[SECTORS * SS];
  struct checks c;
  int r;

  ck_assert_ptr_nonnull (d);
  fill (model);
  ck_assert_int_eq (disk_write (d, model, sizeof model, 0, true), 0);
  powerloss_keep_image (b, &after, _i);
  powerloss_crash_after (b, _i + 1);
  r = disk_invalidate (d, FIRST, COUNT);
  disk_close (d);
  ck_assert_ptr_nonnull (after);

  d = disk_open_backing (powerloss_new (after, SIZE), &opts);
  ck_assert_msg (d != NULL, "open after the power failure: %s", ni_error ());
  read_checked (d, buf, &c);
  ck_assert_mem_eq (buf, model, sizeof buf);
  for (int s = 0; s < SECTORS; s++) {
    bool in_range = s >= FIRST && s < FIRST + COUNT;
    if (!in_range || r == -1)
      ck_assert_msg (
          c.of[s] == SECTOR_OK || (in_range && c.of[s] == SECTOR_INVALIDATED),
          "crash at call %d: sector %d checks %d", _i + 1, s, c.of[s]);
    else
      ck_assert_int_eq (c.of[s], SECTOR_INVALIDATED);
  }
  ck_assert_int_eq (disk_close (d), 0);
  free (after);
  free (image);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("invalidate");
  TCase *tc = tcase_create ("invalidate");

  tcase_add_loop_test (tc, invalidated_sectors_fail_until_rewritten, 0, 6);
  tcase_add_test (tc, out_of_range_changes_nothing);
  /* Past the invalidation's last I/O call, the power fails after it has
   * returned: the last iterations check that it was durable. */
  tcase_add_loop_test (tc, power_failure_leaves_old_or_invalidated, 0, 12);
  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
