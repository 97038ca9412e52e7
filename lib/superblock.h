/* The superblock: everything needed to open a disk with no options.
 *
 * Notes on the design.
 *
 * Two copies, in the first two 4 KiB blocks of the disk.  Writes alternate
 * between them (ping-pong) and carry a generation number, so a torn or
 * lost superblock write always leaves the previous generation intact in
 * the other copy.  Readers take the valid copy with the higher generation.
 *
 * On-disk layout of each copy: the SB_OFF_* offsets below, each field
 * named once there, little-endian.  nbd-integrity-format(5) has the same
 * table, and tests/unit/test-format-doc checks the two agree.
 *
 * The CRC finds damage; on a keyed disk the MAC, under the disk's key,
 * finds changes made without the key, such as a weaker algorithm or a
 * journal somewhere else.  Nothing that lacks the key can therefore write
 * a keyed disk's superblock, and the disk is only used once its
 * superblock has been authenticated (sb_authenticate).
 *
 * Reserved bytes (SB_OFF_RESERVED, from SB_OFF_ZERO to the CRC, and the
 * hash name after its NUL) must be zero: a reader refuses a copy where
 * they are not, since a later version may have given them a meaning.
 *
 * The data area is a sequence of zones.  Each zone is a tag run (the
 * tags of the zone's sectors, padded to 4 KiB) followed by zone_sectors
 * data sectors, so a write touches data and tags that are at most
 * 16 MiB apart, as in dm-integrity's interleaved layout.
 */
#ifndef NBD_INTEGRITY_SUPERBLOCK_H
#define NBD_INTEGRITY_SUPERBLOCK_H

#include <stdbool.h>
#include <stdint.h>

#include "backing.h"
#include "hash.h"

#define SB_MAGIC "NBDINTEG"
#define SB_MAGIC_SIZE 8 /* no NUL on the disk */
#define SB_HASH_NAME_SIZE 32
/* Version 2 has the journal of journal-format.h; a disk of version 1 is
 * opened only if it was closed cleanly (its journal is then empty), and
 * becomes version 2 when next written. */
#define SB_VERSION 2
#define SB_VERSION_MIN 1
#define SB_BLOCK 4096 /* superblock copies and journal blocks */
#define SB_COPIES 2
#define ZONE_DATA_BYTES (16u << 20)
#define SB_MAC_SIZE 32

/* The byte offsets of a copy's fields, in order: each runs up to the
 * next, the last to the end of the block. */
enum {
  SB_OFF_MAGIC = 0,              /* SB_MAGIC, SB_MAGIC_SIZE bytes */
  SB_OFF_VERSION = 8,            /* u32 format version (SB_VERSION) */
  SB_OFF_FEATURES = 12,          /* u32 incompatible features (0) */
  SB_OFF_UUID = 16,              /* u8[DISK_UUID_SIZE] disk UUID */
  SB_OFF_SECTOR_SIZE = 32,       /* u32 */
  SB_OFF_HASH_ID = 36,           /* u32 */
  SB_OFF_HASH_NAME = 40,         /* char[SB_HASH_NAME_SIZE], NUL padded */
  SB_OFF_TAG_SIZE = 72,          /* u32 */
  SB_OFF_STATE = 76,             /* u32 enum sb_state */
  SB_OFF_MODE = 80,              /* u32 enum sb_mode */
  SB_OFF_RESERVED = 84,          /* u32, zero */
  SB_OFF_DATA_SECTORS = 88,      /* u64 exported size / sector size */
  SB_OFF_JOURNAL_OFFSET = 96,    /* u64 */
  SB_OFF_JOURNAL_SIZE = 104,     /* u64 */
  SB_OFF_ZONES_OFFSET = 112,     /* u64 first zone */
  SB_OFF_ZONE_SECTORS = 120,     /* u32 data sectors per zone */
  SB_OFF_TAG_RUN_BYTES = 124,    /* u32 tag run bytes per zone */
  SB_OFF_DISK_SIZE = 128,        /* u64 disk size needed */
  SB_OFF_JOURNAL_TAIL_SEQ = 136, /* u64 */
  SB_OFF_GENERATION = 144,       /* u64 */
  SB_OFF_FORMAT_TIME = 152,      /* u64 seconds since the Unix epoch */
  SB_OFF_KEY_CHECK = 160,        /* u8[HASH_KEY_CHECK_SIZE] */
  SB_OFF_MAC = 192,              /* u8[SB_MAC_SIZE] (keyed; zero otherwise) */
  SB_OFF_ZERO = 224,             /* zero up to the CRC */
  SB_OFF_CRC = 4092,             /* u32 CRC32C of the bytes before it */
};

