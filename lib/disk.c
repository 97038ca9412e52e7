/* An integrity-protected disk: see disk.h. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "backing.h"
#include "disk-internal.h"
#include "disk.h"
#include "hash.h"
#include "journal.h"
#include "key.h"
#include "rangelock.h"
#include "ratelimit.h"
#include "report.h"
#include "tagstore.h"
#include "writeback.h"

/* The hasher for the disk, checked against the options: hash= must name
 * the disk's algorithm and a keyed disk needs the key it was made with. */
static struct hasher *
open_hasher (const char *name, const struct disk_options *opts,
             const struct superblock *sb)
{
  const struct hash_alg *alg = hash_by_id (sb->hash_id);
  uint8_t check[HASH_KEY_CHECK_SIZE];
  struct hasher *h;

  if (opts->hash && strcmp (opts->hash, alg->name) != 0) {
    ni_error_set ("%s: the disk was formatted with hash %s, but hash=%s was "
                  "given; give hash=%s or leave hash= out",
                  name, alg->name, opts->hash, alg->name);
    errno = EINVAL;
    return NULL;
  }
  if (!alg->keyed && opts->keyfile) {
    /* Someone who wants a keyed disk served as an unkeyed one, whose tags
     * anyone can compute, needs only edit its superblock. */
    ni_error_set ("%s: a key file was given, but the disk's superblock says "
                  "it uses %s, which takes no key.  If the disk was "
                  "formatted with a key, its superblock has been changed: "
                  "do not serve it.  Otherwise leave the key file out",
                  name, alg->name);
    errno = EINVAL;
    return NULL;
  }
  h = hasher_with_keyfile (alg, opts->keyfile);
  if (h == NULL) {
    ni_error_prefix (name);
    return NULL;
  }
  hasher_key_check (h, sb->uuid, check);
  if (sodium_memcmp (check, sb->key_check, sizeof check) != 0) {
    ni_error_set ("%s: the key in %s is not the key this disk was "
                  "formatted with (key check value differs); give the "
                  "right key file",
                  name, opts->keyfile);
    hasher_free (h);
    errno = EACCES;
    return NULL;
  }
  return h;
}

/* A keyed disk is used only once its superblock is known to be the key
 * holder's: changed without the key, it may name another journal or
 * layout. */
static int
authenticate (struct disk *d)
{
  if (sb_authenticate (&d->sb, d->h) == 0)
    return 0;
  ni_error_prefix (d->b->name);
  return -1;
}

/* Writes SNAP home durably: the data first, so no tag reaches home
 * before the data it describes.  Ends SNAP. */
static int
write_tags_home (struct disk *d, struct tag_snapshot *snap)
{
  int r = -1;

  if (snap && backing_sync (d->b) == 0 &&
      tagstore_write_snapshot (d->ts, snap) == 0 && backing_sync (d->b) == 0)
    r = 0;
  tagstore_end_snapshot (d->ts, snap, r == 0);
  if (r == -1) {
    atomic_fetch_add (&d->stats.io_errors, 1);
    ni_error_set ("%s: writing tags home: %s", d->b->name,
                  errno ? strerror (errno) : ni_error ());
    ni_log (NI_LOG_ERROR, "%s", ni_error ());
  }
  return r;
}

/* Mode "none": data and all tags durable now.  One at a time, since
 * concurrent flushes would take overlapping snapshots. */
static int
flush_tags (struct disk *d)
{
  int r;

  pthread_mutex_lock (&d->flush_lock);
  r = write_tags_home (d, tagstore_snapshot (d->ts));
  pthread_mutex_unlock (&d->flush_lock);
  return r;
}

/* The journal's checkpoint: capture (journal_checkpointer). */
static void *
capture_tags (void *opaque)
{
  struct disk *d = opaque;

  return tagstore_snapshot (d->ts);
}

/* The journal's checkpoint: complete (journal_checkpointer). */
static int
complete_checkpoint (void *opaque, void *captured, uint64_t new_tail)
{
  struct disk *d = opaque;

  if (write_tags_home (d, captured) == -1)
    return -1;
  d->sb.journal_tail_seq = new_tail;
  if (sb_write (d->b, &d->sb) == -1) {
    atomic_fetch_add (&d->stats.io_errors, 1);
    ni_log (NI_LOG_ERROR, "%s", ni_error ());
    return -1;
  }
  return 0;
}

