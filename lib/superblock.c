/* The superblock and the disk layout: see superblock.h. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "le.h"
#include "report.h"
#include "superblock.h"

#define MiB (1024 * 1024)
#define JOURNAL_MIN (1 * MiB)
#define JOURNAL_MAX (64 * MiB)
#define MODE_MAX MODE_NONE

/* The fields of the superblock, each named once: where it lives in the
 * block and in struct superblock.  Integers are little-endian of their
 * member's size; the hash name is a NUL-padded string; the rest bytes. */
enum sb_field_kind { SBF_INT, SBF_BYTES, SBF_STRING };

struct sb_field {
  uint16_t off; /* in the block */
  uint16_t size;
  enum sb_field_kind kind;
  size_t member; /* offsetof (struct superblock, ...) */
};

#define SB_FIELD(off, m, kind)                                                 \
  {                                                                            \
    off, sizeof (((struct superblock *)0)->m), kind,                           \
        offsetof (struct superblock, m)                                        \
  }

static const struct sb_field sb_fields[] = {
    SB_FIELD (SB_OFF_VERSION, version, SBF_INT),
    SB_FIELD (SB_OFF_FEATURES, features, SBF_INT),
    SB_FIELD (SB_OFF_UUID, uuid, SBF_BYTES),
    SB_FIELD (SB_OFF_SECTOR_SIZE, sector_size, SBF_INT),
    SB_FIELD (SB_OFF_HASH_ID, hash_id, SBF_INT),
    SB_FIELD (SB_OFF_HASH_NAME, hash_name, SBF_STRING),
    SB_FIELD (SB_OFF_TAG_SIZE, tag_size, SBF_INT),
    SB_FIELD (SB_OFF_STATE, state, SBF_INT),
    SB_FIELD (SB_OFF_MODE, mode, SBF_INT),
    SB_FIELD (SB_OFF_DATA_SECTORS, data_sectors, SBF_INT),
    SB_FIELD (SB_OFF_JOURNAL_OFFSET, journal_offset, SBF_INT),
    SB_FIELD (SB_OFF_JOURNAL_SIZE, journal_size, SBF_INT),
    SB_FIELD (SB_OFF_ZONES_OFFSET, zones_offset, SBF_INT),
    SB_FIELD (SB_OFF_ZONE_SECTORS, zone_sectors, SBF_INT),
    SB_FIELD (SB_OFF_TAG_RUN_BYTES, tag_run_bytes, SBF_INT),
    SB_FIELD (SB_OFF_DISK_SIZE, disk_size, SBF_INT),
    SB_FIELD (SB_OFF_JOURNAL_TAIL_SEQ, journal_tail_seq, SBF_INT),
    SB_FIELD (SB_OFF_GENERATION, generation, SBF_INT),
    SB_FIELD (SB_OFF_FORMAT_TIME, format_time, SBF_INT),
    SB_FIELD (SB_OFF_KEY_CHECK, key_check, SBF_BYTES),
    SB_FIELD (SB_OFF_MAC, mac, SBF_BYTES),
};

static void
encode_field (const struct sb_field *f, const struct superblock *sb,
              uint8_t *block)
{
  const uint8_t *m = (const uint8_t *)sb + f->member;

  switch (f->kind) {
  case SBF_INT:
    if (f->size == 4)
      le32_put (block + f->off, *(const uint32_t *)m);
    else
      le64_put (block + f->off, *(const uint64_t *)m);
    break;
  case SBF_STRING: /* the name, never its last byte, zeroes after it */
    memcpy (block + f->off, m, strnlen ((const char *)m, f->size - 1));
    break;
  case SBF_BYTES:
    memcpy (block + f->off, m, f->size);
    break;
  }
}

static void
decode_field (const struct sb_field *f, const uint8_t *block,
              struct superblock *sb)
{
  uint8_t *m = (uint8_t *)sb + f->member;

  if (f->kind != SBF_INT)
    memcpy (m, block + f->off, f->kind == SBF_STRING ? f->size - 1 : f->size);
  else if (f->size == 4)
    *(uint32_t *)m = le32_get (block + f->off);
  else
    *(uint64_t *)m = le64_get (block + f->off);
}

void
sb_encode (const struct superblock *sb, uint8_t block[SB_BLOCK])
{
  memset (block, 0, SB_BLOCK);
  memcpy (block + SB_OFF_MAGIC, SB_MAGIC, SB_MAGIC_SIZE);
  for (size_t i = 0; i < sizeof sb_fields / sizeof sb_fields[0]; i++)
    encode_field (&sb_fields[i], sb, block);
  le32_put (block + SB_OFF_CRC, crc32c (0, block, SB_OFF_CRC));
}

