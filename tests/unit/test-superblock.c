/* The superblock: round trip at the documented offsets, every kind of
 * damage, the two copies on a real file, and the layout of the zones. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "le.h"
#include "report.h"
#include "superblock.h"
#include "util.h"

#define MiB (1ull << 20)
#define TiB (1ull << 40)

/* Disks of every shape: sizes, both sector sizes, 4-, 16- and 32-byte
 * tags. */
static const uint64_t sizes[] = {64 * MiB, TiB, TiB + 12345};
static const uint32_t sector_sizes[] = {4096, 512};
static const char *const hashes[] = {"crc32c", "xxh3-128", "sha256"};
#define NR_SHAPES (3 * 2 * 3)

static void
make_sb (struct superblock *sb, uint32_t ss, const char *hash, uint64_t size)
{
  const struct hash_alg *alg = hash_by_name (hash);

  memset (sb, 0, sizeof *sb);
  sb->version = SB_VERSION;
  for (int i = 0; i < DISK_UUID_SIZE; i++)
    sb->uuid[i] = 0xa0 + i;
  sb->sector_size = ss;
  sb->hash_id = alg->id;
  strcpy (sb->hash_name, alg->name);
  sb->tag_size = alg->tag_size;
  sb->state = SB_DIRTY;
  sb->mode = MODE_FULL;
  sb->generation = 7;
  sb->journal_tail_seq = 0x123456789abcull;
  sb->format_time = 1700000000;
  for (int i = 0; i < HASH_KEY_CHECK_SIZE; i++)
    sb->key_check[i] = 0x30 + i;
  ck_assert_msg (sb_layout (sb, size, 0) == 0, "sb_layout: %s", ni_error ());
}

static void
make_shape (struct superblock *sb, int shape)
{
  make_sb (sb, sector_sizes[shape / 3 % 2], hashes[shape % 3],
           sizes[shape / 6]);
}

/* Re-seals a block after a field was changed, so that only the field is
 * wrong: the CRC32C of bytes 0..4091, little-endian at 4092. */
static void
reseal (uint8_t *block)
{
  le32_put (block + SB_BLOCK - 4, crc32c (0, block, SB_BLOCK - 4));
}

static uint64_t
stride (const struct superblock *sb)
{
  return sb->tag_run_bytes + (uint64_t)sb->zone_sectors * sb->sector_size;
}

START_TEST (layout_is_consistent)
{
  struct superblock sb;
  uint64_t size = sizes[_i / 6], full, partial, needed;

  make_shape (&sb, _i);
  ck_assert_uint_eq (sb.zone_sectors, ZONE_DATA_BYTES / sb.sector_size);
  ck_assert_uint_ge (sb.tag_run_bytes, (uint64_t)sb.zone_sectors * sb.tag_size);
  ck_assert_uint_lt (sb.tag_run_bytes,
                     (uint64_t)sb.zone_sectors * sb.tag_size + 4096);
  ck_assert_uint_eq (sb.tag_run_bytes % 4096, 0);
  ck_assert_uint_ge (sb.journal_offset, SB_COPIES * SB_BLOCK);
  ck_assert_uint_eq (sb.journal_size % SB_BLOCK, 0);
  ck_assert_uint_gt (sb.journal_size, 0);
  ck_assert_uint_eq (sb_journal_blocks (&sb), sb.journal_size / SB_BLOCK);
  ck_assert_uint_ge (sb.zones_offset, sb.journal_offset + sb.journal_size);
  /* disk_size is what the zones need: full zones, then a partial one. */
  full = sb.data_sectors / sb.zone_sectors;
  partial = sb.data_sectors % sb.zone_sectors;
  needed = sb.zones_offset + full * stride (&sb) +
           (partial ? sb.tag_run_bytes + partial * sb.sector_size : 0);
  ck_assert_uint_eq (sb.disk_size, needed);
  ck_assert_uint_le (sb.disk_size, size);
  /* and no more than a zone of the disk is left unused. */
  ck_assert_uint_lt (size - sb.disk_size, stride (&sb));
  ck_assert_uint_eq (sb_zone_count (&sb), full + (partial != 0));
}
END_TEST