static const struct journal_checkpointer checkpointer = {
    .capture = capture_tags,
    .complete = complete_checkpoint,
};

/* The superblock's record of a serving mode, and back. */
static uint32_t
recorded_mode (enum disk_mode mode)
{
  return mode == DISK_MODE_FULL   ? MODE_FULL
         : mode == DISK_MODE_NONE ? MODE_NONE
                                  : MODE_TAGS;
}

static enum disk_mode
serving_mode (uint32_t recorded)
{
  return recorded == MODE_FULL   ? DISK_MODE_FULL
         : recorded == MODE_NONE ? DISK_MODE_NONE
                                 : DISK_MODE_TAGS;
}

/* After recovery: make the recovered tags durable, empty the journal and
 * mark the disk in use.  The new tail is above every sequence number in
 * the ring, so no block left there (beyond a torn commit, or beyond what
 * a stale superblock copy knew of) is ever taken for a new one. */
static int
start_writing (struct disk *d, const struct disk_options *opts)
{
  uint64_t tail = d->recovery.next_seq;

  d->sb.state = SB_DIRTY;
  d->sb.mode = recorded_mode (d->mode);
  if (complete_checkpoint (d, capture_tags (d), tail) == -1) {
    ni_error_set (
        "%s: cannot write the recovered tags and superblock: %m%s", d->b->name,
        errno == ENOSPC ? ".  Free space on the file system that holds it, or "
                          "serve it with mode=recovery to read it as it is"
                        : "");
    return -1;
  }
  if (d->mode == DISK_MODE_NONE)
    return 0;
  d->j = journal_open (d->b, &d->sb, tail, &checkpointer, d);
  if (d->j == NULL)
    return -1;
  if (opts->write_through)
    return 0;
  d->wb =
      writeback_new (d->j, opts->write_buffer_bytes ? opts->write_buffer_bytes
                                                    : WRITEBACK_DEFAULT_BYTES);
  return d->wb ? 0 : -1;
}

/* A disk of an earlier format version opens if its journal is empty,
 * and is written in this version from then on. */
static int
check_version (struct disk *d)
{
  if (d->sb.version == SB_VERSION)
    return 0;
  if (d->sb.state == SB_CLEAN) {
    d->sb.version = SB_VERSION;
    return 0;
  }
  ni_error_set ("%s was last served by an earlier version of nbd-integrity "
                "(format %" PRIu32 ") and not closed cleanly: its journal "
                "is in that version's format.  Recover it with that version "
                "(nbd-integrity recover), then open it here",
                d->b->name, d->sb.version);
  errno = EUCLEAN;
  return -1;
}

static int
read_superblock (struct disk *d)
{
  if (sb_read (d->b, &d->sb) == -1)
    return -1;
  if (d->b->size < d->sb.disk_size) {
    ni_error_set ("%s is truncated: it has %" PRIu64 " bytes but its "
                  "format needs %" PRIu64 "; restore the missing end of "
                  "the disk (copy it back, or grow the file to that size "
                  "to read what is left)",
                  d->b->name, d->b->size, d->sb.disk_size);
    errno = EUCLEAN;
    return -1;
  }
  return 0;
}

/* Before waiting for a range: it may be held by a deferred write, which
 * only a commit applies (rangelock.h). */
static void
commit_deferred (void *opaque)
{
  struct disk *d = opaque;

  if (d->wb)
    journal_commit_submitted (d->j);
}

static void
disk_free (struct disk *d)
{
  writeback_free (d->wb);
  journal_close (d->j);
  tagstore_free (d->ts);
  hasher_free (d->h);
  backing_close (d->b);
  rangelock_destroy (&d->rl);
  pthread_mutex_destroy (&d->flush_lock);
  ratelimit_destroy (&d->mismatch_log);
  ratelimit_destroy (&d->io_error_log);
  stats_destroy (&d->stats);
  free (d);
}

