/* The tag store against a model: every tag set reads back, through
 * eviction and snapshots, with a cache far smaller than the disk's tags;
 * a snapshot holds exactly the blocks changed since the last, and one
 * not written leaves them dirty; memory stays within the cap while the
 * blocks are clean, and dirty blocks are never dropped to make room. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "backing.h"
#include "superblock.h"
#include "tagstore.h"
#include "util.h"

#define DISK_BYTES (64u << 20)
#define CACHE_BLOCKS 16

static struct backing *b;
static struct superblock sb;
static uint8_t *model; /* every sector's tag, as the store should have it */

static void
open_tags_disk (void)
{
  /* 512-byte sectors and 32-byte tags: 2,048 tag blocks, 128 times the
   * cache. */
  const char *path = scratch_disk ("tags.img", DISK_BYTES, "sha256", 512);

  b = backing_open_file (path, false);
  ck_assert_ptr_nonnull (b);
  ck_assert_int_eq (sb_read (b, &sb), 0);
  model = calloc (sb.data_sectors, sb.tag_size);
  ck_assert_ptr_nonnull (model);
}

static void
close_disk (void)
{
  backing_close (b);
  free (model);
}

static uint64_t
next_random (uint64_t *state)
{
  *state ^= *state << 13;
  *state ^= *state >> 7;
  *state ^= *state << 17;
  return *state;
}

/* The store as the model says, for every sector. */
static void
check_all (struct tagstore *ts)
{
  uint8_t tag[64];

  for (uint64_t s = 0; s < sb.data_sectors; s++) {
    ck_assert_int_eq (tagstore_get (ts, s, 1, tag), 0);
    ck_assert_msg (memcmp (tag, model + s * sb.tag_size, sb.tag_size) == 0,
                   "sector %lu: not the tag last set", (unsigned long)s);
  }
}

START_TEST (tags_survive_eviction_and_snapshots)
{
  struct tagstore *ts;
  uint64_t state = 0x7a65 + _i;
  uint8_t tags[64 * 64];

  open_tags_disk ();
  /* The format's unwritten tags are what the store starts with. */
  ts = tagstore_new (b, &sb, 0);
  for (uint64_t s = 0; s < sb.data_sectors; s += 64) {
    uint64_t n = sb.data_sectors - s < 64 ? sb.data_sectors - s : 64;
    ck_assert_int_eq (tagstore_get (ts, s, n, model + s * sb.tag_size), 0);
  }
  tagstore_free (ts);

  ts = tagstore_new (b, &sb, CACHE_BLOCKS * (SB_BLOCK + 64));
  for (int step = 0; step < 4000; step++) {
    uint64_t n = 1 + next_random (&state) % 64;
    uint64_t s = next_random (&state) % (sb.data_sectors - n);
    uint64_t r = next_random (&state);

    for (size_t i = 0; i < n * sb.tag_size; i++)
      tags[i] = (uint8_t)(r >> (i % 56));
    ck_assert_int_eq (tagstore_set (ts, s, n, tags), 0);
    memcpy (model + s * sb.tag_size, tags, n * sb.tag_size);
    if (tagstore_needs_writeback (ts) || step % 500 == 499) {
      struct tag_snapshot *snap = tagstore_snapshot (ts);
      bool write = next_random (&state) % 4 != 0;
      ck_assert_ptr_nonnull (snap);
      if (write)
        ck_assert_int_eq (tagstore_write_snapshot (ts, snap), 0);
      tagstore_end_snapshot (ts, snap, write);
    }
  }
  check_all (ts);
  /* Everything written home: a new store reads the same from the disk. */
  {
    struct tag_snapshot *snap = tagstore_snapshot (ts);
    ck_assert_int_eq (tagstore_write_snapshot (ts, snap), 0);
    tagstore_end_snapshot (ts, snap, true);
  }
  tagstore_free (ts);
  ts = tagstore_new (b, &sb, CACHE_BLOCKS * (SB_BLOCK + 64));
  check_all (ts);
  ck_assert_uint_le (tagstore_loaded_blocks (ts), CACHE_BLOCKS);
  tagstore_free (ts);
  close_disk ();
}
END_TEST

/* Dirty blocks stay however many there are; once written home they go,
 * and the store is back within its cap. */
START_TEST (dirty_blocks_stay_until_written)
{
  uint64_t per_block = SB_BLOCK / 32, blocks = 4 * CACHE_BLOCKS;
  uint8_t tags[SB_BLOCK];
  struct tagstore *ts;
  struct tag_snapshot *snap;

  open_tags_disk ();
  ts = tagstore_new (b, &sb, CACHE_BLOCKS * (SB_BLOCK + 64));
  memset (tags, 0xa5, sizeof tags);
  for (uint64_t i = 0; i < blocks; i++)
    ck_assert_int_eq (tagstore_set (ts, i * per_block, per_block, tags), 0);
  ck_assert_uint_ge (tagstore_loaded_blocks (ts), blocks);
  ck_assert (tagstore_needs_writeback (ts));

  snap = tagstore_snapshot (ts); /* not written: they stay dirty */
  tagstore_end_snapshot (ts, snap, false);
  for (uint64_t s = 0; s < sb.data_sectors; s += per_block)
    ck_assert_int_eq (tagstore_load (ts, s, 1), 0);
  ck_assert_uint_ge (tagstore_loaded_blocks (ts), blocks);

  snap = tagstore_snapshot (ts);
  ck_assert_int_eq (tagstore_write_snapshot (ts, snap), 0);
  tagstore_end_snapshot (ts, snap, true);
  ck_assert (!tagstore_needs_writeback (ts));
  for (uint64_t s = 0; s < sb.data_sectors; s += per_block)
    ck_assert_int_eq (tagstore_load (ts, s, 1), 0);
  ck_assert_uint_le (tagstore_loaded_blocks (ts), CACHE_BLOCKS);
  for (uint64_t i = 0; i < blocks; i++) {
    uint8_t got[32];
    ck_assert_int_eq (tagstore_get (ts, i * per_block + 5, 1, got), 0);
    ck_assert (memcmp (got, tags, sizeof got) == 0);
  }
  tagstore_free (ts);
  close_disk ();
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("tagstore");
  TCase *tc = tcase_create ("tagstore");

  tcase_add_loop_test (tc, tags_survive_eviction_and_snapshots, 0, 3);
  tcase_add_test (tc, dirty_blocks_stay_until_written);
  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
