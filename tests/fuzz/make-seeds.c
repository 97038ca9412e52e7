/* Writes the binary seed corpora of the fuzz targets (corpus/config is
 * written by hand):
 *
 *   fuzz-seeds DIR      (e.g. tests/fuzz/corpus)
 *
 * Each seed is a real disk's: a fuzz disk (fuzz.h) is opened with lib's
 * disk API, written to, and copied as a crash would leave it, before any
 * checkpoint.  From the copy come superblock/ (its two superblock
 * copies), recovery/ (its journal from the tail to the head, tags and
 * data, in fuzz-recovery.c's input format; once also with the data of
 * some sectors as if their writes had not reached the disk, or had torn)
 * and journal-block/ (its first journal block).  The data of every write
 * is one byte repeated, as fuzz-recovery.c describes a sector's data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "journal.h"
#include "le.h"
#include "powerloss.h"
#include "report.h"
#include "fuzz.h"

#define MAX_SEED (1 << 16)

/* Mirrors fuzz-recovery.c's input. */
#define RECOVERY_MODE_SHIFT 2

struct seed {
  uint8_t bytes[MAX_SEED];
  size_t len;
};

static void
die (const char *what)
{
  fprintf (stderr, "fuzz-seeds: %s: %s\n", what, ni_error ());
  exit (EXIT_FAILURE);
}

static void
put (struct seed *s, const void *p, size_t n)
{
  if (s->len + n > MAX_SEED)
    die ("seed too large");
  memcpy (s->bytes + s->len, p, n);
  s->len += n;
}

static void
save (const char *dir, const char *target, const char *name,
      const struct seed *s)
{
  char path[4096];
  FILE *f;

  snprintf (path, sizeof path, "%s/%s/%s", dir, target, name);
  f = fopen (path, "wb");
  if (f == NULL || fwrite (s->bytes, 1, s->len, f) != s->len ||
      fclose (f) != 0) {
    perror (path);
    exit (EXIT_FAILURE);
  }
}

/* A crashed disk: its image, superblock and journal's head. */
struct crashed {
  unsigned layout;
  uint8_t *image;
  struct superblock sb;
  uint64_t head;
};

static void
write_fill (struct disk *d, uint64_t sector, uint32_t n, uint8_t byte, bool fua)
{
  uint32_t ss = disk_superblock (d)->sector_size;
  uint8_t *buf = malloc ((size_t)n * ss);

  if (buf == NULL)
    die ("malloc");
  memset (buf, byte, (size_t)n * ss);
  if (disk_write (d, buf, n * ss, sector * ss, fua) == -1)
    die ("write");
  free (buf);
}

/* Writes a few sectors of a fresh disk of LAYOUT in MODE: some deferred
 * and flushed together (records sharing a block), a trim, and FUA writes
 * over sectors already written.  Then the power fails. */
static void
crash (unsigned layout, enum disk_mode mode, struct crashed *c)
{
  const struct fuzz_disk *fd = fuzz_disk (layout);
  struct backing *b = powerloss_new (fd->image, fd->size);
  struct disk_options opts = {.path = "seed", .mode = mode};
  const struct hash_alg *alg = hash_by_id (fd->sb.hash_id);
  uint32_t ss = fd->sb.sector_size;
  struct journal_scan js = {0};
  struct disk *d;
  struct backing *copy;

  opts.keyfile = alg->keyed ? fuzz_key_file () : NULL;
  d = b ? disk_open_backing (b, &opts) : NULL;
  if (d == NULL)
    die ("open");
  write_fill (d, 1, 2, 0x11, false);
  write_fill (d, 5, 1, 0x22, false);
  if (disk_trim (d, 2 * ss, 8 * ss, false) == -1 || disk_flush (d) == -1)
    die ("trim");
  write_fill (d, 2, 1, 0x33, true);
  write_fill (d, 5, 1, 0x44, true);
  c->layout = layout;
  c->image = malloc (fd->size);
  if (c->image == NULL)
    die ("malloc");
  memcpy (c->image, powerloss_current (b), fd->size);
  disk_close (d);
  copy = powerloss_new (c->image, fd->size);
  if (copy == NULL || sb_read (copy, &c->sb) == -1 ||
      sb_authenticate (&c->sb, fd->h) == -1 ||
      journal_scan (copy, &c->sb, &js) == -1)
    die ("reading the crashed disk");
  c->head = js.head;
  backing_close (copy);
}

