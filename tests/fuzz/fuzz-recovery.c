/* Fuzz target: replaying the journal (journal_scan, recovery_run) of a
 * disk in memory.
 *
 * The disk is a fuzz disk (fuzz.h), dirty, with the input's journal, tags
 * and data.  Input, in order (zeroes past its end):
 *
 *   1 byte     options: bits 0-1 the layout, bits 2-3 the crash mode
 *              recorded (tags, full, none, tags), bit 4 a read-only
 *              backing, bit 7 no fix-ups (every byte as given)
 *   8 bytes    the journal's tail sequence number (le64)
 *   32 bytes   one per data sector: its data is that byte, repeated
 *   32 x 32    each sector's tag at home: the first tag_size bytes
 *   the rest   up to MAX_BLOCKS journal blocks, 4 KiB each, placed in
 *              the ring from the tail's position on
 *
 * Fix-ups, so that mutations reach the record parser and every decision:
 * a journal block the scan would read as a header gets its checksum made
 * right; and a tag that starts with the bytes A5 5A is replaced by the
 * tag of the data it would describe: a home tag, or one in a JREC_TAGS
 * record, by that of the sector's data on the disk (the write reached
 * it), one in a JREC_DATA record by that of its data in the journal (the
 * commit was whole); and one that starts with A5 5B by the sector's
 * unwritten tag, which on the keyed layout only the key makes.
 *
 * Checked: the report adds up; in tags and none modes each journaled
 * sector is decided once, and then its tag accepts its data if the
 * decision was new or old (the unwritten tag, for new, only if the data
 * is zeroes) and rejects it if neither; a read-only recovery writes
 * nothing, and recovery writes nothing but data sectors and tags; and
 * recovery is idempotent: run again over its own result, with its tags
 * written home, it decides the same and changes nothing.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "journal.h"
#include "le.h"
#include "powerloss.h"
#include "recovery.h"
#include "tagstore.h"
#include "fuzz.h"

#define MAX_BLOCKS 16
#define OPT_LAYOUT 0x03
#define OPT_MODE(o) ((o) >> 2 & 3)
#define OPT_READONLY 0x10
#define OPT_RAW 0x80

static const uint8_t mark[2] = {0xa5, 0x5a};
static const uint8_t unwritten_mark[2] = {0xa5, 0x5b};

/* The disk being built, and what its input said. */
struct scenario {
  const struct fuzz_disk *fd;
  struct superblock sb;
  uint8_t options;
  uint8_t *image;
  size_t nr_blocks; /* journal blocks the input gave */
};

static bool
marked (const uint8_t *tag)
{
  return memcmp (tag, mark, sizeof mark) == 0;
}

static uint8_t *
sector_data (struct scenario *sc, uint64_t sector)
{
  return sc->image + sb_data_offset (&sc->sb, sector);
}

/* Where journal block SEQ is on the disk. */
static uint64_t
journal_offset (const struct superblock *sb, uint64_t seq)
{
  return sb->journal_offset + seq % sb_journal_blocks (sb) * SB_BLOCK;
}

static uint8_t *
journal_block (struct scenario *sc, uint64_t seq)
{
  return sc->image + journal_offset (&sc->sb, seq);
}

/* Replaces TAG of SECTOR, if marked, with the tag of DATA. */
static void
fix_tag (struct scenario *sc, uint64_t sector, const uint8_t *data,
         uint8_t *tag)
{
  if (marked (tag))
    hasher_tag (sc->fd->h, sc->sb.uuid, sector, data, sc->sb.sector_size, tag);
  else if (memcmp (tag, unwritten_mark, sizeof unwritten_mark) == 0)
    hasher_unwritten_tag (sc->fd->h, sc->sb.uuid, sector, tag);
}

/* One header block's fix-ups, as journal_block_decode walks it. */
struct block_fix {
  struct scenario *sc;
  uint8_t *block;
  uint64_t data_blocks; /* of the records so far */
};

static int
fix_record (void *opaque, uint64_t seq, const struct journal_record *rec)
{
  struct block_fix *bf = opaque;
  struct scenario *sc = bf->sc;
  uint32_t ss = sc->sb.sector_size, ts = sc->sb.tag_size;
  /* The block is ours to change: rec->tags points into it. */
  uint8_t *tags = rec->tags ? bf->block + (rec->tags - bf->block) : NULL;

  for (uint32_t i = 0; tags && i < rec->count; i++) {
    uint64_t byte = (uint64_t)i * ss;
    const uint8_t *data =
        rec->kind == JREC_DATA
            ? journal_block (sc, seq + 1 + bf->data_blocks + byte / SB_BLOCK) +
                  byte % SB_BLOCK
            : sector_data (sc, rec->sector + i);
    fix_tag (sc, rec->sector + i, data, tags + (size_t)i * ts);
  }
  if (rec->kind == JREC_DATA)
    bf->data_blocks += ((uint64_t)rec->count * ss + SB_BLOCK - 1) / SB_BLOCK;
  return 0;
}

/* Fixes the header blocks the input gave, in the order a scan reads
 * them. */
