/* The tag store: see tagstore.h.
 *
 * Tag block I of the disk is the (I mod blocks_per_run)'th 4 KiB block of
 * zone (I / blocks_per_run)'s tag run.  blocks[] has a slot for every tag
 * block of the disk (8 bytes per 4 KiB of tags, so 2 MiB for a 1 TiB disk
 * with CRC32C tags); loaded blocks are evicted in clock order.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "lock.h"
#include "report.h"
#include "tagstore.h"

#define DEFAULT_CACHE_BYTES (64u << 20)

struct tagblock {
  bool dirty;      /* differs from the copy at home */
  bool pinned;     /* in a snapshot being written home: keep it loaded */
  bool referenced; /* used since the clock hand last passed */
  uint8_t tags[SB_BLOCK];
};

struct tagstore {
  struct backing *b;
  struct superblock sb;
  uint32_t blocks_per_run;
  pthread_mutex_t lock; /* protects every field below */
  struct tagblock **blocks;
  uint64_t nr_blocks, nr_loaded, max_loaded, hand;
  size_t nr_dirty;
};

struct tagstore *
tagstore_new (struct backing *b, const struct superblock *sb,
              size_t cache_bytes)
{
  struct tagstore *ts = calloc (1, sizeof *ts);

  if (ts == NULL) {
    ni_error_set ("%s: cannot allocate the tag store: %m", b->name);
    return NULL;
  }
  ts->b = b;
  ts->sb = *sb;
  ts->blocks_per_run = sb->tag_run_bytes / SB_BLOCK;
  ts->nr_blocks = sb_zone_count (sb) * ts->blocks_per_run;
  if (cache_bytes == 0)
    cache_bytes = DEFAULT_CACHE_BYTES;
  ts->max_loaded = cache_bytes / sizeof (struct tagblock);
  if (ts->max_loaded < 16)
    ts->max_loaded = 16;
  ts->blocks = calloc (ts->nr_blocks, sizeof *ts->blocks);
  if (ts->blocks == NULL) {
    ni_error_set ("%s: cannot allocate the tag store's table of %" PRIu64
                  " tag blocks: %m",
                  b->name, ts->nr_blocks);
    free (ts);
    return NULL;
  }
  pthread_mutex_init (&ts->lock, NULL);
  return ts;
}

void
tagstore_free (struct tagstore *ts)
{
  if (ts == NULL)
    return;
  for (uint64_t i = 0; i < ts->nr_blocks; i++)
    free (ts->blocks[i]);
  free (ts->blocks);
  pthread_mutex_destroy (&ts->lock);
  free (ts);
}

static uint64_t
block_home (const struct tagstore *ts, uint64_t idx)
{
  uint64_t home = sb_zone_offset (&ts->sb, idx / ts->blocks_per_run) +
                  idx % ts->blocks_per_run * SB_BLOCK;

  /* Every tag block read or written goes through here: a block astride
   * two would mix the tags of two zones, or a tag run with data. */
  assert (idx < ts->nr_blocks && home % SB_BLOCK == 0);
  return home;
}

/* Records in ni_error() that DOING tag block IDX failed, naming the
 * sectors whose tags it holds. */
static void
block_error (const struct tagstore *ts, uint64_t idx, const char *doing)
{
  const struct superblock *sb = &ts->sb;
  uint64_t zone = idx / ts->blocks_per_run;
  uint64_t per_block = SB_BLOCK / sb->tag_size;
  uint64_t first =
      zone * sb->zone_sectors + idx % ts->blocks_per_run * per_block;
  uint64_t end = first + per_block;

  if (end > (zone + 1) * sb->zone_sectors)
    end = (zone + 1) * sb->zone_sectors;
  if (end > sb->data_sectors)
    end = sb->data_sectors;
  ni_error_set ("%s: %s the tags of sectors %" PRIu64 "-%" PRIu64
                " (tag block at byte %" PRIu64 "): %m",
                ts->b->name, doing, first, end - 1, block_home (ts, idx));
}

/* Evicts clean, unreferenced blocks (not KEEP) until within the cap.
 * Dirty blocks stay: the cache may exceed its cap until a checkpoint. */
static void
evict_locked (struct tagstore *ts, uint64_t keep)
{
  ASSERT_LOCKED (&ts->lock);
  uint64_t steps = 2 * ts->nr_blocks;

  while (ts->nr_loaded > ts->max_loaded && steps-- > 0) {
    uint64_t i = ts->hand;
    struct tagblock *tb = ts->blocks[i];

    ts->hand = (ts->hand + 1) % ts->nr_blocks;
    if (tb == NULL || tb->dirty || tb->pinned || i == keep)
      continue;
    if (tb->referenced) {
      tb->referenced = false;
      continue;
    }
    free (tb);
    ts->blocks[i] = NULL;
    ts->nr_loaded--;
  }
}

/* Returns tag block IDX, loading it if needed.  Called and returns with
 * the lock held, but drops it while reading from the disk. */
static struct tagblock *
tagblock_get_locked (struct tagstore *ts, uint64_t idx)
{
  ASSERT_LOCKED (&ts->lock);
  while (ts->blocks[idx] == NULL) {
    struct tagblock *tb;
    int r;

    pthread_mutex_unlock (&ts->lock);
    tb = calloc (1, sizeof *tb);
    r = tb ? backing_pread (ts->b, tb->tags, SB_BLOCK, block_home (ts, idx))
           : -1;
    pthread_mutex_lock (&ts->lock);
    if (r == -1) {
      block_error (ts, idx, "reading");
      free (tb);
      return NULL;
    }
    if (ts->blocks[idx] == NULL) {
      ts->blocks[idx] = tb;
      ts->nr_loaded++;
      evict_locked (ts, idx);
    } else
      free (tb); /* another thread loaded it meanwhile */
  }
  ts->blocks[idx]->referenced = true;
  return ts->blocks[idx];
}

