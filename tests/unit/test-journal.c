/* The journal: blocks (encoding, splitting, what a block is bound to),
 * the journal a real disk writes, and group commit under concurrent
 * writers. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backing.h"
#include "deadline.h"
#include "disk.h"
#include "journal.h"
#include "report.h"
#include "util.h"

#define MiB (1ull << 20)
#define SS 4096

static struct superblock sb;

/* A superblock for the block tests: 4096-byte sectors, tags of 4 bytes
 * (crc32c) or 32 (sha256). */
static void
make_sb (unsigned tag_size)
{
  memset (&sb, 0, sizeof sb);
  sb.sector_size = SS;
  sb.tag_size = tag_size;
  for (int i = 0; i < DISK_UUID_SIZE; i++)
    sb.uuid[i] = i * 3;
  ck_assert_int_eq (sb_layout (&sb, 256 * MiB, 0), 0);
}

/* What decoding gave, one entry per sector. */
struct seen {
  size_t n, cap;
  uint64_t *sectors;
  uint16_t *kinds;
  uint8_t *tags; /* tag_size each; zeroes for unwritten */
  uint64_t records, marks;
};

static void
seen_free (struct seen *s)
{
  free (s->sectors);
  free (s->kinds);
  free (s->tags);
}

static int
collect (void *opaque, uint64_t seq, const struct journal_record *rec)
{
  struct seen *s = opaque;

  (void)seq;
  if (rec->kind == JREC_FLUSH) {
    s->marks++;
    return 0;
  }
  s->records++;
  for (uint32_t i = 0; i < rec->count; i++, s->n++) {
    if (s->n == s->cap) {
      s->cap = s->cap ? 2 * s->cap : 256;
      s->sectors = realloc (s->sectors, s->cap * sizeof *s->sectors);
      s->kinds = realloc (s->kinds, s->cap * sizeof *s->kinds);
      s->tags = realloc (s->tags, s->cap * HASH_MAX_TAG);
      ck_assert (s->sectors && s->kinds && s->tags);
    }
    s->sectors[s->n] = rec->sector + i;
    s->kinds[s->n] = rec->kind;
    memset (s->tags + s->n * HASH_MAX_TAG, 0, HASH_MAX_TAG);
    if (rec->kind == JREC_TAGS) {
      ck_assert_ptr_nonnull (rec->tags);
      memcpy (s->tags + s->n * HASH_MAX_TAG, rec->tags + i * sb.tag_size,
              sb.tag_size);
    }
  }
  return 0;
}

/* The sector, kind and tag that decoding must give for the J-th sector
 * of record REC (as it was before encoding advanced it). */
static void
expect_sector (const struct seen *s, size_t at,
               const struct journal_record *rec, uint32_t j)
{
  ck_assert_uint_lt (at, s->n);
  ck_assert_uint_eq (s->sectors[at], rec->sector + j);
  ck_assert_uint_eq (s->kinds[at], rec->kind);
  if (rec->kind == JREC_TAGS)
    ck_assert_int_eq (memcmp (s->tags + at * HASH_MAX_TAG,
                              rec->tags + (size_t)j * sb.tag_size, sb.tag_size),
                      0);
}

/* The fields of a header block at SEQ, alone in its commit. */
static struct journal_block_info
block_info (uint64_t seq)
{
  return (struct journal_block_info){
      .seq = seq, .tail = seq, .commit = seq, .commit_blocks = 1};
}

/* Encodes RECS[0..N) into as many blocks as they need, decoding each
 * (sequence numbers from SEQ) into S.  Returns the number of blocks. */
static int
encode_all (const struct journal_record *recs, size_t n, uint64_t seq,
            struct seen *s)
{
  struct journal_record work[16];
  uint8_t block[SB_BLOCK];
  size_t done = 0, before;
  int blocks = 0;

