/* Formatting a disk: see format.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
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

  if (sb_read (b, &old) == -1)
    return 0;
  sodium_bin2hex (uuid, sizeof uuid, old.uuid, DISK_UUID_SIZE);
  ni_error_set ("%s is already an nbd-integrity disk (uuid %s, hash %s); "
                "use --force to overwrite it and lose its data",
                b->name, uuid, old.hash_name);
  errno = EEXIST;
  return -1;
}

/* Fills in the algorithm, key check value and identity of a new disk. */
static int
init_identity (struct superblock *sb, const struct format_options *opts)
{
  const char *name = opts->hash ? opts->hash : "crc32c";
  const struct hash_alg *alg = hash_by_name (name);
  struct key *key = NULL;
  struct hasher *h;

  if (alg == NULL) {
    ni_error_set ("unknown hash algorithm '%s' (known: %s)", name,
                  hash_names ());
    return -1;
  }
  if (alg->keyed && opts->keyfile == NULL) {
    ni_error_set ("%s is a keyed algorithm: give --keyfile", alg->name);
    errno = EINVAL;
    return -1;
  }
  if (!alg->keyed && opts->keyfile) {
    ni_error_set ("%s takes no key: drop --keyfile, or use "
                  "blake2b-256-keyed or hmac-sha256",
                  alg->name);
    errno = EINVAL;
    return -1;
  }
  if (opts->keyfile && (key = key_load (opts->keyfile)) == NULL)
    return -1;
  h = hasher_new (alg, key ? key->bytes : NULL, key ? key->len : 0);
  key_free (key);
  if (h == NULL)
    return -1;
  randombytes_buf (sb->uuid, DISK_UUID_SIZE);
  hasher_key_check (h, sb->uuid, sb->key_check);
  hasher_free (h);
  sb->hash_id = alg->id;
  strcpy (sb->hash_name, alg->name);
  sb->tag_size = alg->tag_size;
  return 0;
}

static int
init_superblock (struct superblock *sb, const struct format_options *opts,
                 uint64_t disk_size)
{
  memset (sb, 0, sizeof *sb);
  sb->version = SB_VERSION;
  sb->sector_size = opts->sector_size ? opts->sector_size : 4096;
  if (sb->sector_size != 512 && sb->sector_size != 4096) {
    ni_error_set ("sector size must be 512 or 4096, not %" PRIu32,
                  sb->sector_size);
    errno = EINVAL;
    return -1;
  }
  if (init_identity (sb, opts) == -1)
    return -1;
  sb->state = SB_CLEAN;
  sb->format_time = time (NULL);
  sb->copy = SB_COPIES - 1; /* so the first sb_write goes to copy 0 */
  return sb_layout (sb, disk_size, opts->journal_size);
}

/* Zeroes every zone's tag run: every sector then reads as unwritten. */
static int
zero_tag_runs (struct backing *b, const struct superblock *sb,
               const struct format_options *opts)
{
  uint64_t zones = sb_zone_count (sb);

  for (uint64_t z = 0; z < zones; z++) {
    if (backing_zero (b, sb_zone_offset (sb, z), sb->tag_run_bytes) == -1) {
      ni_error_set ("%s: zeroing the tags of zone %" PRIu64 ": %m", b->name, z);
      return -1;
    }
    if (opts->progress)
      opts->progress (opts->opaque, z + 1, zones);
  }
  return 0;
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
      zero_tag_runs (b, sb, opts) == -1 || backing_sync (b) == -1)
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

int
format_backing (struct backing *b, const struct format_options *opts)
{
  struct superblock sb;

  if (!opts->force && check_not_formatted (b) == -1)
    return -1;
  if (init_superblock (&sb, opts, b->size) == -1)
    return -1;
  return write_format (b, &sb, opts);
}

int
format_disk (const struct format_options *opts)
{
  struct backing *b;
  int r;

  ni_error_set ("%s", "");
  if (opts->create_size &&
      backing_create_file (opts->path, opts->create_size) == -1)
    return -1;
  b = backing_open_file (opts->path, false);
  if (b == NULL)
    return -1;
  r = format_backing (b, opts);
  if (r == -1 && strstr (ni_error (), opts->path) == NULL) {
    char msg[512];
    snprintf (msg, sizeof msg, "%s", ni_error ());
    ni_error_set ("%s: %s", opts->path, msg);
  }
  backing_close (b);
  return r;
}