/* The MAC of SB's bytes before the MAC, with the disk's key in H. */
static void
sb_mac (const struct superblock *sb, const struct hasher *h,
        uint8_t mac[SB_MAC_SIZE])
{
  uint8_t block[SB_BLOCK];

  sb_encode (sb, block);
  hasher_tag (h, sb->uuid, HASH_DOMAIN_SUPERBLOCK, block, SB_OFF_MAC, mac);
}

static void
sb_decode_fields (const uint8_t *block, struct superblock *sb)
{
  memset (sb, 0, sizeof *sb);
  for (size_t i = 0; i < sizeof sb_fields / sizeof sb_fields[0]; i++)
    decode_field (&sb_fields[i], block, sb);
}

static uint32_t
tag_run_bytes_for (uint32_t zone_sectors, uint32_t tag_size)
{
  uint64_t bytes = (uint64_t)zone_sectors * tag_size;

  return (bytes + SB_BLOCK - 1) / SB_BLOCK * SB_BLOCK;
}

static uint64_t
zone_stride (const struct superblock *sb)
{
  return sb->tag_run_bytes + (uint64_t)sb->zone_sectors * sb->sector_size;
}

/* The bytes a disk with sb's layout and data_sectors occupies. */
static uint64_t
layout_disk_size (const struct superblock *sb)
{
  uint64_t full = sb->data_sectors / sb->zone_sectors;
  uint64_t partial = sb->data_sectors % sb->zone_sectors;
  uint64_t size = sb->zones_offset + full * zone_stride (sb);

  if (partial)
    size += sb->tag_run_bytes + partial * sb->sector_size;
  return size;
}

/* Checks one decoded copy's fields; sets *WHY to what is wrong. */
static bool
sb_fields_valid (const struct superblock *sb, const char **why)
{
  const struct hash_alg *alg = hash_by_id (sb->hash_id);

  *why = NULL;
  if (sb->version < SB_VERSION_MIN || sb->version > SB_VERSION)
    *why = "unsupported format version";
  else if (sb->features != 0)
    *why = "unknown features in use";
  else if (sb->sector_size != 512 && sb->sector_size != 4096)
    *why = "sector size is neither 512 nor 4096";
  else if (alg == NULL)
    *why = "unknown hash algorithm id";
  else if (strcmp (alg->name, sb->hash_name) != 0)
    *why = "hash algorithm name does not match its id";
  else if (sb->tag_size != alg->tag_size)
    *why = "tag size does not match the hash algorithm";
  else if (sb->state > SB_DIRTY || sb->mode > MODE_MAX)
    *why = "unknown state or crash mode";
  else if (sb->journal_offset != SB_COPIES * SB_BLOCK ||
           sb->journal_size % SB_BLOCK || sb->journal_size < JOURNAL_MIN ||
           sb->journal_size > JOURNAL_MAX)
    *why = "journal location or size out of range";
  else if (sb->zones_offset < sb->journal_offset + sb->journal_size ||
           sb->zones_offset % SB_BLOCK)
    *why = "data zones overlap the journal";
  else if (sb->zone_sectors != ZONE_DATA_BYTES / sb->sector_size ||
           sb->tag_run_bytes !=
               tag_run_bytes_for (sb->zone_sectors, sb->tag_size))
    *why = "zone geometry does not match the sector and tag sizes";
  else if (sb->data_sectors == 0 || sb->data_sectors > (UINT64_MAX >> 13) ||
           layout_disk_size (sb) != sb->disk_size ||
           sb->disk_size <= sb->zones_offset) /* the layout wrapped */
    *why = "data size does not match the disk size";
  return *why == NULL;
}

/* The reserved field, the tail of the block and the hash name's padding
 * (up to and including its last byte, which keeps it terminated). */
static bool
reserved_zero (const uint8_t *block)
{
  const uint8_t *name = block + SB_OFF_HASH_NAME;
  size_t name_len = strnlen ((const char *)name, SB_HASH_NAME_SIZE);

  return all_zero (block + SB_OFF_RESERVED,
                   SB_OFF_DATA_SECTORS - SB_OFF_RESERVED) &&
         all_zero (block + SB_OFF_ZERO, SB_OFF_CRC - SB_OFF_ZERO) &&
         name_len < SB_HASH_NAME_SIZE &&
         all_zero (name + name_len, SB_HASH_NAME_SIZE - name_len);
}

