/* Recovery decisions, one outcome of a crash at a time.
 *
 * A crash is modelled on real files: the disk is formatted, written and
 * checkpointed; then come the writes the crash interrupts; then, with
 * the disk still open, the image is copied as a reader sees it (the page
 * cache has every write): that copy is the disk after the crash with
 * every write complete.  Each test then rewrites the data of one sector
 * in the copy, to the outcome it models (old data, torn data, ...), and
 * opens the copy, which recovers.  Each test has its own copy, since
 * opening one recovers and checkpoints it.
 *
 * Before the crash sectors 4 to 7 hold OLD_DATA (with their number in the
 * first byte) and everything is checkpointed; sectors 8 and 9 were never
 * written.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "report.h"
#include "util.h"

#define SIZE (32 << 20)
#define SS 4096

static uint8_t old_data[8][SS], new_data[SS], newer_data[SS], garbage[SS];
static const uint8_t zeroes[SS];
static const char *disk_path, *crash_path;

static void
setup (void)
{
  for (int s = 0; s < 8; s++) {
    memset (old_data[s], 'A', SS);
    old_data[s][0] = s;
  }
  memset (new_data, 'B', SS);
  memset (newer_data, 'C', SS);
  for (int i = 0; i < SS; i++)
    garbage[i] = i * 37 + 5;
  disk_path = scratch_disk ("disk.img", SIZE, NULL, 0);
  crash_path = scratch_path ("crash.img");
}

enum crash_writes {
  WRITE_5,               /* new_data to sector 5 */
  WRITE_5_TWICE,         /* new_data, then newer_data, to sector 5 */
  TRIM_7,                /* trim sector 7 */
  FIRST_WRITE_9,         /* new_data to the never-written sector 9 */
  FLUSHED_9,             /* the same, flushed, then newer_data */
  FIRST_WRITE_9_FLUSHED, /* new_data to sector 9, flushed */
  WRITE_5_FLUSHED,       /* new_data to sector 5, flushed */
  TRIM_7_FLUSHED,        /* trim sector 7, flushed */
};

/* What the crash left in the sector's data: what the writes wrote
 * (AS_IS), or other bytes over all of it, or over either half of it. */
enum left { AS_IS, ALL, FIRST_HALF, SECOND_HALF };

/* Makes crash.img: the checkpointed state, then WRITES, then the crash.
 * Returns the byte offset of SECTOR's data on the backing. */
static uint64_t
crash_after (enum crash_writes writes, uint64_t sector)
{
  struct disk *d = open_disk (disk_path);
  uint64_t offset = sb_data_offset (disk_superblock (d), sector);

  for (int s = 4; s < 8; s++)
    ck_assert_int_eq (disk_write (d, old_data[s], SS, s * SS, false), 0);
  ck_assert_int_eq (disk_flush (d), 0);
  ck_assert_int_eq (disk_checkpoint (d), 0);
  switch (writes) {
  case WRITE_5_TWICE:
    ck_assert_int_eq (disk_write (d, new_data, SS, 5 * SS, false), 0);
    ck_assert_int_eq (disk_write (d, newer_data, SS, 5 * SS, false), 0);
    break;
  case WRITE_5:
    ck_assert_int_eq (disk_write (d, new_data, SS, 5 * SS, false), 0);
    break;
  case TRIM_7:
    ck_assert_int_eq (disk_trim (d, SS, 7 * SS, false), 0);
    break;
  case FIRST_WRITE_9:
    ck_assert_int_eq (disk_write (d, new_data, SS, 9 * SS, false), 0);
    break;
  case FLUSHED_9:
    ck_assert_int_eq (disk_write (d, new_data, SS, 9 * SS, false), 0);
    ck_assert_int_eq (disk_flush (d), 0);
    ck_assert_int_eq (disk_write (d, newer_data, SS, 9 * SS, false), 0);
    break;
  case FIRST_WRITE_9_FLUSHED:
    ck_assert_int_eq (disk_write (d, new_data, SS, 9 * SS, false), 0);
    ck_assert_int_eq (disk_flush (d), 0);
    break;
  case WRITE_5_FLUSHED:
    ck_assert_int_eq (disk_write (d, new_data, SS, 5 * SS, false), 0);
    ck_assert_int_eq (disk_flush (d), 0);
    break;
  case TRIM_7_FLUSHED:
    ck_assert_int_eq (disk_trim (d, SS, 7 * SS, false), 0);
    ck_assert_int_eq (disk_flush (d), 0);
    break;
  }
  copy_file (disk_path, crash_path);
  ck_assert_int_eq (disk_close (d), 0); /* the original; the copy crashed */
  return offset;
}