struct disk *
disk_open_backing (struct backing *b, const struct disk_options *opts)
{
  struct disk *d = calloc (1, sizeof *d);

  if (d == NULL) {
    backing_close (b);
    return NULL;
  }
  d->b = b;
  d->mode = opts->mode;
  pthread_mutex_init (&d->flush_lock, NULL);
  stats_init (&d->stats);
  ratelimit_init (&d->mismatch_log, b->name, "mismatches");
  ratelimit_init (&d->io_error_log, b->name, "backing disk errors");
  d->writable = !b->readonly && opts->mode != DISK_MODE_RECOVERY;
  rangelock_init (&d->rl, commit_deferred, d);
  if (read_superblock (d) == -1 ||
      (d->h = open_hasher (b->name, opts, &d->sb)) == NULL ||
      authenticate (d) == -1 || check_version (d) == -1)
    goto err;
  if (d->mode == DISK_MODE_RECORDED)
    d->mode = serving_mode (d->sb.mode);
  d->ts = tagstore_new (d->b, &d->sb, opts->tag_cache_bytes);
  if (d->ts == NULL)
    goto err;
  /* Recovery mode serves the disk as it is: nothing replayed. */
  if (d->mode != DISK_MODE_RECOVERY &&
      recovery_run (d->b, &d->sb, d->h, d->ts, &d->recovery, opts->recovered,
                    opts->opaque) == -1)
    goto err;
  if (d->writable && start_writing (d, opts) == -1)
    goto err;
  return d;

err:
  disk_free (d);
  return NULL;
}

struct disk *
disk_open (const struct disk_options *opts)
{
  bool readonly = opts->readonly || opts->mode == DISK_MODE_RECOVERY;
  struct backing *b = backing_open_file (opts->path, readonly);

  return b ? disk_open_backing (b, opts) : NULL;
}

int
disk_close (struct disk *d)
{
  int r = 0;

  if (d->writable) {
    if (d->wb && writeback_flush (d->wb) == -1)
      ni_log (NI_LOG_ERROR,
              "%s: a write acknowledged since the last flush did not reach "
              "the disk: %m",
              d->b->name);
    r = disk_checkpoint (d);
    /* Stop the background checkpointer first: no superblock write of its
     * may follow the one that marks the disk clean. */
    journal_close (d->j);
    d->j = NULL;
    if (r == 0) {
      d->sb.state = SB_CLEAN;
      r = sb_write (d->b, &d->sb);
    }
  }
  ratelimit_log_suppressed (&d->mismatch_log, true);
  ratelimit_log_suppressed (&d->io_error_log, true);
  disk_free (d);
  return r;
}

int
disk_checkpoint (struct disk *d)
{
  if (d->wb)
    journal_commit_submitted (d->j);
  if (d->j)
    return journal_checkpoint (d->j);
  return d->writable ? flush_tags (d) : 0;
}

int
disk_start_background (struct disk *d)
{
  return d->j ? journal_start_background (d->j) : 0;
}

int
disk_checkpoint_begin (struct disk *d)
{
  return d->j ? journal_checkpoint_begin (d->j) : 0;
}

int
disk_checkpoint_end (struct disk *d)
{
  return d->j ? journal_checkpoint_end (d->j) : 0;
}

/* By enum disk_mode. */
static const char *const mode_names[] = {"tags", "full", "none", "recovery"};

int
disk_mode_by_name (const char *name)
{
  for (int i = 0; i < 4; i++)
    if (strcmp (name, mode_names[i]) == 0)
      return i;
  return -1;
}

const char *
disk_mode_name (const struct disk *d)
{
  return mode_names[d->mode]; /* never DISK_MODE_RECORDED once open */
}

const char *
disk_name (const struct disk *d)
{
  return d->b->name;
}

const struct superblock *
disk_superblock (const struct disk *d)
{
  return &d->sb;
}

const struct recovery_report *
disk_recovery_report (const struct disk *d)
{
  return &d->recovery;
}

uint64_t
disk_size (const struct disk *d)
{
  return d->sb.data_sectors * d->sb.sector_size;
}

struct disk_stats *
disk_stats (struct disk *d)
{
  return &d->stats;
}

void
disk_journal_stats (struct disk *d, struct journal_stats *stats)
{
  memset (stats, 0, sizeof *stats);
  if (d->j)
    journal_get_stats (d->j, stats);
}

void
disk_get_counters (struct disk *d, struct disk_counters *c)
{
  stats_copy (&d->stats, c);
  c->backing_bytes_written = atomic_load (&d->b->bytes_written);
  c->deferred_bytes = d->wb ? writeback_pending_bytes (d->wb) : 0;
  c->recovery_failed_sectors = d->recovery.neither;
  c->recovery_repaired_blocks = d->recovery.repaired;
  disk_journal_stats (d, &c->journal);
}