START_TEST (round_trip)
{
  struct superblock sb, back;
  uint8_t block[SB_BLOCK];

  make_shape (&sb, _i);
  sb_encode (&sb, block);
  memset (&back, 0x55, sizeof back);
  ck_assert_msg (sb_decode (block, &back) == 0, "%s", ni_error ());
  ck_assert_uint_eq (back.version, sb.version);
  ck_assert_uint_eq (back.features, sb.features);
  ck_assert_int_eq (memcmp (back.uuid, sb.uuid, DISK_UUID_SIZE), 0);
  ck_assert_uint_eq (back.sector_size, sb.sector_size);
  ck_assert_uint_eq (back.hash_id, sb.hash_id);
  ck_assert_str_eq (back.hash_name, sb.hash_name);
  ck_assert_uint_eq (back.tag_size, sb.tag_size);
  ck_assert_uint_eq (back.state, sb.state);
  ck_assert_uint_eq (back.mode, sb.mode);
  ck_assert_uint_eq (back.data_sectors, sb.data_sectors);
  ck_assert_uint_eq (back.journal_offset, sb.journal_offset);
  ck_assert_uint_eq (back.journal_size, sb.journal_size);
  ck_assert_uint_eq (back.zones_offset, sb.zones_offset);
  ck_assert_uint_eq (back.zone_sectors, sb.zone_sectors);
  ck_assert_uint_eq (back.tag_run_bytes, sb.tag_run_bytes);
  ck_assert_uint_eq (back.disk_size, sb.disk_size);
  ck_assert_uint_eq (back.journal_tail_seq, sb.journal_tail_seq);
  ck_assert_uint_eq (back.generation, sb.generation);
  ck_assert_uint_eq (back.format_time, sb.format_time);
  ck_assert_int_eq (memcmp (back.key_check, sb.key_check, HASH_KEY_CHECK_SIZE),
                    0);
}
END_TEST

/* Every field where superblock.h's table puts it, and the checksum
 * exactly as reseal computes it. */
START_TEST (encoding_matches_the_documented_layout)
{
  struct superblock sb;
  uint8_t block[SB_BLOCK], copy[SB_BLOCK];

  make_shape (&sb, _i);
  sb_encode (&sb, block);
  ck_assert_int_eq (memcmp (block, "NBDINTEG", 8), 0);
  ck_assert_uint_eq (le32_get (block + 8), SB_VERSION);
  ck_assert_uint_eq (le32_get (block + 12), 0);
  ck_assert_int_eq (memcmp (block + 16, sb.uuid, 16), 0);
  ck_assert_uint_eq (le32_get (block + 32), sb.sector_size);
  ck_assert_uint_eq (le32_get (block + 36), sb.hash_id);
  ck_assert_str_eq ((const char *)block + 40, sb.hash_name);
  for (size_t i = 40 + strlen (sb.hash_name); i < 72; i++)
    ck_assert_uint_eq (block[i], 0); /* NUL padded */
  ck_assert_uint_eq (le32_get (block + 72), sb.tag_size);
  ck_assert_uint_eq (le32_get (block + 76), sb.state);
  ck_assert_uint_eq (le32_get (block + 80), sb.mode);
  ck_assert_uint_eq (le32_get (block + 84), 0);
  ck_assert_uint_eq (le64_get (block + 88), sb.data_sectors);
  ck_assert_uint_eq (le64_get (block + 96), sb.journal_offset);
  ck_assert_uint_eq (le64_get (block + 104), sb.journal_size);
  ck_assert_uint_eq (le64_get (block + 112), sb.zones_offset);
  ck_assert_uint_eq (le32_get (block + 120), sb.zone_sectors);
  ck_assert_uint_eq (le32_get (block + 124), sb.tag_run_bytes);
  ck_assert_uint_eq (le64_get (block + 128), sb.disk_size);
  ck_assert_uint_eq (le64_get (block + 136), sb.journal_tail_seq);
  ck_assert_uint_eq (le64_get (block + 144), sb.generation);
  ck_assert_uint_eq (le64_get (block + 152), sb.format_time);
  ck_assert_int_eq (memcmp (block + 160, sb.key_check, 32), 0);
  for (int i = 192; i < SB_BLOCK - 4; i++)
    ck_assert_uint_eq (block[i], 0);
  memcpy (copy, block, sizeof copy);
  reseal (copy);
  ck_assert_int_eq (memcmp (copy, block, sizeof copy), 0);
}
END_TEST

