/* What disk.c, disk-read.c and disk-write.c share: struct disk and the
 * few helpers more than one of them calls.
 *
 * Private to those three files, which are one module split by job: the
 * public interface is disk.h, and nothing outside them includes this.
 */
#ifndef NBD_INTEGRITY_DISK_INTERNAL_H
#define NBD_INTEGRITY_DISK_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "disk.h"
#include "journal.h"
#include "rangelock.h"
#include "ratelimit.h"
#include "recovery.h"
#include "stats.h"
#include "superblock.h"

/* Tags of one chunk of a request live on the stack: this bounds a chunk
 * to 4096 sectors of CRC32C or 512 of the 32-byte tags. */
#define CHUNK_TAG_BYTES 16384

struct disk {
  enum disk_mode mode;
  bool writable;
  pthread_mutex_t flush_lock; /* one mode-"none" flush at a time */
  struct backing *b;
  struct hasher *h;
  struct tagstore *ts;
  struct journal *j;    /* NULL when read-only or in mode "none" */
  struct writeback *wb; /* NULL if j is, or write-through */
  struct rangelock rl;
  struct recovery_report recovery;
  struct disk_stats stats;
  struct ratelimit mismatch_log, io_error_log;
  /* Changed only by the checkpoint, which the journal runs one at a
   * time, and by open and close. */
  struct superblock sb;
};

/* Largest number of sectors one chunk of a request covers. */
static inline uint64_t
chunk_sectors (const struct disk *d)
{
  uint64_t n = CHUNK_TAG_BYTES / d->sb.tag_size;
  uint64_t full = journal_data_sectors_max (&d->sb);

  return d->mode == DISK_MODE_FULL && full < n ? full : n;
}

/* Sectors of the range [SECTOR, SECTOR+N) that are contiguous on the
 * backing disk (they end with the zone). */
static inline uint64_t
run_length (const struct disk *d, uint64_t sector, uint64_t n)
{
  uint64_t rem = sb_zone_remaining (&d->sb, sector);

  return n < rem ? n : rem;
}

static inline bool
aligned (const struct disk *d, uint64_t count, uint64_t offset)
{
  return (offset | count) % d->sb.sector_size == 0;
}

/* The whole sectors that cover [OFFSET, OFFSET+COUNT). */
static inline void
covering_sectors (const struct disk *d, uint64_t count, uint64_t offset,
                  uint64_t *first, uint64_t *n)
{
  uint64_t ss = d->sb.sector_size;

  *first = offset / ss;
  *n = (offset + count + ss - 1) / ss - *first;
}

/* Checks that a request lies within the exported size: -1 with EINVAL
 * and ni_error() if it does not. */
int disk_check_range (const struct disk *d, uint64_t count, uint64_t offset);

/* Records in ni_error() that NAME had no memory for WHAT, so that a
 * failed allocation is not reported with an older message; errno stays
 * as the allocation left it.  Returns -1. */
int disk_no_memory (const char *name, const char *what);

/* Counts and logs (rate-limited) a backing disk error, which ni_error()
 * describes: a failed read, write or discard of data or tags, a failed
 * journal commit or flush.  Returns -1. */
int disk_io_failed (struct disk *d);

/* Reads or writes the data of sectors [SECTOR, SECTOR+N), one zone's
 * contiguous run at a time.  -1 with errno and ni_error(), counted and
 * logged, on failure. */
int disk_data_io (struct disk *d, void *buf, uint64_t sector, uint64_t n,
                  bool write, unsigned flags);

/* Reads and verifies whole sectors, whose range the caller holds.  -1
 * with errno (EIO for a mismatch, logged and counted) and ni_error() on
 * failure; in mode "recovery", mismatching data is returned with a
 * warning. */
int disk_read_locked (struct disk *d, uint8_t *buf, uint64_t sector,
                      uint64_t n);

/* Mode "none": makes data and all tags durable now, one flush at a time,
 * since concurrent flushes would take overlapping snapshots.  -1 with
 * errno and ni_error(), logged and counted, on failure. */
int disk_flush_tags (struct disk *d);

/* Commits and applies the deferred writes (writeback.h).  -1 with errno
 * and ni_error() if one failed since the last call. */
int disk_flush_deferred (struct disk *d);

#endif
