/* Recovery: see recovery.h.
 *
 * The journal is read into one array of (sector, order, tag) entries,
 * sorted by sector and then by journal order, so each journaled sector's
 * data is read and hashed once however often it was written.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "le.h"
#include "recovery.h"
#include "report.h"

struct entry {
  uint64_t sector;
  uint64_t order;
  bool flushed;              /* its record is below the newest flush mark */
  uint8_t tag[HASH_MAX_TAG]; /* the sector's unwritten tag for a trim */
};

struct collected {
  const struct superblock *sb;
  const struct hasher *h;
  const struct journal_scan *js;
  struct entry *entries;
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

  while (cap < c->n + more)
    cap *= 2;
  if (cap == c->cap)
    return 0;
  e = realloc (c->entries, cap * sizeof *e);
  if (e == NULL)
    return -1;
  c->entries = e;
  c->cap = cap;
  return 0;
}

static int
collect_record (struct collected *c, uint64_t seq,
                const struct journal_record *rec)
{
  unsigned ts = c->sb->tag_size;

  if (grow (c, rec->count) == -1) {
    ni_error_set ("recovery: out of memory for %zu journal entries", c->n);
    return -1;
  }
  for (uint32_t i = 0; i < rec->count; i++) {
    struct entry *e = &c->entries[c->n];
    e->sector = rec->sector + i;
    e->order = c->n++;
    e->flushed = seq < c->js->flushed_to;
    if (rec->kind != JREC_UNWRITTEN)
      memcpy (e->tag, rec->tags + (size_t)i * ts, ts);
    else
      hasher_unwritten_tag (c->h, c->sb->uuid, e->sector, e->tag);
  }
  c->records++;
  return 0;
}

static int
by_sector_then_order (const void *a, const void *b)
{
  const struct entry *x = a, *y = b;

  if (x->sector != y->sector)
    return x->sector < y->sector ? -1 : 1;
  return x->order < y->order ? -1 : x->order > y->order;
}

/* What decide_sector knows of the sector it decides. */
struct sector_seen {
  const struct superblock *sb;
  const struct hasher *h;
  uint64_t sector;
  uint8_t computed[HASH_MAX_TAG]; /* the tag of its data */
  bool zero;                      /* its data is all zeroes */
};

static bool
is_unwritten (const struct sector_seen *s, const uint8_t *tag)
{
  return hasher_tag_is_unwritten (s->h, s->sb->uuid, s->sector, tag);
}

/* Does candidate TAG accept the sector? */
static bool
candidate_matches (const struct sector_seen *s, const uint8_t *tag)
{
  if (is_unwritten (s, tag))
    return s->zero;
  return hasher_tag_equal (s->h, tag, s->computed);
}

/* Makes a sector fail verification until it is rewritten: a tag one bit
 * off the data's own cannot match the data and is never the unwritten
 * tag.  Its home tag may not do that: it may be the unwritten tag, which
 * reads as zeroes, or the tag of an older version the data still holds. */
