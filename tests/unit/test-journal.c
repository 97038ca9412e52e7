/* Journal blocks: encoding, splitting, what a block is bound to; and
 * group commit under concurrent writers. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "format.h"
#include "journal.h"
#include "powerloss.h"

static struct superblock sb;

static void
setup (void)
{
  memset (&sb, 0, sizeof sb);
  sb.sector_size = 4096;
  sb.tag_size = 32;
  for (int i = 0; i < DISK_UUID_SIZE; i++)
    sb.uuid[i] = i * 3;
  ck_assert_int_eq (sb_layout (&sb, 256 << 20, 0), 0);
}

struct seen {
  uint64_t sectors[4096];
  uint8_t tags[4096][32];
  bool unwritten[4096];
  size_t n;
};

static int
collect (void *opaque, uint64_t seq, const struct journal_record *rec)
{
  struct seen *s = opaque;

  (void)seq;
  for (uint32_t i = 0; i < rec->count; i++, s->n++) {
    s->sectors[s->n] = rec->sector + i;
    s->unwritten[s->n] = rec->kind == JREC_UNWRITTEN;
    if (rec->kind == JREC_TAGS)
      memcpy (s->tags[s->n], rec->tags + i * sb.tag_size, sb.tag_size);
  }
  return 0;
}

START_TEST (round_trip_and_split)
{
  uint8_t tags[600 * 32], block[SB_BLOCK];
  struct journal_record recs[3] = {
      {.sector = 10, .count = 2, .kind = JREC_TAGS, .tags = tags},
      {.sector = 100, .count = 50, .kind = JREC_UNWRITTEN},
      {.sector = 1000, .count = 300, .kind = JREC_TAGS, .tags = tags + 64},
  };
  struct seen seen = {.n = 0};
  size_t done = 0;
  uint64_t seq = 41;

  for (size_t i = 0; i < sizeof tags; i++)
    tags[i] = i * 13 + 1;
  /* 300 tags of 32 bytes need several blocks: the record is split. */
  while (done < 3) {
    journal_block_encode (&sb, seq, recs, 3, &done, block);
    ck_assert_int_eq (journal_block_decode (&sb, seq, block, collect, &seen),
                      1);
    seq++;
  }
  ck_assert_uint_ge (seq - 41, 3);
  ck_assert_uint_eq (seen.n, 2 + 50 + 300);
  ck_assert_uint_eq (seen.sectors[0], 10);
  ck_assert_uint_eq (seen.sectors[2], 100);
  ck_assert (seen.unwritten[2] && !seen.unwritten[0]);
  for (size_t i = 0; i < 300; i++) {
    ck_assert_uint_eq (seen.sectors[52 + i], 1000 + i);
    ck_assert_int_eq (memcmp (seen.tags[52 + i], tags + 64 + i * 32, 32), 0);
  }
}
END_TEST

START_TEST (block_is_bound_to_sequence_disk_and_bits)
{
  uint8_t tags[32] = {9}, block[SB_BLOCK];
  struct journal_record rec = {
      .sector = 3, .count = 1, .kind = JREC_TAGS, .tags = tags};
  struct superblock other = sb;
  size_t done = 0;

  journal_block_encode (&sb, 7, &rec, 1, &done, block);
  ck_assert_int_eq (journal_block_decode (&sb, 7, block, NULL, NULL), 1);
  ck_assert_int_eq (journal_block_decode (&sb, 7 + 256, block, NULL, NULL), 0);
  other.uuid[0] ^= 1;
  ck_assert_int_eq (journal_block_decode (&other, 7, block, NULL, NULL), 0);
  for (int bit = 0; bit < SB_BLOCK * 8; bit += 11) {
    block[bit / 8] ^= 1 << bit % 8;
    ck_assert_int_eq (journal_block_decode (&sb, 7, block, NULL, NULL), 0);
    block[bit / 8] ^= 1 << bit % 8;
  }
}
END_TEST

