/* Backing-disk errors confined to one region, after test-faults: the tag
 * runs or the journal fail their Nth read (or write), for N = 1, 2, ...
 * until the operation no longer reaches the fault; and a full file system,
 * where every write that would allocate space (the data and the tags,
 * which format leaves sparse) fails with ENOSPC until space is freed.
 *
 * At every N the operation fails with the injected errno, and the disk
 * counts the error and logs it naming the disk.  Once the fault is
 * lifted nothing is lost or reported bad: data and journal writes went
 * through, so every sector reads without error as what it held or as what
 * the failed operation wrote; the disk closes clean and reopens with the
 * same contents.
 *
 * The operations are util.h's, a write and a checkpoint (which writes
 * tags home), a write and a close, and OPEN.  Each but OPEN starts on a
 * disk just reopened from a clean image, so that its tag cache is cold
 * and the operation reads tag blocks; OPEN opens a disk that was not
 * closed cleanly, whose recovery reads the journal and the tags and
 * writes the tags home.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "faulty.h"
#include "powerloss.h"
#include "report.h"
#include "util.h"

#define SIZE (18 << 20) /* two zones, the second small */
#define SS 4096
#define SECTORS 16
#define FIRST 4 /* the operation touches sectors FIRST..FIRST+3 */

/* Beyond util.h's operations. */
enum {
  WRITE_AND_CHECKPOINT = NR_DISK_OPS,
  WRITE_AND_CLOSE,
  OPEN, /* a disk not closed cleanly */
  NR_OPS
};
enum region { TAGS, JOURNAL, NR_REGIONS };
static const unsigned kinds[] = {FAULTY_READ, FAULTY_WRITE | FAULTY_PUNCH};

/* Images of a disk with 'A' in sectors 0..SECTORS-1, flushed: closed
 * cleanly, and not (its journal holds the writes). */
static uint8_t *clean, *dirty;
static struct superblock sb;

/* The last error logged, so a test can see what an administrator would. */
static char logged[512];

static void
capture_log (enum ni_log_level level, const char *msg)
{
  if (level == NI_LOG_ERROR)
    snprintf (logged, sizeof logged, "%s", msg);
}

static void
setup (void)
{
  uint8_t *formatted = formatted_image (SIZE);
  struct backing *b = powerloss_new (formatted, SIZE);
  struct disk_options opts = {.path = "setup"};
  uint8_t data[SECTORS * SS];
  struct disk *d;

  powerloss_keep_image (b, &clean, 0);
  d = disk_open_backing (b, &opts);
  ck_assert_ptr_nonnull (d);
  memset (data, 'A', sizeof data);
  ck_assert_int_eq (disk_write (d, data, sizeof data, 0, false), 0);
  ck_assert_int_eq (disk_flush (d), 0);
  dirty = malloc (SIZE);
  ck_assert_ptr_nonnull (dirty);
  memcpy (dirty, powerloss_current (b), SIZE);
  sb = *disk_superblock (d);
  ck_assert_uint_ge (sb_zone_count (&sb), 2);
  ck_assert_int_eq (disk_close (d), 0);
  free (formatted);
  ni_log_set (capture_log);
}

static void
teardown (void)
{
  free (clean);
  free (dirty);
}

/* A faulty backing over a copy of IMAGE: its image at close goes to
 * *KEPT and whether it hit its fault to *HIT. */
static struct backing *
faulty_over (const uint8_t *image, uint8_t **kept, bool *hit)
{
  struct backing *mem = powerloss_new (image, SIZE);
  struct backing *b = faulty_new (mem);

  powerloss_keep_image (mem, kept, 0);
  faulty_keep_hit (b, hit);
  return b;
}

static struct disk *
open_on (struct backing *b)
{
  struct disk_options opts = {.path = "faulty"};

  logged[0] = '\0';
  return disk_open_backing (b, &opts);
}

/* Fails call N of KIND in REGION with EIO. */
static void
arm (struct backing *b, enum region region, unsigned kind, uint64_t n)
{
  if (region == JOURNAL)
    faulty_target (b, kind, sb.journal_offset, sb.journal_size);
  else
    for (uint64_t z = 0; z < sb_zone_count (&sb); z++)
      faulty_target (b, kind, sb_zone_offset (&sb, z), sb.tag_run_bytes);
  faulty_arm (b, n, EIO, false);
}

/* Runs OP, one of util.h's or WRITE_AND_CHECKPOINT or WRITE_AND_CLOSE
 * (which closes D whatever happens). */
static int
run_op (struct disk *d, int op)
{
  int r, err;

  if (op < NR_DISK_OPS)
    return run_disk_op (d, op, FIRST);
  r = run_disk_op (d, OP_WRITE_FUA, FIRST);
  if (op == WRITE_AND_CHECKPOINT)
    return r == 0 ? disk_checkpoint (d) : -1;
  if (r == 0)
    return disk_close (d);
  err = errno;
  disk_close (d);
  errno = err;
  return -1;
}