/* One outcome of one crash: what is left in SECTOR's data, what
 * recovery must decide, and what the sector must then read as (NULL: it
 * fails with EIO until rewritten). */
static const struct outcome {
  const char *what;
  enum crash_writes writes;
  uint64_t sector;
  enum left left;
  const uint8_t *bytes;
  enum recovery_decision decision;
  const uint8_t *reads;
} outcomes[] = {
    {"new data", WRITE_5, 5, AS_IS, NULL, RECOVERY_NEW, new_data},
    {"old data", WRITE_5, 5, ALL, old_data[5], RECOVERY_OLD, old_data[5]},
    {"torn: old first half", WRITE_5, 5, FIRST_HALF, old_data[5],
     RECOVERY_NEITHER, NULL},
    {"torn: old second half", WRITE_5, 5, SECOND_HALF, old_data[5],
     RECOVERY_NEITHER, NULL},
    {"garbage", WRITE_5, 5, ALL, garbage, RECOVERY_NEITHER, NULL},
    {"zeroes over old data", WRITE_5, 5, ALL, zeroes, RECOVERY_NEITHER, NULL},
    {"second of two writes", WRITE_5_TWICE, 5, AS_IS, NULL, RECOVERY_NEW,
     newer_data},
    {"first of two writes", WRITE_5_TWICE, 5, ALL, new_data, RECOVERY_NEW,
     new_data},
    {"neither of two writes", WRITE_5_TWICE, 5, ALL, old_data[5], RECOVERY_OLD,
     old_data[5]},
    /* A trimmed sector reads as zeroes or its old data, never an error. */
    {"trim punched", TRIM_7, 7, AS_IS, NULL, RECOVERY_NEW, zeroes},
    {"trim not punched", TRIM_7, 7, ALL, old_data[7], RECOVERY_OLD,
     old_data[7]},
    /* A first write left new data, or the zeroes the sector held
     * (recovery.h: an unwritten home tag accepts any data). */
    {"first write", FIRST_WRITE_9, 9, AS_IS, NULL, RECOVERY_NEW, new_data},
    {"first write lost", FIRST_WRITE_9, 9, ALL, zeroes, RECOVERY_OLD, zeroes},
    {"first write torn", FIRST_WRITE_9, 9, FIRST_HALF, zeroes, RECOVERY_OLD,
     zeroes},
    /* Once the first write was flushed, its zeroes are gone for good: a
     * torn second write fails rather than read as zeroes. */
    {"after a flushed first write", FLUSHED_9, 9, AS_IS, NULL, RECOVERY_NEW,
     newer_data},
    {"flushed first write only", FLUSHED_9, 9, ALL, new_data, RECOVERY_NEW,
     new_data},
    {"torn after a flushed first write", FLUSHED_9, 9, FIRST_HALF, new_data,
     RECOVERY_NEITHER, NULL},
    /* A flushed write whose sector no longer holds it fails, whatever
     * else the data matches: damaged since (the unwritten home tag must
     * not read it as zeroes), or a write the disk acknowledged and
     * dropped (the old version must not come back). */
    {"flushed first write", FIRST_WRITE_9_FLUSHED, 9, AS_IS, NULL, RECOVERY_NEW,
     new_data},
    {"flushed first write, damaged", FIRST_WRITE_9_FLUSHED, 9, FIRST_HALF,
     garbage, RECOVERY_NEITHER, NULL},
    {"flushed first write, dropped", FIRST_WRITE_9_FLUSHED, 9, ALL, zeroes,
     RECOVERY_NEITHER, NULL},
    {"flushed write", WRITE_5_FLUSHED, 5, AS_IS, NULL, RECOVERY_NEW, new_data},
    {"flushed write, damaged", WRITE_5_FLUSHED, 5, SECOND_HALF, garbage,
     RECOVERY_NEITHER, NULL},
    {"flushed write, dropped", WRITE_5_FLUSHED, 5, ALL, old_data[5],
     RECOVERY_NEITHER, NULL},
    /* A flushed trim read as zeroes before the crash, and still does. */
    {"flushed trim punched", TRIM_7_FLUSHED, 7, AS_IS, NULL, RECOVERY_NEW,
     zeroes},
    {"flushed trim not punched", TRIM_7_FLUSHED, 7, ALL, old_data[7],
     RECOVERY_NEW, zeroes},
};
#define NR_OUTCOMES (sizeof outcomes / sizeof outcomes[0])