START_TEST (record_limits)
{
  ck_assert_uint_eq (journal_record_max (4), (4096 - 24 - 4 - 16) / 4);
  ck_assert_uint_eq (journal_record_max (32), (4096 - 24 - 4 - 16) / 32);
  ck_assert_uint_gt (journal_sectors_max (32), journal_record_max (32));
}
END_TEST

/* ---- group commit through the disk ---- */

#define THREADS 8
#define PER_THREAD 64

static struct disk *disk;

static void *
writer (void *arg)
{
  uintptr_t t = (uintptr_t)arg;
  uint8_t buf[4096];

  for (int i = 0; i < PER_THREAD; i++) {
    uint64_t s = t * PER_THREAD + i;
    memset (buf, (int)(s % 251) + 1, sizeof buf);
    if (disk_write (disk, buf, sizeof buf, s * 4096, false) == -1)
      return (void *)1;
  }
  return NULL;
}

START_TEST (concurrent_writers_share_commits)
{
  struct format_options fo = {.force = true};
  struct backing *b = powerloss_new (NULL, 64 << 20);
  struct disk_options opts = {.path = "memory"};
  pthread_t th[THREADS];
  struct journal_stats js;
  uint8_t buf[4096];

  ck_assert_int_eq (format_backing (b, &fo), 0);
  disk = disk_open_backing (b, &opts);
  ck_assert_ptr_nonnull (disk);
  for (uintptr_t t = 0; t < THREADS; t++)
    pthread_create (&th[t], NULL, writer, (void *)t);
  for (int t = 0; t < THREADS; t++) {
    void *r;
    pthread_join (th[t], &r);
    ck_assert_ptr_null (r);
  }
  disk_journal_stats (disk, &js);
  ck_assert_uint_eq (js.records, THREADS * PER_THREAD);
  ck_assert_uint_le (js.commits, js.records);
  for (uint64_t s = 0; s < THREADS * PER_THREAD; s++) {
    ck_assert_int_eq (disk_read (disk, buf, sizeof buf, s * 4096), 0);
    ck_assert_uint_eq (buf[0], s % 251 + 1);
    ck_assert_uint_eq (buf[4095], s % 251 + 1);
  }
  ck_assert_int_eq (disk_close (disk), 0);
}
END_TEST

/* With a tag cache of 16 blocks, writes to 40 tag blocks checkpoint long
 * before the journal fills: dirty tags, which cannot be evicted, stay
 * bounded. */
START_TEST (dirty_tags_are_bounded)
{
  struct format_options fo = {.force = true, .hash = "sha256"};
  struct backing *b = powerloss_new (NULL, 24 << 20);
  struct disk_options opts = {.path = "memory", .tag_cache_bytes = 1};
  uint8_t buf[4096] = {1};
  struct journal_stats js;
  uint64_t per_block = 4096 / 32;

  ck_assert_int_eq (format_backing (b, &fo), 0);
  disk = disk_open_backing (b, &opts);
  for (uint64_t i = 0; i < 40; i++)
    ck_assert_int_eq (disk_write (disk, buf, 4096, i * per_block * 4096, false),
                      0);
  disk_journal_stats (disk, &js);
  ck_assert_uint_lt (js.used_blocks + 40, js.total_blocks);
  ck_assert_uint_ge (js.checkpoints, 2);
  for (uint64_t i = 0; i < 40; i++) {
    ck_assert_int_eq (disk_read (disk, buf, 4096, i * per_block * 4096), 0);
    ck_assert_uint_eq (buf[0], 1);
  }
  ck_assert_int_eq (disk_close (disk), 0);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("journal");
  TCase *tc = tcase_create ("journal");
  SRunner *sr;
  int failed;

  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_add_test (tc, round_trip_and_split);
  tcase_add_test (tc, block_is_bound_to_sequence_disk_and_bits);
  tcase_add_test (tc, record_limits);
  tcase_add_test (tc, concurrent_writers_share_commits);
  tcase_add_test (tc, dirty_tags_are_bounded);
  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