  ck_assert_uint_le (n, 16);
  memcpy (work, recs, n * sizeof *recs);
  while (done < n) {
    before = s->n;
    struct journal_block_info info = block_info (seq + blocks);
    journal_block_encode (&sb, &info, work, n, &done, block);
    ck_assert_int_eq (
        journal_block_decode (&sb, seq + blocks, block, NULL, collect, s), 1);
    ck_assert_uint_gt (s->n, before); /* every block makes progress */
    blocks++;
    ck_assert_int_lt (blocks, 1000);
  }
  return blocks;
}

static void
expect_all (const struct seen *s, const struct journal_record *recs, size_t n)
{
  size_t at = 0;

  for (size_t r = 0; r < n; r++)
    for (uint32_t j = 0; j < recs[r].count; j++)
      expect_sector (s, at++, &recs[r], j);
  ck_assert_uint_eq (at, s->n);
}

/* Tag bytes for the records: more than any test here encodes. */
static uint8_t tags[16384];

static void
fill_tags (void)
{
  for (size_t i = 0; i < sizeof tags; i++)
    tags[i] = i * 13 + i / 251 + 1;
}

/* Several records, tags and unwritten, in one block. */
START_TEST (round_trip)
{
  struct seen s = {0};
  struct journal_record recs[4] = {
      {.sector = 10, .count = 2, .kind = JREC_TAGS, .tags = tags},
      {.sector = 100, .count = 50, .kind = JREC_UNWRITTEN},
      {.sector = 7, .count = 1, .kind = JREC_TAGS, .tags = tags + 200},
      {.sector = 0, .count = 3, .kind = JREC_TAGS, .tags = tags + 400},
  };

  make_sb (_i ? 32 : 4);
  fill_tags ();
  ck_assert_int_eq (encode_all (recs, 4, 41, &s), 1);
  ck_assert_uint_eq (s.records, 4);
  expect_all (&s, recs, 4);
  seen_free (&s);
}
END_TEST

/* journal_record_max is the largest count that fits in one block: the
 * 4012 bytes between the 48-byte header and the MAC hold the 16-byte
 * record header and the tags. */
START_TEST (record_max_is_what_fits)
{
  unsigned ts = _i ? 32 : 4;
  uint32_t max = journal_record_max (ts);
  struct seen s = {0};
  struct journal_record rec = {.sector = 5, .kind = JREC_TAGS, .tags = tags};

  make_sb (ts);
  fill_tags ();
  ck_assert_uint_eq (JOURNAL_PAYLOAD, SB_BLOCK - 48 - 32 - 4);
  ck_assert_uint_le (16 + (size_t)max * ts, JOURNAL_PAYLOAD);
  ck_assert_uint_gt (16 + (size_t)(max + 1) * ts, JOURNAL_PAYLOAD);
  ck_assert_uint_ge (journal_sectors_max (ts), max);
  rec.count = max;
  ck_assert_int_eq (encode_all (&rec, 1, 1, &s), 1);
  rec.count = max + 1;
  ck_assert_int_eq (encode_all (&rec, 1, 1, &s), 2);
  rec.count = 2 * max; /* full blocks: nothing wasted when split */
  ck_assert_int_eq (encode_all (&rec, 1, 1, &s), 2);
  rec.count = 2 * max + 1;
  ck_assert_int_eq (encode_all (&rec, 1, 1, &s), 3);
  seen_free (&s);
}
END_TEST

/* A record too large for one block continues in the next ones, and the
 * records after it follow. */
START_TEST (large_record_is_split)
{
  unsigned ts = _i ? 32 : 4;
  struct seen s = {0};
  uint32_t max = journal_record_max (ts);
  struct journal_record recs[3] = {
      {.sector = 1, .count = 3, .kind = JREC_TAGS, .tags = tags},
      {.sector = 1000,
       .count = 3 * max + 5,
       .kind = JREC_TAGS,
       .tags = tags + 3 * ts},
      {.sector = 20000, .count = 9, .kind = JREC_UNWRITTEN},
  };
  int blocks;

  make_sb (ts);
  fill_tags ();
  blocks = encode_all (recs, 3, 1ull << 40, &s);
  ck_assert_int_ge (blocks, 4);
  ck_assert_int_le (blocks, 5);
  expect_all (&s, recs, 3);
  seen_free (&s);
}
END_TEST

