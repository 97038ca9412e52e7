/* Verified reads of an integrity disk: every sector read is checked
 * against its tag, and one that fails is read again before it is declared
 * bad (see the notes in disk.h).  disk_verify and disk_read_checked are
 * the same check for the tool, reporting mismatches instead of failing on
 * them.
 */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "disk-internal.h"
#include "disk.h"
#include "hash.h"
#include "rangelock.h"
#include "ratelimit.h"
#include "report.h"
#include "stats.h"
#include "tagstore.h"

/* Checks one sector's DATA against TAG.  Unwritten sectors become zeroes. */
static enum sector_check
check_sector (struct disk *d, uint64_t sector, uint8_t *data,
              const uint8_t *tag)
{
  const struct hasher *h = d->h;
  uint8_t computed[HASH_MAX_TAG];
  bool keyed = hasher_alg (h)->keyed;

  /* A keyed disk's unwritten tag costs a MAC to recognise: look for it
   * only once the data's own tag has failed. */
  if (!keyed && hasher_tag_is_unwritten (h, d->sb.uuid, sector, tag))
    goto unwritten;
  hasher_tag (h, d->sb.uuid, sector, data, d->sb.sector_size, computed);
  if (hasher_tag_equal (h, computed, tag))
    return SECTOR_OK;
  if (keyed && hasher_tag_is_unwritten (h, d->sb.uuid, sector, tag))
    goto unwritten;
  return hasher_tag_is_invalid (h, tag, computed) ? SECTOR_INVALIDATED
                                                  : SECTOR_MISMATCH;

unwritten:
  memset (data, 0, d->sb.sector_size);
  return SECTOR_OK;
}

/* A sector did not match: read its data and tag again before declaring
 * it, as dm-integrity does, so a transient read error is not called
 * corruption. */
static enum sector_check
check_sector_again (struct disk *d, uint64_t sector, uint8_t *data)
{
  uint8_t tag[HASH_MAX_TAG];

  if (disk_data_io (d, data, sector, 1, false, 0) == -1 ||
      tagstore_get (d->ts, sector, 1, tag) == -1)
    return SECTOR_MISMATCH;
  return check_sector (d, sector, data, tag);
}

/* Reads and verifies sectors [SECTOR, SECTOR+N), whose range the caller
 * holds, calling BAD for each sector that fails.  Returns the number of
 * failures, or -1 if the disk could not be read. */
static int64_t
read_verified (struct disk *d, uint8_t *buf, uint64_t sector, uint64_t n,
               disk_mismatch_fn bad, void *opaque)
{
  uint8_t tags[CHUNK_TAG_BYTES];
  int64_t failures = 0;

  while (n > 0) {
    uint64_t chunk = n < chunk_sectors (d) ? n : chunk_sectors (d);

    if (disk_data_io (d, buf, sector, chunk, false, 0) == -1)
      return -1;
    if (tagstore_get (d->ts, sector, chunk, tags) == -1)
      return disk_io_failed (d);
    for (uint64_t i = 0; i < chunk; i++) {
      uint8_t *data = buf + i * d->sb.sector_size;
      enum sector_check c =
          check_sector (d, sector + i, data, tags + i * d->sb.tag_size);

      /* An invalidated sector is not read again: it was not damaged. */
      if (c == SECTOR_MISMATCH)
        c = check_sector_again (d, sector + i, data);
      if (c != SECTOR_OK) {
        failures++;
        bad (opaque, sector + i, c);
      }
    }
    atomic_fetch_add (&d->stats.sectors_verified, chunk);
    buf += chunk * d->sb.sector_size;
    sector += chunk;
    n -= chunk;
  }
  return failures;
}

