/* Formatting a disk: see format.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "backing.h"
#include "format.h"
#include "hash.h"
#include "key.h"
#include "report.h"
#include "superblock.h"

/* Refuses to format over an existing nbd-integrity disk without force. */
static int
check_not_formatted (struct backing *b)
{
  struct superblock old;
  char uuid[2 * DISK_UUID_SIZE + 1];

  if (sb_read (b, &old) == -1) {
    ni_error_clear (); /* not a disk of ours: no failure of the format's */
    return 0;
  }
  sodium_bin2hex (uuid, sizeof uuid, old.uuid, DISK_UUID_SIZE);
  ni_error_set ("%s is already an nbd-integrity disk (uuid %s, hash %s); "
                "use --force to overwrite it and lose its data",
                b->name, uuid, old.hash_name);
  errno = EEXIST;
  return -1;
}

/* Checks the options and makes the hasher they ask for, before anything
 * is created or written, so a mistake leaves no file behind. */
static struct hasher *
options_hasher (const struct format_options *opts)
{
  const char *name = opts->hash ? opts->hash : "crc32c";
  const struct hash_alg *alg = hash_by_name (name);

  errno = EINVAL;
  if (opts->sector_size != 0 && opts->sector_size != 512 &&
      opts->sector_size != 4096) {
    ni_error_set ("sector size must be 512 or 4096, not %" PRIu32,
                  opts->sector_size);
    return NULL;
  }
  if (alg == NULL) {
    ni_error_set ("unknown hash algorithm '%s' (known: %s)", name,
                  hash_names ());
    return NULL;
  }
  return hasher_with_keyfile (alg, opts->keyfile);
}

static int
init_superblock (struct superblock *sb, const struct format_options *opts,
                 const struct hasher *h, uint64_t disk_size)
{
  const struct hash_alg *alg = hasher_alg (h);

  memset (sb, 0, sizeof *sb);
  sb->version = SB_VERSION;
  sb->sector_size = opts->sector_size ? opts->sector_size : 4096;
  randombytes_buf (sb->uuid, DISK_UUID_SIZE);
  hasher_key_check (h, sb->uuid, sb->key_check);
  sb->hash_id = alg->id;
  strcpy (sb->hash_name, alg->name);
  sb->tag_size = alg->tag_size;
  sb->state = SB_CLEAN;
  sb->format_time = time (NULL);
  sb->copy = SB_COPIES - 1; /* so the first sb_write goes to copy 0 */
  sb->auth = alg->keyed ? h : NULL;
  return sb_layout (sb, disk_size, opts->journal_size);
}

/* Writes zone Z's tag run of a keyed disk: every sector's unwritten tag,
 * which only the key makes (hash.h). */
static int
write_unwritten_run (struct backing *b, const struct superblock *sb,
                     uint8_t *run, uint64_t z)
{
  uint64_t first = z * sb->zone_sectors;
  uint64_t n = sb->data_sectors - first < sb->zone_sectors
                   ? sb->data_sectors - first
                   : sb->zone_sectors;

  memset (run, 0, sb->tag_run_bytes);
  hasher_unwritten_tags (sb->auth, sb->uuid, first, n, run);
  return backing_pwrite (b, run, sb->tag_run_bytes, sb_zone_offset (sb, z), 0);
}

/* Makes every sector read as unwritten: zeroes each zone's tag run, or
 * on a keyed disk writes its unwritten tags. */
static int
init_tag_runs (struct backing *b, const struct superblock *sb,
               const struct format_options *opts)
{
  uint64_t zones = sb_zone_count (sb);
  uint8_t *run = NULL;
  int r = 0;

  if (sb->auth && (run = malloc (sb->tag_run_bytes)) == NULL) {
    ni_error_set ("%s: cannot allocate a tag run of %" PRIu32 " bytes: %m",
                  b->name, sb->tag_run_bytes);
    return -1;
  }
  for (uint64_t z = 0; z < zones && r == 0; z++) {
    r = run ? write_unwritten_run (b, sb, run, z)
            : backing_zero (b, sb_zone_offset (sb, z), sb->tag_run_bytes);
    if (r == -1)
      ni_error_set ("%s: writing the tags of zone %" PRIu64 ": %m", b->name, z);
    else if (opts->progress)
      opts->progress (opts->opaque, z + 1, zones);
  }
  free (run);
  return r;
}

/* Invalidates the old superblocks first, so a format that is interrupted
 * leaves no disk that looks valid with half-zeroed tags.  The journal is
 * written out in full so that its durable writes never have to allocate
 * space in a sparse image (which costs a file system journal commit). */
static int
write_format (struct backing *b, struct superblock *sb,
              const struct format_options *opts)
{
  static const uint8_t zeroes[SB_COPIES * SB_BLOCK];

  if (backing_pwrite (b, zeroes, sizeof zeroes, 0, BACKING_DSYNC) == -1 ||
      backing_write_zeroes (b, sb->journal_offset, sb->journal_size) == -1 ||
      init_tag_runs (b, sb, opts) == -1 || backing_sync (b) == -1)
    goto err;
  for (int i = 0; i < SB_COPIES; i++)
    if (sb_write (b, sb) == -1)
      return -1;
  return 0;

err:
  if (strstr (ni_error (), b->name) == NULL)
    ni_error_set ("%s: %m", b->name);
  return -1;
}

/* Formats B with the checked options and hasher H. */
static int
format_with (struct backing *b, const struct format_options *opts,
             const struct hasher *h)
{
  struct superblock sb;

  if (!opts->force && check_not_formatted (b) == -1)
    return -1;
  if (init_superblock (&sb, opts, h, b->size) == -1)
    return -1;
  return write_format (b, &sb, opts);
}

int
format_backing (struct backing *b, const struct format_options *opts)
{
  struct hasher *h;
  int r;

  ni_error_clear ();
  h = options_hasher (opts);
  if (h == NULL)
    return -1;
  r = format_with (b, opts, h);
  hasher_free (h);
  return r;
}

int
format_disk (const struct format_options *opts)
{
  struct hasher *h;
  struct backing *b = NULL;
  int r = -1;

  ni_error_clear ();
  h = options_hasher (opts);
  if (h && (opts->create_size == 0 ||
            backing_create_file (opts->path, opts->create_size) == 0))
    b = backing_open_file (opts->path, false);
  if (b)
    r = format_with (b, opts, h);
  if (r == -1)
    ni_error_prefix (opts->path);
  backing_close (b);
  hasher_free (h);
  return r;
}
