/* Recovery: see recovery.h.
 *
 * The journal is read into one array of entries, one for each sector of
 * each record (its sector, tag, whether it is flushed), in journal order,
 * then sorted by sector (sort.h: stably, so a sector's entries stay in
 * journal order), so each journaled sector is decided once however
 * often it was written.  In full mode, a record not flushed whose data
 * the journal holds whole is written home as the scan meets it, in
 * journal order, before anything is decided; a flushed record's data is
 * in place already.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "le.h"
#include "recovery.h"
#include "report.h"
#include "sort.h"

/* A full journal holds a million entries or more: they are kept small,
 * their tags apart (the tag of entries[i] at tags[i * tag_size]), so that
 * an entry is 24 bytes and the open's memory stays in bounds. */
struct entry {
  uint64_t sector;
  /* Full mode: where the journal holds this sector's data (0: nowhere). */
  uint64_t journaled_at;
  bool flushed; /* its record is below the newest flush mark */
  /* Full mode: its record counts (a trim or zero, flushed, or held whole
   * by the journal); one that does not is skipped whole. */
  bool applies;
};

struct collected {
  const struct superblock *sb;
  const struct hasher *h;
  const struct journal_scan *js;
  struct entry *entries;
  uint8_t *tags; /* an entry's tag; a trim's is the unwritten tag */
  size_t n, cap;
  uint64_t records;
};

const char *
recovery_decision_name (enum recovery_decision d)
{
  switch (d) {
  case RECOVERY_NEW:
    return "new";
  case RECOVERY_OLD:
    return "old";
  case RECOVERY_NEITHER:
    return "neither";
  }
  return "?";
}

static int
grow (struct collected *c, size_t more)
{
  size_t cap = c->cap ? c->cap : 1024;
  struct entry *e;
  uint8_t *tags;

  while (cap < c->n + more)
    cap *= 2;
  if (cap == c->cap)
    return 0;
  e = realloc (c->entries, cap * sizeof *e);
  if (e == NULL)
    return -1;
  c->entries = e;
  tags = realloc (c->tags, cap * c->sb->tag_size);
  if (tags == NULL)
    return -1;
  c->tags = tags;
  c->cap = cap;
  return 0;
}

/* Byte offset on the disk of the journaled data of sector I of REC. */
static uint64_t
journaled_at (const struct superblock *sb, const struct journal_record *rec,
              uint32_t i)
{
  uint64_t byte = (uint64_t)i * sb->sector_size;

  return journal_block_offset (sb, rec->data_seq + byte / SB_BLOCK) +
         byte % SB_BLOCK;
}

/* Adds the entries of REC, from the block with sequence SEQ; APPLIES says
 * whether it counts (full mode). */
static int
collect_record (struct collected *c, uint64_t seq,
                const struct journal_record *rec, bool applies)
{
  unsigned ts = c->sb->tag_size;

  if (grow (c, rec->count) == -1) {
    ni_error_set ("recovery: out of memory for %zu journal entries", c->n);
    return -1;
  }
  for (uint32_t i = 0; i < rec->count; i++) {
    struct entry *e = &c->entries[c->n];
    uint8_t *tag = c->tags + c->n * ts;

    e->sector = rec->sector + i;
    c->n++;
    e->flushed = seq < c->js->flushed_to;
    e->applies = applies;
    e->journaled_at = rec->kind == JREC_DATA ? journaled_at (c->sb, rec, i) : 0;
    if (rec->kind != JREC_UNWRITTEN)
      memcpy (tag, rec->tags + (size_t)i * ts, ts);
    else
      hasher_unwritten_tag (c->h, c->sb->uuid, e->sector, tag);
  }
  c->records++;
  return 0;
}

/* What deciding a sector needs, and what it knows of the sector. */
struct sector_seen {
  struct backing *b;
  const struct superblock *sb;
  const struct hasher *h;
  struct tagstore *ts;
  const struct entry *entries; /* collected.entries, once sorted */
  const uint8_t *tags;         /* and their tags */
  uint64_t sector;
  uint8_t *data;                  /* its data, sector_size bytes */
  uint8_t computed[HASH_MAX_TAG]; /* the tag of its data */
  uint8_t home[HASH_MAX_TAG];     /* its tag at home */
  bool zero;                      /* its data is all zeroes */
};

