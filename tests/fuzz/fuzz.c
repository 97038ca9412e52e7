/* Shared by the fuzz targets: see fuzz.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
    {4096, "sha256"},
    {512, "xxh3-128"},
};

static const uint8_t fixed_uuid[DISK_UUID_SIZE] = "fuzz-disk-uuid!";

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

  le32_put (block + SB_BLOCK - 4, crc32c (crc, block, SB_BLOCK - 4));
}

void
fuzz_seal_superblock (uint8_t block[SB_BLOCK])
{
  le32_put (block + SB_BLOCK - 4, crc32c (0, block, SB_BLOCK - 4));
}

/* The sealing above copies lib's checksums: were lib's to change, the
 * fuzzer would stop at every checksum, silently.  So a disk is only made
 * if both seal what lib encodes to the same bytes. */
static void
check_seals (const struct superblock *sb)
{
  uint8_t block[SB_BLOCK], sealed[SB_BLOCK];
  struct journal_record rec = {.sector = 0, .count = 1, .kind = JREC_UNWRITTEN};
  size_t done = 0;

  sb_encode (sb, block);
  memcpy (sealed, block, SB_BLOCK);
  fuzz_seal_superblock (sealed);
  fuzz_assert (memcmp (block, sealed, SB_BLOCK) == 0);
  journal_block_encode (sb, 1, &rec, 1, &done, block);
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

static void
make_disk (unsigned layout, struct fuzz_disk *fd)
{
  struct format_options opts = {.hash = layouts[layout].hash,
                                .sector_size = layouts[layout].sector_size,
                                .journal_size = JOURNAL_BYTES,
                                .force = true};
  uint8_t *image;
  struct backing *b;

  fd->size = disk_bytes (layout);
  b = powerloss_new (NULL, fd->size);
  if (b == NULL || format_backing (b, &opts) == -1 ||
      sb_read (b, &fd->sb) == -1)
    die ("formatting a disk");
  memcpy (fd->sb.uuid, fixed_uuid, DISK_UUID_SIZE);
  fd->sb.format_time = FIXED_TIME;
  for (int i = 0; i < SB_COPIES; i++)
    if (sb_write (b, &fd->sb) == -1)
      die ("writing a superblock");
  fuzz_assert (fd->sb.data_sectors == FUZZ_SECTORS);
  fd->h = hasher_new (hash_by_id (fd->sb.hash_id), NULL, 0);
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
