/* The tag store: see tagstore.h.
 *
 * Tag block I of the disk is the (I mod blocks_per_run)'th 4 KiB block of
 * zone (I / blocks_per_run)'s tag run.  The loaded blocks are found by a
 * hash table of them, sized to the cache, not by a table of every tag
 * block of the disk: that was 32 MiB for a 16 TiB disk, touched all over
 * by random writes, and every eviction and snapshot walked it.  Blocks
 * come from slabs of the store's own and go back to its free list when
 * evicted: each taken from whichever thread's malloc arena loaded it,
 * they were kept by the arenas after eviction, and random writes over 16
 * TiB took the server to 250 MiB with a 64 MiB cache.  Eviction is in
 * clock order over the slabs; a snapshot walks the list of dirty blocks.
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
#define SLAB_BLOCKS 256 /* about 1 MiB a slab */
#define NO_BLOCK UINT64_MAX

struct tagblock {
  uint64_t idx;          /* the tag block held, or NO_BLOCK when free */
  bool loading;          /* being read in, not yet in the hash table */
  bool dirty;            /* differs from the copy at home */
  bool pinned;           /* in a snapshot being written home: keep it loaded */
  bool referenced;       /* used since the clock hand last passed */
  struct tagblock *next; /* hash chain, or the free list */
  struct tagblock *next_dirty; /* the dirty list */
  uint8_t tags[SB_BLOCK];
};

struct tagstore {
  struct backing *b;
  struct superblock sb;
  uint32_t blocks_per_run;
  uint64_t nr_blocks;   /* tag blocks of the disk */
  pthread_mutex_t lock; /* protects every field below */
  struct tagblock **hash;
  uint64_t hash_mask;
  struct tagblock **slabs; /* each SLAB_BLOCKS blocks */
  size_t nr_slabs, slabs_cap;
  struct tagblock *free, *dirty;
  uint64_t nr_loaded, max_loaded, hand; /* hand: a slot of the slabs */
  size_t nr_dirty;
};

struct tagstore *
tagstore_new (struct backing *b, const struct superblock *sb,
              size_t cache_bytes)
{
  struct tagstore *ts = calloc (1, sizeof *ts);
  uint64_t buckets = 64;

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
  while (buckets < 2 * ts->max_loaded)
    buckets *= 2;
  ts->hash = calloc (buckets, sizeof *ts->hash);
  if (ts->hash == NULL) {
    ni_error_set ("%s: cannot allocate the tag store's table of %" PRIu64
                  " lists: %m",
                  b->name, buckets);
    free (ts);
    return NULL;
  }
  ts->hash_mask = buckets - 1;
  pthread_mutex_init (&ts->lock, NULL);
  return ts;
}