void
disk_log_suppressed (struct disk *d)
{
  ratelimit_log_suppressed (&d->mismatch_log, false);
  ratelimit_log_suppressed (&d->io_error_log, false);
}

int
disk_data_io (struct disk *d, void *buf, uint64_t sector, uint64_t n,
              bool write, unsigned flags)
{
  uint8_t *p = buf;

  while (n > 0) {
    uint64_t run = run_length (d, sector, n);
    size_t len = run * d->sb.sector_size;
    uint64_t off = sb_data_offset (&d->sb, sector);
    int r = write ? backing_pwrite (d->b, p, len, off, flags)
                  : backing_pread (d->b, p, len, off);
    if (r == -1) {
      atomic_fetch_add (&d->stats.io_errors, 1);
      ratelimit_log (&d->io_error_log, NI_LOG_ERROR,
                     "%s: %s of sectors %" PRIu64 "-%" PRIu64 " (byte %" PRIu64
                     " of the backing disk): %m",
                     d->b->name, write ? "write" : "read", sector,
                     sector + run - 1, off);
      return -1;
    }
    p += len;
    sector += run;
    n -= run;
  }
  return 0;
}

int
disk_tag_io_failed (struct disk *d)
{
  atomic_fetch_add (&d->stats.io_errors, 1);
  ratelimit_log (&d->io_error_log, NI_LOG_ERROR, "%s", ni_error ());
  return -1;
}

/* Discards the data of sectors [SECTOR, SECTOR+N): punched where the
 * backing can; if MUST_ZERO (a zero request) it must read as zeroes even
 * after a crash, so recovery can accept the unwritten tag, and where the
 * backing cannot punch, zeroes are written. */
static int
discard_data (struct disk *d, uint64_t sector, uint64_t n, bool must_zero)
{
  while (n > 0) {
    uint64_t run = run_length (d, sector, n);
    uint64_t off = sb_data_offset (&d->sb, sector);
    uint64_t len = run * d->sb.sector_size;
    int r = must_zero ? backing_zero (d->b, off, len)
                      : backing_punch (d->b, off, len);

    if (r == -1 && !must_zero && errno == EOPNOTSUPP)
      r = 0; /* trim is advisory: the tags say unwritten all the same */
    if (r == -1) {
      atomic_fetch_add (&d->stats.io_errors, 1);
      ratelimit_log (&d->io_error_log, NI_LOG_ERROR,
                     "%s: discarding sectors %" PRIu64 "-%" PRIu64 ": %m",
                     d->b->name, sector, sector + run - 1);
      return -1;
    }
    sector += run;
    n -= run;
  }
  return 0;
}

/* The journal record of a change to sectors [SECTOR, SECTOR+N): new data
 * BUF with TAGS, or a discard if TAGS is NULL. */
static struct journal_record
change_record (const struct disk *d, const uint8_t *buf, uint64_t sector,
               uint64_t n, const uint8_t *tags)
{
  bool full = d->mode == DISK_MODE_FULL;

  return (struct journal_record){
      .sector = sector,
      .count = n,
      .kind = !tags  ? JREC_UNWRITTEN
              : full ? JREC_DATA
                     : JREC_TAGS,
      .tags = tags,
      .data = buf,
  };
}

static void
log_commit_error (struct disk *d, uint64_t sector, uint64_t n, int err)
{
  atomic_fetch_add (&d->stats.io_errors, 1);
  ratelimit_log (&d->io_error_log, NI_LOG_ERROR,
                 "%s: journal commit for sectors %" PRIu64 "-%" PRIu64 ": %s",
                 d->b->name, sector, sector + n - 1, strerror (err));
}

/* Writes a journaled change in place: the data (or the discard), then
 * the tags. */
