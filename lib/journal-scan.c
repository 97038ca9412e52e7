/* Reading the journal back: the survey of the whole ring, the chain of
 * groups from the tail, and what its end means (the rules are the notes
 * in journal-format.h).  Recovery, the tool's check and dump, and the
 * fuzzers use it. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal-format.h"
#include "le.h"
#include "report.h"

/* Blocks the survey reads at a time. */
#define SURVEY_CHUNK 256

struct found {
  uint64_t seq, tail, commit, flushed_to;
  uint32_t mode;
};

struct survey {
  struct found *found;
  size_t n;
  uint64_t max_seq, max_tail;
  bool any;
};

static int
note_mark (void *opaque, uint64_t seq, const struct journal_record *rec)
{
  struct found *f = opaque;

  (void)seq;
  if (rec->kind == JREC_FLUSH && rec->sector > f->flushed_to)
    f->flushed_to = rec->sector;
  return 0;
}

static int
read_blocks (struct backing *b, const struct superblock *sb, uint64_t pos,
             uint64_t count, uint8_t *buf)
{
  if (backing_pread (b, buf, count * SB_BLOCK,
                     sb->journal_offset + pos * SB_BLOCK) == 0)
    return 0;
  ni_error_set ("%s: reading journal blocks at ring position %" PRIu64 ": %m",
                b->name, pos);
  return -1;
}

/* Notes the block at ring position POS, if it is a valid header. */
static int
survey_block (const struct superblock *sb, uint64_t pos, const uint8_t *block,
              struct survey *sv)
{
  uint64_t seq = le64_get (block + JH_SEQ);
  struct found f = {.seq = seq};
  struct journal_block_info info;
  int r;

  if (seq % sb_journal_blocks (sb) != pos)
    return 0;
  r = journal_block_decode (sb, seq, block, &info, note_mark, &f);
  if (r != 1)
    return r;
  f.tail = info.tail;
  f.commit = info.commit;
  f.mode = info.mode;
  sv->found[sv->n++] = f;
  if (!sv->any || seq > sv->max_seq)
    sv->max_seq = seq;
  if (!sv->any || f.tail > sv->max_tail)
    sv->max_tail = f.tail;
  sv->any = true;
  return 0;
}

static int
survey_ring (struct backing *b, const struct superblock *sb, struct survey *sv)
{
  uint64_t n = sb_journal_blocks (sb);
  uint8_t *buf = malloc (SURVEY_CHUNK * SB_BLOCK);
  int r = 0;

  sv->found = malloc (n * sizeof *sv->found);
  if (buf == NULL || sv->found == NULL) {
    ni_error_set ("%s: out of memory to read the journal", b->name);
    r = -1;
  }
  for (uint64_t pos = 0; r == 0 && pos < n; pos += SURVEY_CHUNK) {
    uint64_t count = n - pos < SURVEY_CHUNK ? n - pos : SURVEY_CHUNK;
    r = read_blocks (b, sb, pos, count, buf);
    for (uint64_t i = 0; r == 0 && i < count; i++)
      r = survey_block (sb, pos + i, buf + i * SB_BLOCK, sv);
  }
  free (buf);
  if (r == -1)
    ni_error_prefix (b->name);
  return r;
}

/* What the survey says of the live journal from JS->tail on. */
static void
survey_live (const struct survey *sv, struct journal_scan *js)
{
  uint64_t newest = 0;
  bool any = false;

  for (size_t i = 0; i < sv->n; i++) {
    const struct found *f = &sv->found[i];
    if (f->seq < js->tail)
      continue;
    if (f->flushed_to > js->flushed_to)
      js->flushed_to = f->flushed_to;
    if (!any || f->seq > newest) {
      newest = f->seq;
      js->mode = f->mode;
      any = true;
    }
  }
}

/* ---- the chain of groups from the tail ---- */

/* One copy of a group's header, and its records, as the chain gathers
 * them: their tags point into BLOCK. */
