/* Writes the binary seed corpora of the fuzz targets (corpus/config is
 * written by hand):
 *
 *   fuzz-seeds DIR      (e.g. tests/fuzz/corpus)
 *
 * Each seed is a real disk's: a fuzz disk (fuzz.h) is opened with lib's
 * disk API, written to, and copied as a crash would leave it, before its
 * last checkpoint is complete.  From the copy come superblock/ (its two
 * superblock copies), journal-block/ (header blocks of its journal: one
 * with records, a header's copy, one with a flush mark) and recovery/
 * (its journal from the tail to the head, as groups, with its tags and
 * data, in the input format of recovery-input.h).
 *
 * The recovery seeds: the disks as the crash left them, in each crash
 * mode and on the keyed layout, a full-mode one read-only, a tags-mode
 * one whose superblock says mode none; one whose superblock names the tail
 * before its last checkpoint, older than its headers name; one with a
 * data sector as if its write had not reached the disk and one torn; and
 * the damage the journal defends against: a header block or its copy
 * damaged, or on the keyed layout forged, both copies of a group before
 * the newest flush mark (the disk is refused) or after it (unflushed
 * writes lost), and a group whose two
 * copies are of two attempts at its commit (the first write failed and
 * left its header, the retry only its copy).  The data of every write is
 * one byte repeated, as the input describes a sector's data.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "faulty.h"
#include "journal.h"
#include "le.h"
#include "powerloss.h"
#include "report.h"
#include "fuzz.h"
#include "recovery-input.h"

#define MAX_SEED RECOVERY_MAX_INPUT

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

/* ---- crashed disks ---- */

/* A crashed disk: its image and superblock, and its journal from TAIL to
 * the head.  TAIL is the one the superblock named when the disk was
 * opened: older than the superblock's now if a checkpoint completed. */
struct crashed {
  unsigned layout;
  uint8_t *image;
  struct superblock sb;
  uint64_t tail, head;
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

/* Some sectors written deferred and flushed together (records sharing a
 * block), a trim, FUA writes over sectors already written (each a commit
 * and a flush mark), then writes committed and never flushed: writing a
 * sector again commits the deferred write to it, and the last write goes
 * down with the power. */
static void
write_and_flush (struct disk *d)
{
  uint32_t ss = disk_superblock (d)->sector_size;

  write_fill (d, 1, 2, 0x11, false);
  write_fill (d, 5, 1, 0x22, false);
  if (disk_trim (d, 2 * ss, 8 * ss, false) == -1 || disk_flush (d) == -1)
    die ("trim");
  write_fill (d, 2, 1, 0x33, true);
  write_fill (d, 5, 1, 0x44, true);
  write_fill (d, 7, 1, 0x66, false);
  write_fill (d, 7, 1, 0x77, false);
  write_fill (d, 7, 1, 0x88, false);
}

/* Writes flushed, a checkpoint, then more. */
static void
checkpoint_between (struct disk *d)
{
  write_fill (d, 3, 1, 0x12, false);
  write_fill (d, 9, 2, 0x13, true);
  if (disk_checkpoint (d) == -1)
    die ("checkpoint");
  write_fill (d, 4, 1, 0x14, false);
  write_fill (d, 3, 1, 0x15, true);
}

/* Commits FUA writes, one of which the caller may make fail. */
static void
write_each (struct disk *d)
{
  uint32_t ss = disk_superblock (d)->sector_size;
  uint8_t buf[4096];

  for (uint8_t i = 0; i < 4; i++) {
    memset (buf, 0x21 + i, ss);
    disk_write (d, buf, ss, (12 + i) * ss, true); /* may fail: see above */
  }
}

typedef void write_fn (struct disk *d);

/* Reads the crashed disk back from C->image. */
static void
read_crashed (const struct fuzz_disk *fd, struct crashed *c)
{
  struct backing *copy = powerloss_new (c->image, fd->size);
  struct journal_scan js = {0};

  if (copy == NULL || sb_read (copy, &c->sb) == -1 ||
      sb_authenticate (&c->sb, fd->h) == -1 ||
      journal_scan (copy, &c->sb, &js) == -1)
    die ("reading the crashed disk");
  c->head = js.head;
  backing_close (copy);
}

/* Runs WRITE on a fresh disk of LAYOUT in MODE, then fails the power.
 * With FAIL_AT, the journal write of that number fails, once. */
static void
crash (unsigned layout, enum disk_mode mode, write_fn *write, uint64_t fail_at,
       struct crashed *c)
{
  const struct fuzz_disk *fd = fuzz_disk (layout);
  struct backing *power = powerloss_new (fd->image, fd->size);
  struct backing *b = power ? faulty_new (power) : NULL;
  struct disk_options opts = {.path = "seed", .mode = mode};
  const struct hash_alg *alg = hash_by_id (fd->sb.hash_id);
  struct disk *d;