static int
write_in_place (struct disk *d, const uint8_t *buf, uint64_t sector, uint64_t n,
                const uint8_t *tags, bool must_zero)
{
  int r;

  /* A tag block that cannot be read fails the change before the data
   * is touched: after, the new data would be left with its old tags. */
  if (tagstore_load (d->ts, sector, n) == -1)
    return disk_tag_io_failed (d);
  if (tags)
    r = disk_data_io (d, (void *)buf, sector, n, true, 0);
  else
    r = discard_data (d, sector, n, must_zero);
  /* After a failed data write the old tags stay: the data on disk is now
   * unknown, and a read of it fails rather than returns garbage. */
  if (r == 0 && (tags ? tagstore_set (d->ts, sector, n, tags)
                      : tagstore_set_unwritten (d->ts, d->h, sector, n)) == -1)
    r = disk_tag_io_failed (d);
  return r;
}

static void
hash_sectors (struct disk *d, const uint8_t *buf, uint64_t sector, uint64_t n,
              uint8_t *tags)
{
  for (uint64_t i = 0; i < n; i++)
    hasher_tag (d->h, d->sb.uuid, sector + i, buf + i * d->sb.sector_size,
                d->sb.sector_size, tags + i * d->sb.tag_size);
}

/* hash_sectors of a copy of BUF made into DST, a sector at a time: the
 * hash reads each sector while the copy has left it in the cache, where a
 * copy of the whole request followed by its hash would read it from memory
 * again. */
static void
copy_and_hash (struct disk *d, uint8_t *dst, const uint8_t *buf,
               uint64_t sector, uint64_t n, uint8_t *tags)
{
  size_t ss = d->sb.sector_size;

  for (uint64_t i = 0; i < n; i++) {
    memcpy (dst + i * ss, buf + i * ss, ss);
    hash_sectors (d, dst + i * ss, sector + i, 1, tags + i * d->sb.tag_size);
  }
}

/* Journals, then writes in place and tags, sectors [SECTOR, SECTOR+N)
 * whose range the caller holds.  TAGS NULL means: discard them (trim or
 * zero, with MUST_ZERO when they must read as zeroes after a crash). */
static int
apply_locked (struct disk *d, const uint8_t *buf, uint64_t sector, uint64_t n,
              const uint8_t *tags, bool must_zero)
{
  struct journal_record rec = change_record (d, buf, sector, n, tags);
  uint64_t commit = 0;
  int r;

  if (d->j && journal_commit (d->j, &rec, &commit) == -1) {
    log_commit_error (d, sector, n, errno);
    return -1;
  }
  r = write_in_place (d, buf, sector, n, tags, must_zero);
  if (d->j)
    journal_applied (d->j, commit);
  return r;
}

/* A deferred write (writeback.h): its record, its range held until the
 * commit that takes it applies it, and copies of its tags and data. */
struct deferred {
  struct journal_entry entry; /* first: apply is given it */
  struct disk *d;
  struct range_hold hold;
  uint64_t ticket; /* of its memory: writeback_alloc */
  uint8_t *tags;
  uint8_t data[];
};

/* Applies a deferred write once its commit is over (journal_entry). */
static void
apply_deferred (struct journal_entry *e, int err)
{
  struct deferred *w = (struct deferred *)e;
  struct disk *d = w->d;
  uint64_t sector = e->rec.sector, n = e->rec.count;

  if (err == 0) {
    if (write_in_place (d, w->data, sector, n, w->tags, false) == -1)
      err = errno ? errno : EIO;
    journal_applied (d->j, e->commit);
  } else
    log_commit_error (d, sector, n, err);
  if (err)
    writeback_failed (d->wb, err);
  rangelock_release (&d->rl, &w->hold);
  writeback_release (d->wb, w->ticket);
}

/* Defers the write of whole sectors [SECTOR, SECTOR+N), at most
 * defer_sectors of them: copies, hashes, holds and queues them. */
static int
defer_write (struct disk *d, const uint8_t *buf, uint64_t sector, uint64_t n)
{
  size_t data = n * d->sb.sector_size, tags = n * d->sb.tag_size;
  size_t bytes = (sizeof (struct deferred) + data + tags + 63) & ~(size_t)63;
  uint64_t ticket;
  struct deferred *w = writeback_alloc (d->wb, bytes, &ticket);

  if (w == NULL)
    return -1;
  w->d = d;
  w->ticket = ticket;
  w->tags = w->data + data;
  copy_and_hash (d, w->data, buf, sector, n, w->tags);
  rangelock_acquire (&d->rl, &w->hold, sector, sector + n, true);
  w->entry.rec = change_record (d, w->data, sector, n, w->tags);
  w->entry.apply = apply_deferred;
  if (journal_submit (d->j, &w->entry) == -1) {
    rangelock_release (&d->rl, &w->hold);
    writeback_release (d->wb, ticket);
    return -1;
  }
  writeback_submitted (d->wb, rangelock_contended (&d->rl));
  return 0;
}

