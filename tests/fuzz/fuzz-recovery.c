/* Fuzz target: reading the journal back (journal_scan) and replaying it
 * (recovery_run) on a disk in memory.
 *
 * The disk is a fuzz disk (fuzz.h), dirty, with the input's journal, tags
 * and data: see recovery-input.h for the input and its fix-ups.  The
 * journal's groups are the input's, so that mutations reach the scan's
 * choices: one copy of a header damaged or both, copies of two attempts,
 * commit boundaries, a chain that ends early, flush marks before and
 * after its end, tails named newer than the superblock's.
 *
 * Checked, with a scan of the journal beside each recovery:
 *
 *  - recovery fails if and only if the scan does, or it is a read-only
 *    recovery of a full-mode journal with records in it; when it fails it
 *    writes nothing, with EUCLEAN where the scan said so;
 *  - the report adds up, and says what the scan found: head >= tail, the
 *    tail no older than the superblock's (newer_tail if newer), no more
 *    than the ring in between, next_seq >= head and above every header in
 *    the ring, the newest flush mark not after the head, the records and
 *    sectors the journal holds;
 *  - in tags and none modes, recovery writes nothing, and decides each
 *    journaled sector once, as recovery.h says: "new" keeps the tag of a
 *    record from the newest flushed one on, which accepts the data (the
 *    unwritten tag only zeroes, unless the newest flushed record has it:
 *    a trim or zero, which reads as zeroes); "old" keeps the tag at home, which
 * accepts the data, and no record of the sector is flushed; "neither" leaves a
 * tag that accepts nothing the sector holds;
 *  - in full mode, it decides each record's sectors in journal order:
 *    "new" for a trim, a flushed record, or one whose journaled data
 *    matches its tags, "old" for any other; each sector's tag is that of
 *    the last record applied, or its tag at home if none was; a sector
 *    written home verifies, and no other sector's data changes;
 *  - a read-only recovery writes nothing, and recovery writes nothing but
 *    data sectors and tags; and recovery is idempotent: run again over
 *    its own result, with its tags written home, it decides the same and
 *    changes nothing.
 */
#include <errno.h>
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
#include "recovery-input.h"

static const uint8_t mark[2] = {0xa5, 0x5a};
static const uint8_t unwritten_mark[2] = {0xa5, 0x5b};