static void
fix_journal (struct scenario *sc)
{
  uint64_t tail = sc->sb.journal_tail_seq, seq = tail;

  while (seq - tail < sc->nr_blocks) {
    struct block_fix bf = {.sc = sc, .block = journal_block (sc, seq)};

    fuzz_seal_journal_block (&sc->sb, bf.block);
    if (journal_block_decode (&sc->sb, seq, bf.block, NULL, fix_record, &bf) !=
        1)
      break;
    fuzz_seal_journal_block (&sc->sb, bf.block);
    seq += 1 + bf.data_blocks;
  }
}

/* Builds the disk the input describes into SC->image. */
static void
build (struct scenario *sc, struct fuzz_input *in)
{
  const struct superblock *sb = &sc->sb;
  uint8_t seeds[FUZZ_SECTORS], tags[FUZZ_SECTORS][HASH_MAX_TAG];
  uint8_t *block;
  uint8_t tail[8];

  fuzz_take (in, tail, sizeof tail);
  fuzz_take (in, seeds, sizeof seeds);
  fuzz_take (in, tags, sizeof tags);
  sc->sb.journal_tail_seq = le64_get (tail);
  sc->sb.state = SB_DIRTY;
  sc->sb.mode =
      OPT_MODE (sc->options) == 3 ? MODE_TAGS : OPT_MODE (sc->options);
  for (int i = 0; i < SB_COPIES; i++)
    sb_encode (sb, sc->image + i * SB_BLOCK);
  for (uint64_t s = 0; s < FUZZ_SECTORS; s++) {
    memset (sector_data (sc, s), seeds[s], sb->sector_size);
    if (!(sc->options & OPT_RAW))
      fix_tag (sc, s, sector_data (sc, s), tags[s]);
    memcpy (sc->image + sb_tag_offset (sb, s), tags[s], sb->tag_size);
  }
  for (sc->nr_blocks = 0; in->size > 0 && sc->nr_blocks < MAX_BLOCKS;
       sc->nr_blocks++) {
    block = journal_block (sc, sb->journal_tail_seq + sc->nr_blocks);
    fuzz_take (in, block, SB_BLOCK);
  }
  if (!(sc->options & OPT_RAW))
    fix_journal (sc);
}

/* What recovery decided, in order. */
struct decisions {
  uint64_t n, digest;
  uint32_t times[FUZZ_SECTORS];
  enum recovery_decision last[FUZZ_SECTORS];
};

static void
note (void *opaque, uint64_t sector, enum recovery_decision d)
{
  struct decisions *ds = opaque;

  fuzz_assert (sector < FUZZ_SECTORS);
  ds->n++;
  ds->digest = (ds->digest ^ (sector << 2 | d)) * 0x100000001b3ull;
  ds->times[sector]++;
  ds->last[sector] = d;
}

static void
check_report (const struct scenario *sc, const struct recovery_report *r,
              const struct decisions *ds)
{
  uint64_t tail = sc->sb.journal_tail_seq;

  fuzz_assert (r->sectors == ds->n);
  fuzz_assert (r->kept_new + r->kept_old + r->neither == r->sectors);
  /* A read-only full-mode recovery only checks the journal is empty. */
  if (sc->sb.mode == MODE_FULL && (sc->options & OPT_READONLY))
    return;
  fuzz_assert (r->head >= tail &&
               r->head - tail <= sb_journal_blocks (&sc->sb));
  fuzz_assert (r->blocks == r->head - tail);
  fuzz_assert (r->records <=
               r->blocks * (JOURNAL_PAYLOAD / JOURNAL_RECORD_HEADER));
}

/* Tags and none modes: each sector's tag now says what was decided. */
static void
check_tags (const struct scenario *sc, struct backing *b, struct tagstore *ts,
            const struct decisions *ds)
{
  const struct superblock *sb = &sc->sb;
  uint8_t tag[HASH_MAX_TAG], computed[HASH_MAX_TAG],
      *data = malloc (sb->sector_size);

  fuzz_assert (data != NULL);
  for (uint64_t s = 0; s < FUZZ_SECTORS; s++) {
    bool unwritten, accepts;

    if (ds->times[s] == 0)
      continue;
    fuzz_assert (ds->times[s] == 1);
    fuzz_assert (tagstore_get (ts, s, 1, tag) == 0);
    fuzz_assert (
        backing_pread (b, data, sb->sector_size, sb_data_offset (sb, s)) == 0);
    hasher_tag (sc->fd->h, sb->uuid, s, data, sb->sector_size, computed);
    unwritten = hasher_tag_is_unwritten (sc->fd->h, sb->uuid, s, tag);
    accepts = unwritten || hasher_tag_equal (sc->fd->h, tag, computed);
    if (ds->last[s] == RECOVERY_NEITHER)
      fuzz_assert (!accepts);
    else
      fuzz_assert (accepts);
    if (ds->last[s] == RECOVERY_NEW && unwritten)
      fuzz_assert (all_zero (data, sb->sector_size));
  }
  free (data);
}