  opts.keyfile = alg->keyed ? fuzz_key_file () : NULL;
  d = b ? disk_open_backing (b, &opts) : NULL;
  if (d == NULL)
    die ("open");
  c->tail = disk_superblock (d)->journal_tail_seq;
  if (fail_at) {
    faulty_target (b, FAULTY_WRITE, fd->sb.journal_offset, fd->sb.journal_size);
    faulty_arm (b, fail_at, EIO, false);
  }
  write (d);
  if (fail_at && !faulty_hit (b))
    die ("the journal write to fail was never made");
  c->layout = layout;
  c->image = malloc (fd->size);
  if (c->image == NULL)
    die ("malloc");
  memcpy (c->image, powerloss_current (power), fd->size);
  disk_close (d);
  read_crashed (fd, c);
}

static const uint8_t *
journal_block_at (const struct crashed *c, uint64_t seq)
{
  return c->image + journal_block_offset (&c->sb, seq);
}

/* A group of a crashed disk's journal. */
struct group {
  const struct superblock *sb;
  struct journal_block_info info; /* of its header */
  uint64_t data;                  /* blocks after its headers */
  bool flush;                     /* it holds a flush mark */
};

static int
note_record (void *opaque, uint64_t seq, const struct journal_record *rec)
{
  struct group *g = opaque;

  (void)seq;
  g->data += journal_record_data_blocks (g->sb, rec);
  g->flush |= rec->kind == JREC_FLUSH;
  return 0;
}

/* Reads the group at SEQ of C into G; returns its blocks. */
static uint64_t
read_group (const struct crashed *c, uint64_t seq, struct group *g)
{
  *g = (struct group){.sb = &c->sb};
  if (journal_block_decode (&c->sb, seq, journal_block_at (c, seq), &g->info,
                            note_record, g) != 1)
    die ("a header of the crashed disk's journal does not decode");
  return JOURNAL_GROUP_HEADERS + g->data;
}

/* ---- recovery seeds ---- */

/* A change a seed makes to its crashed disk: OPT_* options added to the
 * input's, GROUP_* options for its group number GROUP, and with
 * GROUP_COPY_GIVEN the copy to give. */
struct change {
  uint8_t input;
  size_t group;
  uint8_t options;
  const uint8_t *copy;
};

static void
put_groups (const struct crashed *c, const struct change *ch, struct seed *s)
{
  size_t number = 0;

  if (c->head - c->tail > RECOVERY_MAX_BLOCKS)
    die ("a seed's journal is longer than the input takes");
  for (uint64_t seq = c->tail, blocks; seq < c->head; seq += blocks, number++) {
    struct group g;
    uint8_t options;

    blocks = read_group (c, seq, &g);
    if (g.data > GROUP_DATA (0xff))
      die ("a group has more data blocks than the input can say");
    options = g.data << GROUP_DATA_SHIFT;
    if (ch && ch->group == number)
      options |= ch->options;
    put (s, &options, 1);
    put (s, journal_block_at (c, seq), SB_BLOCK);
    if (options & GROUP_COPY_GIVEN)
      put (s, ch->copy, SB_BLOCK);
    for (uint64_t i = JOURNAL_GROUP_HEADERS; i < blocks; i++)
      put (s, journal_block_at (c, seq + i), SB_BLOCK);
  }
}

/* The number and sequence of the first group of C's journal (or the last,
 * if LAST) that holds a flush mark, or (FLUSH false) that does not. */
static size_t
find_group (const struct crashed *c, bool flush, bool last, uint64_t *at)
{
  size_t number = 0, found = SIZE_MAX;

  for (uint64_t seq = c->tail, blocks; seq < c->head; seq += blocks, number++) {
    struct group g;

    blocks = read_group (c, seq, &g);
    if (g.flush == flush && (last || found == SIZE_MAX)) {
      found = number;
      if (at)
        *at = seq;
    }
  }
  if (found == SIZE_MAX)
    die ("no such group in the crashed disk's journal");
  return found;
}

/* fuzz-recovery's input for C, with DATA the byte of each sector. */
static void
recovery_seed (const struct crashed *c, const uint8_t *data,
               const struct change *ch, struct seed *s)
{
  uint8_t options = c->layout | c->sb.mode << OPT_MODE_SHIFT;
  uint8_t tail[8], tag[HASH_MAX_TAG];

  if (ch)
    options |= ch->input;
  s->len = 0;
  put (s, &options, 1);
  le64_put (tail, c->tail);
  put (s, tail, sizeof tail);
  put (s, data, FUZZ_SECTORS);
  for (uint64_t i = 0; i < FUZZ_SECTORS; i++) {
    memset (tag, 0, sizeof tag);
    memcpy (tag, c->image + sb_tag_offset (&c->sb, i), c->sb.tag_size);
    put (s, tag, sizeof tag);
  }
  put_groups (c, ch, s);
}

static void
sector_bytes (const struct crashed *c, uint8_t *data)
{
  for (uint64_t i = 0; i < FUZZ_SECTORS; i++)
    data[i] = c->image[sb_data_offset (&c->sb, i)];
}

static void
save_recovery (const char *dir, const char *name, const struct crashed *c,
               const struct change *ch)
{
  static struct seed s;
  uint8_t data[FUZZ_SECTORS];

  sector_bytes (c, data);
  recovery_seed (c, data, ch, &s);
  save (dir, "recovery", name, &s);
}

/* The seeds of damage to the journal of TAGS, a tags-mode disk with two
 * commits after its last flush mark. */
static void
save_damaged (const char *dir, const struct crashed *tags)
{
  const uint8_t both = GROUP_DAMAGE_HEADER | GROUP_DAMAGE_COPY;
  size_t first = find_group (tags, false, false, NULL);
  size_t unflushed = find_group (tags, true, true, NULL) + 1;
  struct change header = {.group = first, .options = GROUP_DAMAGE_HEADER};
  struct change copy = {.group = first, .options = GROUP_DAMAGE_COPY};
  struct change lost = {.group = first, .options = both};
  struct change unmarked = {.group = unflushed, .options = both};

  if (find_group (tags, false, true, NULL) <= unflushed)
    die ("the tags-mode disk has not two commits after its last flush mark");
  save_recovery (dir, "tags-header-damaged", tags, &header);
  save_recovery (dir, "tags-copy-damaged", tags, &copy);
  save_recovery (dir, "tags-flushed-group-lost", tags, &lost);
  save_recovery (dir, "tags-unflushed-group-lost", tags, &unmarked);
}

/* RETRIED made the writes ONCE made, but one journal write failed and
 * its commit was written again, of a later attempt, with the next
 * write's record.  The seed: RETRIED with that group's header as ONCE
 * wrote it, as if the failed write had left its header, and its copy as
 * the retry wrote it, as if the crash had torn the retry's header. */
static void
save_two_attempts (const char *dir, const struct crashed *once,
                   const struct crashed *retried)
{
  uint64_t size = fuzz_disk (retried->layout)->size;
  struct crashed mixed = *retried;
  struct change ch = {.options = GROUP_COPY_GIVEN};
  uint64_t seq = retried->tail;
  struct group g, first;

  for (;; ch.group++) {
    uint64_t blocks = read_group (retried, seq, &g);

    read_group (once, seq, &first);
    if (g.info.attempt != first.info.attempt)
      break;
    seq += blocks;
  }
  mixed.image = malloc (size);
  if (mixed.image == NULL)
    die ("malloc");
  memcpy (mixed.image, retried->image, size);
  memcpy (mixed.image + journal_block_offset (&mixed.sb, seq),
          journal_block_at (once, seq), SB_BLOCK);
  ch.copy = journal_block_at (retried, seq + 1);
  save_recovery (dir, "tags-two-attempts", &mixed, &ch);
  free (mixed.image);
}

/* ---- journal-block and superblock seeds ---- */

static void
save_block (const char *dir, const char *name, const struct crashed *c,
            uint64_t seq)
{
  static struct seed s;
  uint8_t options = c->layout;

  s.len = 0;
  put (&s, &options, 1);
  put (&s, journal_block_at (c, seq), SB_BLOCK);
  save (dir, "journal-block", name, &s);
}

static void
save_superblocks (const char *dir, const char *name, const uint8_t *image)
{
  static struct seed s;

  s.len = 0;
  put (&s, image, SB_COPIES * SB_BLOCK);
  save (dir, "superblock", name, &s);
}

int
main (int argc, char **argv)
{
  static struct seed s;
  struct crashed tags, full, keyed, old, once, retried;
  uint8_t data[FUZZ_SECTORS];
  uint64_t mark;
  /* Read-only, a full-mode disk is refused; a tags-mode disk whose
   * superblock says it was served with mode=none is recovered from its
   * journal; a forged header is ignored. */
  struct change read_only = {.input = OPT_READONLY, .group = SIZE_MAX};
  struct change none = {.input = MODE_NONE << OPT_MODE_SHIFT,
                        .group = SIZE_MAX};
  struct change forged = {.input = OPT_FORGE, .options = GROUP_DAMAGE_HEADER};

  if (argc != 2) {
    fprintf (stderr, "usage: fuzz-seeds DIR\n");
    return EXIT_FAILURE;
  }
  crash (0, DISK_MODE_TAGS, write_and_flush, 0, &tags);
  crash (3, DISK_MODE_FULL, write_and_flush, 0, &full);
  crash (2, DISK_MODE_TAGS, write_and_flush, 0, &keyed);
  crash (1, DISK_MODE_TAGS, checkpoint_between, 0, &old);
  crash (0, DISK_MODE_TAGS, write_each, 0, &once);
  crash (0, DISK_MODE_TAGS, write_each, 3, &retried);

  save_superblocks (argv[1], "dirty-4096-crc32c", tags.image);
  save_superblocks (argv[1], "clean-512-xxh3", fuzz_disk (3)->image);
  save_superblocks (argv[1], "dirty-4096-hmac", keyed.image);
  save_superblocks (argv[1], "checkpointed-512-crc32c", old.image);

  save_recovery (argv[1], "tags-as-written", &tags, NULL);
  /* Sector 1's flushed write never reached the disk (neither: it was
   * lost); sector 5's second write tore over its first (neither); sector
   * 7's writes, committed but not flushed, never reached it (old: it was
   * never written). */
  sector_bytes (&tags, data);
  data[1] = 0;
  data[5] = 0x55;
  data[7] = 0;
  recovery_seed (&tags, data, NULL, &s);
  save (argv[1], "recovery", "tags-lost-and-torn", &s);
  save_recovery (argv[1], "full-as-written", &full, NULL);
  save_recovery (argv[1], "full-read-only", &full, &read_only);
  save_recovery (argv[1], "keyed-tags-as-written", &keyed, NULL);
  save_recovery (argv[1], "keyed-header-forged", &keyed, &forged);
  save_recovery (argv[1], "tags-recorded-none", &tags, &none);
  save_recovery (argv[1], "tags-old-tail", &old, NULL);
  save_damaged (argv[1], &tags);
  save_two_attempts (argv[1], &once, &retried);

  find_group (&tags, true, false, &mark);
  save_block (argv[1], "tags-records", &tags, tags.tail);
  save_block (argv[1], "tags-copy", &tags, tags.tail + 1);
  save_block (argv[1], "tags-flush-mark", &tags, mark);
  save_block (argv[1], "full-data", &full, full.tail);
  save_block (argv[1], "keyed-tags-records", &keyed, keyed.tail);
  free (tags.image);
  free (full.image);
  free (keyed.image);
  free (old.image);
  free (once.image);
  free (retried.image);
  return EXIT_SUCCESS;
}
