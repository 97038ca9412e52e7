/* Shared by the fuzz targets: see fuzz.h. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"
#include "journal.h"
#include "le.h"
#include "powerloss.h"
#include "report.h"
#include "fuzz.h"

#define JOURNAL_BYTES (1 << 20)
#define FIXED_TIME 1700000000

static const struct {
  uint32_t sector_size;
  const char *hash;
} layouts[FUZZ_LAYOUTS] = {
    {4096, "crc32c"},
    {512, "crc32c"},
    {4096, "hmac-sha256"}, /* keyed: MACs sealed with fuzz_key */
    {512, "xxh3-128"},
};

static const uint8_t fixed_uuid[DISK_UUID_SIZE] = "fuzz-disk-uuid!";
static const uint8_t fuzz_key[32] = "the fuzz disks' fixed key, 32 B";

const struct hasher *
fuzz_key_hasher (const struct hash_alg *alg)
{
  static struct hasher *hashers[2];
  int i = alg->id == HASH_HMAC_SHA256;

  if (!alg->keyed)
    return NULL;
  if (hashers[i] == NULL)
    hashers[i] = hasher_new (alg, fuzz_key, sizeof fuzz_key);
  fuzz_assert (hashers[i] != NULL);
  return hashers[i];
}

void
fuzz_fail (const char *cond, const char *file, int line)
{
  fprintf (stderr, "%s:%d: fuzz_assert failed: %s\n", file, line, cond);
  abort ();
}

void
fuzz_take (struct fuzz_input *in, void *out, size_t n)
{
  size_t k = n < in->size ? n : in->size;

  /* Never NULL + 0: libFuzzer may pass an empty input as NULL. */
  if (k) {
    memcpy (out, in->data, k);
    in->data += k;
    in->size -= k;
  }
  memset ((uint8_t *)out + k, 0, n - k);
}

uint8_t
fuzz_byte (struct fuzz_input *in)
{
  uint8_t byte;

  fuzz_take (in, &byte, 1);
  return byte;
}

static void
quiet (enum ni_log_level level, const char *msg)
{
  (void)level;
  (void)msg;
}

void
fuzz_seal_journal_block (const struct superblock *sb, uint8_t block[SB_BLOCK])
{
  uint32_t crc = crc32c (0, sb->uuid, DISK_UUID_SIZE);

  if (sb->auth)
    hasher_tag (sb->auth, sb->uuid, HASH_DOMAIN_JOURNAL, block,
                JOURNAL_MAC_OFFSET, block + JOURNAL_MAC_OFFSET);
  le32_put (block + JOURNAL_CRC_OFFSET,
            crc32c (crc, block, JOURNAL_CRC_OFFSET));
}

void
fuzz_seal_superblock (uint8_t block[SB_BLOCK])
{
  const struct hash_alg *alg = hash_by_id (le32_get (block + SB_OFF_HASH_ID));

  /* The MAC of the bytes before it, with the UUID (nbd-integrity-format(5)). */
  if (alg && alg->keyed)
    hasher_tag (fuzz_key_hasher (alg), block + SB_OFF_UUID,
                HASH_DOMAIN_SUPERBLOCK, block, SB_OFF_MAC, block + SB_OFF_MAC);
  le32_put (block + SB_OFF_CRC, crc32c (0, block, SB_OFF_CRC));
}

/* The sealing above copies lib's checksums: were lib's to change, the
 * fuzzer would stop at every checksum, silently.  So a disk is only made
 * if both seal what lib encodes to the same bytes. */
static void
check_seals (const struct superblock *sb)
{
  uint8_t block[SB_BLOCK], sealed[SB_BLOCK];
  struct journal_record rec = {.sector = 0, .count = 1, .kind = JREC_UNWRITTEN};
  struct journal_block_info info = {
      .seq = 1, .tail = 1, .commit = 1, .commit_blocks = 2};
  size_t done = 0;

  sb_encode (sb, block);
  memcpy (sealed, block, SB_BLOCK);
  fuzz_seal_superblock (sealed);
  fuzz_assert (memcmp (block, sealed, SB_BLOCK) == 0);
  journal_block_encode (sb, &info, &rec, 1, &done, block);
  memcpy (sealed, block, SB_BLOCK);
  fuzz_seal_journal_block (sb, sealed);
  fuzz_assert (memcmp (block, sealed, SB_BLOCK) == 0);
}