static void
expect_rejected (const uint8_t *block, const char *what)
{
  struct superblock back;

  ni_error_set ("%s", "");
  errno = 0;
  ck_assert_msg (sb_decode (block, &back) == -1, "accepted: %s", what);
  ck_assert_int_eq (errno, EUCLEAN);
  ck_assert_str_ne (ni_error (), "");
}

START_TEST (every_flipped_bit_is_rejected)
{
  struct superblock sb;
  uint8_t block[SB_BLOCK];
  char what[64];

  make_shape (&sb, _i * 7 % NR_SHAPES);
  sb_encode (&sb, block);
  for (int bit = 0; bit < SB_BLOCK * 8; bit++) {
    block[bit / 8] ^= 1 << bit % 8;
    snprintf (what, sizeof what, "bit %d flipped", bit);
    expect_rejected (block, what);
    block[bit / 8] ^= 1 << bit % 8;
  }
}
END_TEST

START_TEST (bad_magic_is_rejected)
{
  struct superblock sb;
  uint8_t block[SB_BLOCK];

  make_shape (&sb, 0);
  sb_encode (&sb, block);
  for (int i = 0; i < 8; i++) {
    block[i] ^= 0x20; /* "nBDINTEG", ...: a case change */
    reseal (block);
    expect_rejected (block, "magic");
    block[i] ^= 0x20;
  }
  memset (block, 0, SB_BLOCK); /* a never-formatted disk */
  expect_rejected (block, "zeroes");
}
END_TEST

/* One damaged field, re-sealed with a good checksum.  OP SET stores
 * VALUE, ADD adds it (mod 2^width). */
enum op { SET, ADD };
static const struct damage {
  const char *what;
  int offset, width;
  enum op op;
  uint64_t value;
} damage[] = {
    {"version 0", 8, 4, SET, 0},
    {"version 3", 8, 4, SET, 3},
    {"an unknown incompatible feature", 12, 4, SET, 1},
    {"a high unknown feature", 12, 4, SET, 0x80000000},
    {"sector size 1024", 32, 4, SET, 1024},
    {"sector size 0", 32, 4, SET, 0},
    {"sector size 8192", 32, 4, SET, 8192},
    {"sector size 513", 32, 4, SET, 513},
    {"hash id 0", 36, 4, SET, 0},
    {"hash id 7", 36, 4, SET, 7},
    {"hash id 99", 36, 4, SET, 99},
    {"hash id + 1, name unchanged", 36, 4, ADD, 1},
    {"tag size + 4", 72, 4, ADD, 4},
    {"tag size 0", 72, 4, SET, 0},
    {"tag size 64", 72, 4, SET, 64},
    {"state 2", 76, 4, SET, 2},
    {"crash mode 3", 80, 4, SET, 3},
    {"data sectors + 1", 88, 8, ADD, 1},
    {"data sectors - 1", 88, 8, ADD, UINT64_MAX},
    {"data sectors 0", 88, 8, SET, 0},
    {"data sectors beyond any disk", 88, 8, SET, UINT64_MAX},
    {"journal over superblock copy 0", 96, 8, SET, 0},
    {"journal over superblock copy 1", 96, 8, SET, SB_BLOCK},
    {"journal moved into the zones", 96, 8, ADD, SB_BLOCK},
    {"journal grown into the zones", 104, 8, ADD, SB_BLOCK},
    {"journal size 0", 104, 8, SET, 0},
    {"journal size not whole blocks", 104, 8, ADD, UINT64_MAX},
    {"journal size enormous", 104, 8, SET, 1ull << 62},
    {"zones over the journal", 112, 8, ADD, UINT64_MAX - SB_BLOCK + 1},
    {"zones at 0", 112, 8, SET, 0},
    {"zones moved by a block", 112, 8, ADD, SB_BLOCK},
    {"zones not block aligned", 112, 8, ADD, 512},
    {"zone sectors + 1", 120, 4, ADD, 1},
    {"zone sectors - 1", 120, 4, ADD, UINT32_MAX},
    {"zone sectors 0", 120, 4, SET, 0},
    {"tag run bytes 0", 124, 4, SET, 0},
    {"tag run bytes - 1 block", 124, 4, ADD, UINT32_MAX - SB_BLOCK + 1},
    {"tag run bytes + 1 block", 124, 4, ADD, SB_BLOCK},
    {"disk size + 1", 128, 8, ADD, 1},
    {"disk size - 1", 128, 8, ADD, UINT64_MAX},
    {"disk size + 1 sector", 128, 8, ADD, 512},
    {"disk size 0", 128, 8, SET, 0},
};
#define NR_DAMAGE (sizeof damage / sizeof damage[0])

