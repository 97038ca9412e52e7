/* The damage issue 12 reproduced, each as it was reported: a dirty disk
 * (copied as the page cache had it, as kill -9 leaves a file), damaged,
 * then opened.  tests/crash/test-damage does the same to every block of
 * many disks; these are the reported cases, on real files.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "journal-format.h"
#include "le.h"
#include "report.h"
#include "util.h"

#define SIZE (64 << 20)
#define SS 4096

static uint8_t a[SS], b[SS], c[SS];
static const uint8_t zeroes[SS];

static void
setup (void)
{
  memset (a, 'A', SS);
  memset (b, 'B', SS);
  memset (c, 'C', SS);
}

static struct disk *
open_mode (const char *path, enum disk_mode mode, const char *keyfile)
{
  struct disk_options opts = {.path = path, .mode = mode, .keyfile = keyfile};
  struct disk *d = disk_open (&opts);

  ck_assert_msg (d != NULL, "disk_open %s: %s", path, ni_error ());
  return d;
}

static void
write_flush (struct disk *d, const uint8_t *data, uint64_t sector)
{
  ck_assert_int_eq (disk_write (d, data, SS, sector * SS, false), 0);
  ck_assert_int_eq (disk_flush (d), 0);
}

static void
expect_reads (struct disk *d, uint64_t sector, const uint8_t *data)
{
  uint8_t buf[SS];

  ck_assert_msg (disk_read (d, buf, SS, sector * SS) == 0, "sector %lu: %s",
                 (unsigned long)sector, strerror (errno));
  ck_assert_msg (memcmp (buf, data, SS) == 0, "sector %lu: wrong data",
                 (unsigned long)sector);
}

/* The superblock and the header blocks of the live journal of the disk
 * at PATH, as the file holds them now. */
struct live {
  struct superblock sb;
  uint64_t first, end; /* sequences of the live journal's blocks */
};

static void
read_live (const char *path, struct live *l)
{
  struct backing *bk = backing_open_file (path, true);
  struct journal_scan js = {0};

  ck_assert_ptr_nonnull (bk);
  ck_assert_int_eq (sb_read (bk, &l->sb), 0);
  ck_assert_int_eq (journal_scan (bk, &l->sb, &js), 0);
  l->first = js.tail;
  l->end = js.head;
  backing_close (bk);
}

static uint64_t
block_at (const struct live *l, uint64_t seq)
{
  return journal_block_offset (&l->sb, seq);
}

/* Never-written sectors, written and flushed, the server killed, then one
 * bit of one journal block flipped, each block of the live journal in
 * turn: every flushed sector reads back, none as zeroes.  The damage is
 * reported, but in the newest commit (the last flush's mark: one group,
 * two blocks), which no later mark covers and which a crash may have cut
 * before it was durable, leaving one copy of a header unwritten. */