/* E's tag. */
static const uint8_t *
tag_of (const struct sector_seen *s, const struct entry *e)
{
  return s->tags + (size_t)(e - s->entries) * s->sb->tag_size;
}

static bool
is_unwritten (const struct sector_seen *s, const uint8_t *tag)
{
  return hasher_tag_is_unwritten (s->h, s->sb->uuid, s->sector, tag);
}

/* Reads S's data and its tag at home, and hashes the data. */
static int
look_at_sector (struct sector_seen *s)
{
  const struct superblock *sb = s->sb;

  if (backing_pread (s->b, s->data, sb->sector_size,
                     sb_data_offset (sb, s->sector)) == -1 ||
      tagstore_get (s->ts, s->sector, 1, s->home) == -1) {
    ni_error_set ("%s: recovery: reading sector %" PRIu64 ": %m", s->b->name,
                  s->sector);
    return -1;
  }
  hasher_tag (s->h, sb->uuid, s->sector, s->data, sb->sector_size, s->computed);
  s->zero = all_zero (s->data, sb->sector_size);
  return 0;
}

/* Does candidate TAG accept the sector? */
static bool
candidate_matches (const struct sector_seen *s, const uint8_t *tag)
{
  if (is_unwritten (s, tag))
    return s->zero;
  return hasher_tag_equal (s->h, tag, s->computed);
}

/* Does the tag at home accept the sector as its last flushed contents?
 * The unwritten tag accepts any data: a never-written sector of a block
 * device holds whatever it held, and reads as zeroes. */
static bool
home_accepts (const struct sector_seen *s)
{
  return is_unwritten (s, s->home) ||
         hasher_tag_equal (s->h, s->home, s->computed);
}

/* Makes a sector fail verification until it is rewritten: a tag one bit
 * off the data's own cannot match the data and is never the unwritten
 * tag.  Its home tag may not do that: it may be the unwritten tag, which
 * reads as zeroes, or the tag of an older version the data still holds. */
static int
poison_sector (const struct sector_seen *s)
{
  unsigned tag_size = s->sb->tag_size;
  uint8_t poison[HASH_MAX_TAG];

  memcpy (poison, s->computed, tag_size);
  poison[tag_size - 1] ^= 1;
  if (is_unwritten (s, poison))
    poison[0] ^= 1;
  return tagstore_set (s->ts, s->sector, 1, poison);
}

/* Ends a decision D: NEW keeps TAG, NEITHER poisons, OLD keeps home. */
static int
settle (const struct sector_seen *s, enum recovery_decision d,
        const uint8_t *tag)
{
  if (d == RECOVERY_NEW)
    return tagstore_set (s->ts, s->sector, 1, tag);
  return d == RECOVERY_NEITHER ? poison_sector (s) : 0;
}

/* The newest of E[0..N) that is flushed, or N if none is. */
static size_t
newest_flushed (const struct entry *e, size_t n)
{
  for (size_t i = n; i-- > 0;)
    if (e[i].flushed)
      return i;
  return n;
}

/* Tags mode: decides S, whose entries are E[0..N), oldest first
 * (recovery.h). */
static int
decide_tags_sector (struct sector_seen *s, const struct entry *e, size_t n,
                    enum recovery_decision *d)
{
  size_t from = newest_flushed (e, n);
  const struct entry *flushed = from < n ? &e[from] : NULL;

  for (size_t i = n; i-- > (flushed ? from : 0);)
    if (candidate_matches (s, tag_of (s, &e[i]))) {
      *d = RECOVERY_NEW;
      return settle (s, *d, tag_of (s, &e[i]));
    }
  if (flushed) /* a flushed trim or zero reads as zeroes, as it did */
    *d =
        is_unwritten (s, tag_of (s, flushed)) ? RECOVERY_NEW : RECOVERY_NEITHER;
  else
    *d = home_accepts (s) ? RECOVERY_OLD : RECOVERY_NEITHER;
  return settle (s, *d, flushed ? tag_of (s, flushed) : NULL);
}

/* Full mode: writes home S's journaled data at OFFSET if it matches TAG,
 * its data in place having been damaged since it was flushed.  1 if it
 * did, 0 if the journal's copy does not match either. */