static void
apply_damage (uint8_t *block, const struct damage *d)
{
  uint8_t *p = block + d->offset;

  if (d->width == 4)
    le32_put (p, (d->op == ADD ? le32_get (p) : 0) + d->value);
  else
    le64_put (p, (d->op == ADD ? le64_get (p) : 0) + d->value);
  reseal (block);
}

/* A valid block, re-sealed to show that reseal alone harms nothing: on
 * a small crc32c disk of 4096-byte sectors (EVEN) or a large sha256 disk
 * of 512-byte sectors. */
static void
valid_block (uint8_t *block, bool even)
{
  struct superblock sb, back;

  if (even)
    make_sb (&sb, 4096, "crc32c", 64 * MiB);
  else
    make_sb (&sb, 512, "sha256", TiB);
  sb_encode (&sb, block);
  reseal (block);
  ck_assert_int_eq (sb_decode (block, &back), 0);
}

START_TEST (inconsistent_fields_are_rejected)
{
  const struct damage *d = &damage[_i / 2];
  uint8_t block[SB_BLOCK];

  valid_block (block, _i % 2 == 0);
  apply_damage (block, d);
  expect_rejected (block, d->what);
}
END_TEST

/* The name at 40 must be the name of the id at 36. */
START_TEST (wrong_hash_names_are_rejected)
{
  static const char *const wrong[] = {"blake2b-256-keyed", "", "md5"};
  uint8_t block[SB_BLOCK], *name = block + 40;

  for (size_t i = 0; i < 3; i++) {
    valid_block (block, _i == 0);
    memset (name, 0, 32);
    memcpy (name, wrong[i], strlen (wrong[i]));
    reseal (block);
    expect_rejected (block, wrong[i]);
  }
  valid_block (block, _i == 0);
  name[strlen ((char *)name)] = 'x'; /* "crc32cx" */
  reseal (block);
  expect_rejected (block, "a name with a suffix");
}
END_TEST

/* ---- the two copies, on a real file ---- */

struct image {
  const char *path;
  struct backing *b;
};

static struct image
new_image (void)
{
  struct image im = {.path = scratch_path ("sb.img")};

  unlink (im.path);
  ck_assert_int_eq (backing_create_file (im.path, 64 * MiB), 0);
  im.b = backing_open_file (im.path, false);
  ck_assert_msg (im.b != NULL, "%s", ni_error ());
  return im;
}

/* The generation in copy I on the file, decoded on its own; 0 if the
 * copy is not valid. */
static uint64_t
generation_in_copy (const char *path, int i)
{
  uint8_t block[SB_BLOCK];
  struct superblock sb;

  file_read (path, block, SB_BLOCK, (uint64_t)i * SB_BLOCK);
  return sb_decode (block, &sb) == 0 ? sb.generation : 0;
}

/* Reserved bytes must be zero: a later version may use them. */
START_TEST (reserved_bytes_are_rejected)
{
  static const int offsets[] = {84, 87, 192, 2000, 4091, 47, 71};
  uint8_t block[SB_BLOCK];

  for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
    valid_block (block, i % 2);
    block[offsets[i]] = 0x55; /* 47 and 71: hash name padding */
    reseal (block);
    expect_rejected (block, "reserved byte");
  }
}
END_TEST