struct group {
  uint8_t block[SB_BLOCK];
  struct journal_record recs[JOURNAL_PAYLOAD / JOURNAL_RECORD_HEADER];
  size_t n;
  uint64_t data_blocks;
  const struct superblock *sb;
  struct journal_block_info info;
  bool repaired; /* one of the two copies was damaged */
};

static int
gather (void *opaque, uint64_t seq, const struct journal_record *rec)
{
  struct group *g = opaque;

  (void)seq;
  g->recs[g->n++] = *rec;
  g->data_blocks += journal_record_data_blocks (g->sb, rec);
  return 0;
}

static int
read_block (struct backing *b, const struct superblock *sb, uint64_t seq,
            uint8_t *block)
{
  if (backing_pread (b, block, SB_BLOCK, journal_block_offset (sb, seq)) == 0)
    return 0;
  ni_error_set ("%s: reading journal block %" PRIu64 ": %m", b->name, seq);
  return -1;
}

/* Decodes copy COPY of the group at SEQ, read into G->block: 1 valid, 0
 * not, -1 error. */
static int
decode_copy (const struct superblock *sb, uint64_t seq, int copy,
             struct group *g)
{
  int r;

  g->n = g->data_blocks = 0;
  g->sb = sb;
  r = journal_block_decode (sb, seq + copy, g->block, &g->info, gather, g);
  return r == 1 && g->info.copy != (uint32_t)copy ? 0 : r;
}