static const uint8_t *
journal_block_at (const struct crashed *c, uint64_t seq)
{
  return c->image + c->sb.journal_offset +
         seq % sb_journal_blocks (&c->sb) * SB_BLOCK;
}

/* fuzz-recovery.c's input for C, with DATA the byte of each sector. */
static void
recovery_seed (const struct crashed *c, const uint8_t *data, struct seed *s)
{
  uint8_t options = c->layout | c->sb.mode << RECOVERY_MODE_SHIFT;
  uint8_t tail[8], tag[HASH_MAX_TAG];

  s->len = 0;
  put (s, &options, 1);
  le64_put (tail, c->sb.journal_tail_seq);
  put (s, tail, sizeof tail);
  put (s, data, FUZZ_SECTORS);
  for (uint64_t i = 0; i < FUZZ_SECTORS; i++) {
    memset (tag, 0, sizeof tag);
    memcpy (tag, c->image + sb_tag_offset (&c->sb, i), c->sb.tag_size);
    put (s, tag, sizeof tag);
  }
  for (uint64_t seq = c->sb.journal_tail_seq; seq < c->head; seq++)
    put (s, journal_block_at (c, seq), SB_BLOCK);
}

static void
sector_bytes (const struct crashed *c, uint8_t *data)
{
  for (uint64_t i = 0; i < FUZZ_SECTORS; i++)
    data[i] = c->image[sb_data_offset (&c->sb, i)];
}

int
main (int argc, char **argv)
{
  static struct seed s;
  struct crashed tags, full, keyed;
  uint8_t data[FUZZ_SECTORS], options;

  if (argc != 2) {
    fprintf (stderr, "usage: fuzz-seeds DIR\n");
    return EXIT_FAILURE;
  }
  crash (0, DISK_MODE_TAGS, &tags);
  crash (3, DISK_MODE_FULL, &full);
  crash (2, DISK_MODE_TAGS, &keyed);

  s.len = 0;
  put (&s, tags.image, SB_COPIES * SB_BLOCK);
  save (argv[1], "superblock", "dirty-4096-crc32c", &s);
  s.len = 0;
  put (&s, fuzz_disk (3)->image, SB_COPIES * SB_BLOCK);
  save (argv[1], "superblock", "clean-512-xxh3", &s);
  s.len = 0;
  put (&s, keyed.image, SB_COPIES * SB_BLOCK);
  save (argv[1], "superblock", "dirty-4096-hmac", &s);

  sector_bytes (&tags, data);
  recovery_seed (&tags, data, &s);
  save (argv[1], "recovery", "tags-as-written", &s);
  /* Sector 1's write never reached the disk (old: it was never written);
   * sector 5's second write tore over its first. */
  data[1] = 0;
  data[5] = 0x55;
  recovery_seed (&tags, data, &s);
  save (argv[1], "recovery", "tags-lost-and-torn", &s);
  sector_bytes (&full, data);
  recovery_seed (&full, data, &s);
  save (argv[1], "recovery", "full-as-written", &s);
  sector_bytes (&keyed, data);
  recovery_seed (&keyed, data, &s);
  save (argv[1], "recovery", "keyed-tags-as-written", &s);

  for (int i = 0; i < 3; i++) {
    static const char *const names[] = {"tags-records", "full-data",
                                        "keyed-tags-records"};
    const struct crashed *c = i == 0 ? &tags : i == 1 ? &full : &keyed;

    s.len = 0;
    options = c->layout;
    put (&s, &options, 1);
    put (&s, journal_block_at (c, c->sb.journal_tail_seq), SB_BLOCK);
    save (argv[1], "journal-block", names[i], &s);
  }
  free (tags.image);
  free (full.image);
  free (keyed.image);
  return EXIT_SUCCESS;
}