START_TEST (copies_ping_pong)
{
  struct image im = new_image ();
  struct superblock sb, back;

  make_sb (&sb, 4096, "crc32c", 64 * MiB);
  sb.copy = 1;
  ck_assert_int_eq (sb_read (im.b, &back), -1); /* not formatted */
  for (uint64_t g = 8; g < 14; g++) {
    int target = g % 2; /* 8 to copy 0, 9 to copy 1, ... */
    ck_assert_int_eq (sb_write (im.b, &sb), 0);
    ck_assert_uint_eq (sb.generation, g);
    ck_assert_int_eq (sb.copy, target);
    ck_assert_uint_eq (generation_in_copy (im.path, target), g);
    if (g > 8)
      ck_assert_uint_eq (generation_in_copy (im.path, !target), g - 1);
    ck_assert_int_eq (sb_read (im.b, &back), 0);
    ck_assert_uint_eq (back.generation, g);
    ck_assert_int_eq (back.copy, target);
    ck_assert_uint_eq (back.data_sectors, sb.data_sectors);
  }
  backing_close (im.b);
}
END_TEST

START_TEST (damaged_newest_copy_falls_back)
{
  struct image im = new_image ();
  struct superblock sb, back;
  int newest;

  make_sb (&sb, 4096, "crc32c", 64 * MiB);
  sb.copy = _i; /* so the newest ends in either copy */
  ck_assert_int_eq (sb_write (im.b, &sb), 0);
  ck_assert_int_eq (sb_write (im.b, &sb), 0);
  newest = sb.copy;
  ck_assert_int_eq (newest, _i);
  /* One bit of the newest copy, past lib: the older copy is used. */
  file_flip_bit (im.path, (uint64_t)newest * SB_BLOCK + 150, 3);
  ck_assert_int_eq (sb_read (im.b, &back), 0);
  ck_assert_uint_eq (back.generation, sb.generation - 1);
  ck_assert_int_eq (back.copy, !newest);
  /* Writing again replaces the damaged copy, not the good one. */
  back.journal_tail_seq = 99;
  ck_assert_int_eq (sb_write (im.b, &back), 0);
  ck_assert_int_eq (back.copy, newest);
  ck_assert_int_eq (sb_read (im.b, &back), 0);
  ck_assert_uint_eq (back.journal_tail_seq, 99);
  ck_assert_uint_eq (generation_in_copy (im.path, !newest), sb.generation - 1);
  /* Both damaged: refused, saying why. */
  file_flip_bit (im.path, (uint64_t)newest * SB_BLOCK + 8, 0);
  file_flip_bit (im.path, (uint64_t)!newest * SB_BLOCK + 4000, 7);
  ni_error_set ("%s", "");
  ck_assert_int_eq (sb_read (im.b, &back), -1);
  ck_assert_str_ne (ni_error (), "");
  backing_close (im.b);
}
END_TEST

/* A keyed disk's superblock is written only with its key, and a change
 * made without the key, its CRC recomputed, fails authentication. */
START_TEST (keyed_superblock_is_authenticated)
{
  static const uint8_t key[32] = {1, 2, 3}, other_key[32] = {4, 5, 6};
  const struct hash_alg *alg =
      hash_by_name (_i ? "blake2b-256-keyed" : "hmac-sha256");
  struct hasher *h = hasher_new (alg, key, sizeof key);
  struct hasher *other = hasher_new (alg, other_key, sizeof other_key);
  struct image im = new_image ();
  struct superblock sb, back;
  uint8_t block[SB_BLOCK];

  make_sb (&sb, 4096, alg->name, 64 * MiB);
  sb.copy = 1;
  ck_assert_int_eq (sb_write (im.b, &sb), -1);
  ck_assert_int_eq (errno, EPERM);
  sb.auth = h;
  ck_assert_int_eq (sb_write (im.b, &sb), 0);
  ck_assert_int_eq (sb_read (im.b, &back), 0);
  ck_assert_ptr_null (back.auth);
  ck_assert_int_eq (sb_authenticate (&back, other), -1);
  ck_assert_int_eq (errno, EUCLEAN);
  ck_assert_ptr_null (back.auth);
  ck_assert_int_eq (sb_authenticate (&back, h), 0);
  ck_assert_ptr_eq (back.auth, h);

  /* The journal tail moved, the CRC recomputed. */
  file_read (im.path, block, SB_BLOCK, 0);
  le64_put (block + 136, le64_get (block + 136) + 1);
  reseal (block);
  file_write (im.path, block, SB_BLOCK, 0);
  ck_assert_int_eq (sb_read (im.b, &back), 0);
  ck_assert_int_eq (sb_authenticate (&back, h), -1);
  ck_assert_ptr_nonnull (strstr (ni_error (), "without the key"));
  backing_close (im.b);
  hasher_free (h);
  hasher_free (other);
}
END_TEST