int
sb_decode (const uint8_t block[SB_BLOCK], struct superblock *sb)
{
  const char *why;

  if (memcmp (block + SB_OFF_MAGIC, SB_MAGIC, SB_MAGIC_SIZE) != 0) {
    ni_error_set ("no nbd-integrity superblock (bad magic)");
    errno = EUCLEAN;
    return -1;
  }
  if (le32_get (block + SB_OFF_CRC) != crc32c (0, block, SB_OFF_CRC)) {
    ni_error_set ("superblock checksum does not match");
    errno = EUCLEAN;
    return -1;
  }
  sb_decode_fields (block, sb);
  if (!reserved_zero (block)) {
    ni_error_set ("superblock has non-zero reserved bytes: written by a "
                  "newer version, or damaged");
    errno = EUCLEAN;
    return -1;
  }
  if (!sb_fields_valid (sb, &why)) {
    ni_error_set ("superblock is inconsistent: %s", why);
    errno = EUCLEAN;
    return -1;
  }
  if (!sb_keyed (sb) && !all_zero (sb->mac, SB_MAC_SIZE)) {
    ni_error_set ("superblock of an unkeyed disk has a MAC: it was "
                  "changed to name another algorithm, or is damaged");
    errno = EUCLEAN;
    return -1;
  }
  return 0;
}

/* Reads copy I.  On failure *WHY holds what was wrong with it. */
static int
sb_read_copy (struct backing *b, int i, struct superblock *sb, char *why,
              size_t why_len)
{
  uint8_t block[SB_BLOCK];

  if (backing_pread (b, block, SB_BLOCK, (uint64_t)i * SB_BLOCK) == -1) {
    snprintf (why, why_len, "read: %s", strerror (errno));
    return -1;
  }
  if (sb_decode (block, sb) == -1) {
    snprintf (why, why_len, "%s", ni_error ());
    return -1;
  }
  sb->copy = i;
  return 0;
}

int
sb_read (struct backing *b, struct superblock *sb)
{
  struct superblock copies[SB_COPIES];
  char why[SB_COPIES][256];
  bool ok[SB_COPIES];

  if (b->size < SB_BLOCK) {
    ni_error_set ("%s is only %" PRIu64 " bytes, too short to hold its "
                  "superblock: it was truncated, or is not an "
                  "nbd-integrity disk",
                  b->name, b->size);
    errno = EUCLEAN;
    return -1;
  }
  for (int i = 0; i < SB_COPIES; i++)
    ok[i] = sb_read_copy (b, i, &copies[i], why[i], sizeof why[i]) == 0;
  if (!ok[0] && !ok[1]) {
    ni_error_set ("%s: no valid superblock (copy 0: %s; copy 1: %s); it is "
                  "not an nbd-integrity disk or both superblocks are "
                  "damaged",
                  b->name, why[0], why[1]);
    errno = EUCLEAN;
    return -1;
  }
  if (ok[0] && ok[1]) {
    *sb = copies[copies[1].generation > copies[0].generation];
    sb->invalid_copy = -1;
    return 0;
  }
  *sb = copies[ok[1]];
  sb->invalid_copy = 1 - sb->copy;
  snprintf (sb->invalid_why, sizeof sb->invalid_why, "%s", why[1 - sb->copy]);
  /* Torn by a crash while it was written, or damaged since: the next
   * superblock write goes to it and repairs it. */
  ni_log (NI_LOG_WARNING,
          "%s: superblock copy %d is not valid (%s); using copy %d "
          "(generation %" PRIu64 "), and the journal for anything newer",
          b->name, 1 - sb->copy, why[1 - sb->copy], sb->copy, sb->generation);
  return 0;
}

int
sb_write (struct backing *b, struct superblock *sb)
{
  uint8_t block[SB_BLOCK];
  int target = 1 - sb->copy;

  if (sb_keyed (sb) && sb->auth == NULL) {
    ni_error_set ("%s: the superblock of a disk with a keyed algorithm "
                  "can only be written with its key",
                  b->name);
    errno = EPERM;
    return -1;
  }
  sb->generation++;
  if (sb->auth)
    sb_mac (sb, sb->auth, sb->mac);
  sb_encode (sb, block);
  if (backing_pwrite (b, block, SB_BLOCK, (uint64_t)target * SB_BLOCK,
                      BACKING_DSYNC) == -1) {
    sb->generation--;
    ni_error_set ("%s: writing superblock copy %d: %m", b->name, target);
    return -1;
  }
  sb->copy = target;
  return 0;
}