void
tagstore_free (struct tagstore *ts)
{
  if (ts == NULL)
    return;
  for (size_t i = 0; i < ts->nr_slabs; i++)
    free (ts->slabs[i]);
  free (ts->slabs);
  free (ts->hash);
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

static struct tagblock **
bucket (struct tagstore *ts, uint64_t idx)
{
  /* Fibonacci hashing: neighbouring blocks land far apart. */
  return &ts->hash[(idx * UINT64_C (0x9e3779b97f4a7c15)) >> 20 & ts->hash_mask];
}

static struct tagblock *
lookup_locked (struct tagstore *ts, uint64_t idx)
{
  ASSERT_LOCKED (&ts->lock);
  struct tagblock *tb = *bucket (ts, idx);

  while (tb && tb->idx != idx)
    tb = tb->next;
  return tb;
}

static void
unhash_locked (struct tagstore *ts, struct tagblock *tb)
{
  ASSERT_LOCKED (&ts->lock);
  struct tagblock **pp = bucket (ts, tb->idx);

  while (*pp != tb)
    pp = &(*pp)->next;
  *pp = tb->next;
}

static struct tagblock *
slot (const struct tagstore *ts, uint64_t i)
{
  return &ts->slabs[i / SLAB_BLOCKS][i % SLAB_BLOCKS];
}

/* TB, evicted, failed to load or never used, onto the free list. */
static void
give_back_locked (struct tagstore *ts, struct tagblock *tb)
{
  ASSERT_LOCKED (&ts->lock);
  tb->idx = NO_BLOCK;
  tb->loading = false;
  tb->next = ts->free;
  ts->free = tb;
}

/* A slab more for the free list.  -1 with errno if there is no memory. */
static int
grow_locked (struct tagstore *ts)
{
  ASSERT_LOCKED (&ts->lock);
  struct tagblock *slab;

  if (ts->nr_slabs == ts->slabs_cap) {
    size_t cap = ts->slabs_cap ? 2 * ts->slabs_cap : 16;
    struct tagblock **slabs = realloc (ts->slabs, cap * sizeof *slabs);
    if (slabs == NULL)
      return -1;
    ts->slabs = slabs;
    ts->slabs_cap = cap;
  }
  slab = malloc (SLAB_BLOCKS * sizeof *slab);
  if (slab == NULL)
    return -1;
  for (size_t i = 0; i < SLAB_BLOCKS; i++)
    give_back_locked (ts, &slab[i]);
  ts->slabs[ts->nr_slabs++] = slab;
  return 0;
}

/* Evicts clean, unreferenced blocks (not KEEP) until within the cap,
 * going round the slabs once or twice at most.  Dirty blocks stay: the
 * cache may exceed its cap until a checkpoint. */
static void
evict_locked (struct tagstore *ts, const struct tagblock *keep)
{
  ASSERT_LOCKED (&ts->lock);
  uint64_t slots = (uint64_t)ts->nr_slabs * SLAB_BLOCKS;
  uint64_t steps = 2 * slots;

  while (ts->nr_loaded > ts->max_loaded && steps-- > 0) {
    struct tagblock *tb = slot (ts, ts->hand);

    ts->hand = (ts->hand + 1) % slots;
    if (tb->idx == NO_BLOCK || tb->loading || tb->dirty || tb->pinned ||
        tb == keep)
      continue;
    if (tb->referenced) {
      tb->referenced = false;
      continue;
    }
    unhash_locked (ts, tb);
    give_back_locked (ts, tb);
    ts->nr_loaded--;
  }
}

/* A free block, loading IDX; NULL with errno if there is no memory. */
static struct tagblock *
take_free_locked (struct tagstore *ts, uint64_t idx)
{
  ASSERT_LOCKED (&ts->lock);
  struct tagblock *tb;

  if (ts->free == NULL && grow_locked (ts) == -1)
    return NULL;
  tb = ts->free;
  ts->free = tb->next;
  /* Field by field: the tags are about to be read over. */
  tb->idx = idx;
  tb->loading = true;
  tb->dirty = tb->pinned = tb->referenced = false;
  tb->next = tb->next_dirty = NULL;
  return tb;
}

/* Returns tag block IDX, loading it if needed.  Called and returns with
 * the lock held, but drops it while reading from the disk. */
static struct tagblock *
tagblock_get_locked (struct tagstore *ts, uint64_t idx)
{
  ASSERT_LOCKED (&ts->lock);
  struct tagblock *tb;

  while ((tb = lookup_locked (ts, idx)) == NULL) {
    struct tagblock *fresh = take_free_locked (ts, idx);
    int r;

    if (fresh == NULL) {
      block_error (ts, idx, "allocating memory for");
      return NULL;
    }
    pthread_mutex_unlock (&ts->lock);
    r = backing_pread (ts->b, fresh->tags, SB_BLOCK, block_home (ts, idx));
    pthread_mutex_lock (&ts->lock);
    if (r == -1) {
      block_error (ts, idx, "reading");
      give_back_locked (ts, fresh);
      return NULL;
    }
    if (lookup_locked (ts, idx)) {
      give_back_locked (ts, fresh); /* another thread loaded it meanwhile */
      continue;
    }
    fresh->loading = false;
    fresh->next = *bucket (ts, idx);
    *bucket (ts, idx) = fresh;
    ts->nr_loaded++;
    evict_locked (ts, fresh);
  }
  tb->referenced = true;
  return tb;
}

/* TB differs from its home copy: on the dirty list for the next
 * snapshot, once. */
static void
mark_dirty_locked (struct tagstore *ts, struct tagblock *tb)
{
  ASSERT_LOCKED (&ts->lock);
  if (tb->dirty)
    return;
  tb->dirty = true;
  tb->next_dirty = ts->dirty;
  ts->dirty = tb;
  ts->nr_dirty++;
}

/* Sets BYTES of TB's tags at OFF from IN: dirty now. */
static void
set_in_block (struct tagstore *ts, struct tagblock *tb, size_t off,
              const uint8_t *in, size_t bytes)
{
  memcpy (tb->tags + off, in, bytes);
  mark_dirty_locked (ts, tb);
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
  for (struct tagblock *tb = ts->dirty; tb; tb = tb->next_dirty) {
    snap->blocks[n].idx = tb->idx;
    memcpy (snap->blocks[n].tags, tb->tags, SB_BLOCK);
    tb->dirty = false;
    tb->pinned = true;
    n++;
  }
  assert (n == ts->nr_dirty);
  ts->dirty = NULL;
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
    struct tagblock *tb = lookup_locked (ts, snap->blocks[i].idx);
    assert (tb && tb->pinned); /* pinned blocks are never evicted */
    tb->pinned = false;
    if (!written)
      mark_dirty_locked (ts, tb); /* its home copy is still old */
  }
  pthread_mutex_unlock (&ts->lock);
  free (snap);
}

uint64_t
tagstore_loaded_blocks (struct tagstore *ts)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&ts->lock);
  return ts->nr_loaded;
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