enum sb_state { SB_CLEAN = 0, SB_DIRTY = 1 };

/* The crash mode the disk is (or was last) served in. */
enum sb_mode { MODE_TAGS = 0, MODE_FULL = 1, MODE_NONE = 2 };

/* "tags", "full" or "none". */
const char *sb_mode_name (uint32_t mode);

struct superblock {
  uint32_t version;
  uint32_t features;
  uint8_t uuid[DISK_UUID_SIZE];
  uint32_t sector_size;
  uint32_t hash_id;
  char hash_name[SB_HASH_NAME_SIZE];
  uint32_t tag_size;
  uint32_t state;
  uint32_t mode;
  uint64_t data_sectors;
  uint64_t journal_offset;
  uint64_t journal_size;
  uint64_t zones_offset;
  uint32_t zone_sectors;
  uint32_t tag_run_bytes;
  uint64_t disk_size;
  uint64_t journal_tail_seq;
  uint64_t generation;
  uint64_t format_time;
  uint8_t key_check[HASH_KEY_CHECK_SIZE];
  uint8_t mac[SB_MAC_SIZE];
  /* In memory only: the copy (0 or 1) that holds this generation. */
  int copy;
  /* In memory only: the copy sb_read found invalid (torn by a crash, or
   * damaged), and why; -1 if both were valid. */
  int invalid_copy;
  char invalid_why[192];
  /* In memory only: for a keyed disk, the hasher with its key, once
   * sb_authenticate has checked the MAC (or format made the disk).  The
   * superblock and the journal are written, and journal blocks read, with
   * it; NULL for unkeyed disks. */
  const struct hasher *auth;
};

/* Serialises SB into one 4 KiB block, checksum included. */
void sb_encode (const struct superblock *sb, uint8_t block[SB_BLOCK]);

/* Parses and validates one copy.  -1 with errno EUCLEAN and ni_error()
 * saying what is wrong with it. */
int sb_decode (const uint8_t block[SB_BLOCK], struct superblock *sb);

/* Reads both copies and keeps the newest valid one.  Fails, with
 * ni_error() describing each copy, only if neither is valid. */
int sb_read (struct backing *b, struct superblock *sb);

/* Writes SB as the next generation into the older copy and makes it
 * durable.  A keyed disk's superblock needs sb->auth: -1 with EPERM
 * without it. */
int sb_write (struct backing *b, struct superblock *sb);

/* True if SB was formatted with a keyed algorithm. */
bool sb_keyed (const struct superblock *sb);

/* Checks a keyed disk's superblock MAC with hasher H, which has been
 * checked to hold the disk's key (the key check value), and on success
 * keeps H in sb->auth.  -1 with EUCLEAN and ni_error() if the MAC does
 * not match.  Does nothing for an unkeyed disk. */
int sb_authenticate (struct superblock *sb, const struct hasher *h);

/* Fills in the layout (journal, zones, data_sectors, disk_size) of a disk
 * of DISK_SIZE bytes from sector_size, tag_size and JOURNAL_SIZE (0 for
 * the default).  -1 with ni_error() if the disk is too small. */
int sb_layout (struct superblock *sb, uint64_t disk_size,
               uint64_t journal_size);

/* Byte offset of SECTOR's data on the backing disk. */
uint64_t sb_data_offset (const struct superblock *sb, uint64_t sector);

/* Byte offset of SECTOR's tag on the backing disk. */
uint64_t sb_tag_offset (const struct superblock *sb, uint64_t sector);

/* Number of sectors from SECTOR to the end of its zone's full extent
 * (how far its data is contiguous on the backing disk).  In the last,
 * partial zone this runs past data_sectors: callers cap it by the length
 * of their request. */
uint64_t sb_zone_remaining (const struct superblock *sb, uint64_t sector);

/* Number of zones, the last one possibly partial. */
uint64_t sb_zone_count (const struct superblock *sb);

/* Byte offset of zone Z's tag run. */
uint64_t sb_zone_offset (const struct superblock *sb, uint64_t zone);

/* Journal capacity in blocks. */
uint64_t sb_journal_blocks (const struct superblock *sb);

#endif