static int
poison_sector (struct tagstore *ts, const struct sector_seen *s)
{
  unsigned tag_size = s->sb->tag_size;
  uint8_t poison[HASH_MAX_TAG];

  memcpy (poison, s->computed, tag_size);
  poison[tag_size - 1] ^= 1;
  if (is_unwritten (s, poison))
    poison[0] ^= 1;
  return tagstore_set (ts, s->sector, 1, poison);
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

/* Decides S when no candidate from the newest flushed record on accepts
 * its data (recovery.h): HOME is its tag at home, FLUSHED the newest
 * flushed record or NULL. */
static enum recovery_decision
decide_unmatched (const struct sector_seen *s, const uint8_t *home,
                  const struct entry *flushed)
{
  if (flushed)
    return is_unwritten (s, flushed->tag) ? RECOVERY_NEW : RECOVERY_NEITHER;
  if (is_unwritten (s, home) || hasher_tag_equal (s->h, home, s->computed))
    return RECOVERY_OLD;
  return RECOVERY_NEITHER;
}

/* Decides one sector whose journal entries are E[0..N), oldest first. */
static int
decide_sector (struct backing *b, const struct superblock *sb,
               const struct hasher *h, struct tagstore *ts,
               const struct entry *e, size_t n, uint8_t *data,
               enum recovery_decision *d)
{
  struct sector_seen s = {.sb = sb, .h = h, .sector = e[0].sector};
  size_t from = newest_flushed (e, n);
  const struct entry *flushed = from < n ? &e[from] : NULL;
  uint8_t home[HASH_MAX_TAG];

  if (backing_pread (b, data, sb->sector_size, sb_data_offset (sb, s.sector)) ==
          -1 ||
      tagstore_get (ts, s.sector, 1, home) == -1) {
    ni_error_set ("%s: recovery: reading sector %" PRIu64 ": %m", b->name,
                  s.sector);
    return -1;
  }
  hasher_tag (h, sb->uuid, s.sector, data, sb->sector_size, s.computed);
  s.zero = all_zero (data, sb->sector_size);
  for (size_t i = n; i-- > (flushed ? from : 0);)
    if (candidate_matches (&s, e[i].tag)) {
      *d = RECOVERY_NEW;
      return tagstore_set (ts, s.sector, 1, e[i].tag);
    }
  *d = decide_unmatched (&s, home, flushed);
  if (*d == RECOVERY_NEW) /* a flushed trim or zero */
    return tagstore_set (ts, s.sector, 1, flushed->tag);
  return *d == RECOVERY_NEITHER ? poison_sector (ts, &s) : 0;
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

static int
decide_all (struct backing *b, const struct superblock *sb,
            const struct hasher *h, struct tagstore *ts, struct collected *c,
            struct recovery_report *report, recovery_sector_fn fn, void *opaque)
{
  uint8_t *data = malloc (sb->sector_size);

  if (data == NULL)
    return -1;
  if (c->n > 0) /* an empty journal has no array: qsort wants one */
    qsort (c->entries, c->n, sizeof *c->entries, by_sector_then_order);
  for (size_t i = 0, j; i < c->n; i = j) {
    enum recovery_decision d;

    for (j = i + 1; j < c->n && c->entries[j].sector == c->entries[i].sector;
         j++)
      ;
    if (decide_sector (b, sb, h, ts, &c->entries[i], j - i, data, &d) == -1) {
      free (data);
      return -1;
    }
    report->sectors++;
    count_decision (report, d);
    if (d == RECOVERY_NEITHER)
      ni_log (NI_LOG_WARNING,
              "%s: sector %" PRIu64 ": recovery: its data is none of the "
              "versions it may hold (a write torn by the crash, damage, or "
              "a flushed write the disk lost); it fails verification until "
              "it is rewritten",
              b->name, c->entries[i].sector);
    if (fn)
      fn (opaque, c->entries[i].sector, d);
  }
  free (data);
  return 0;
}

/* ---- the "full" crash mode: replay the journal in order ---- */

struct replay {
  struct backing *b;
  const struct superblock *sb;
  const struct hasher *h;
  struct tagstore *ts;
  struct recovery_report *report;
  recovery_sector_fn fn;
  void *opaque;
};

/* True if REC carries data and every sector's journaled data matches its
 * journaled tag: the whole record reached the journal and is intact. */
static bool
record_complete (const struct replay *rp, const struct journal_record *rec)
{
  const struct superblock *sb = rp->sb;
  uint8_t computed[HASH_MAX_TAG];

  if (rec->kind != JREC_DATA)
    return false;
  for (uint32_t i = 0; i < rec->count; i++) {
    hasher_tag (rp->h, sb->uuid, rec->sector + i,
                rec->data + (size_t)i * sb->sector_size, sb->sector_size,
                computed);
    if (!hasher_tag_equal (rp->h, computed, rec->tags + i * sb->tag_size))
      return false;
  }
  return true;
}

static int
write_home (const struct replay *rp, const struct journal_record *rec)
{
  const struct superblock *sb = rp->sb;

  for (uint32_t i = 0; i < rec->count; i++)
    if (backing_pwrite (rp->b, rec->data + (size_t)i * sb->sector_size,
                        sb->sector_size, sb_data_offset (sb, rec->sector + i),
                        0) == -1) {
      ni_error_set ("%s: recovery: writing sector %" PRIu64 ": %m", rp->b->name,
                    rec->sector + i);
      return -1;
    }
  return 0;
}

/* Replays one record (recovery.h): FLUSHED if its block is below the
 * newest flush mark.  A flushed record's data is in place already, and is
 * not written again: a later flushed record whose journaled data is
 * damaged keeps only its tags, and must find its own data there, not an
 * earlier record's written back over it. */
static int
replay_record (struct replay *rp, bool flushed,
               const struct journal_record *rec)
{
  bool complete = !flushed && record_complete (rp, rec);
  bool apply = rec->kind == JREC_UNWRITTEN || complete || flushed;
  enum recovery_decision d = apply ? RECOVERY_NEW : RECOVERY_OLD;

  rp->report->records++;
  if (complete && write_home (rp, rec) == -1)
    return -1;
  if (apply &&
      (rec->kind == JREC_UNWRITTEN
           ? tagstore_set_unwritten (rp->ts, rp->h, rec->sector, rec->count)
           : tagstore_set (rp->ts, rec->sector, rec->count, rec->tags)) == -1)
    return -1;
  for (uint32_t i = 0; i < rec->count; i++) {
    rp->report->sectors++;
    count_decision (rp->report, d);
    if (rp->fn)
      rp->fn (rp->opaque, rec->sector + i, d);
  }
  return 0;
}

/* Everything recovery_run needs while the journal is scanned. */
struct run {
  struct journal_scan js;
  struct collected c; /* tags mode */
  struct replay rp;   /* full mode */
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

/* The journal's records, as the scan finds them: collected for deciding
 * in tags mode, replayed in order in full mode. */
static int
take_record (void *opaque, uint64_t seq, const struct journal_record *rec)
{
  struct run *run = opaque;

  if (rec->kind == JREC_FLUSH)
    return 0;
  if (run->js.mode == MODE_FULL && run->rp.b->readonly)
    return refuse_full_readonly (run->rp.b);
  if (run->js.mode == MODE_FULL)
    return replay_record (&run->rp, seq < run->js.flushed_to, rec);
  run->c.records++;
  return collect_record (&run->c, seq, rec);
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
              const struct hasher *h, struct tagstore *ts,
              struct recovery_report *report, recovery_sector_fn fn,
              void *opaque)
{
  struct run run = {.c = {.sb = sb, .h = h, .js = &run.js},
                    .rp = {b, sb, h, ts, report, fn, opaque}};
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
    if (run.js.mode != MODE_FULL) {
      report->records = run.c.records;
      r = decide_all (b, sb, h, ts, &run.c, report, fn, opaque);
    }
  }
  free (run.c.entries);
  return r;
}