static int
repair_from_journal (struct sector_seen *s, uint64_t offset, const uint8_t *tag)
{
  const struct superblock *sb = s->sb;
  uint64_t home = sb_data_offset (sb, s->sector);
  uint8_t computed[HASH_MAX_TAG];

  if (backing_pread (s->b, s->data, sb->sector_size, offset) == -1)
    goto failed;
  hasher_tag (s->h, sb->uuid, s->sector, s->data, sb->sector_size, computed);
  if (!hasher_tag_equal (s->h, computed, tag))
    return 0;
  if (backing_pwrite (s->b, s->data, sb->sector_size, home, 0) == -1)
    goto failed;
  ni_log (NI_LOG_WARNING,
          "%s: sector %" PRIu64 ": recovery: its data did not match its "
          "flushed write; rewritten from the journal's copy",
          s->b->name, s->sector);
  return 1;

failed:
  ni_error_set ("%s: recovery: repairing sector %" PRIu64 ": %m", s->b->name,
                s->sector);
  return -1;
}

/* The newest of E[0..N) that counts, or NULL if none does. */
static const struct entry *
newest_applying (const struct entry *e, size_t n)
{
  for (size_t i = n; i-- > 0;)
    if (e[i].applies)
      return &e[i];
  return NULL;
}

/* Full mode: decides S, whose entries are E[0..N), oldest first.  The
 * newest record that counts gives the sector's contents: written home by
 * the scan, in place already if flushed, or a trim or zero.  One whose
 * data is in place but damaged is rewritten from the journal's copy if
 * that is whole; with none that counts, the sector is as it was. */
static int
decide_full_sector (struct sector_seen *s, const struct entry *e, size_t n,
                    enum recovery_decision *d)
{
  const struct entry *last = newest_applying (e, n);
  const uint8_t *tag = last ? tag_of (s, last) : NULL;
  int r = 0;

  if (last == NULL)
    *d = home_accepts (s) ? RECOVERY_OLD : RECOVERY_NEITHER;
  else if (is_unwritten (s, tag) || candidate_matches (s, tag))
    *d = RECOVERY_NEW;
  else if (last->journaled_at &&
           (r = repair_from_journal (s, last->journaled_at, tag)) == 1)
    *d = RECOVERY_NEW;
  else
    *d = RECOVERY_NEITHER;
  if (r == -1)
    return -1;
  return settle (s, *d, tag);
}

static void
count_decision (struct recovery_report *report, enum recovery_decision d)
{
  if (d == RECOVERY_NEW)
    report->kept_new++;
  else if (d == RECOVERY_OLD)
    report->kept_old++;
  else
    report->neither++;
}

/* Distinct sectors whose data recovery asks for before it reads it: the
 * reads are random, one sector each, and one at a time they would leave
 * all but one of a disk's queue idle (4.3 s against 3.0 s, 32,768
 * sectors read after a crash with a full journal). */
#define READ_AHEAD_SECTORS 128

/* How decide_all goes through the entries of C, sorted by sector. */
struct reading {
  const struct collected *c;
  uint32_t mode; /* enum sb_mode */
  bool read_flushed;
  size_t ahead;  /* the first entry whose data is not asked for */
  size_t asked;  /* sectors asked for and not yet read */
  uint64_t read; /* sectors read */
};

/* The index of the first entry of C after I's sector. */
static size_t
next_sector (const struct collected *c, size_t i)
{
  size_t j = i + 1;

  while (j < c->n && c->entries[j].sector == c->entries[i].sector)
    j++;
  return j;
}

/* Does deciding the sector whose entries end before J read its data?
 * Not in tags mode when its newest record was flushed (unless
 * read_flushed): its data is known to be in place, and its tag is kept. */
static bool
must_read (const struct reading *rd, size_t j)
{
  return rd->mode == MODE_FULL || rd->read_flushed ||
         !rd->c->entries[j - 1].flushed;
}

/* Asks for the data of the sectors to be read from rd->ahead on, until
 * READ_AHEAD_SECTORS are asked for and not yet read. */
static void
read_ahead (const struct sector_seen *s, struct reading *rd)
{
  while (rd->ahead < rd->c->n && rd->asked < READ_AHEAD_SECTORS) {
    size_t next = next_sector (rd->c, rd->ahead);

    if (must_read (rd, next)) {
      backing_prefetch (
          s->b, sb_data_offset (s->sb, rd->c->entries[rd->ahead].sector),
          s->sb->sector_size);
      rd->asked++;
    }
    rd->ahead = next;
  }
}