/* ---- layout ---- */

struct region {
  uint64_t start, end;
  char what[48];
};

static int
add_sector_regions (const struct superblock *sb, uint64_t s, struct region *r)
{
  r[0].start = sb_data_offset (sb, s);
  r[0].end = r[0].start + sb->sector_size;
  snprintf (r[0].what, sizeof r[0].what, "data of %lu", (unsigned long)s);
  r[1].start = sb_tag_offset (sb, s);
  r[1].end = r[1].start + sb->tag_size;
  snprintf (r[1].what, sizeof r[1].what, "tag of %lu", (unsigned long)s);
  return 2;
}

/* Sectors 0, 1, the last of zone 0, the first of zone 1 and its next,
 * the first of the last zone, and the last two data sectors (those that
 * exist). */
static int
sample_sectors (const struct superblock *sb, uint64_t *s)
{
  uint64_t z = sb->zone_sectors, last = sb->data_sectors - 1;
  uint64_t cand[] = {0, 1, z - 1, z, z + 1, last / z * z, last - 1, last};
  int n = 0;

  for (size_t i = 0; i < sizeof cand / sizeof *cand; i++) {
    bool dup = false;
    if (cand[i] > last)
      continue;
    for (int k = 0; k < n; k++)
      dup |= s[k] == cand[i];
    if (!dup)
      s[n++] = cand[i];
  }
  return n;
}

START_TEST (regions_never_overlap)
{
  struct superblock sb;
  struct region r[2 * 8 + 2];
  uint64_t s[8], last;
  int n, ns;

  make_shape (&sb, _i);
  last = sb.data_sectors - 1;
  ck_assert_uint_gt (sb.data_sectors, sb.zone_sectors); /* zone 1 exists */
  ns = sample_sectors (&sb, s);
  n = 0;
  for (int i = 0; i < ns; i++)
    n += add_sector_regions (&sb, s[i], &r[n]);
  r[n++] = (struct region){0, SB_COPIES * SB_BLOCK, "superblocks"};
  r[n++] = (struct region){sb.journal_offset,
                           sb.journal_offset + sb.journal_size, "journal"};
  for (int i = 0; i < n; i++) {
    ck_assert_msg (r[i].end <= sb.disk_size, "%s ends past the disk",
                   r[i].what);
    for (int k = i + 1; k < n; k++)
      ck_assert_msg (r[i].end <= r[k].start || r[k].end <= r[i].start,
                     "%s [%lu, %lu) overlaps %s [%lu, %lu)", r[i].what,
                     (unsigned long)r[i].start, (unsigned long)r[i].end,
                     r[k].what, (unsigned long)r[k].start,
                     (unsigned long)r[k].end);
  }
  /* The last data byte is the last byte the format needs. */
  ck_assert_uint_eq (sb_data_offset (&sb, last) + sb.sector_size, sb.disk_size);
  ck_assert_uint_lt (sb_data_offset (&sb, last) + sb.sector_size - 1,
                     sizes[_i / 6]);
}
END_TEST