static struct disk_counters
counters (struct disk *d)
{
  struct disk_counters c;

  disk_get_counters (d, &c);
  return c;
}

/* Every sector reads without error: those outside the operation as 'A',
 * those inside as 'A', 'B' or zeroes (a mix where a write covered part of
 * a sector).  Stores what each holds in SEEN, or if CHECK checks that it
 * holds that. */
static void
check_sectors (struct disk *d, uint8_t seen[SECTORS][SS], bool check)
{
  uint8_t buf[SS];

  for (int s = 0; s < SECTORS; s++) {
    bool inside = s >= FIRST && s < FIRST + 4;
    ck_assert_msg (disk_read (d, buf, SS, s * SS) == 0,
                   "sector %d is reported bad once the fault is lifted", s);
    int i = 0;

    while (i < SS &&
           (buf[i] == 'A' || (inside && (buf[i] == 'B' || buf[i] == 0))))
      i++;
    ck_assert_msg (i == SS, "sector %d byte %d is %d", s, i, buf[i]);
    if (check)
      ck_assert_msg (memcmp (buf, seen[s], SS) == 0,
                     "sector %d changed across a close", s);
    memcpy (seen[s], buf, SS);
  }
  ck_assert_uint_eq (counters (d).mismatches, 0);
}

/* IMAGE was closed clean, and reopens holding SEEN. */
static void
reopens_clean (const uint8_t *image, uint8_t seen[SECTORS][SS])
{
  struct backing *b = powerloss_new (image, SIZE);
  struct superblock now;
  struct disk *d;

  ck_assert_int_eq (sb_read (b, &now), 0);
  ck_assert_msg (now.state == SB_CLEAN, "the disk was not left clean");
  d = open_on (b);
  ck_assert_ptr_nonnull (d);
  ck_assert_uint_eq (disk_recovery_report (d)->sectors, 0);
  check_sectors (d, seen, true);
  ck_assert_int_eq (disk_close (d), 0);
}

/* IMAGE, left by a failed open or close, opens (recovering it) with
 * nothing lost, closes clean and reopens the same. */
static void
recovers (const uint8_t *image, uint8_t seen[SECTORS][SS], bool check)
{
  uint8_t *after = NULL;
  struct backing *b = powerloss_new (image, SIZE);
  struct disk *d;

  powerloss_keep_image (b, &after, 0);
  d = open_on (b);
  ck_assert_msg (d != NULL, "does not reopen: %s", ni_error ());
  check_sectors (d, seen, check);
  ck_assert_int_eq (disk_close (d), 0);
  reopens_clean (after, seen);
  free (after);
}

/* The disk is named by its backing (powerloss.c) in messages. */
static void
names_disk (const char *msg, const char *what)
{
  ck_assert_msg (strstr (msg, "powerloss") != NULL,
                 "%s: the message does not name the disk: '%s'", what, msg);
}

/* Opening a disk that was not closed cleanly: its recovery reads the
 * journal and tags and writes tags home.  Returns true once it ran
 * without reaching call N. */
static bool
open_fault (enum region region, unsigned kind, uint64_t n)
{
  uint8_t *after = NULL;
  static uint8_t seen[SECTORS][SS];
  bool hit_by_close = false;
  struct backing *b = faulty_over (dirty, &after, &hit_by_close);
  struct disk *d;
  bool opened;

  arm (b, region, kind, n);
  d = open_on (b);
  opened = d != NULL;
  if (opened) {
    ck_assert_msg (!faulty_hit (b), "open ignored a fault at call %lu",
                   (unsigned long)n);
    ck_assert_int_eq (disk_close (d), 0);
  } else {
    /* A failed open has closed the backing, which told whether it was
     * hit. */
    ck_assert_msg (hit_by_close, "open failed with no fault: %s", ni_error ());
    names_disk (ni_error (), "a failed open");
  }
  memset (seen, 'A', sizeof seen);
  recovers (after, seen, true);
  free (after);
  return opened;
}

/* OP on a disk opened clean (cold tag cache).  Returns true once it ran
 * without reaching call N. */