bool
sb_keyed (const struct superblock *sb)
{
  const struct hash_alg *alg = hash_by_id (sb->hash_id);

  return alg && alg->keyed;
}

int
sb_authenticate (struct superblock *sb, const struct hasher *h)
{
  uint8_t mac[SB_MAC_SIZE];

  if (!sb_keyed (sb))
    return 0;
  sb_mac (sb, h, mac);
  if (!hasher_tag_equal (h, mac, sb->mac)) {
    ni_error_set ("superblock copy %d fails authentication with the disk's "
                  "key: it was changed by someone without the key.  Do not "
                  "use the disk: treat it as failed and let MD rebuild its "
                  "data onto a fresh one",
                  sb->copy);
    errno = EUCLEAN;
    return -1;
  }
  sb->auth = h;
  return 0;
}

static uint64_t
default_journal_size (uint64_t disk_size)
{
  uint64_t size = disk_size / 128 / SB_BLOCK * SB_BLOCK;

  if (size < JOURNAL_MIN)
    return JOURNAL_MIN;
  return size > JOURNAL_MAX ? JOURNAL_MAX : size;
}

int
sb_layout (struct superblock *sb, uint64_t disk_size, uint64_t journal_size)
{
  uint64_t stride, avail, rem;

  if (journal_size == 0)
    journal_size = default_journal_size (disk_size);
  if (journal_size % SB_BLOCK || journal_size < JOURNAL_MIN ||
      journal_size > JOURNAL_MAX) {
    ni_error_set ("journal size must be a multiple of 4096 from 1 MiB to "
                  "64 MiB");
    errno = EINVAL;
    return -1;
  }
  sb->journal_offset = SB_COPIES * SB_BLOCK;
  sb->journal_size = journal_size;
  sb->zones_offset = sb->journal_offset + journal_size;
  sb->zone_sectors = ZONE_DATA_BYTES / sb->sector_size;
  sb->tag_run_bytes = tag_run_bytes_for (sb->zone_sectors, sb->tag_size);
  stride = zone_stride (sb);
  avail = disk_size > sb->zones_offset ? disk_size - sb->zones_offset : 0;
  rem = avail % stride;
  sb->data_sectors = avail / stride * sb->zone_sectors;
  if (rem > sb->tag_run_bytes)
    sb->data_sectors += (rem - sb->tag_run_bytes) / sb->sector_size;
  if (sb->data_sectors == 0) {
    ni_error_set ("disk of %" PRIu64 " bytes is too small: it needs room "
                  "for the superblocks, a %" PRIu64 "-byte journal and at "
                  "least one data sector",
                  disk_size, journal_size);
    errno = ENOSPC;
    return -1;
  }
  sb->disk_size = layout_disk_size (sb);
  return 0;
}

uint64_t
sb_zone_offset (const struct superblock *sb, uint64_t zone)
{
  return sb->zones_offset + zone * zone_stride (sb);
}

uint64_t
sb_data_offset (const struct superblock *sb, uint64_t sector)
{
  uint64_t zone = sector / sb->zone_sectors;
  uint64_t within = sector % sb->zone_sectors;

  return sb_zone_offset (sb, zone) + sb->tag_run_bytes +
         within * sb->sector_size;
}

uint64_t
sb_tag_offset (const struct superblock *sb, uint64_t sector)
{
  uint64_t zone = sector / sb->zone_sectors;
  uint64_t within = sector % sb->zone_sectors;

  return sb_zone_offset (sb, zone) + within * sb->tag_size;
}

uint64_t
sb_zone_remaining (const struct superblock *sb, uint64_t sector)
{
  return sb->zone_sectors - sector % sb->zone_sectors;
}

uint64_t
sb_zone_count (const struct superblock *sb)
{
  return (sb->data_sectors + sb->zone_sectors - 1) / sb->zone_sectors;
}

uint64_t
sb_journal_blocks (const struct superblock *sb)
{
  return sb->journal_size / SB_BLOCK;
}

const char *
sb_mode_name (uint32_t mode)
{
  static const char *const names[] = {"tags", "full", "none"};

  return mode <= MODE_MAX ? names[mode] : "unknown";
}
