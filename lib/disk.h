/* An integrity-protected disk: the core that the plugin and the tool use.
 *
 * Notes on the design.
 *
 * Read: lock the range shared, read data and tags, verify every sector
 * (unwritten sectors read as zeroes); a sector that fails is re-read once,
 * then logged and counted, and the request fails with EIO.  Mismatches and
 * backing errors are all counted (stats.h), but logged at most
 * RATELIMIT_BURST a second each (ratelimit.h).
 *
 * Write ("tags" crash mode): hash the new data (no lock held), lock the
 * range exclusively, commit the new tags to the journal (durable, shared
 * with concurrent writers), write the data in place once, set the tags in
 * the tag store, unlock.  Requests that are not sector-aligned read,
 * modify and write their first and last sector under the same lock.
 * Aligned writes without FUA are deferred (writeback.h): acknowledged
 * once copied and queued, they go through the same steps in the next
 * commit, many to one durable journal write.
 *
 * Trim and zero: journal the sectors as unwritten, punch the data where
 * the backing can, set the tags to unwritten.  A zero writes zeroes where
 * the backing cannot punch and over the part of a sector it covers; a
 * fast zero (NBD's FAST_ZERO) that would have to fails with ENOTSUP.
 *
 * Write ("full" crash mode): the same, but the journal record carries the
 * data too, so the write in place may be lost and is replayed.  Mode
 * "none" has no journal: its flush writes the tags home.
 *
 * Flush: commit and apply the deferred writes, sync the backing disk,
 * then commit a flush mark (journal.h), which recovery trusts to mean
 * that every record before it is in place.  A change with FUA is that
 * change followed by a flush.
 *
 * Checkpoint (in the background at half journal fill, when the journal is
 * full or dirty tags fill half the tag cache, and on close): snapshot the
 * dirty tags with no write in flight, then, while writers go on, sync the
 * data, write the snapshot home, sync, advance the journal tail (see
 * journal.h).
 */
#ifndef NBD_INTEGRITY_DISK_H
#define NBD_INTEGRITY_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"
#include "recovery.h"
#include "stats.h"
#include "superblock.h"

/* Crash modes (see nbdkit-integrity-plugin(1), CRASH MODES). */
enum disk_mode {
  DISK_MODE_TAGS,     /* tags journaled, data written once */
  DISK_MODE_FULL,     /* data and tags journaled: every write atomic */
  DISK_MODE_NONE,     /* no journal: tags written home on flush */
  DISK_MODE_RECOVERY, /* read-only, no replay, mismatches only warned */
  DISK_MODE_RECORDED, /* the mode the disk was last served in */
};

/* The mode called NAME; -1 if none is. */
int disk_mode_by_name (const char *name);

struct disk_options {
  enum disk_mode mode;
  const char *path;
  const char *keyfile; /* required for keyed algorithms */
  const char *hash;    /* if set, must match the superblock */
  /* Writes nothing: a "tags" journal is replayed in memory only; a dirty
   * "full" disk is refused (its replay must write data home). */
  bool readonly;
  size_t tag_cache_bytes;
  /* Memory for deferred writes (writeback.h); 0 for the default.  With
   * write_through, every write waits for its own commit instead. */
  size_t write_buffer_bytes;
  bool write_through;
  /* 0 for the default */
  /* Recovery reads the data of flushed records too, to report those
   * damaged since (nbd-integrity recover); otherwise they fail when read,
   * as damage to any sector does. */
  bool read_flushed;
  /* Called for each journaled sector during recovery; may be NULL. */
  recovery_sector_fn recovered;
  void *opaque;
};

struct disk;

/* Opens and recovers a formatted disk.  Opened for writing, the disk
 * records opts->mode in its superblock.  NULL with ni_error() naming the
 * disk and what to do on failure. */
struct disk *disk_open (const struct disk_options *opts);

/* The same on an open backing, which the disk then owns (and closes even
 * on failure).  opts->path is used in messages only. */
struct disk *disk_open_backing (struct backing *b,
                                const struct disk_options *opts);

/* Checkpoints, marks the disk clean and closes it.  -1 with ni_error()
 * if the disk could not be left clean (it is closed all the same, and its
 * journal is replayed at the next open). */