START_TEST (flipped_journal_block_loses_nothing)
{
  const char *path = scratch_disk ("flip.img", SIZE, NULL, 0);
  const char *crash = scratch_path ("flip-crash.img");
  struct disk *d = open_mode (path, DISK_MODE_TAGS, NULL);
  struct live l;

  for (uint64_t s = 10; s < 14; s++)
    write_flush (d, s % 2 ? a : b, s);
  copy_file (path, crash);
  read_live (crash, &l);
  ck_assert_uint_ge (l.end - l.first, 8);
  for (uint64_t seq = l.first; seq < l.end; seq++) {
    struct disk *r;

    copy_file (path, crash);
    file_flip_bit (crash, block_at (&l, seq) + 100 + seq % 3000, seq % 8);
    r = open_mode (crash, DISK_MODE_TAGS, NULL);
    for (uint64_t s = 10; s < 14; s++)
      expect_reads (r, s, s % 2 ? a : b);
    ck_assert_uint_eq (disk_recovery_report (r)->repaired, seq < l.end - 2);
    ck_assert_int_eq (disk_close (r), 0);
  }
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

/* Both copies of a header damaged before the newest flush mark: the
 * flushed writes it held are gone, and the disk is refused, naming the
 * block, rather than read as zeroes. */
START_TEST (lost_flushed_header_refuses_the_disk)
{
  const char *path = scratch_disk ("lost.img", SIZE, NULL, 0);
  const char *crash = scratch_path ("lost-crash.img");
  struct disk *d = open_mode (path, DISK_MODE_TAGS, NULL);
  struct disk_options opts = {.path = crash};
  struct live l;

  write_flush (d, a, 20);
  write_flush (d, b, 21);
  copy_file (path, crash);
  read_live (crash, &l);
  /* The first group holds sector 20's record. */
  file_write (crash, zeroes, SS, block_at (&l, l.first));
  file_write (crash, zeroes, SS, block_at (&l, l.first + 1));
  ni_error_set ("%s", "");
  ck_assert_ptr_null (disk_open (&opts));
  ck_assert_int_eq (errno, EUCLEAN);
  ck_assert_ptr_nonnull (strstr (ni_error (), "journal block"));
  ck_assert_ptr_nonnull (strstr (ni_error (), "mode=recovery"));
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

/* A keyed disk whose newest journal blocks are put back, one at a time,
 * as they were a lap earlier (valid under the key, but stale): nothing
 * lost. */
START_TEST (older_journal_block_put_back)
{
  const char *key = scratch_path ("key");
  const char *early = scratch_path ("older-early.img");
  const char *crash = scratch_path ("older-crash.img");
  const char *path;
  uint8_t keybytes[32], block[SB_BLOCK];
  struct disk *d;
  struct live l;

  for (size_t i = 0; i < sizeof keybytes; i++)
    keybytes[i] = i + 9;
  file_write_new (key, keybytes, sizeof keybytes);
  path = scratch_disk_keyed ("older.img", 16 << 20, "hmac-sha256", 0, key);
  d = open_mode (path, DISK_MODE_TAGS, key);
  /* The 1 MiB ring holds 256 blocks, 64 flushed writes a lap. */
  for (int i = 0; i < 100; i++)
    write_flush (d, i % 2 ? a : b, 30 + i % 7);
  copy_file (path, early);
  for (int i = 0; i < 64; i++)
    write_flush (d, i % 2 ? b : a, 30 + i % 7);
  write_flush (d, c, 40);
  copy_file (path, crash);
  read_live (crash, &l);
  for (uint64_t seq = l.end - 6; seq < l.end; seq++) {
    uint64_t off = block_at (&l, seq);
    struct disk *r;

    copy_file (path, crash);
    file_read (early, block, SB_BLOCK, off);
    ck_assert_uint_lt (le64_get (block + JH_SEQ), seq); /* an earlier lap */
    file_write (crash, block, SB_BLOCK, off);
    r = open_mode (crash, DISK_MODE_TAGS, key);
    expect_reads (r, 40, c);
    for (int i = 57; i < 64; i++)
      expect_reads (r, 30 + i % 7, i % 2 ? b : a);
    /* As above: in the last flush's mark, not reported. */
    ck_assert_uint_eq (disk_recovery_report (r)->repaired, seq < l.end - 2);
    ck_assert_int_eq (disk_close (r), 0);
  }
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

/* Only the newest superblock copy damaged, on a dirty disk whose journal
 * has wrapped past the tail the older copy names: the journal's headers
 * name the newer tail. */
START_TEST (newest_superblock_damaged)
{
  const char *path = scratch_disk ("sb.img", 16 << 20, NULL, 0);
  const char *crash = scratch_path ("sb-crash.img");
  struct disk *d = open_mode (path, DISK_MODE_TAGS, NULL);
  struct superblock sb;
  struct disk *r;
  uint8_t buf[SS];

  for (int i = 0; i < 300; i++)
    write_flush (d, i % 2 ? a : b, 50 + i % 5);
  write_flush (d, c, 60);
  sb = *disk_superblock (d);
  copy_file (path, crash);
  file_read (crash, buf, SS, (uint64_t)sb.copy * SB_BLOCK);
  file_flip_bit (crash, (uint64_t)sb.copy * SB_BLOCK + 84, 0);
  r = open_mode (crash, DISK_MODE_TAGS, NULL);
  expect_reads (r, 60, c);
  for (int i = 295; i < 300; i++)
    expect_reads (r, 50 + i % 5, i % 2 ? a : b);
  ck_assert (disk_recovery_report (r)->newer_tail);
  ck_assert_int_eq (disk_close (r), 0);
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

/* Issue 12's third report: full mode, 100=A and 200=B flushed, killed;
 * a reserved byte of the newest superblock copy flipped; served, 200=C
 * flushed and read, stopped; served again: 200 reads C, not B. */
START_TEST (full_mode_no_rollback_after_superblock_fallback)
{
  const char *path = scratch_disk ("roll.img", SIZE, NULL, 0);
  const char *crash = scratch_path ("roll-crash.img");
  struct disk *d = open_mode (path, DISK_MODE_FULL, NULL);
  int copy;

  write_flush (d, a, 100);
  write_flush (d, b, 200);
  copy = disk_superblock (d)->copy;
  copy_file (path, crash);
  ck_assert_int_eq (disk_close (d), 0);
  file_flip_bit (crash, (uint64_t)copy * SB_BLOCK + 84, 3);
  d = open_mode (crash, DISK_MODE_FULL, NULL);
  expect_reads (d, 100, a);
  expect_reads (d, 200, b);
  write_flush (d, c, 200);
  expect_reads (d, 200, c);
  ck_assert_int_eq (disk_close (d), 0);
  d = open_mode (crash, DISK_MODE_FULL, NULL);
  expect_reads (d, 100, a);
  expect_reads (d, 200, c);
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

/* Commits left in the ring after the journal's end (a damaged header
 * pair, none of it flushed): the next opening starts its sequence
 * numbers above them, so a later recovery never takes one for its own
 * and writes its old data over newer flushed data.  The shapes are
 * chosen so that it would: the new opening's write and flush mark take
 * five blocks, as each old commit of three sectors does, so an old
 * commit starts right where the new journal ends. */
START_TEST (leftover_commits_are_never_replayed)
{
  const char *path = scratch_disk ("left.img", SIZE, NULL, 0);
  const char *crash = scratch_path ("left-crash.img");
  const char *again = scratch_path ("left-again.img");
  struct disk_options opts = {
      .path = path, .mode = DISK_MODE_FULL, .write_through = true};
  struct disk *d = disk_open (&opts);
  uint8_t three[3 * SS];
  struct live l;

  ck_assert_ptr_nonnull (d);
  memset (three, 'B', sizeof three);
  write_flush (d, a, 70);
  for (int i = 0; i < 20; i++) /* not flushed: 5 blocks each */
    ck_assert_int_eq (disk_write (d, three, sizeof three, 71 * SS, false), 0);
  copy_file (path, crash);
  ck_assert_int_eq (disk_close (d), 0);
  read_live (crash, &l);
  file_write (crash, zeroes, SS, block_at (&l, l.end - 100));
  file_write (crash, zeroes, SS, block_at (&l, l.end - 99));
  opts.path = crash;
  d = disk_open (&opts);
  ck_assert_msg (d != NULL, "%s", ni_error ());
  ck_assert_uint_eq (disk_recovery_report (d)->head, l.end - 100);
  ck_assert_uint_gt (disk_recovery_report (d)->unflushed_lost, 0);
  expect_reads (d, 70, a);
  write_flush (d, c, 71);
  copy_file (crash, again);
  ck_assert_int_eq (disk_close (d), 0);
  opts.path = again;
  d = disk_open (&opts);
  ck_assert_msg (d != NULL, "%s", ni_error ());
  expect_reads (d, 70, a);
  expect_reads (d, 71, c);
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

/* The copy that holds the newest superblock of the disk at PATH. */
static int
sb_newest_copy (const char *path)
{
  struct backing *bk = backing_open_file (path, true);
  struct superblock sb;

  ck_assert_int_eq (sb_read (bk, &sb), 0);
  backing_close (bk);
  return sb.copy;
}

/* Sets both superblock copies of the disk at PATH to format version 1,
 * dirty or not, as an earlier version left them. */
static void
make_version_1 (const char *path, bool dirty)
{
  uint8_t block[SB_BLOCK];

  for (int copy = 0; copy < SB_COPIES; copy++) {
    uint64_t off = (uint64_t)copy * SB_BLOCK;
    file_read (path, block, SB_BLOCK, off);
    le32_put (block + SB_OFF_VERSION, 1);
    le32_put (block + SB_OFF_STATE, dirty ? SB_DIRTY : SB_CLEAN);
    le32_put (block + SB_OFF_CRC, crc32c (0, block, SB_OFF_CRC));
    file_write (path, block, SB_BLOCK, off);
  }
}

/* A version 1 disk closed cleanly opens, and is version 2 from then on;
 * one left dirty is refused: its journal is in the old format. */
START_TEST (version_1_disk)
{
  const char *path = scratch_disk ("v1.img", SIZE, NULL, 0);
  struct disk_options opts = {.path = path};
  struct disk *d = open_mode (path, DISK_MODE_TAGS, NULL);
  struct superblock sb;
  struct backing *bk;

  write_flush (d, a, 5);
  ck_assert_int_eq (disk_close (d), 0);
  make_version_1 (path, true);
  ck_assert_ptr_null (disk_open (&opts));
  ck_assert_int_eq (errno, EUCLEAN);
  ck_assert_ptr_nonnull (strstr (ni_error (), "earlier version"));
  make_version_1 (path, false);
  d = open_mode (path, DISK_MODE_TAGS, NULL);
  expect_reads (d, 5, a);
  ck_assert_int_eq (disk_close (d), 0);
  bk = backing_open_file (path, true);
  ck_assert_int_eq (sb_read (bk, &sb), 0);
  ck_assert_uint_eq (sb.version, SB_VERSION);
  backing_close (bk);
}
END_TEST

/* A clean disk whose older superblock copy is damaged: the newer one is
 * used, and the next opening for writing repairs the other. */
START_TEST (damaged_older_superblock_is_repaired)
{
  const char *path = scratch_disk ("older-sb.img", SIZE, NULL, 0);
  struct disk *d = open_mode (path, DISK_MODE_TAGS, NULL);
  uint8_t block[SB_BLOCK];
  struct superblock sb;
  int older;

  write_flush (d, b, 9);
  ck_assert_int_eq (disk_close (d), 0);
  older = 1 - sb_newest_copy (path);
  file_flip_bit (path, (uint64_t)older * SB_BLOCK + 300, 1);
  d = open_mode (path, DISK_MODE_TAGS, NULL);
  ck_assert_int_eq (disk_superblock (d)->invalid_copy, older);
  expect_reads (d, 9, b);
  ck_assert_int_eq (disk_close (d), 0);
  for (int copy = 0; copy < SB_COPIES; copy++) {
    file_read (path, block, SB_BLOCK, (uint64_t)copy * SB_BLOCK);
    ck_assert_msg (sb_decode (block, &sb) == 0, "copy %d: %s", copy,
                   ni_error ());
  }
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("journal-damage");
  TCase *tc = tcase_create ("journal-damage");

  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_add_test (tc, flipped_journal_block_loses_nothing);
  tcase_add_test (tc, lost_flushed_header_refuses_the_disk);
  tcase_add_test (tc, older_journal_block_put_back);
  tcase_add_test (tc, newest_superblock_damaged);
  tcase_add_test (tc, full_mode_no_rollback_after_superblock_fallback);
  tcase_add_test (tc, leftover_commits_are_never_replayed);
  tcase_add_test (tc, version_1_disk);
  tcase_add_test (tc, damaged_older_superblock_is_repaired);
  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