static void
log_mismatch (void *opaque, uint64_t sector, enum sector_check why)
{
  struct disk *d = opaque;
  bool recovery = d->mode == DISK_MODE_RECOVERY;
  enum ni_log_level level = recovery ? NI_LOG_WARNING : NI_LOG_ERROR;
  const char *verdict = recovery ? "returning it unverified (mode=recovery)"
                                 : "failing the request with EIO";

  stats_count_mismatch (&d->stats, sector);
  if (why == SECTOR_INVALIDATED)
    ratelimit_log (&d->mismatch_log, level,
                   "%s: sector %" PRIu64 ": invalidated (nbd-integrity "
                   "invalidate) until it is rewritten; %s",
                   d->b->name, sector, verdict);
  else
    ratelimit_log (&d->mismatch_log, level,
                   "%s: sector %" PRIu64 ": data does not match its %s tag; %s",
                   d->b->name, sector, d->sb.hash_name, verdict);
}

int
disk_read_locked (struct disk *d, uint8_t *buf, uint64_t sector, uint64_t n)
{
  int64_t bad;

  assert (rangelock_covers (&d->rl, sector, sector + n, false));
  bad = read_verified (d, buf, sector, n, log_mismatch, d);
  if (bad > 0 && d->mode == DISK_MODE_RECOVERY)
    return 0; /* mismatches are warned of, and the data returned */
  if (bad > 0) {
    ni_error_set ("%s: read of sectors %" PRIu64 "-%" PRIu64
                  ": tag mismatch in %" PRId64 " of them (%s)",
                  d->b->name, sector, sector + n - 1, bad, d->sb.hash_name);
    errno = EIO; /* the client sees a mismatch as an I/O error */
  }
  return bad == 0 ? 0 : -1;
}

static int
read_sectors (struct disk *d, uint8_t *buf, uint64_t sector, uint64_t n)
{
  struct range_hold hold;
  int r;

  rangelock_acquire (&d->rl, &hold, sector, sector + n, false);
  r = disk_read_locked (d, buf, sector, n);
  rangelock_release (&d->rl, &hold);
  return r;
}

int
disk_read_checked (struct disk *d, void *buf, uint64_t sector, uint64_t n,
                   disk_mismatch_fn fn, void *opaque)
{
  uint8_t *p = buf;
  struct range_hold hold;
  int r = 0;

  while (r == 0 && n > 0) {
    uint64_t chunk = n < chunk_sectors (d) ? n : chunk_sectors (d);
    rangelock_acquire (&d->rl, &hold, sector, sector + chunk, false);
    r = read_verified (d, p, sector, chunk, fn, opaque) == -1 ? -1 : 0;
    rangelock_release (&d->rl, &hold);
    p += chunk * d->sb.sector_size;
    sector += chunk;
    n -= chunk;
  }
  return r;
}

int
disk_verify (struct disk *d, uint64_t sector, uint64_t n, disk_mismatch_fn fn,
             void *opaque)
{
  uint8_t *buf = malloc (chunk_sectors (d) * d->sb.sector_size);
  int r = 0;

  if (buf == NULL)
    return disk_no_memory (d->b->name, "a read buffer");
  while (r == 0 && n > 0) {
    uint64_t chunk = n < chunk_sectors (d) ? n : chunk_sectors (d);
    r = disk_read_checked (d, buf, sector, chunk, fn, opaque);
    sector += chunk;
    n -= chunk;
  }
  free (buf);
  return r;
}

int
disk_read (struct disk *d, void *buf, uint32_t count, uint64_t offset)
{
  uint64_t first, n;
  uint8_t *bounce;
  int r;

  if (disk_check_range (d, count, offset) == -1)
    return -1;
  atomic_fetch_add (&d->stats.reads, 1);
  atomic_fetch_add (&d->stats.bytes_read, count);
  covering_sectors (d, count, offset, &first, &n);
  if (aligned (d, count, offset))
    return read_sectors (d, buf, first, n);
  bounce = malloc (n * d->sb.sector_size);
  if (bounce == NULL)
    return disk_no_memory (d->b->name, "a bounce buffer");
  r = read_sectors (d, bounce, first, n);
  if (r == 0)
    memcpy (buf, bounce + offset % d->sb.sector_size, count);
  free (bounce);
  return r;
}
