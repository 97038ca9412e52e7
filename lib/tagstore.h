/* The tag store: the tags of every sector, cached in memory in 4 KiB tag
 * blocks as they sit in the zones' tag runs.
 *
 * Notes on the design.  A tag set here is dirty until a snapshot of it is
 * written home writes its block home; the journal holds it until then, so the
 * caller (the checkpoint) must write back before it frees journal space.  Dirty
 * blocks are never evicted; clean ones are evicted (clock order) when the
 * cache exceeds its cap.  All functions are thread-safe; tag block reads
 * from the disk happen outside the store's lock.
 */
#ifndef NBD_INTEGRITY_TAGSTORE_H
#define NBD_INTEGRITY_TAGSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backing.h"
#include "superblock.h"

struct tagstore;

/* A store over B's tag runs, caching up to CACHE_BYTES of tag blocks (0
 * for the default, 64 MiB).  NULL with errno and ni_error() on failure. */
struct tagstore *tagstore_new (struct backing *b, const struct superblock *sb,
                               size_t cache_bytes);

void tagstore_free (struct tagstore *ts);

/* Copies the tags of sectors [SECTOR, SECTOR+N) into TAGS. */
int tagstore_get (struct tagstore *ts, uint64_t sector, uint64_t n,
                  uint8_t *tags);

/* Sets the tags of sectors [SECTOR, SECTOR+N) from TAGS. */
int tagstore_set (struct tagstore *ts, uint64_t sector, uint64_t n,
                  const uint8_t *tags);

/* Sets them to H's unwritten tags (hash.h), computed outside the lock. */
int tagstore_set_unwritten (struct tagstore *ts, const struct hasher *h,
                            uint64_t sector, uint64_t n);

/* Loads the tag blocks of sectors [SECTOR, SECTOR+N), so that a writer
 * finds a tag block that cannot be read before it changes the data, not
 * after (when the new data would be left with the old tags). */
int tagstore_load (struct tagstore *ts, uint64_t sector, uint64_t n);

/* A copy of the dirty blocks as they are now, for a checkpoint to write
 * home while writers go on changing the live ones.  Taking it marks them
 * clean; they stay loaded until the snapshot ends.  NULL with errno and
 * ni_error() if it cannot be allocated. */
struct tag_snapshot;
struct tag_snapshot *tagstore_snapshot (struct tagstore *ts);

/* Writes the snapshot's blocks home (not synced).  -1 with errno and
 * ni_error() naming the block on failure. */
int tagstore_write_snapshot (struct tagstore *ts,
                             const struct tag_snapshot *snap);

/* Frees the snapshot; if it was not WRITTEN, its blocks are dirty again. */
void tagstore_end_snapshot (struct tagstore *ts, struct tag_snapshot *snap,
                            bool written);

/* True when dirty blocks fill half the cache: time to write them back,
 * since dirty blocks cannot be evicted. */
bool tagstore_needs_writeback (struct tagstore *ts);

/* Tag blocks in memory now (for tests and counters). */
uint64_t tagstore_loaded_blocks (struct tagstore *ts);

#endif