/* Makes crash.img for outcome O. */
static void
crash_with (const struct outcome *o)
{
  uint64_t offset = crash_after (o->writes, o->sector);
  uint8_t buf[SS];

  switch (o->left) {
  case AS_IS:
    break;
  case ALL:
    file_write (crash_path, o->bytes, SS, offset);
    break;
  case FIRST_HALF:
    file_write (crash_path, o->bytes, SS / 2, offset);
    break;
  case SECOND_HALF:
    file_write (crash_path, o->bytes + SS / 2, SS / 2, offset + SS / 2);
    break;
  }
  /* The premise: the copy has what the page cache had. */
  file_read (crash_path, buf, SS, offset);
  if (o->left == AS_IS)
    ck_assert_int_eq (memcmp (buf, o->reads, SS), 0);
}

/* The recovered callback: what was decided, and for which sector. */
struct decided {
  int calls;
  uint64_t sector;
  enum recovery_decision d;
};

static void
note_decision (void *opaque, uint64_t sector, enum recovery_decision d)
{
  struct decided *dd = opaque;

  dd->calls++;
  dd->sector = sector;
  dd->d = d;
}

/* Each outcome is recovered twice over: as the server does, trusting
 * flushed records, and as nbd-integrity recover does, reading them. */
#define NR_CASES (2 * NR_OUTCOMES)

struct recovery_case {
  const struct outcome *o;
  bool read_flushed;
};

static struct recovery_case
case_of (int i)
{
  return (struct recovery_case){&outcomes[i % NR_OUTCOMES],
                                i >= (int)NR_OUTCOMES};
}

/* Is the newest record of the outcome's sector flushed? */
static bool
newest_flushed (const struct outcome *o)
{
  return o->writes == FIRST_WRITE_9_FLUSHED || o->writes == WRITE_5_FLUSHED ||
         o->writes == TRIM_7_FLUSHED;
}

/* Trusted without reading, a flushed record's tag is kept: a sector
 * damaged since it was flushed fails when read instead. */
static enum recovery_decision
expected_decision (const struct recovery_case *rc)
{
  if (newest_flushed (rc->o) && !rc->read_flushed)
    return RECOVERY_NEW;
  return rc->o->decision;
}

static struct disk *
open_crashed (bool readonly, bool read_flushed, struct decided *dd)
{
  struct disk_options opts = {.path = crash_path,
                              .readonly = readonly,
                              .read_flushed = read_flushed,
                              .recovered = note_decision,
                              .opaque = dd};
  struct disk *d;

  memset (dd, 0, sizeof *dd);
  d = disk_open (&opts);
  ck_assert_msg (d != NULL, "disk_open %s: %s", crash_path, ni_error ());
  return d;
}

static void
expect_decided (struct disk *d, const struct decided *dd,
                const struct recovery_case *rc)
{
  const struct recovery_report *r = disk_recovery_report (d);
  const struct outcome *o = rc->o;
  enum recovery_decision want = expected_decision (rc);

  ck_assert_msg (dd->calls == 1 && dd->sector == o->sector && dd->d == want,
                 "%s: decided %s for sector %lu (%d calls), expected %s",
                 o->what, recovery_decision_name (dd->d),
                 (unsigned long)dd->sector, dd->calls,
                 recovery_decision_name (want));
  ck_assert_uint_eq (r->sectors, 1);
  ck_assert_uint_eq (r->read, rc->read_flushed || !newest_flushed (o));
  ck_assert_uint_ge (r->records, 1);
  ck_assert_uint_ge (r->blocks, 1);
  ck_assert_uint_eq (r->kept_new, want == RECOVERY_NEW);
  ck_assert_uint_eq (r->kept_old, want == RECOVERY_OLD);
  ck_assert_uint_eq (r->neither, want == RECOVERY_NEITHER);
}