/* Recovers B into a new tag store and checks what it decided; then
 * writes the tags home (unless B is read-only).  Returns recovery_run's
 * result. */
static int
recover (const struct scenario *sc, struct backing *b,
         struct recovery_report *r, struct decisions *ds)
{
  struct tagstore *ts = tagstore_new (b, &sc->sb, 0);
  struct tag_snapshot *snap;
  int ret;

  fuzz_assert (ts != NULL);
  memset (ds, 0, sizeof *ds);
  ret = recovery_run (b, &sc->sb, sc->fd->h, ts, r, note, ds);
  if (ret == 0) {
    check_report (sc, r, ds);
    if (sc->sb.mode != MODE_FULL)
      check_tags (sc, b, ts, ds);
    if (!b->readonly) {
      snap = tagstore_snapshot (ts);
      fuzz_assert (snap != NULL && tagstore_write_snapshot (ts, snap) == 0);
      tagstore_end_snapshot (ts, snap, true);
    }
  }
  tagstore_free (ts);
  return ret;
}

static uint64_t
image_hash (struct backing *b, uint64_t size)
{
  return XXH3_64bits (powerloss_current (b), size);
}

static void
check_idempotent (const struct scenario *sc, struct backing *b,
                  const struct recovery_report *r1, const struct decisions *ds1)
{
  uint64_t after = image_hash (b, sc->fd->size);
  struct recovery_report r2;
  struct decisions ds2;

  fuzz_assert (recover (sc, b, &r2, &ds2) == 0);
  fuzz_assert (memcmp (&r2, r1, sizeof r2) == 0);
  fuzz_assert (ds2.n == ds1->n && ds2.digest == ds1->digest);
  fuzz_assert (image_hash (b, sc->fd->size) == after);
}

/* A disk of each layout lives from one input to the next: making a new
 * one for each (1 MiB of journal and more, copied) would take most of
 * the time.  Each run changes its working image and its backing only in
 * the regions below, and puts them back as formatted after. */
struct live_disk {
  uint8_t *image; /* what build makes */
  struct backing *b;
  uint64_t formatted; /* image_hash of the disk as formatted */
};

static struct live_disk *
live_disk (const struct fuzz_disk *fd, unsigned layout)
{
  static struct live_disk disks[FUZZ_LAYOUTS];
  struct live_disk *ld = &disks[layout];

  if (ld->b == NULL) {
    ld->image = malloc (fd->size);
    ld->b = powerloss_new (fd->image, fd->size);
    fuzz_assert (ld->image != NULL && ld->b != NULL);
    memcpy (ld->image, fd->image, fd->size);
    ld->formatted = image_hash (ld->b, fd->size);
  }
  return ld;
}

/* Copies the regions a run may change from FROM to the backing B and, if
 * not NULL, to TO: the superblocks and the journal blocks (build), the
 * tag block that holds every sector's tag and the data sectors (build
 * and recovery). */
static void
copy_regions (const struct scenario *sc, const uint8_t *from, uint8_t *to,
              struct backing *b)
{
  const struct superblock *sb = &sc->sb;
  struct {
    uint64_t off, len;
  } r[3 + MAX_BLOCKS] = {
      {0, SB_COPIES * SB_BLOCK},
      {sb_zone_offset (sb, 0), SB_BLOCK},
      {sb_data_offset (sb, 0), (uint64_t)FUZZ_SECTORS * sb->sector_size},
  };
  size_t n = 3;

  for (size_t i = 0; i < sc->nr_blocks; i++) {
    r[n].off = journal_offset (sb, sb->journal_tail_seq + i);
    r[n++].len = SB_BLOCK;
  }
  for (size_t i = 0; i < n; i++) {
    if (to)
      memcpy (to + r[i].off, from + r[i].off, r[i].len);
    fuzz_assert (backing_pwrite (b, from + r[i].off, r[i].len, r[i].off, 0) ==
                 0);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct fuzz_input in = {data, size};
  struct scenario sc = {.options = fuzz_byte (&in)};
  struct live_disk *ld;
  struct recovery_report r;
  struct decisions ds;
  uint64_t written;

  sc.fd = fuzz_disk (sc.options & OPT_LAYOUT);
  ld = live_disk (sc.fd, sc.options & OPT_LAYOUT);
  sc.sb = sc.fd->sb;
  sc.image = ld->image;
  build (&sc, &in);
  copy_regions (&sc, sc.image, NULL, ld->b);
  written = ld->b->bytes_written;
  ld->b->readonly = sc.options & OPT_READONLY;
  if (recover (&sc, ld->b, &r, &ds) == 0) {
    if (ld->b->readonly)
      fuzz_assert (ld->b->bytes_written == written);
    else
      check_idempotent (&sc, ld->b, &r, &ds);
  }
  ld->b->readonly = false;
  copy_regions (&sc, sc.fd->image, sc.image, ld->b);
  /* Also drops the backing's record of the writes since the last. */
  fuzz_assert (backing_sync (ld->b) == 0);
  /* Recovery wrote nowhere else. */
  fuzz_assert (image_hash (ld->b, sc.fd->size) == ld->formatted);
  return 0;
}