/* The disk being built, and what its input said. */
struct scenario {
  const struct fuzz_disk *fd;
  struct superblock sb;
  uint8_t options;
  uint8_t *image;
  size_t nr_blocks; /* journal blocks placed */
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

static uint8_t *
journal_block (struct scenario *sc, uint64_t seq)
{
  return sc->image + journal_block_offset (&sc->sb, seq);
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

/* ---- building the disk ---- */

/* One header block, as journal_block_decode walks it: its records' data
 * blocks counted, and their marked tags fixed if FIX. */
struct header_walk {
  struct scenario *sc;
  uint8_t *block;
  uint64_t group;       /* where its group is placed */
  uint64_t data_blocks; /* of the records so far */
  bool fix;
};

static int
walk_record (void *opaque, uint64_t seq, const struct journal_record *rec)
{
  struct header_walk *hw = opaque;
  struct scenario *sc = hw->sc;
  uint32_t ss = sc->sb.sector_size, ts = sc->sb.tag_size;
  uint64_t data = hw->group + JOURNAL_GROUP_HEADERS + hw->data_blocks;
  /* The block is ours to change: rec->tags points into it. */
  uint8_t *tags = rec->tags ? hw->block + (rec->tags - hw->block) : NULL;

  (void)seq;
  for (uint32_t i = 0; hw->fix && tags && i < rec->count; i++) {
    uint64_t byte = (uint64_t)i * ss;
    const uint8_t *own =
        rec->kind == JREC_DATA
            ? journal_block (sc, data + byte / SB_BLOCK) + byte % SB_BLOCK
            : sector_data (sc, rec->sector + i);
    fix_tag (sc, rec->sector + i, own, tags + (size_t)i * ts);
  }
  hw->data_blocks += journal_record_data_blocks (&sc->sb, rec);
  return 0;
}

/* Walks BLOCK, a header of the group placed at GROUP: returns the data
 * blocks its records take, or -1 if it does not decode. */
static int64_t
walk_header (struct scenario *sc, uint8_t *block, uint64_t group, bool fix)
{
  struct header_walk hw = {
      .sc = sc, .block = block, .group = group, .fix = fix};

  if (journal_block_decode (&sc->sb, le64_get (block + JH_SEQ), block, NULL,
                            walk_record, &hw) != 1)
    return -1;
  return hw.data_blocks;
}

/* Makes COPY the copy of HEADER, as the journal writes it: the same but
 * for its sequence and copy number, and the tail and the commit's start
 * one block further behind. */
static void
make_copy (const struct superblock *sb, const uint8_t *header, uint8_t *copy)
{
  memcpy (copy, header, SB_BLOCK);
  le64_put (copy + JH_SEQ, le64_get (header + JH_SEQ) + 1);
  le32_put (copy + JH_COPY, 1);
  le32_put (copy + JH_FROM_TAIL, le32_get (header + JH_FROM_TAIL) + 1);
  le32_put (copy + JH_FROM_COMMIT, le32_get (header + JH_FROM_COMMIT) + 1);
  fuzz_seal_journal_block (sb, copy);
}

/* Fixes a header block (or a given copy) of the group at GROUP, placed
 * at SEQ, once its data blocks are in place. */
static void
fix_header (struct scenario *sc, uint8_t *block, uint64_t group, uint64_t seq,
            uint8_t group_options)
{
  if (!(group_options & GROUP_KEEP_SEQ))
    le64_put (block + JH_SEQ, seq);
  fuzz_seal_journal_block (&sc->sb, block);
  walk_header (sc, block, group, true);
  fuzz_seal_journal_block (&sc->sb, block);
}

/* The data blocks of the group at SEQ whose header and copy are in
 * place, sealed but not yet fixed. */
static uint64_t
group_data_blocks (struct scenario *sc, uint64_t seq, uint8_t group_options)
{
  bool fix = !(sc->options & OPT_RAW);
  int64_t n = -1;

  for (int copy = 0; n == -1 && copy < JOURNAL_GROUP_HEADERS; copy++) {
    uint8_t block[SB_BLOCK];

    memcpy (block, journal_block (sc, seq + copy), SB_BLOCK);
    if (fix && !(group_options & GROUP_KEEP_SEQ))
      le64_put (block + JH_SEQ, seq + copy);
    if (fix)
      fuzz_seal_journal_block (&sc->sb, block);
    n = walk_header (sc, block, seq, false);
  }
  return n == -1 ? GROUP_DATA (group_options) : (uint64_t)n;
}

/* Damages BLOCK, sealed: its checksum broken, or with OPT_FORGE on the
 * keyed layout its MAC, as if written without the key. */
static void
damage (const struct scenario *sc, uint8_t *block)
{
  struct superblock unkeyed = sc->sb;

  if (!(sc->options & OPT_FORGE) || sc->sb.auth == NULL) {
    block[JOURNAL_CRC_OFFSET] ^= 0xff;
    return;
  }
  block[JOURNAL_MAC_OFFSET] ^= 0xff;
  unkeyed.auth = NULL;
  fuzz_seal_journal_block (&unkeyed, block);
}

/* Places the next group of IN at SEQ; returns its blocks. */
static uint64_t
place_group (struct scenario *sc, struct fuzz_input *in, uint64_t seq)
{
  uint8_t opts = fuzz_byte (in);
  uint8_t *header = journal_block (sc, seq),
          *copy = journal_block (sc, seq + 1);
  uint64_t room = RECOVERY_MAX_BLOCKS - sc->nr_blocks - JOURNAL_GROUP_HEADERS;
  uint64_t data;

  fuzz_take (in, header, SB_BLOCK);
  if (opts & GROUP_COPY_GIVEN)
    fuzz_take (in, copy, SB_BLOCK);
  else
    memcpy (copy, header, SB_BLOCK);
  data = group_data_blocks (sc, seq, opts);
  if (data > room)
    data = room;
  for (uint64_t i = 0; i < data; i++)
    fuzz_take (in, journal_block (sc, seq + JOURNAL_GROUP_HEADERS + i),
               SB_BLOCK);
  if (!(sc->options & OPT_RAW)) {
    fix_header (sc, header, seq, seq, opts);
    if (opts & GROUP_COPY_GIVEN)
      fix_header (sc, copy, seq, seq + 1, opts);
    else
      make_copy (&sc->sb, header, copy);
    if (opts & GROUP_DAMAGE_HEADER)
      damage (sc, header);
    if (opts & GROUP_DAMAGE_COPY)
      damage (sc, copy);
  }
  return JOURNAL_GROUP_HEADERS + data;
}

/* Builds the disk the input describes into SC->image. */
static void
build (struct scenario *sc, struct fuzz_input *in)
{
  const struct superblock *sb = &sc->sb;
  uint8_t seeds[FUZZ_SECTORS], tags[FUZZ_SECTORS][HASH_MAX_TAG];
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
  while (in->size > 0 &&
         sc->nr_blocks + JOURNAL_GROUP_HEADERS <= RECOVERY_MAX_BLOCKS)
    sc->nr_blocks += place_group (sc, in, sb->journal_tail_seq + sc->nr_blocks);
}

/* ---- what recovery decided, and what the journal says ---- */

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

/* A sector before recovery, and its tag after. */
struct sector_state {
  uint8_t home[HASH_MAX_TAG]; /* its tag before */
  uint64_t data_hash;         /* of its data before */
  uint8_t tag[HASH_MAX_TAG];  /* its tag after */
  /* What the journal's records of it say (a scan after recovery). */
  uint32_t records;
  bool flushed;           /* one of them is below the newest flush mark */
  bool newest_flushed;    /* the newest of them is */
  bool flushed_unwritten; /* the newest of those has the unwritten tag */
  bool candidate;         /* TAG is one of theirs, from the newest flushed on */
  /* Full mode: the last one applied, and whether any was written home. */
  bool applied, applied_trim, written;
  uint8_t applied_tag[HASH_MAX_TAG];
};

/* A scan of the journal beside a recovery. */
struct journal_log {
  const struct scenario *sc;
  struct journal_scan js;
  uint64_t records; /* other than flush marks */
  struct sector_state s[FUZZ_SECTORS];
};

static uint64_t
sector_hash (const struct scenario *sc, struct backing *b, uint64_t sector)
{
  return XXH3_64bits (powerloss_current (b) + sb_data_offset (&sc->sb, sector),
                      sc->sb.sector_size);
}

/* Does the journaled data of data record REC match its tags? */
static bool
record_complete (const struct scenario *sc, const struct journal_record *rec)
{
  const struct superblock *sb = &sc->sb;
  uint8_t computed[HASH_MAX_TAG];

  if (rec->kind != JREC_DATA)
    return false;
  for (uint32_t i = 0; i < rec->count; i++) {
    hasher_tag (sc->fd->h, sb->uuid, rec->sector + i,
                rec->data + (size_t)i * sb->sector_size, sb->sector_size,
                computed);
    if (!hasher_tag_equal (sc->fd->h, computed, rec->tags + i * sb->tag_size))
      return false;
  }
  return true;
}

static int
log_record (void *opaque, uint64_t seq, const struct journal_record *rec)
{
  struct journal_log *lg = opaque;
  const struct scenario *sc = lg->sc;
  unsigned ts = sc->sb.tag_size;
  bool trim = rec->kind == JREC_UNWRITTEN, flushed = seq < lg->js.flushed_to;
  bool complete = !flushed && record_complete (sc, rec);
  bool apply = trim || complete || flushed;

  if (rec->kind == JREC_FLUSH)
    return 0;
  lg->records++;
  for (uint32_t i = 0; i < rec->count; i++) {
    uint64_t sector = rec->sector + i;
    struct sector_state *s = &lg->s[sector];
    uint8_t tag[HASH_MAX_TAG];
    bool match;

    if (trim)
      hasher_unwritten_tag (sc->fd->h, sc->sb.uuid, sector, tag);
    else
      memcpy (tag, rec->tags + (size_t)i * ts, ts);
    match = memcmp (tag, s->tag, ts) == 0;
    s->records++;
    s->candidate = (s->candidate && !flushed) || match;
    s->newest_flushed = flushed;
    if (flushed) {
      s->flushed = true;
      s->flushed_unwritten =
          hasher_tag_is_unwritten (sc->fd->h, sc->sb.uuid, sector, tag);
    }
    if (apply) {
      s->applied = true;
      s->applied_trim = trim;
      s->written |= complete;
      memcpy (s->applied_tag, tag, ts);
    }
  }
  return 0;
}

/* Notes each sector's state before recovery of B. */
static void
log_before (const struct scenario *sc, struct backing *b,
            struct journal_log *lg)
{
  memset (lg, 0, sizeof *lg);
  lg->sc = sc;
  for (uint64_t s = 0; s < FUZZ_SECTORS; s++) {
    memcpy (lg->s[s].home, powerloss_current (b) + sb_tag_offset (&sc->sb, s),
            sc->sb.tag_size);
    lg->s[s].data_hash = sector_hash (sc, b, s);
  }
}

/* Scans the journal of B, after recovery into TS: returns journal_scan's
 * result, with its errno in *ERR. */
static int
log_journal (const struct scenario *sc, struct backing *b, struct tagstore *ts,
             struct journal_log *lg, int *err)
{
  uint64_t written = b->bytes_written;
  int r;

  for (uint64_t s = 0; s < FUZZ_SECTORS; s++)
    fuzz_assert (tagstore_get (ts, s, 1, lg->s[s].tag) == 0);
  lg->js.record = log_record;
  lg->js.opaque = lg;
  lg->js.damage = NULL;
  errno = 0;
  r = journal_scan (b, &sc->sb, &lg->js);
  *err = errno;
  fuzz_assert (b->bytes_written == written);
  return r;
}

/* ---- the checks ---- */

/* The sequence numbers of the valid headers placed are below NEXT_SEQ. */
static void
check_next_seq (const struct scenario *sc, struct backing *b, uint64_t next_seq)
{
  const struct superblock *sb = &sc->sb;

  for (size_t i = 0; i < sc->nr_blocks; i++) {
    uint64_t place = journal_block_offset (sb, sb->journal_tail_seq + i);
    const uint8_t *block = powerloss_current (b) + place;
    uint64_t seq = le64_get (block + JH_SEQ);

    if (journal_block_offset (sb, seq) == place &&
        journal_block_decode (sb, seq, block, NULL, NULL, NULL) == 1)
      fuzz_assert (seq < next_seq);
  }
}

static void
check_report (const struct scenario *sc, struct backing *b,
              const struct recovery_report *r, const struct decisions *ds,
              const struct journal_log *lg)
{
  const struct journal_scan *js = &lg->js;
  uint64_t sectors = 0;

  fuzz_assert (r->sectors == ds->n);
  fuzz_assert (r->kept_new + r->kept_old + r->neither == r->sectors);
  fuzz_assert (r->read <= r->sectors);
  if (sc->options & OPT_READ_FLUSHED || lg->js.mode == MODE_FULL)
    fuzz_assert (r->read == r->sectors);
  fuzz_assert (r->tail == js->tail && r->head == js->head &&
               r->next_seq == js->next_seq && r->flushed_to == js->flushed_to &&
               r->newer_tail == js->newer_tail && r->repaired == js->repaired &&
               r->unflushed_lost == js->unflushed_lost);
  fuzz_assert (r->tail >= sc->sb.journal_tail_seq);
  fuzz_assert (r->newer_tail == (r->tail > sc->sb.journal_tail_seq));
  fuzz_assert (r->head >= r->tail &&
               r->head - r->tail <= sb_journal_blocks (&sc->sb));
  fuzz_assert (r->blocks == r->head - r->tail);
  fuzz_assert (r->next_seq >= r->head);
  fuzz_assert (r->flushed_to <= r->head);
  fuzz_assert (r->repaired <= r->blocks / JOURNAL_GROUP_HEADERS);
  check_next_seq (sc, b, r->next_seq);
  fuzz_assert (r->records == lg->records);
  for (uint64_t s = 0; s < FUZZ_SECTORS; s++)
    sectors += lg->s[s].records > 0;
  fuzz_assert (r->sectors == sectors);
}

/* Tags and none modes: each sector's tag now says what was decided. */
static void
check_tags (const struct scenario *sc, struct backing *b,
            const struct decisions *ds, const struct journal_log *lg)
{
  const struct superblock *sb = &sc->sb;
  uint8_t computed[HASH_MAX_TAG], *data = malloc (sb->sector_size);

  fuzz_assert (data != NULL);
  for (uint64_t s = 0; s < FUZZ_SECTORS; s++) {
    const struct sector_state *st = &lg->s[s];
    bool unwritten, accepts;

    fuzz_assert ((ds->times[s] > 0) == (st->records > 0));
    if (ds->times[s] == 0) {
      fuzz_assert (memcmp (st->tag, st->home, sb->tag_size) == 0);
      continue;
    }
    fuzz_assert (ds->times[s] == 1);
    fuzz_assert (
        backing_pread (b, data, sb->sector_size, sb_data_offset (sb, s)) == 0);
    hasher_tag (sc->fd->h, sb->uuid, s, data, sb->sector_size, computed);
    unwritten = hasher_tag_is_unwritten (sc->fd->h, sb->uuid, s, st->tag);
    accepts = unwritten || hasher_tag_equal (sc->fd->h, st->tag, computed);
    switch (ds->last[s]) {
    case RECOVERY_NEITHER:
      fuzz_assert (!accepts);
      break;
    case RECOVERY_NEW:
      fuzz_assert (st->candidate);
      if (!accepts) { /* kept unread, as flushed: it fails when read */
        fuzz_assert (!(sc->options & OPT_READ_FLUSHED) && st->newest_flushed);
        break;
      }
      if (unwritten && !all_zero (data, sb->sector_size))
        fuzz_assert (st->flushed && st->flushed_unwritten);
      break;
    case RECOVERY_OLD:
      fuzz_assert (accepts && !st->flushed);
      fuzz_assert (memcmp (st->tag, st->home, sb->tag_size) == 0);
      break;
    }
  }
  free (data);
}

/* Full mode: each journaled sector decided once, from its newest record
 * that counts (recovery.h): a trim or zero leaves it unwritten, a write
 * keeps its tag if the data now matches it (in place, written home, or
 * rewritten from the journal's copy) and fails otherwise; with none, the
 * home tag stays if it accepts the data, else the sector fails.  Data
 * changes only where a record was written home or a sector repaired. */
static void
check_replay (const struct scenario *sc, struct backing *b,
              const struct decisions *ds, const struct journal_log *lg)
{
  const struct superblock *sb = &sc->sb;
  const struct hasher *h = sc->fd->h;
  uint8_t computed[HASH_MAX_TAG];

  for (uint64_t s = 0; s < FUZZ_SECTORS; s++) {
    const struct sector_state *st = &lg->s[s];
    bool unwritten, accepts, changed = sector_hash (sc, b, s) != st->data_hash;

    fuzz_assert ((ds->times[s] > 0) == (st->records > 0));
    if (st->records == 0) {
      fuzz_assert (memcmp (st->tag, st->home, sb->tag_size) == 0 && !changed);
      continue;
    }
    fuzz_assert (ds->times[s] == 1);
    hasher_tag (h, sb->uuid, s, powerloss_current (b) + sb_data_offset (sb, s),
                sb->sector_size, computed);
    unwritten = hasher_tag_is_unwritten (h, sb->uuid, s, st->tag);
    accepts = unwritten || hasher_tag_equal (h, st->tag, computed);
    switch (ds->last[s]) {
    case RECOVERY_NEW:
      fuzz_assert (st->applied && accepts);
      if (st->applied_trim)
        fuzz_assert (unwritten);
      else
        fuzz_assert (memcmp (st->tag, st->applied_tag, sb->tag_size) == 0);
      break;
    case RECOVERY_OLD:
      fuzz_assert (!st->applied && accepts && !changed);
      fuzz_assert (memcmp (st->tag, st->home, sb->tag_size) == 0);
      break;
    case RECOVERY_NEITHER:
      fuzz_assert (!accepts);
      break;
    }
    if (changed)
      fuzz_assert (st->written ||
                   (ds->last[s] == RECOVERY_NEW && !st->applied_trim));
  }
}

/* Recovery failed, or the scan beside it did: both did, having written
 * nothing, or the recovery was of a full-mode journal, read-only. */
static void
check_failure (struct backing *b, int ret, int err, int scanned, int scan_err,
               const struct journal_log *lg)
{
  bool refused = scanned == 0 && lg->js.mode == MODE_FULL && b->readonly &&
                 lg->records > 0;

  fuzz_assert (ret == -1);
  fuzz_assert (scanned == -1 || refused);
  if ((scanned == -1 && scan_err == EUCLEAN) || refused)
    fuzz_assert (err == EUCLEAN);
}

/* Checks recovery of B into TS, which returned RET with errno ERR,
 * having written WRITTEN bytes before, LG the sectors' state before. */
static void
check_recovery (const struct scenario *sc, struct backing *b,
                struct tagstore *ts, int ret, int err, uint64_t written,
                const struct recovery_report *r, const struct decisions *ds,
                struct journal_log *lg)
{
  int scan_err, scanned = log_journal (sc, b, ts, lg, &scan_err);

  if (ret == -1 || scanned == -1)
    check_failure (b, ret, err, scanned, scan_err, lg);
  if (ret == -1 || b->readonly || lg->js.mode != MODE_FULL)
    fuzz_assert (b->bytes_written == written);
  if (ret == -1)
    return;
  check_report (sc, b, r, ds, lg);
  if (lg->js.mode == MODE_FULL)
    check_replay (sc, b, ds, lg);
  else
    check_tags (sc, b, ds, lg);
}

/* Recovers B into a new tag store and, if CHECK, checks what it decided;
 * then writes the tags home (unless B is read-only).  Returns
 * recovery_run's result. */
static int
recover (const struct scenario *sc, struct backing *b,
         struct recovery_report *r, struct decisions *ds, bool check)
{
  static struct journal_log lg;
  struct tagstore *ts = tagstore_new (b, &sc->sb, 0);
  struct tag_snapshot *snap;
  uint64_t written = b->bytes_written;
  int ret, err;

  fuzz_assert (ts != NULL);
  memset (ds, 0, sizeof *ds);
  if (check)
    log_before (sc, b, &lg);
  errno = 0;
  ret = recovery_run (b, &sc->sb, sc->fd->h, ts, sc->options & OPT_READ_FLUSHED,
                      r, note, ds);
  err = errno;
  if (check)
    check_recovery (sc, b, ts, ret, err, written, r, ds, &lg);
  if (ret == 0 && !b->readonly) {
    snap = tagstore_snapshot (ts);
    fuzz_assert (snap != NULL && tagstore_write_snapshot (ts, snap) == 0);
    tagstore_end_snapshot (ts, snap, true);
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

  /* What it decides is the same as before, which was checked. */
  fuzz_assert (recover (sc, b, &r2, &ds2, false) == 0);
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
  } r[3 + RECOVERY_MAX_BLOCKS] = {
      {0, SB_COPIES * SB_BLOCK},
      {sb_zone_offset (sb, 0), SB_BLOCK},
      {sb_data_offset (sb, 0), (uint64_t)FUZZ_SECTORS * sb->sector_size},
  };
  size_t n = 3;

  for (size_t i = 0; i < sc->nr_blocks; i++) {
    r[n].off = journal_block_offset (sb, sb->journal_tail_seq + i);
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

  sc.fd = fuzz_disk (sc.options & OPT_LAYOUT);
  ld = live_disk (sc.fd, sc.options & OPT_LAYOUT);
  sc.sb = sc.fd->sb;
  sc.image = ld->image;
  build (&sc, &in);
  copy_regions (&sc, sc.image, NULL, ld->b);
  ld->b->readonly = sc.options & OPT_READONLY;
  if (recover (&sc, ld->b, &r, &ds, true) == 0 && !ld->b->readonly)
    check_idempotent (&sc, ld->b, &r, &ds);
  ld->b->readonly = false;
  copy_regions (&sc, sc.fd->image, sc.image, ld->b);
  /* Also drops the backing's record of the writes since the last. */
  fuzz_assert (backing_sync (ld->b) == 0);
  /* Recovery wrote nowhere else. */
  fuzz_assert (image_hash (ld->b, sc.fd->size) == ld->formatted);
  return 0;
}