/* Decides S, the sector of the entries [I, J). */
static int
decide_sector (struct sector_seen *s, struct reading *rd, size_t i, size_t j,
               enum recovery_decision *d)
{
  const struct entry *e = &rd->c->entries[i];

  if (!must_read (rd, j)) {
    /* In place since its flush, as any sector of the last checkpoint
     * is: damaged since, it fails when read. */
    *d = RECOVERY_NEW;
    return tagstore_set (s->ts, s->sector, 1, tag_of (s, &e[j - i - 1]));
  }
  read_ahead (s, rd);
  rd->asked--;
  if (look_at_sector (s) == -1)
    return -1;
  rd->read++;
  return rd->mode == MODE_FULL ? decide_full_sector (s, e, j - i, d)
                               : decide_tags_sector (s, e, j - i, d);
}

/* Sorts C's entries by sector, and those of a sector by journal order:
 * their keys, then the entries and their tags, so that deciding reads
 * both in order (a tag looked up at random costs a cache miss). */
static int
sort_entries (struct collected *c)
{
  size_t ts = c->sb->tag_size;
  struct sort_pair *pairs = malloc ((c->n + 1) * sizeof *pairs);
  struct sort_pair *spare = malloc ((c->n + 1) * sizeof *spare);
  struct entry *e = NULL;
  uint8_t *tags = NULL;

  if (pairs == NULL || spare == NULL)
    goto no_memory;
  for (size_t i = 0; i < c->n; i++)
    pairs[i] = (struct sort_pair){c->entries[i].sector, i};
  if (sort_pairs (pairs, spare, c->n) == spare) {
    struct sort_pair *t = pairs;
    pairs = spare;
    spare = t;
  }
  /* Freed before the copies are made: the peak of the open's memory. */
  free (spare);
  spare = NULL;
  e = malloc ((c->n + 1) * sizeof *e);
  tags = malloc ((c->n + 1) * ts);
  if (e == NULL || tags == NULL)
    goto no_memory;
  for (size_t i = 0; i < c->n; i++) {
    e[i] = c->entries[pairs[i].value];
    memcpy (tags + i * ts, c->tags + pairs[i].value * ts, ts);
  }
  free (pairs);
  free (c->entries);
  free (c->tags);
  c->entries = e;
  c->tags = tags;
  c->cap = c->n + 1;
  return 0;

no_memory:
  free (pairs);
  free (spare);
  free (e);
  free (tags);
  return -1;
}

/* Decides every journaled sector, in MODE (enum sb_mode). */
static int
decide_all (struct sector_seen *s, uint32_t mode, bool read_flushed,
            struct collected *c, struct recovery_report *report,
            recovery_sector_fn fn, void *opaque)
{
  struct reading rd = {.c = c, .mode = mode, .read_flushed = read_flushed};

  if (sort_entries (c) == -1) {
    ni_error_set ("%s: recovery: out of memory for %zu journal entries",
                  s->b->name, c->n);
    return -1;
  }
  s->entries = c->entries;
  s->tags = c->tags;
  for (size_t i = 0, j; i < c->n; i = j) {
    enum recovery_decision d;

    j = next_sector (c, i);
    s->sector = c->entries[i].sector;
    if (decide_sector (s, &rd, i, j, &d) == -1)
      return -1;
    report->sectors++;
    count_decision (report, d);
    if (d == RECOVERY_NEITHER)
      ni_log (NI_LOG_WARNING,
              "%s: sector %" PRIu64 ": recovery: its data is none of the "
              "versions it may hold (a write torn by the crash, damage, or "
              "a flushed write the disk lost); it fails verification until "
              "it is rewritten",
              s->b->name, s->sector);
    if (fn)
      fn (opaque, s->sector, d);
  }
  report->read = rd.read;
  return 0;
}

/* ---- reading the journal ---- */

/* Full mode: true if every sector of the data record REC matches its
 * tag: the whole record reached the journal and is intact. */
static bool
record_complete (const struct superblock *sb, const struct hasher *h,
                 const struct journal_record *rec)
{
  uint8_t computed[HASH_MAX_TAG];

  if (rec->kind != JREC_DATA)
    return false;
  for (uint32_t i = 0; i < rec->count; i++) {
    hasher_tag (h, sb->uuid, rec->sector + i,
                rec->data + (size_t)i * sb->sector_size, sb->sector_size,
                computed);
    if (!hasher_tag_equal (h, computed, rec->tags + i * sb->tag_size))
      return false;
  }
  return true;
}