START_TEST (block_is_bound_to_sequence_disk_and_bits)
{
  struct journal_record rec = {
      .sector = 3, .count = 2, .kind = JREC_TAGS, .tags = tags};
  struct journal_record gap = {.sector = 9, .count = 4, .kind = JREC_UNWRITTEN};
  struct journal_record both[2] = {rec, gap};
  struct superblock other;
  uint64_t seq = 7 + _i * (1ull << 33), blocks;
  struct journal_block_info info = block_info (seq);
  uint8_t block[SB_BLOCK];
  size_t done = 0;

  make_sb (32);
  fill_tags ();
  blocks = sb_journal_blocks (&sb);
  journal_block_encode (&sb, &info, both, 2, &done, block);
  ck_assert_uint_eq (done, 2);
  ck_assert_int_eq (journal_block_decode (&sb, seq, block, NULL, NULL, NULL),
                    1);
  /* Not the block expected at this place, on this lap, of this disk. */
  ck_assert_int_eq (
      journal_block_decode (&sb, seq + 1, block, NULL, NULL, NULL), 0);
  ck_assert_int_eq (
      journal_block_decode (&sb, seq - 1, block, NULL, NULL, NULL), 0);
  ck_assert_int_eq (
      journal_block_decode (&sb, seq + blocks, block, NULL, NULL, NULL), 0);
  ck_assert_int_eq (
      journal_block_decode (&sb, seq ^ 1ull << 32, block, NULL, NULL, NULL), 0);
  for (int i = 0; i < DISK_UUID_SIZE; i++) {
    other = sb;
    other.uuid[i] ^= 1;
    ck_assert_int_eq (
        journal_block_decode (&other, seq, block, NULL, NULL, NULL), 0);
  }
  for (int bit = 0; bit < SB_BLOCK * 8; bit++) {
    block[bit / 8] ^= 1 << bit % 8;
    ck_assert_msg (journal_block_decode (&sb, seq, block, NULL, NULL, NULL) ==
                       0,
                   "bit %d flipped", bit);
    block[bit / 8] ^= 1 << bit % 8;
  }
  memset (block, 0, sizeof block); /* a never-written journal block */
  ck_assert_int_eq (journal_block_decode (&sb, 0, block, NULL, NULL, NULL), 0);
}
END_TEST

/* A block with a good checksum and a record past the end of the disk
 * is an error, not the end of the journal. */
START_TEST (record_out_of_range_is_an_error)
{
  struct journal_record last = {.count = 1, .kind = JREC_TAGS, .tags = tags};
  struct journal_block_info info = block_info (3);
  uint8_t block[SB_BLOCK];
  size_t done = 0;

  make_sb (4);
  fill_tags ();
  last.sector = sb.data_sectors - 1;
  journal_block_encode (&sb, &info, &last, 1, &done, block);
  ck_assert_int_eq (journal_block_decode (&sb, 3, block, NULL, NULL, NULL), 1);
  last.sector = sb.data_sectors - 1;
  last.count = 2;
  last.tags = tags;
  done = 0;
  journal_block_encode (&sb, &info, &last, 1, &done, block);
  ni_error_set ("%s", "");
  ck_assert_int_eq (journal_block_decode (&sb, 3, block, NULL, NULL, NULL), -1);
  ck_assert_str_ne (ni_error (), "");
}
END_TEST

/* ---- on a real disk ---- */

/* Scans the journal of the image at PATH as it is on the file now. */
static void
scan_file (const char *path, struct seen *s, uint64_t *blocks)
{
  struct backing *b = backing_open_file (path, true);
  struct journal_scan js = {.record = collect, .opaque = s};

  ck_assert_ptr_nonnull (b);
  ck_assert_int_eq (sb_read (b, &sb), 0);
  ck_assert_int_eq (journal_scan (b, &sb, &js), 0);
  ck_assert_uint_ge (js.head, sb.journal_tail_seq);
  *blocks = js.head - js.tail;
  backing_close (b);
}