static bool
op_fault (int op, enum region region, unsigned kind, uint64_t n)
{
  uint8_t *after = NULL;
  static uint8_t seen[SECTORS][SS];
  bool hit, hit_by_close = false;
  struct backing *b = faulty_over (clean, &after, &hit_by_close);
  struct disk *d = open_on (b);
  struct disk_counters before;
  int r;

  ck_assert_ptr_nonnull (d);
  before = counters (d);
  arm (b, region, kind, n);
  errno = 0;
  r = run_op (d, op);
  /* WRITE_AND_CLOSE closed the backing, which told whether it was hit. */
  hit = op == WRITE_AND_CLOSE ? hit_by_close : faulty_hit (b);
  if (!hit)
    ck_assert_msg (r == 0, "op %d failed with no fault: %s", op, ni_error ());
  else {
    ck_assert_msg (r == -1, "op %d ignored a fault at call %lu", op,
                   (unsigned long)n);
    ck_assert_msg (errno == EIO, "op %d failed with '%s', not EIO", op,
                   strerror (errno));
  }
  if (op == WRITE_AND_CLOSE) {
    if (hit)
      names_disk (logged[0] ? logged : ni_error (), "a failed close");
    recovers (after, seen, false);
    free (after);
    return !hit;
  }
  /* An administrator sees the error: counted, and logged naming the
   * disk (the plugin logs nothing else of a failed request). */
  if (hit) {
    ck_assert_msg (counters (d).io_errors > before.io_errors,
                   "op %d: the error was not counted", op);
    names_disk (logged, "the log");
  } else
    ck_assert_uint_eq (counters (d).io_errors, before.io_errors);
  faulty_arm (b, 0, 0, false);
  check_sectors (d, seen, false);
  ck_assert_int_eq (disk_close (d), 0);
  reopens_clean (after, seen);
  free (after);
  return !hit;
}

START_TEST (every_region_call_of_every_operation)
{
  int op = _i % NR_OPS;
  unsigned kind = kinds[_i / NR_OPS % 2];
  enum region region = _i / NR_OPS / 2;
  uint64_t n = 1;

  if (op == OPEN)
    while (!open_fault (region, kind, n))
      n++;
  else
    while (!op_fault (op, region, kind, n))
      n++;
}
END_TEST

/* The operation failed as on a full file system: ENOSPC, counted, and
 * logged naming the disk and the error. */
static void
failed_full (struct disk *d, int r, const char *what)
{
  static uint64_t counted;
  uint64_t now = counters (d).io_errors;

  ck_assert_msg (r == -1, "%s succeeded on a full file system", what);
  ck_assert_msg (errno == ENOSPC, "%s failed with '%s', not ENOSPC", what,
                 strerror (errno));
  ck_assert_msg (now > counted, "%s: the error was not counted", what);
  counted = now;
  names_disk (logged, what);
  ck_assert_msg (strstr (logged, strerror (ENOSPC)) != NULL,
                 "%s: the log does not say the disk is full: '%s'", what,
                 logged);
  logged[0] = '\0';
}

/* A full file system under a sparse image: every write to the data or
 * the tags fails with ENOSPC until space is freed (punches still work);
 * the superblocks and the journal, written out by format, take writes.
 * Writes fail with ENOSPC and reads go on; once space is freed, nothing
 * written before is lost, and the disk closes clean. */
START_TEST (full_file_system)
{
  uint8_t *after = NULL, buf[4 * SS];
  static uint8_t seen[SECTORS][SS];
  bool hit_by_close;
  struct backing *b = faulty_over (clean, &after, &hit_by_close);
  struct disk *d = open_on (b);

  ck_assert_ptr_nonnull (d);
  faulty_target (b, FAULTY_WRITE, sb.zones_offset, SIZE - sb.zones_offset);
  faulty_arm (b, 1, ENOSPC, true);
  memset (buf, 'B', sizeof buf);
  ck_assert_int_eq (disk_trim (d, 2 * SS, FIRST * SS, false), 0);
  failed_full (d, run_disk_op (d, OP_WRITE_FUA, FIRST), "FUA write");
  ck_assert_int_eq (disk_write (d, buf, 4 * SS, FIRST * SS, false), 0);
  failed_full (d, disk_flush (d), "flush after a write");
  ck_assert_int_eq (disk_flush (d), 0); /* the error is reported once */
  failed_full (d, run_disk_op (d, OP_UNALIGNED, FIRST), "unaligned write");
  failed_full (d, disk_zero (d, 100, FIRST * SS + 100, false),
               "zero of part of a sector");
  failed_full (d, run_disk_op (d, OP_CHECKPOINT, FIRST), "checkpoint");
  check_sectors (d, seen, false); /* reads are served */
  ck_assert_uint_eq (seen[FIRST][0], 0);
  ck_assert_uint_eq (seen[FIRST + 2][0], 'A');

  faulty_arm (b, 0, 0, false); /* space freed */
  ck_assert_int_eq (disk_write (d, buf, SS, (FIRST + 3) * SS, true), 0);
  memset (seen[FIRST + 3], 'B', SS);
  check_sectors (d, seen, true);
  ck_assert_int_eq (disk_close (d), 0);
  reopens_clean (after, seen);
  free (after);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("region-faults");
  TCase *tc = tcase_create ("region-faults");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_loop_test (tc, every_region_call_of_every_operation, 0,
                       NR_REGIONS * 2 * NR_OPS);
  tcase_add_test (tc, full_file_system);
  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