static void report_damage (const struct journal_scan *js, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

/* A block of a keyed disk that is sealed but not authentic was written by
 * someone without the key: a forgery, or an old block replayed. */
static void
note_forgery (const struct journal_scan *js, struct backing *b,
              const struct superblock *sb, uint64_t seq, const uint8_t *block)
{
  if (sb->auth && journal_block_sealed (sb, seq, block))
    report_damage (js,
                   "%s: journal block %" PRIu64 " has a good checksum but "
                   "fails authentication with the disk's key: someone "
                   "without the key wrote it.  It is not used",
                   b->name, seq);
}

/* Reads both copies of the header of the group at SEQ into PAIR, and
 * returns the one to use: the one of the later attempt where both are
 * valid, the one that is where one is.  NULL if neither is (*R 0) or on
 * error (*R -1). */
static struct group *
read_group (const struct journal_scan *js, struct backing *b,
            const struct superblock *sb, uint64_t seq, struct group pair[2],
            int *r)
{
  int ok[2];

  for (int copy = 0; copy < 2; copy++) {
    if (read_block (b, sb, seq + copy, pair[copy].block) == -1 ||
        (ok[copy] = decode_copy (sb, seq, copy, &pair[copy])) == -1) {
      *r = -1;
      return NULL;
    }
    if (!ok[copy])
      note_forgery (js, b, sb, seq + copy, pair[copy].block);
  }
  *r = ok[0] || ok[1];
  pair[0].repaired = pair[1].repaired = ok[0] != ok[1];
  if (ok[1] && (!ok[0] || pair[1].info.attempt > pair[0].info.attempt))
    return &pair[1];
  return ok[0] ? &pair[0] : NULL;
}

/* Reads the data blocks after the group at SEQ and points each data
 * record of G at its data in BUF. */
static int
read_data (struct backing *b, const struct superblock *sb, uint64_t seq,
           struct group *g, uint8_t *buf)
{
  uint64_t first = seq + JOURNAL_GROUP_HEADERS, next = 0;

  for (uint64_t i = 0; i < g->data_blocks; i++)
    if (read_block (b, sb, first + i, buf + i * SB_BLOCK) == -1)
      return -1;
  for (size_t i = 0; i < g->n; i++) {
    if (g->recs[i].kind != JREC_DATA)
      continue;
    g->recs[i].data = buf + next * SB_BLOCK;
    g->recs[i].data_seq = first + next;
    next += journal_record_data_blocks (sb, &g->recs[i]);
  }
  return 0;
}

/* The chain of groups being followed from the tail. */
struct chain {
  struct backing *b;
  const struct superblock *sb;
  struct journal_scan *js;
  uint64_t seq, limit; /* the next group, the end of the live ring */
  /* The commit the chain is in. */
  bool in_commit;
  uint64_t start, attempt;
  uint32_t blocks;
  /* Groups of this commit found with one copy damaged: the first of
   * them, and how many. */
  uint64_t damaged_block, used_block, damaged;
};

/* Does group G at the chain's place carry it on?  It goes on the commit
 * the chain is in until that commit's end, or begins a new one there, of
 * a later attempt (5 in the notes in journal-format.h). */
static bool
group_follows (struct chain *ch, const struct group *g)
{
  const struct journal_block_info *in = &g->info;
  uint64_t seq = ch->seq, end = seq + JOURNAL_GROUP_HEADERS + g->data_blocks;

  if (ch->in_commit && seq < ch->start + ch->blocks) {
    if (in->commit != ch->start || in->commit_blocks != ch->blocks ||
        in->attempt != ch->attempt)
      return false;
  } else {
    if (in->commit != seq || (ch->in_commit && in->attempt <= ch->attempt))
      return false;
    ch->in_commit = true;
    ch->start = seq;
    ch->attempt = in->attempt;
    ch->blocks = in->commit_blocks;
    ch->damaged = 0;
  }
  return g->data_blocks <= JOURNAL_MAX_GROUP_DATA &&
         end <= ch->start + ch->blocks && end <= ch->limit;
}

static void
report_damage (const struct journal_scan *js, const char *fmt, ...)
{
  char msg[1024];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  if (js->damage)
    js->damage (js->opaque, msg);
  else
    ni_log (NI_LOG_WARNING, "%s", msg);
}

/* Reports the groups of the chain's commit that were read from one copy.
 * Called once the commit is known to have been durable: a later commit
 * follows it, or a flush mark covers it.  In a commit the crash cut
 * short, a missing copy is the crash's doing, not damage. */
static void
report_repairs (struct chain *ch)
{
  if (ch->damaged == 0)
    return;
  if (ch->js->repaired == 0)
    ch->js->first_repaired = ch->damaged_block;
  ch->js->repaired += ch->damaged;
  report_damage (ch->js,
                 "%s: journal block %" PRIu64 " (byte %" PRIu64 ") is "
                 "damaged%s; its copy in block %" PRIu64 " was used, so "
                 "nothing is lost",
                 ch->b->name, ch->damaged_block,
                 journal_block_offset (ch->sb, ch->damaged_block),
                 ch->damaged > 1 ? ", with other header blocks of its commit"
                                 : "",
                 ch->used_block);
  ch->damaged = 0;
}

static void
note_repair (struct chain *ch, const struct group *g)
{
  if (!g->repaired)
    return;
  if (ch->damaged++ == 0) {
    ch->used_block = ch->seq + g->info.copy;
    ch->damaged_block = ch->seq + 1 - g->info.copy;
  }
}

/* Follows one group, its header's copies read into PAIR: 1 if it carried
 * the chain on, 0 if the chain ends before it, -1 on error. */
static int
follow_group (struct chain *ch, struct group pair[2], uint8_t *data)
{
  const struct superblock *sb = ch->sb;
  struct journal_scan *js = ch->js;
  bool new_commit = !ch->in_commit || ch->seq >= ch->start + ch->blocks;
  int r;
  struct group *g = read_group (js, ch->b, sb, ch->seq, pair, &r);

  if (g == NULL)
    return r;
  if (new_commit)
    report_repairs (ch); /* the commit before ended whole */
  if (!group_follows (ch, g))
    return 0;
  if (read_data (ch->b, sb, ch->seq, g, data) == -1)
    return -1;
  note_repair (ch, g);
  for (size_t i = 0; i < g->n; i++)
    if (js->record && js->record (js->opaque, ch->seq, &g->recs[i]) == -1)
      return -1;
  ch->seq += JOURNAL_GROUP_HEADERS + g->data_blocks;
  return 1;
}

static int
follow_chain (struct chain *ch)
{
  uint8_t *data = malloc (JOURNAL_MAX_GROUP_DATA * SB_BLOCK);
  struct group *g = malloc (2 * sizeof *g);
  int r = -1;

  if (data == NULL || g == NULL) {
    ni_error_set ("%s: out of memory to read the journal", ch->b->name);
    goto out;
  }
  do
    r = ch->seq + JOURNAL_GROUP_HEADERS <= ch->limit
            ? follow_group (ch, g, data)
            : 0;
  while (r == 1);
  /* The newest commit, even written whole, may have been cut by the
   * crash before it was durable, its blocks reaching the disk in any
   * order: only a flush mark after it says a missing copy was damaged. */
  if (r == 0 && ch->in_commit && ch->start < ch->js->flushed_to)
    report_repairs (ch);

out:
  free (data);
  free (g);
  return r;
}

/* After the chain ends at JS->head: a hole before the newest flush mark
 * loses flushed writes; one after it loses writes never flushed, which
 * is reported but allowed.  Later blocks of the commit the crash cut
 * short are no damage. */
static int
check_end (struct backing *b, const struct superblock *sb,
           const struct survey *sv, struct journal_scan *js)
{
  uint64_t head = js->head, last = head;

  if (head < js->flushed_to) {
    ni_error_set ("%s: journal block %" PRIu64 " (byte %" PRIu64 ") and its "
                  "copy are damaged, and a flush mark after them says they "
                  "held writes that were flushed: those writes would be "
                  "lost.  The disk is not opened.  In an MD array, replace "
                  "it (or re-add it for a full resync); to read what it "
                  "holds, serve it with mode=recovery; nbd-integrity "
                  "check lists the damage",
                  b->name, head, journal_block_offset (sb, head));
    errno = EUCLEAN;
    return -1;
  }
  for (size_t i = 0; i < sv->n; i++)
    if (sv->found[i].seq > head && sv->found[i].commit > head &&
        sv->found[i].seq < js->tail + sb_journal_blocks (sb) &&
        sv->found[i].seq > last)
      last = sv->found[i].seq;
  if (last > head) {
    js->unflushed_lost = last + 1 - head;
    report_damage (js,
                   "%s: journal block %" PRIu64 " (byte %" PRIu64 ") and its "
                   "copy are damaged; the %" PRIu64 " blocks after them "
                   "held writes not yet flushed, which are not replayed "
                   "and read as they were before",
                   b->name, head, journal_block_offset (sb, head),
                   js->unflushed_lost);
  }
  return 0;
}

int
journal_scan (struct backing *b, const struct superblock *sb,
              struct journal_scan *js)
{
  struct survey sv = {0};
  struct chain ch = {.b = b, .sb = sb, .js = js};
  int r = -1;

  ni_error_clear (); /* the tool's check calls it alone */
  if (survey_ring (b, sb, &sv) == -1)
    goto out;
  js->tail = sb->journal_tail_seq;
  if (sv.any && sv.max_tail > js->tail) {
    js->tail = sv.max_tail;
    js->newer_tail = true;
  }
  js->flushed_to = 0;
  js->mode = sb->mode == MODE_FULL ? MODE_FULL : MODE_TAGS;
  survey_live (&sv, js);
  ch.seq = js->tail;
  ch.limit = js->tail + sb_journal_blocks (sb);
  if (follow_chain (&ch) == -1)
    goto out;
  js->head = ch.seq;
  js->next_seq = sv.any && sv.max_seq >= js->head ? sv.max_seq + 1 : js->head;
  r = check_end (b, sb, &sv, js);

out:
  free (sv.found);
  return r;
}