int disk_close (struct disk *d);

const struct superblock *disk_superblock (const struct disk *d);
const struct recovery_report *disk_recovery_report (const struct disk *d);
uint64_t disk_size (const struct disk *d);
struct disk_stats *disk_stats (struct disk *d);

/* The path the disk was opened by, and the crash mode it is served in. */
const char *disk_name (const struct disk *d);
const char *disk_mode_name (const struct disk *d);

/* A copy of every counter: the disk's, the backing's and the journal's. */
void disk_get_counters (struct disk *d, struct disk_counters *c);

/* Logs how many mismatch and I/O error messages the rate limit has
 * suppressed in a second that has ended (see ratelimit.h).  Call it now
 * and then: otherwise the next such message or the close logs it. */
void disk_log_suppressed (struct disk *d);

/* I/O at byte offsets within the exported data.  -1 with errno (EIO for a
 * tag mismatch) and ni_error() on failure. */
int disk_read (struct disk *d, void *buf, uint32_t count, uint64_t offset);
int disk_write (struct disk *d, const void *buf, uint32_t count,
                uint64_t offset, bool fua);
int disk_trim (struct disk *d, uint32_t count, uint64_t offset, bool fua);
int disk_flush (struct disk *d);

/* Flush also commits deferred writes, and fails if one failed since the
 * last flush (writeback.h). */

/* Makes [OFFSET, OFFSET+COUNT) read as zeroes, durably once flushed: the
 * whole sectors are discarded, partial ones written. */
int disk_zero (struct disk *d, uint32_t count, uint64_t offset, bool fua);

/* disk_zero only where it writes no data, only a journal record, a punch
 * and tags: COUNT and OFFSET sector-aligned, the backing known to punch
 * (backing_punches).  Elsewhere, where zeroes would be written as
 * disk_write writes them, -1 with ENOTSUP before anything changes. */
int disk_zero_fast (struct disk *d, uint32_t count, uint64_t offset, bool fua);

/* Makes sectors [SECTOR, SECTOR+N) fail their reads, durably, until they
 * are rewritten (nbd-integrity invalidate): the stale copy of a mirror
 * then reads as an error, and MD rebuilds it from the other copies.  Each
 * keeps its data, with its tag replaced by the data's invalid tag
 * (hash.h), so a read can say it was invalidated rather than damaged. */
int disk_invalidate (struct disk *d, uint64_t sector, uint64_t n);

/* Journal counters and fill; zeroes when read-only. */
void disk_journal_stats (struct disk *d, struct journal_stats *stats);

/* Checkpoints now. */
int disk_checkpoint (struct disk *d);

/* Starts checkpointing in the background (when the journal is half full);
 * without it, checkpoints run when the journal is full, in the writer
 * that finds it so.  Call it in the process that serves the disk, after
 * any fork: nbdkit's after_fork.  -1 with ni_error() on failure. */
int disk_start_background (struct disk *d);

/* The two steps of a checkpoint, for tests that write in between: see
 * journal_checkpoint_begin. */
int disk_checkpoint_begin (struct disk *d);
int disk_checkpoint_end (struct disk *d);

/* Verifies sectors [SECTOR, SECTOR+N) without failing on mismatches:
 * calls FN for each sector whose data does not match its tag (they are
 * not logged or counted).  -1 with errno and ni_error() only if the disk
 * could not be read. */
enum sector_check {
  SECTOR_OK,
  SECTOR_MISMATCH,    /* data does not match its tag: damage */
  SECTOR_INVALIDATED, /* disk_invalidate made it fail until rewritten */
};
typedef void (*disk_mismatch_fn) (void *opaque, uint64_t sector,
                                  enum sector_check why);
int disk_verify (struct disk *d, uint64_t sector, uint64_t n,
                 disk_mismatch_fn fn, void *opaque);

/* The same, keeping what was read: sectors [SECTOR, SECTOR+N) into BUF,
 * unwritten ones as zeroes and those that do not match their tags as they
 * are on the disk (nbd-integrity compare shows both copies of a sector). */
int disk_read_checked (struct disk *d, void *buf, uint64_t sector, uint64_t n,
                       disk_mismatch_fn fn, void *opaque);

#endif