static bool
seen_has (const struct seen *s, uint64_t sector, uint16_t kind,
          const uint8_t *tag)
{
  for (size_t i = 0; i < s->n; i++)
    if (s->sectors[i] == sector && s->kinds[i] == kind &&
        (tag == NULL ||
         memcmp (s->tags + i * HASH_MAX_TAG, tag, sb.tag_size) == 0))
      return true;
  return false;
}

START_TEST (disk_writes_reach_the_journal)
{
  const char *path =
      scratch_disk ("journal.img", 64 * MiB, _i ? "sha256" : NULL, 0);
  struct disk *d = open_disk (path);
  const struct hash_alg *alg;
  struct hasher *h;
  uint8_t buf[3 * SS], tag[HASH_MAX_TAG];
  struct seen s = {0}, after = {0};
  uint64_t blocks;

  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = i * 5 + i / SS;
  ck_assert_int_eq (disk_write (d, buf, SS, 3 * SS, false), 0);
  ck_assert_int_eq (disk_write (d, buf, 3 * SS, 10 * SS, false), 0);
  ck_assert_int_eq (disk_trim (d, 2 * SS, 20 * SS, false), 0);
  /* The disk is still open: the journal on the file is all there is. */
  scan_file (path, &s, &blocks);
  ck_assert_uint_ge (blocks, 1);
  alg = hash_by_id (sb.hash_id);
  h = hasher_new (alg, NULL, 0);
  ck_assert_ptr_nonnull (h);
  hasher_tag (h, sb.uuid, 3, buf, SS, tag);
  ck_assert (seen_has (&s, 3, JREC_TAGS, tag));
  for (int i = 0; i < 3; i++) {
    hasher_tag (h, sb.uuid, 10 + i, buf + i * SS, SS, tag);
    ck_assert_msg (seen_has (&s, 10 + i, JREC_TAGS, tag), "sector %d", 10 + i);
  }
  ck_assert (seen_has (&s, 20, JREC_UNWRITTEN, NULL));
  ck_assert (seen_has (&s, 21, JREC_UNWRITTEN, NULL));
  ck_assert (!seen_has (&s, 4, JREC_TAGS, NULL));
  ck_assert (!seen_has (&s, 13, JREC_TAGS, NULL));
  ck_assert (!seen_has (&s, 22, JREC_UNWRITTEN, NULL));
  /* Closed cleanly, the journal is empty. */
  ck_assert_int_eq (disk_close (d), 0);
  scan_file (path, &after, &blocks);
  ck_assert_uint_eq (after.n, 0);
  ck_assert_uint_eq (blocks, 0);
  hasher_free (h);
  seen_free (&s);
  seen_free (&after);
}
END_TEST

/* Full mode: one commit of deferred writes carries more data than may
 * follow one header block; the commit starts new header blocks, and a
 * scan reads every record back. */
START_TEST (large_batch_scans_whole)
{
  const char *path = scratch_disk ("batch.img", 256 * MiB, NULL, 0);
  struct disk_options opts = {.path = path, .mode = DISK_MODE_FULL};
  struct disk *d = disk_open (&opts);
  uint8_t buf[8 * SS];
  struct journal_stats js;
  struct seen s = {0};
  uint64_t blocks;

  ck_assert_ptr_nonnull (d);
  memset (buf, 7, sizeof buf);
  for (int i = 0; i < 12; i++) /* 96 data blocks in all */
    ck_assert_int_eq (disk_write (d, buf, sizeof buf, i * 100 * SS, false), 0);
  ck_assert_int_eq (disk_flush (d), 0);
  disk_journal_stats (d, &js);
  /* The writes' commit, and the flush's mark. */
  ck_assert_uint_eq (js.commits, 2);
  ck_assert_uint_eq (js.marks, 1);
  scan_file (path, &s, &blocks);
  ck_assert_uint_eq (s.records, 12);
  ck_assert_uint_eq (s.marks, 1);
  ck_assert_uint_ge (blocks, 96 + 2 * 2);
  ck_assert_int_eq (disk_close (d), 0);
  seen_free (&s);
}
END_TEST