/* Sets BYTES of TB's tags at OFF from IN: dirty now. */
static void
set_in_block (struct tagstore *ts, struct tagblock *tb, size_t off,
              const uint8_t *in, size_t bytes)
{
  memcpy (tb->tags + off, in, bytes);
  ts->nr_dirty += !tb->dirty;
  tb->dirty = true;
}

/* Copies tags from IN into the store (SET), or from it into OUT (NULL:
 * only loads the blocks), for sectors [SECTOR, SECTOR+N), one tag block at
 * a time. */
static int
tagstore_access (struct tagstore *ts, uint64_t sector, uint64_t n, uint8_t *out,
                 const uint8_t *in, bool set)
{
  const struct superblock *sb = &ts->sb;
  uint32_t per_block = SB_BLOCK / sb->tag_size;
  int r = 0;

  pthread_mutex_lock (&ts->lock);
  while (n > 0) {
    uint64_t zone = sector / sb->zone_sectors;
    uint64_t within = sector % sb->zone_sectors;
    uint64_t idx = zone * ts->blocks_per_run + within / per_block;
    uint64_t first = within % per_block;
    uint64_t count = per_block - first;
    size_t bytes, off = first * sb->tag_size;
    struct tagblock *tb;

    if (count > n)
      count = n;
    if (count > sb_zone_remaining (sb, sector))
      count = sb_zone_remaining (sb, sector);
    bytes = count * sb->tag_size;
    tb = tagblock_get_locked (ts, idx);
    if (tb == NULL) {
      r = -1;
      break;
    }
    if (set)
      set_in_block (ts, tb, off, in, bytes);
    else if (out)
      memcpy (out, tb->tags + off, bytes);
    if (out)
      out += bytes;
    if (in)
      in += bytes;
    sector += count;
    n -= count;
  }
  pthread_mutex_unlock (&ts->lock);
  return r;
}

int
tagstore_get (struct tagstore *ts, uint64_t sector, uint64_t n, uint8_t *tags)
{
  return tagstore_access (ts, sector, n, tags, NULL, false);
}

int
tagstore_set (struct tagstore *ts, uint64_t sector, uint64_t n,
              const uint8_t *tags)
{
  return tagstore_access (ts, sector, n, NULL, tags, true);
}

int
tagstore_set_unwritten (struct tagstore *ts, const struct hasher *h,
                        uint64_t sector, uint64_t n)
{
  uint64_t per = SB_BLOCK / ts->sb.tag_size;
  uint8_t tags[SB_BLOCK];

  while (n > 0) {
    uint64_t k = n < per ? n : per;

    hasher_unwritten_tags (h, ts->sb.uuid, sector, k, tags);
    if (tagstore_set (ts, sector, k, tags) == -1)
      return -1;
    sector += k;
    n -= k;
  }
  return 0;
}

int
tagstore_load (struct tagstore *ts, uint64_t sector, uint64_t n)
{
  return tagstore_access (ts, sector, n, NULL, NULL, false);
}

struct snapshot_block {
  uint64_t idx;
  uint8_t tags[SB_BLOCK];
};

struct tag_snapshot {
  size_t n;
  struct snapshot_block blocks[];
};

struct tag_snapshot *
tagstore_snapshot (struct tagstore *ts)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&ts->lock);
  struct tag_snapshot *snap =
      malloc (sizeof *snap + ts->nr_dirty * sizeof snap->blocks[0]);
  size_t n = 0;

  if (snap == NULL) {
    ni_error_set ("%s: cannot allocate a snapshot of %zu dirty tag blocks "
                  "to write home: %m",
                  ts->b->name, ts->nr_dirty);
    return NULL;
  }
  for (uint64_t i = 0; i < ts->nr_blocks && n < ts->nr_dirty; i++) {
    struct tagblock *tb = ts->blocks[i];
    if (tb == NULL || !tb->dirty)
      continue;
    snap->blocks[n].idx = i;
    memcpy (snap->blocks[n].tags, tb->tags, SB_BLOCK);
    tb->dirty = false;
    tb->pinned = true;
    n++;
  }
  ts->nr_dirty = 0;
  snap->n = n;
  return snap;
}

int
tagstore_write_snapshot (struct tagstore *ts, const struct tag_snapshot *snap)
{
  for (size_t i = 0; i < snap->n; i++) {
    uint64_t home = block_home (ts, snap->blocks[i].idx);
    if (backing_pwrite (ts->b, snap->blocks[i].tags, SB_BLOCK, home, 0) == -1) {
      block_error (ts, snap->blocks[i].idx, "writing home");
      return -1;
    }
  }
  return 0;
}

void
tagstore_end_snapshot (struct tagstore *ts, struct tag_snapshot *snap,
                       bool written)
{
  if (snap == NULL)
    return;
  pthread_mutex_lock (&ts->lock);
  for (size_t i = 0; i < snap->n; i++) {
    struct tagblock *tb = ts->blocks[snap->blocks[i].idx];
    tb->pinned = false;
    if (!written && !tb->dirty) {
      tb->dirty = true; /* its home copy is still old */
      ts->nr_dirty++;
    }
  }
  pthread_mutex_unlock (&ts->lock);
  free (snap);
}

bool
tagstore_needs_writeback (struct tagstore *ts)
{
  bool r;

  pthread_mutex_lock (&ts->lock);
  r = ts->nr_dirty > ts->max_loaded / 2;
  pthread_mutex_unlock (&ts->lock);
  return r;
}
