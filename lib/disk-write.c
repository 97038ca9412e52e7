/* Changes to an integrity disk: writes, journaled and deferred when they
 * can be, with a read-modify-write of sectors they cover in part; trim,
 * zero and fast zero; and flush, which makes them all durable (see the
 * notes in disk.h).
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "backing.h"
#include "disk-internal.h"
#include "disk.h"
#include "hash.h"
#include "journal.h"
#include "rangelock.h"
#include "ratelimit.h"
#include "report.h"
#include "stats.h"
#include "tagstore.h"
#include "writeback.h"

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
      ni_error_set ("%s: discarding sectors %" PRIu64 "-%" PRIu64 ": %m",
                    d->b->name, sector, sector + run - 1);
      return disk_io_failed (d);
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
  ni_error_set ("%s: journal commit for sectors %" PRIu64 "-%" PRIu64 ": %s",
                d->b->name, sector, sector + n - 1, strerror (err));
  disk_io_failed (d);
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
    return disk_io_failed (d);
  if (tags)
    r = disk_data_io (d, (void *)buf, sector, n, true, 0);
  else
    r = discard_data (d, sector, n, must_zero);
  /* After a failed data write the old tags stay: the data on disk is now
   * unknown, and a read of it fails rather than returns garbage. */
  if (r == 0 && (tags ? tagstore_set (d->ts, sector, n, tags)
                      : tagstore_set_unwritten (d->ts, d->h, sector, n)) == -1)
    r = disk_io_failed (d);
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

  assert (rangelock_covers (&d->rl, sector, sector + n, true));
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

/* A write that could not be deferred (it is larger than one deferred
 * write or journal commit takes, which callers avoid). */
static int
defer_failed (struct disk *d, uint64_t sector, uint64_t n)
{
  ni_error_set ("%s: cannot defer the write of sectors %" PRIu64 "-%" PRIu64
                ": %m",
                d->b->name, sector, sector + n - 1);
  return -1;
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
    return defer_failed (d, sector, n);
  w->d = d;
  w->ticket = ticket;
  w->tags = w->data + data;
  copy_and_hash (d, w->data, buf, sector, n, w->tags);
  rangelock_acquire (&d->rl, &w->hold, sector, sector + n, true);
  w->entry.rec = change_record (d, w->data, sector, n, w->tags);
  w->entry.apply = apply_deferred;
  if (journal_submit (d->j, &w->entry) == -1) {
    defer_failed (d, sector, n);
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
    return disk_no_memory (d->b->name, "a bounce buffer");
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

int
disk_flush_deferred (struct disk *d)
{
  if (d->wb == NULL || writeback_flush (d->wb) == 0)
    return 0;
  /* The deferred write's own error was logged when it failed. */
  ni_error_set ("%s: a write acknowledged since the last flush did not reach "
                "the disk: %m",
                d->b->name);
  return -1;
}

/* Makes every change acknowledged so far durable: commits and applies
 * the deferred writes, then has the journal sync the disk and mark the
 * flush; with no journal, the tags go home. */
static int
flush_all (struct disk *d)
{
  int r;

  if (disk_flush_deferred (d) == -1)
    return -1;
  r = d->j ? journal_flush (d->j) : disk_flush_tags (d);
  if (r == -1) {
    ni_error_set ("%s: flush: %m", d->b->name);
    return disk_io_failed (d);
  }
  return 0;
}

/* The opening of every change: a disk open for writing, and a range
 * within it. */
static int
check_change (const struct disk *d, uint64_t count, uint64_t offset)
{
  if (!d->writable) {
    ni_error_set ("%s is open read-only%s", d->b->name,
                  d->mode == DISK_MODE_RECOVERY ? " (mode=recovery)" : "");
    errno = EROFS;
    return -1;
  }
  return disk_check_range (d, count, offset);
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
    ni_error_set ("%s: no fast zero of %" PRIu32 " bytes at byte %" PRIu64
                  ": it would write zeroes, as the range is not whole "
                  "sectors or the backing disk cannot punch holes",
                  d->b->name, count, offset);
    errno = ENOTSUP;
    return -1;
  }
  return disk_zero (d, count, offset, fua);
}

/* Invalidates sectors [SECTOR, SECTOR+N), at most chunk_sectors, whose
 * range the caller holds: their data is written back unchanged (the
 * "full" mode journals data with its tags) with invalid tags. */
static int
invalidate_locked (struct disk *d, uint8_t *buf, uint64_t sector, uint64_t n)
{
  uint8_t tags[CHUNK_TAG_BYTES];

  if (disk_data_io (d, buf, sector, n, false, 0) == -1)
    return -1;
  hash_sectors (d, buf, sector, n, tags);
  for (uint64_t i = 0; i < n; i++) {
    uint8_t *tag = tags + i * d->sb.tag_size;
    hasher_invalid_tag (d->h, tag, tag);
  }
  return apply_locked (d, buf, sector, n, tags, false);
}

int
disk_invalidate (struct disk *d, uint64_t sector, uint64_t n)
{
  uint64_t ss = d->sb.sector_size, chunk = chunk_sectors (d);
  struct range_hold hold;
  uint8_t *buf;
  int r = 0;

  if (n == 0 || sector >= d->sb.data_sectors ||
      n > d->sb.data_sectors - sector) {
    ni_error_set ("%s: cannot invalidate sectors %" PRIu64 "-%" PRIu64
                  ": the disk has %" PRIu64 " sectors",
                  d->b->name, sector, sector + n - 1, d->sb.data_sectors);
    errno = EINVAL;
    return -1;
  }
  if (check_change (d, n * ss, sector * ss) == -1)
    return -1;
  if ((buf = malloc (chunk * ss)) == NULL)
    return disk_no_memory (d->b->name, "an invalidation buffer");
  while (r == 0 && n > 0) {
    uint64_t c = n < chunk ? n : chunk;

    rangelock_acquire (&d->rl, &hold, sector, sector + c, true);
    r = invalidate_locked (d, buf, sector, c);
    rangelock_release (&d->rl, &hold);
    if (r == 0)
      r = bound_dirty_tags (d);
    sector += c;
    n -= c;
  }
  free (buf);
  return finish_change (d, r, true);
}

int
disk_flush (struct disk *d)
{
  atomic_fetch_add (&d->stats.flushes, 1);
  return d->writable ? flush_all (d) : 0;
}