/* Largest number of sectors one deferred write takes. */
static uint64_t
defer_sectors (const struct disk *d)
{
  uint64_t per_sector = d->sb.sector_size + d->sb.tag_size;
  uint64_t room = writeback_max_bytes (d->wb) - sizeof (struct deferred) - 63;
  uint64_t n = room / per_sector;
  uint64_t chunk = chunk_sectors (d);

  return n < chunk ? n : chunk;
}

/* Checkpoints when dirty tags fill half the tag cache, so memory stays
 * bounded however large the journal.  Called holding no range. */
static int
bound_dirty_tags (struct disk *d)
{
  if (!tagstore_needs_writeback (d->ts))
    return 0;
  return disk_checkpoint (d);
}

/* Writes whole sectors [SECTOR, SECTOR+N), at most chunk_sectors, and
 * waits for their commit.  They are hashed with no lock held; if HOLD,
 * their range is held while they are applied, otherwise the caller holds
 * it. */
static int
write_chunk (struct disk *d, const uint8_t *buf, uint64_t sector, uint64_t n,
             bool hold)
{
  uint8_t tags[CHUNK_TAG_BYTES];
  struct range_hold h;
  int r;

  hash_sectors (d, buf, sector, n, tags);
  if (hold)
    rangelock_acquire (&d->rl, &h, sector, sector + n, true);
  r = apply_locked (d, buf, sector, n, tags, false);
  if (hold)
    rangelock_release (&d->rl, &h);
  return r;
}

/* Writes whole sectors in chunks.  If HOLD_EACH, each chunk's range is
 * held while it is applied, otherwise the caller holds the whole range;
 * chunks that no caller holds are deferred when they can be. */
static int
write_sectors (struct disk *d, const uint8_t *buf, uint64_t sector, uint64_t n,
               bool hold_each)
{
  bool defer = hold_each && d->wb;
  uint64_t max = defer ? defer_sectors (d) : chunk_sectors (d);

  while (n > 0) {
    uint64_t chunk = n < max ? n : max;
    int r = defer ? defer_write (d, buf, sector, chunk)
                  : write_chunk (d, buf, sector, chunk, hold_each);

    if (r == 0 && hold_each)
      r = bound_dirty_tags (d);
    if (r == -1)
      return -1;
    buf += chunk * d->sb.sector_size;
    sector += chunk;
    n -= chunk;
  }
  return 0;
}

/* Read-modify-write of a request that does not cover whole sectors: the
 * first and last sectors are read (and verified) under the same exclusive
 * hold as the write, so no other request can change them in between. */
static int
write_unaligned (struct disk *d, const void *buf, uint32_t count,
                 uint64_t offset)
{
  uint64_t ss = d->sb.sector_size, first, n;
  struct range_hold hold;
  uint8_t *bounce;
  int r;

  covering_sectors (d, count, offset, &first, &n);
  bounce = malloc (n * ss);
  if (bounce == NULL)
    return -1;
  rangelock_acquire (&d->rl, &hold, first, first + n, true);
  r = disk_read_locked (d, bounce, first, 1);
  if (r == 0 && n > 1)
    r = disk_read_locked (d, bounce + (n - 1) * ss, first + n - 1, 1);
  if (r == 0) {
    memcpy (bounce + offset % ss, buf, count);
    r = write_sectors (d, bounce, first, n, false);
  }
  rangelock_release (&d->rl, &hold);
  free (bounce);
  return r == 0 ? bound_dirty_tags (d) : -1;
}

/* Makes every change acknowledged so far durable: commits and applies
 * the deferred writes, then has the journal sync the disk and mark the
 * flush; with no journal, the tags go home. */
static int
flush_all (struct disk *d)
{
  int r;

  /* Each deferred write's error was logged when it failed. */
  if (d->wb && writeback_flush (d->wb) == -1)
    return -1;
  r = d->j ? journal_flush (d->j) : flush_tags (d);
  if (r == -1) {
    atomic_fetch_add (&d->stats.io_errors, 1);
    ratelimit_log (&d->io_error_log, NI_LOG_ERROR, "%s: flush: %m", d->b->name);
  }
  return r;
}