/* ---- group commit through the disk ---- */

#define THREADS 8
#define PER_THREAD 64

struct writer {
  struct disk *d;
  int t;
  int err;
};

static uint8_t
pattern (uint64_t sector, size_t i)
{
  return sector * 31 + i / 512 + 1;
}

static void *
write_many (void *arg)
{
  struct writer *w = arg;
  uint8_t buf[SS];

  /* Interleaved: thread t writes t, t + THREADS, ... */
  for (int i = 0; i < PER_THREAD; i++) {
    uint64_t s = (uint64_t)i * THREADS + w->t;
    for (size_t k = 0; k < SS; k++)
      buf[k] = pattern (s, k);
    if (disk_write (w->d, buf, SS, s * SS, i % 8 == 0) == -1) {
      w->err = errno;
      return NULL;
    }
  }
  return NULL;
}

static void
expect_patterns (struct disk *d)
{
  uint8_t buf[SS];

  for (uint64_t s = 0; s < THREADS * PER_THREAD; s++) {
    ck_assert_msg (disk_read (d, buf, SS, s * SS) == 0, "read sector %lu",
                   (unsigned long)s);
    for (size_t k = 0; k < SS; k += 511)
      ck_assert_uint_eq (buf[k], pattern (s, k));
  }
  ck_assert_int_eq (disk_read (d, buf, SS, THREADS * PER_THREAD * SS), 0);
  for (size_t k = 0; k < SS; k++)
    ck_assert_uint_eq (buf[k], 0); /* never written */
}

/* Written through, and deferred (writeback.h), where one commit takes
 * every write queued: only the FUA writes and the flush commit. */