/* Sector O->sector reads as O->reads (or fails with EIO), and the sectors
 * the crash did not touch read as they were. */
static void
expect_contents (struct disk *d, const struct outcome *o)
{
  uint8_t buf[SS];
  int r;

  errno = 0;
  r = disk_read (d, buf, SS, o->sector * SS);
  if (o->reads == NULL) {
    ck_assert_msg (r == -1 && errno == EIO, "%s: read gave %d (%s)", o->what, r,
                   strerror (errno));
  } else {
    ck_assert_msg (r == 0, "%s: read: %s", o->what, strerror (errno));
    ck_assert_msg (memcmp (buf, o->reads, SS) == 0, "%s: wrong data", o->what);
  }
  for (uint64_t s = 4; s < 10; s++)
    if (s != o->sector) {
      ck_assert_int_eq (disk_read (d, buf, SS, s * SS), 0);
      ck_assert_int_eq (memcmp (buf, s < 8 ? old_data[s] : zeroes, SS), 0);
    }
}

START_TEST (decisions)
{
  const struct recovery_case rc = case_of (_i);
  const struct outcome *o = rc.o;
  struct decided dd;
  uint8_t buf[SS];
  struct disk *d;

  crash_with (o);
  d = open_crashed (false, rc.read_flushed, &dd);
  expect_decided (d, &dd, &rc);
  expect_contents (d, o);
  if (o->reads == NULL) {
    /* Counted, and only until the sector is rewritten. */
    ck_assert_uint_ge (disk_stats (d)->mismatches, 1);
    ck_assert_int_eq (disk_write (d, newer_data, SS, o->sector * SS, false), 0);
    ck_assert_int_eq (disk_read (d, buf, SS, o->sector * SS), 0);
    ck_assert_int_eq (memcmp (buf, newer_data, SS), 0);
  }
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

/* Recovering the same crash again decides the same: read-only recovery
 * (in memory) twice, then a recovery that is written; reopened after it,
 * the disk has nothing left to recover and the same contents. */
START_TEST (recovery_is_idempotent)
{
  const struct recovery_case rc = case_of (_i);
  const struct outcome *o = rc.o;
  struct decided dd;
  struct disk *d;

  crash_with (o);
  for (int round = 0; round < 3; round++) {
    d = open_crashed (round < 2, rc.read_flushed, &dd);
    expect_decided (d, &dd, &rc);
    expect_contents (d, o);
    ck_assert_int_eq (disk_close (d), 0);
  }
  for (int round = 0; round < 2; round++) {
    d = open_crashed (false, rc.read_flushed, &dd);
    ck_assert_int_eq (dd.calls, 0);
    ck_assert_uint_eq (disk_recovery_report (d)->sectors, 0);
    expect_contents (d, o);
    ck_assert_int_eq (disk_close (d), 0);
  }
}
END_TEST

/* A full-mode disk closed cleanly, opened read-only: nothing to replay,
 * and the report's head is where the journal ends, its tail. */
START_TEST (readonly_full_reports_head)
{
  const char *path = scratch_disk ("full.img", 64 << 20, NULL, 0);
  struct disk_options opts = {.path = path, .mode = DISK_MODE_FULL};
  struct disk *d = disk_open (&opts);
  uint8_t buf[SS];

  ck_assert_msg (d != NULL, "%s", ni_error ());
  memset (buf, 'f', SS);
  for (uint64_t s = 0; s < 8; s++)
    ck_assert_int_eq (disk_write (d, buf, SS, s * SS, true), 0);
  ck_assert_int_eq (disk_close (d), 0);
  opts.mode = DISK_MODE_RECORDED;
  opts.readonly = true;
  d = disk_open (&opts);
  ck_assert_msg (d != NULL, "%s", ni_error ());
  ck_assert_uint_gt (disk_superblock (d)->journal_tail_seq, 0);
  ck_assert_uint_eq (disk_recovery_report (d)->head,
                     disk_superblock (d)->journal_tail_seq);
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("recovery");
  TCase *tc = tcase_create ("recovery");

  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_add_loop_test (tc, decisions, 0, NR_CASES);
  tcase_add_loop_test (tc, recovery_is_idempotent, 0, NR_CASES);
  tcase_add_test (tc, readonly_full_reports_head);
  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