/* Bytes of a disk of LAYOUT with FUZZ_SECTORS data sectors. */
static uint64_t
disk_bytes (unsigned layout)
{
  struct superblock sb = {.sector_size = layouts[layout].sector_size};

  sb.tag_size = hash_by_name (layouts[layout].hash)->tag_size;
  sb_layout (&sb, 64 << 20, JOURNAL_BYTES);
  return sb.zones_offset + sb.tag_run_bytes +
         (uint64_t)FUZZ_SECTORS * sb.sector_size;
}

static void
die (const char *what)
{
  fprintf (stderr, "fuzz: %s: %s\n", what, ni_error ());
  exit (EXIT_FAILURE);
}

static char key_path[] = "/tmp/fuzz-key-XXXXXX";

static void
remove_key_file (void)
{
  unlink (key_path);
}

const char *
fuzz_key_file (void)
{
  static bool written;
  int fd;

  if (written)
    return key_path;
  fd = mkstemp (key_path);
  if (fd == -1 || write (fd, fuzz_key, sizeof fuzz_key) != sizeof fuzz_key)
    die ("writing a key file");
  close (fd);
  atexit (remove_key_file);
  written = true;
  return key_path;
}

/* The fixed UUID makes the unwritten tags format wrote for the random
 * one wrong on a keyed disk (and its key check value, which make_disk
 * computes again): written again. */
static void
write_unwritten_tags (struct backing *b, const struct fuzz_disk *fd)
{
  uint8_t tags[FUZZ_SECTORS * HASH_MAX_TAG];

  /* FUZZ_SECTORS is less than a zone: its tags are one run. */
  hasher_unwritten_tags (fd->h, fd->sb.uuid, 0, FUZZ_SECTORS, tags);
  if (backing_pwrite (b, tags, FUZZ_SECTORS * fd->sb.tag_size,
                      sb_tag_offset (&fd->sb, 0), 0) == -1)
    die ("writing the tags");
}

static void
make_disk (unsigned layout, struct fuzz_disk *fd)
{
  const struct hash_alg *alg = hash_by_name (layouts[layout].hash);
  struct format_options opts = {.hash = layouts[layout].hash,
                                .sector_size = layouts[layout].sector_size,
                                .journal_size = JOURNAL_BYTES,
                                .force = true};
  uint8_t *image;
  struct backing *b;
  int r;

  fd->size = disk_bytes (layout);
  b = powerloss_new (NULL, fd->size);
  opts.keyfile = alg->keyed ? fuzz_key_file () : NULL;
  r = b ? format_backing (b, &opts) : -1;
  fd->h = alg->keyed ? fuzz_key_hasher (alg) : hasher_new (alg, NULL, 0);
  if (r == -1 || sb_read (b, &fd->sb) == -1 ||
      sb_authenticate (&fd->sb, fd->h) == -1)
    die ("formatting a disk");
  memcpy (fd->sb.uuid, fixed_uuid, DISK_UUID_SIZE);
  hasher_key_check (fd->h, fd->sb.uuid, fd->sb.key_check);
  fd->sb.format_time = FIXED_TIME;
  for (int i = 0; i < SB_COPIES; i++)
    if (sb_write (b, &fd->sb) == -1)
      die ("writing a superblock");
  if (alg->keyed)
    write_unwritten_tags (b, fd);
  fuzz_assert (fd->sb.data_sectors == FUZZ_SECTORS);
  image = malloc (fd->size);
  fuzz_assert (fd->h != NULL && image != NULL);
  memcpy (image, powerloss_current (b), fd->size);
  fd->image = image;
  backing_close (b);
  check_seals (&fd->sb);
}

const struct fuzz_disk *
fuzz_disk (unsigned layout)
{
  static struct fuzz_disk disks[FUZZ_LAYOUTS];

  layout %= FUZZ_LAYOUTS;
  if (disks[layout].image == NULL) {
    ni_log_set (quiet);
    make_disk (layout, &disks[layout]);
  }
  return &disks[layout];
}