START_TEST (concurrent_writers)
{
  const char *path = scratch_disk ("group.img", 64 * MiB, NULL, 0);
  bool deferred = _i == 1;
  struct writer w[THREADS];
  pthread_t th[THREADS];
  struct journal_stats js;
  struct disk *d = open_disk_with (path, !deferred);

  for (int t = 0; t < THREADS; t++) {
    w[t] = (struct writer){.d = d, .t = t};
    ck_assert_int_eq (pthread_create (&th[t], NULL, write_many, &w[t]), 0);
  }
  for (int t = 0; t < THREADS; t++) {
    pthread_join (th[t], NULL);
    ck_assert_msg (w[t].err == 0, "thread %d: %s", t, strerror (w[t].err));
  }
  ck_assert_int_eq (disk_flush (d), 0);
  disk_journal_stats (d, &js);
  ck_assert_uint_eq (js.records, THREADS * PER_THREAD);
  ck_assert_uint_ge (js.commits, 1);
  /* Deferred: a commit and a flush mark for each FUA write. */
  ck_assert_uint_le (js.commits, deferred ? 2 * (THREADS * PER_THREAD / 8 + 1)
                                          : js.records + js.marks);
  expect_patterns (d);
  ck_assert_int_eq (disk_close (d), 0);
  d = open_disk (path);
  expect_patterns (d);
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

/* With a tag cache of 16 blocks, writes to 40 tag blocks checkpoint long
 * before the journal fills: dirty tags, which cannot be evicted, stay
 * bounded. */
START_TEST (dirty_tags_are_bounded)
{
  const char *path = scratch_disk ("bounded.img", 24 * MiB, "sha256", 0);
  struct disk_options opts = {
      .path = path, .tag_cache_bytes = 1, .write_through = true};
  uint8_t buf[SS] = {1};
  struct journal_stats js;
  uint64_t per_block = SS / 32;
  struct disk *d = disk_open (&opts);

  ck_assert_ptr_nonnull (d);
  for (uint64_t i = 0; i < 40; i++)
    ck_assert_int_eq (disk_write (d, buf, SS, i * per_block * SS, false), 0);
  disk_journal_stats (d, &js);
  ck_assert_uint_lt (js.used_blocks + 40, js.total_blocks);
  ck_assert_uint_ge (js.checkpoints, 2);
  for (uint64_t i = 0; i < 40; i++) {
    ck_assert_int_eq (disk_read (d, buf, SS, i * per_block * SS), 0);
    ck_assert_uint_eq (buf[0], 1);
  }
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

/* Records no flush covers are what a crash leaves recovery to read: the
 * background thread makes a flush mark once they name
 * JOURNAL_FLUSH_SECTORS sectors, though the client never flushes, and
 * recovery of a crash then reads only the sectors written since. */
START_TEST (background_flush_bounds_what_recovery_reads)
{
  /* Large writes: the journal of this small disk takes 32 commits of
   * them before it is half full and checkpoints. */
  const uint64_t sectors = 2 * JOURNAL_FLUSH_SECTORS, per_write = 1024;
  const char *path =
      scratch_disk ("unflushed.img", (sectors + 1024) * SS, NULL, 0);
  const char *crashed = scratch_path ("unflushed-crash.img");
  struct disk_options opts = {.path = crashed};
  static uint8_t buf[1024 * SS];
  const struct recovery_report *r;
  struct journal_stats js;
  /* Write-through: every write is in the journal when it returns; and
   * tags enough that dirty ones do not call for a checkpoint. */
  struct disk_options wopts = {
      .path = path, .write_through = true, .tag_cache_bytes = 64 * MiB};
  struct timespec opened;
  struct disk *d;

  clock_gettime (CLOCK_MONOTONIC, &opened);
  d = disk_open (&wopts);
  ck_assert_ptr_nonnull (d);
  ck_assert_int_eq (disk_start_background (d), 0);
  for (uint64_t s = 0; s < sectors; s += per_write) {
    memset (buf, (int)(s / per_write) + 1, sizeof buf);
    ck_assert_int_eq (disk_write (d, buf, sizeof buf, s * SS, false), 0);
  }
  /* No mark before the interval, however many sectors wait (checked only
   * if the writes took less, as they do but on a very slow machine). */
  disk_journal_stats (d, &js);
  if (ms_since (&opened) < JOURNAL_FLUSH_INTERVAL_MS)
    ck_assert_uint_eq (js.marks, 0);
  /* Then one, though nothing is written after it falls due. */
  for (int i = 0; i < 300; i++) {
    disk_journal_stats (d, &js);
    if (js.marks > 0)
      break;
    usleep (50 * 1000);
  }
  ck_assert_uint_ge (js.marks, 1);
  ck_assert_uint_eq (js.checkpoints, 0); /* else the test shows less */
  copy_file (path, crashed);
  ck_assert_int_eq (disk_close (d), 0);
  d = disk_open (&opts);
  ck_assert_msg (d != NULL, "%s", ni_error ());
  r = disk_recovery_report (d);
  ck_assert_uint_eq (r->sectors, sectors);
  ck_assert_uint_eq (r->kept_new, sectors);
  ck_assert_uint_le (r->read, sectors - JOURNAL_FLUSH_SECTORS + per_write);
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

/* A file backing whose syncs fail while fail_syncs is set. */
struct sync_failing {
  struct backing b;
  struct backing *inner;
  atomic_bool fail_syncs;
  atomic_uint failed; /* syncs failed so far */
};

static struct backing *
inner (struct backing *b)
{
  return ((struct sync_failing *)b)->inner;
}

static int
sf_pread (struct backing *b, void *buf, size_t len, uint64_t off)
{
  return backing_pread (inner (b), buf, len, off);
}

static int
sf_pwrite (struct backing *b, const void *buf, size_t len, uint64_t off,
           unsigned flags)
{
  return backing_pwrite (inner (b), buf, len, off, flags);
}

static int
sf_sync (struct backing *b)
{
  struct sync_failing *sf = (struct sync_failing *)b;

  if (atomic_load (&sf->fail_syncs)) {
    atomic_fetch_add (&sf->failed, 1);
    errno = EIO;
    return -1;
  }
  return backing_sync (sf->inner);
}

static int
sf_punch (struct backing *b, uint64_t off, uint64_t len)
{
  return backing_punch (inner (b), off, len);
}

static void
sf_close (struct backing *b)
{
  backing_close (inner (b));
}

static const struct backing_ops sync_failing_ops = {
    .pread = sf_pread,
    .pwrite = sf_pwrite,
    .sync = sf_sync,
    .punch = sf_punch,
    .close = sf_close,
};

/* A background flush whose sync fails makes no mark, and the client's
 * next flush fails with its error, though that flush's own sync would
 * succeed: Linux reports a failed write-back to one fsync only. */
START_TEST (failed_background_flush_fails_the_next_flush)
{
  const uint64_t sectors = JOURNAL_FLUSH_SECTORS + 1024, per_write = 1024;
  const char *path =
      scratch_disk ("syncfail.img", (sectors + 1024) * SS, NULL, 0);
  struct sync_failing *sf = calloc (1, sizeof *sf); /* the disk frees it */
  static uint8_t buf[1024 * SS];
  struct disk_options opts = {
      .path = path, .write_through = true, .tag_cache_bytes = 64 * MiB};
  struct journal_stats js;
  struct disk *d;

  ck_assert_ptr_nonnull (sf);
  sf->inner = backing_open_file (path, false);
  ck_assert_ptr_nonnull (sf->inner);
  backing_init (&sf->b, &sync_failing_ops, path, sf->inner->size, false);
  d = disk_open_backing (&sf->b, &opts);
  ck_assert_msg (d != NULL, "%s", ni_error ());
  ck_assert_int_eq (disk_start_background (d), 0);
  atomic_store (&sf->fail_syncs, true);
  for (uint64_t s = 0; s < sectors; s += per_write)
    ck_assert_int_eq (disk_write (d, buf, sizeof buf, s * SS, false), 0);
  for (int i = 0; i < 200 && atomic_load (&sf->failed) == 0; i++)
    usleep (50 * 1000);
  ck_assert_uint_ge (atomic_load (&sf->failed), 1);
  atomic_store (&sf->fail_syncs, false);
  disk_journal_stats (d, &js);
  ck_assert_uint_eq (js.marks, 0);
  errno = 0;
  ck_assert_int_eq (disk_flush (d), -1);
  ck_assert_int_eq (errno, EIO);
  ck_assert_int_eq (disk_flush (d), 0); /* reported once */
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("journal");
  TCase *blocks = tcase_create ("blocks");
  TCase *disk = tcase_create ("disk");

  tcase_add_loop_test (blocks, round_trip, 0, 2);
  tcase_add_loop_test (blocks, record_max_is_what_fits, 0, 2);
  tcase_add_loop_test (blocks, large_record_is_split, 0, 2);
  tcase_add_loop_test (blocks, block_is_bound_to_sequence_disk_and_bits, 0, 2);
  tcase_add_test (blocks, record_out_of_range_is_an_error);
  suite_add_tcase (s, blocks);
  tcase_add_loop_test (disk, disk_writes_reach_the_journal, 0, 2);
  tcase_add_loop_test (disk, concurrent_writers, 0, 2);
  tcase_add_test (disk, large_batch_scans_whole);
  tcase_add_test (disk, dirty_tags_are_bounded);
  tcase_add_test (disk, background_flush_bounds_what_recovery_reads);
  tcase_add_test (disk, failed_background_flush_fails_the_next_flush);
  tcase_set_timeout (disk, 60);
  suite_add_tcase (s, disk);
  return run_suite (s);
}