static int
write_home (struct backing *b, const struct superblock *sb,
            const struct journal_record *rec)
{
  for (uint32_t i = 0; i < rec->count; i++)
    if (backing_pwrite (b, rec->data + (size_t)i * sb->sector_size,
                        sb->sector_size, sb_data_offset (sb, rec->sector + i),
                        0) == -1) {
      ni_error_set ("%s: recovery: writing sector %" PRIu64 ": %m", b->name,
                    rec->sector + i);
      return -1;
    }
  return 0;
}

/* Everything recovery_run needs while the journal is scanned. */
struct run {
  struct backing *b;
  struct journal_scan js;
  struct collected c;
};

/* A dirty full-mode disk opened read-only: its journal must be written
 * home, which a read-only opening cannot. */
static int
refuse_full_readonly (struct backing *b)
{
  ni_error_set ("%s was served in full mode and not closed cleanly: its "
                "journal must be written home first; run "
                "nbd-integrity recover %s",
                b->name, b->name);
  errno = EUCLEAN;
  return -1;
}

/* Full mode: a record not flushed counts only if the journal holds it
 * whole (a commit cut short, never acknowledged, or damaged since, is
 * skipped whole: every write of one record is atomic), and is then
 * written home, in journal order. */
static int
replay_record (struct run *run, uint64_t seq, const struct journal_record *rec)
{
  const struct collected *c = &run->c;
  bool flushed = seq < run->js.flushed_to;
  bool whole = !flushed && record_complete (c->sb, c->h, rec);

  if (whole && write_home (run->b, c->sb, rec) == -1)
    return -1;
  return collect_record (&run->c, seq, rec,
                         rec->kind == JREC_UNWRITTEN || flushed || whole);
}

/* The journal's records, as the scan finds them. */
static int
take_record (void *opaque, uint64_t seq, const struct journal_record *rec)
{
  struct run *run = opaque;

  if (rec->kind == JREC_FLUSH)
    return 0;
  if (run->js.mode != MODE_FULL)
    return collect_record (&run->c, seq, rec, true);
  if (run->b->readonly)
    return refuse_full_readonly (run->b);
  return replay_record (run, seq, rec);
}

static void
report_scan (struct recovery_report *report, const struct journal_scan *js)
{
  report->tail = js->tail;
  report->head = js->head;
  report->next_seq = js->next_seq;
  report->blocks = js->head - js->tail;
  report->flushed_to = js->flushed_to;
  report->newer_tail = js->newer_tail;
  report->repaired = js->repaired;
  report->first_repaired = js->first_repaired;
  report->unflushed_lost = js->unflushed_lost;
}

int
recovery_run (struct backing *b, const struct superblock *sb,
              const struct hasher *h, struct tagstore *ts, bool read_flushed,
              struct recovery_report *report, recovery_sector_fn fn,
              void *opaque)
{
  struct run run = {.b = b, .c = {.sb = sb, .h = h, .js = &run.js}};
  struct sector_seen s = {.b = b, .sb = sb, .h = h, .ts = ts};
  int r;

  memset (report, 0, sizeof *report);
  if (sb_keyed (sb) && sb->auth == NULL) {
    /* Unauthenticated, a forged journal block would be replayed. */
    ni_error_set ("%s: recovery of a keyed disk needs its superblock "
                  "authenticated first",
                  b->name);
    errno = EPERM;
    return -1;
  }
  if (sb->mode == MODE_NONE && sb->state == SB_DIRTY)
    ni_log (NI_LOG_WARNING,
            "%s was served with mode=none and not closed cleanly: sectors "
            "written after its last flush may fail verification "
            "(nbd-integrity verify lists them)",
            b->name);
  run.js.record = take_record;
  run.js.opaque = &run;
  r = journal_scan (b, sb, &run.js);
  if (r == 0) {
    report_scan (report, &run.js);
    report->records = run.c.records;
    s.data = malloc (sb->sector_size);
    if (s.data == NULL)
      ni_error_set ("%s: recovery: cannot allocate a sector buffer: %m",
                    b->name);
    r = s.data ? decide_all (&s, run.js.mode, read_flushed, &run.c, report, fn,
                             opaque)
               : -1;
    free (s.data);
  }
  free (run.c.entries);
  free (run.c.tags);
  return r;
}