/* The opening of every change: a disk open for writing, and a range
 * within it. */
static int
check_change (const struct disk *d, uint64_t count, uint64_t offset)
{
  if (!d->writable) {
    errno = EROFS;
    return -1;
  }
  return check_range (d, count, offset);
}

/* A change with FUA is made durable before it returns, as a flush would:
 * so a flush mark covers it, and recovery can tell its loss from a crash
 * (journal.h). */
static int
finish_change (struct disk *d, int r, bool fua)
{
  return r == 0 && fua ? flush_all (d) : r;
}

int
disk_write (struct disk *d, const void *buf, uint32_t count, uint64_t offset,
            bool fua)
{
  int r;

  if (check_change (d, count, offset) == -1)
    return -1;
  atomic_fetch_add (&d->stats.writes, 1);
  atomic_fetch_add (&d->stats.bytes_written, count);
  if (aligned (d, count, offset))
    r = write_sectors (d, buf, offset / d->sb.sector_size,
                       count / d->sb.sector_size, true);
  else
    r = write_unaligned (d, buf, count, offset);
  return finish_change (d, r, fua);
}

/* Discards sectors [FIRST, END) in chunks, each held while applied. */
static int
discard_sectors (struct disk *d, uint64_t first, uint64_t end, bool must_zero)
{
  const uint64_t max = UINT32_MAX / 2;
  struct range_hold hold;

  while (first < end) {
    uint64_t chunk = end - first < max ? end - first : max;
    int r;

    rangelock_acquire (&d->rl, &hold, first, first + chunk, true);
    r = apply_locked (d, NULL, first, chunk, NULL, must_zero);
    rangelock_release (&d->rl, &hold);
    if (r == 0)
      r = bound_dirty_tags (d);
    if (r == -1)
      return -1;
    first += chunk;
  }
  return 0;
}

int
disk_trim (struct disk *d, uint32_t count, uint64_t offset, bool fua)
{
  uint64_t ss = d->sb.sector_size;
  int r;

  if (check_change (d, count, offset) == -1)
    return -1;
  atomic_fetch_add (&d->stats.trims, 1);
  /* Trim is advisory: sectors it covers only in part keep their data. */
  r = discard_sectors (d, (offset + ss - 1) / ss, (offset + count) / ss, false);
  return finish_change (d, r, fua);
}

/* Writes zeroes over [OFFSET, OFFSET+COUNT), all within one sector. */
static int
zero_partial (struct disk *d, uint32_t count, uint64_t offset)
{
  static const uint8_t zeroes[4096];

  assert (count <= d->sb.sector_size && count <= sizeof zeroes);
  assert (count == 0 || offset / d->sb.sector_size ==
                            (offset + count - 1) / d->sb.sector_size);
  if (count == 0)
    return 0;
  return write_unaligned (d, zeroes, count, offset);
}

int
disk_zero (struct disk *d, uint32_t count, uint64_t offset, bool fua)
{
  uint64_t ss = d->sb.sector_size;
  uint64_t first = (offset + ss - 1) / ss, end = (offset + count) / ss;
  int r;

  if (check_change (d, count, offset) == -1)
    return -1;
  atomic_fetch_add (&d->stats.writes, 1);
  if (first > end) /* within one sector */
    r = zero_partial (d, count, offset);
  /* The head and tail sectors, covered in part (two of them and no whole
   * one in between when FIRST == END), then the whole sectors. */
  else if (zero_partial (d, first * ss - offset, offset) == -1 ||
           zero_partial (d, offset + count - end * ss, end * ss) == -1)
    r = -1;
  else
    r = discard_sectors (d, first, end, true);
  return finish_change (d, r, fua);
}

int
disk_zero_fast (struct disk *d, uint32_t count, uint64_t offset, bool fua)
{
  if (check_change (d, count, offset) == -1)
    return -1;
  if (!aligned (d, count, offset) || !backing_punches (d->b)) {
    errno = ENOTSUP;
    return -1;
  }
  return disk_zero (d, count, offset, fua);
}

int
disk_flush (struct disk *d)
{
  atomic_fetch_add (&d->stats.flushes, 1);
  return d->writable ? flush_all (d) : 0;
}