START_TEST (zones_are_contiguous_runs)
{
  struct superblock sb;
  uint64_t z, last, zones;

  make_shape (&sb, _i);
  z = sb.zone_sectors;
  last = sb.data_sectors - 1;
  zones = sb_zone_count (&sb);
  ck_assert_uint_eq (sb_zone_offset (&sb, 0), sb.zones_offset);
  for (uint64_t k = 0; k<zones; k += zones> 8 ? zones / 8 : 1) {
    uint64_t first = k * z, run = sb_zone_offset (&sb, k);
    /* The zone's tags lie in its tag run, its data after it. */
    ck_assert_uint_ge (sb_tag_offset (&sb, first), run);
    ck_assert_uint_le (sb_tag_offset (&sb, first) + sb.tag_size,
                       run + sb.tag_run_bytes);
    ck_assert_uint_ge (sb_data_offset (&sb, first), run + sb.tag_run_bytes);
    ck_assert_uint_eq (sb_zone_remaining (&sb, first), z);
    if (k + 1 < zones) {
      ck_assert_uint_eq (sb_zone_remaining (&sb, first + z - 1), 1);
      ck_assert_uint_le (sb_data_offset (&sb, first + z - 1) + sb.sector_size,
                         sb_zone_offset (&sb, k + 1));
      ck_assert_uint_le (sb_tag_offset (&sb, first + z - 1) + sb.tag_size,
                         run + sb.tag_run_bytes);
    }
  }
  /* Within a zone, data is contiguous for sb_zone_remaining sectors. */
  for (uint64_t s = 0; s < 3 * z && s < last; s += z / 4 - 1) {
    uint64_t rem = sb_zone_remaining (&sb, s);
    ck_assert_uint_ge (rem, 1);
    ck_assert_uint_le (rem, z);
    ck_assert_uint_eq ((s + rem) % z, 0); /* to the end of the zone */
    if (rem > 1 && s + rem - 1 <= last)
      ck_assert_uint_eq (sb_data_offset (&sb, s + rem - 1),
                         sb_data_offset (&sb, s) + (rem - 1) * sb.sector_size);
  }
  ck_assert_uint_ge (sb_zone_remaining (&sb, last), 1);
}
END_TEST

/* The smallest disk holds one data sector: superblocks, a 1 MiB journal,
 * one tag run and one sector.  A byte less is refused. */
START_TEST (smallest_disk)
{
  struct superblock sb = {.sector_size = _i ? 512 : 4096,
                          .tag_size = _i ? 32 : 4};
  uint64_t run =
      ((uint64_t)ZONE_DATA_BYTES / sb.sector_size * sb.tag_size + 4095) / 4096 *
      4096;
  uint64_t smallest = SB_COPIES * SB_BLOCK + MiB + run + sb.sector_size;

  ck_assert_int_eq (sb_layout (&sb, smallest, MiB), 0);
  ck_assert_uint_eq (sb.data_sectors, 1);
  ck_assert_uint_eq (sb.disk_size, smallest);
  ni_error_set ("%s", "");
  ck_assert_int_eq (sb_layout (&sb, smallest - 1, MiB), -1);
  ck_assert_str_ne (ni_error (), "");
  ck_assert_int_eq (sb_layout (&sb, MiB, 0), -1);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("superblock");
  TCase *tc = tcase_create ("superblock");

  tcase_add_loop_test (tc, layout_is_consistent, 0, NR_SHAPES);
  tcase_add_loop_test (tc, round_trip, 0, NR_SHAPES);
  tcase_add_loop_test (tc, encoding_matches_the_documented_layout, 0,
                       NR_SHAPES);
  tcase_add_loop_test (tc, every_flipped_bit_is_rejected, 0, 3);
  tcase_add_test (tc, bad_magic_is_rejected);
  tcase_add_loop_test (tc, inconsistent_fields_are_rejected, 0, 2 * NR_DAMAGE);
  tcase_add_loop_test (tc, wrong_hash_names_are_rejected, 0, 2);
  tcase_add_test (tc, reserved_bytes_are_rejected);
  tcase_add_test (tc, copies_ping_pong);
  tcase_add_loop_test (tc, damaged_newest_copy_falls_back, 0, 2);
  tcase_add_loop_test (tc, keyed_superblock_is_authenticated, 0, 2);
  tcase_add_loop_test (tc, regions_never_overlap, 0, NR_SHAPES);
  tcase_add_loop_test (tc, zones_are_contiguous_runs, 0, NR_SHAPES);
  tcase_add_loop_test (tc, smallest_disk, 0, 2);
  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
