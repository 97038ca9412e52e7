/* An integrity-protected disk: open (superblock, key, recovery) and close,
 * the crash modes, checkpoints, accessors and counters, and the data I/O
 * that reads and writes share.  Verified reads are in disk-read.c,
 * changes in disk-write.c; the design is in disk.h.
 */
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

int
disk_flush_tags (struct disk *d)
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
  struct tag_snapshot *snap = tagstore_snapshot (d->ts);

  if (snap == NULL)
    disk_no_memory (d->b->name, "a snapshot of the dirty tags");
  return snap;
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
    return disk_no_memory (d->b->name, "the journal");
  if (opts->write_through)
    return 0;
  d->wb =
      writeback_new (d->j, opts->write_buffer_bytes ? opts->write_buffer_bytes
                                                    : WRITEBACK_DEFAULT_BYTES);
  return d->wb ? 0 : disk_no_memory (d->b->name, "the write buffer");
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
 * is applied only once committed (rangelock.h).  Commit it, and apply
 * ready writes meanwhile, the one in the way among them. */
static void
commit_deferred (void *opaque)
{
  struct disk *d = opaque;

  if (d->wb)
    journal_commit_and_help (d->j);
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
    disk_no_memory (b->name, "the disk");
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
  if (d->ts == NULL) {
    disk_no_memory (b->name, "the tag store");
    goto err;
  }
  /* Recovery mode serves the disk as it is: nothing replayed. */
  if (d->mode != DISK_MODE_RECOVERY &&
      recovery_run (d->b, &d->sb, d->h, d->ts, opts->read_flushed, &d->recovery,
                    opts->recovered, opts->opaque) == -1)
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
    if (disk_flush_deferred (d) == -1)
      ni_log (NI_LOG_ERROR, "%s", ni_error ());
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
  return d->writable ? disk_flush_tags (d) : 0;
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

/* The rest is shared with disk-read.c and disk-write.c: see
 * disk-internal.h. */

int
disk_data_io (struct disk *d, void *buf, uint64_t sector, uint64_t n,
              bool write, unsigned flags)
{
  uint8_t *p = buf;

  while (n > 0) {
    uint64_t run = run_length (d, sector, n);
    size_t len = run * d->sb.sector_size;
    uint64_t off = sb_data_offset (&d->sb, sector);
    int r;

    /* The layout puts every sector whole in one place: a run that is not
     * would read or write part of a neighbour (or of the tags). */
    assert (off % d->sb.sector_size == 0 && len > 0);
    assert (off + len <= d->b->size);
    r = write ? backing_pwrite (d->b, p, len, off, flags)
              : backing_pread (d->b, p, len, off);
    if (r == -1) {
      ni_error_set ("%s: %s of sectors %" PRIu64 "-%" PRIu64 " (byte %" PRIu64
                    " of the backing disk): %m",
                    d->b->name, write ? "write" : "read", sector,
                    sector + run - 1, off);
      return disk_io_failed (d);
    }
    p += len;
    sector += run;
    n -= run;
  }
  return 0;
}

int
disk_io_failed (struct disk *d)
{
  atomic_fetch_add (&d->stats.io_errors, 1);
  ratelimit_log (&d->io_error_log, NI_LOG_ERROR, "%s", ni_error ());
  return -1;
}

int
disk_no_memory (const char *name, const char *what)
{
  ni_error_set ("%s: out of memory for %s", name, what);
  return -1;
}

int
disk_check_range (const struct disk *d, uint64_t count, uint64_t offset)
{
  if (offset > disk_size (d) || count > disk_size (d) - offset) {
    ni_error_set ("%s: %" PRIu64 " bytes at byte %" PRIu64
                  " go past the end of the disk (%" PRIu64 " bytes)",
                  d->b->name, count, offset, disk_size (d));
    errno = EINVAL;
    return -1;
  }
  return 0;
}
