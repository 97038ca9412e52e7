/* Fuzz target: one journal block (journal_block_decode).
 *
 * Input: one byte of options, then the block (4 KiB; zeroes past the end
 * of the input).  The options' low bits choose the disk's layout (fuzz.h);
 * bit 7 keeps the block's checksum (and MAC) as given, which otherwise is
 * made right.  The block is decoded as the block of the sequence number
 * it claims.
 *
 * Every record reported must be one the header promises: a known kind; a
 * flush mark (JREC_FLUSH) with no sectors, no tags and a covered sequence
 * not above the block's own; any other at least one sector, all of them
 * on the disk, its tags (for the kinds that carry tags) inside the
 * payload the header counts; and no more records than the header's
 * count.  A block that decodes must have reported all of them, and
 * fields in range (journal-format.h): copy 0 or 1, its tail no further
 * behind it than the ring's size and not before sequence 0, its commit
 * begun before it, less than the commit's length before it, a commit no
 * longer than the ring, and crash mode tags or full.  One that fails with
 * -1 sets EUCLEAN.
 *
 * A block that decodes must decode identically again: sealed again from
 * the fields it reported (journal_block_reseal) it is the same bytes;
 * encoded again from them and its records (journal_block_encode) it
 * gives the same fields and records; and on the keyed layout it gives
 * the same without the key, as to a tool that has none.
 */
#include <errno.h>
#include <string.h>

#include "journal.h"
#include "le.h"
#include "fuzz.h"

#define OPT_RAW 0x80

/* Records fit in a block at most: each takes a record header. */
#define MAX_RECORDS (JOURNAL_PAYLOAD / JOURNAL_RECORD_HEADER + 1)

/* One decoding of a block: what it reported. */
struct seen {
  const struct superblock *sb;
  const uint8_t *block;
  uint64_t seq;
  struct journal_block_info info;
  uint32_t n;
  struct journal_record recs[MAX_RECORDS];
  uint8_t sum; /* of every tag byte: read them all, for the sanitizer */
};

static bool
has_tags (const struct journal_record *rec)
{
  return rec->kind == JREC_TAGS || rec->kind == JREC_DATA;
}

static int
check_record (void *opaque, uint64_t seq, const struct journal_record *rec)
{
  struct seen *s = opaque;
  const uint8_t *payload = s->block + JOURNAL_HEADER;
  size_t tag_bytes = (size_t)rec->count * s->sb->tag_size;
  uint32_t used = le32_get (s->block + JH_PAYLOAD_BYTES);

  fuzz_assert (seq == s->seq);
  fuzz_assert (s->n < le32_get (s->block + JH_RECORDS) && s->n < MAX_RECORDS);
  s->recs[s->n++] = *rec;
  fuzz_assert (rec->data == NULL);
  if (rec->kind == JREC_FLUSH) {
    fuzz_assert (rec->count == 0 && rec->sector <= seq && rec->tags == NULL);
    return 0;
  }
  fuzz_assert (rec->count > 0 && rec->sector < s->sb->data_sectors &&
               rec->count <= s->sb->data_sectors - rec->sector);
  if (rec->kind == JREC_UNWRITTEN) {
    fuzz_assert (rec->tags == NULL);
    return 0;
  }
  fuzz_assert (has_tags (rec));
  fuzz_assert (used <= JOURNAL_PAYLOAD);
  fuzz_assert (rec->tags >= payload + JOURNAL_RECORD_HEADER &&
               rec->tags <= payload + used &&
               tag_bytes <= (size_t)(payload + used - rec->tags));
  for (size_t i = 0; i < tag_bytes; i++)
    s->sum += rec->tags[i];
  return 0;
}

static void
check_info (const struct superblock *sb, const struct journal_block_info *info)
{
  uint64_t ring = sb_journal_blocks (sb);

  fuzz_assert (info->copy <= 1);
  fuzz_assert (info->tail <= info->seq && info->seq - info->tail <= ring);
  fuzz_assert (info->commit <= info->seq &&
               info->seq - info->commit < info->commit_blocks &&
               info->commit_blocks <= ring);
  fuzz_assert (info->mode == MODE_TAGS || info->mode == MODE_FULL);
}

/* Decodes BLOCK as sequence SEQ into S and checks what it reported;
 * returns journal_block_decode's result. */
static int
decode (const struct superblock *sb, const uint8_t *block, uint64_t seq,
        struct seen *s)
{
  int r;

  s->sb = sb;
  s->block = block;
  s->seq = seq;
  s->n = 0;
  errno = 0;
  r = journal_block_decode (sb, seq, block, &s->info, check_record, s);
  fuzz_assert (r == -1 || r == 0 || r == 1);
  if (r == -1)
    fuzz_assert (errno == EUCLEAN);
  if (r == 0)
    fuzz_assert (s->n == 0);
  if (r == 1) {
    fuzz_assert (s->n == le32_get (block + JH_RECORDS));
    fuzz_assert (s->info.seq == seq);
    check_info (sb, &s->info);
  }
  return r;
}

static bool
info_equal (const struct journal_block_info *a,
            const struct journal_block_info *b)
{
  return a->seq == b->seq && a->copy == b->copy && a->attempt == b->attempt &&
         a->tail == b->tail && a->commit == b->commit &&
         a->commit_blocks == b->commit_blocks && a->mode == b->mode;
}

static bool
record_equal (const struct superblock *sb, const struct journal_record *a,
              const struct journal_record *b)
{
  return a->sector == b->sector && a->count == b->count && a->kind == b->kind &&
         (!has_tags (a) ||
          memcmp (a->tags, b->tags, (size_t)a->count * sb->tag_size) == 0);
}

static void
check_same (const struct seen *a, const struct seen *b)
{
  fuzz_assert (info_equal (&a->info, &b->info));
  fuzz_assert (a->n == b->n);
  for (uint32_t i = 0; i < a->n; i++)
    fuzz_assert (record_equal (a->sb, &a->recs[i], &b->recs[i]));
}

/* S decoded BLOCK: it decodes identically again. */
static void
check_again (const uint8_t *block, const struct seen *s)
{
  static struct seen again;
  uint8_t copy[SB_BLOCK];
  struct journal_record recs[MAX_RECORDS];
  size_t done = 0;

  memcpy (copy, block, SB_BLOCK);
  journal_block_reseal (s->sb, &s->info, copy);
  fuzz_assert (memcmp (copy, block, SB_BLOCK) == 0);

  memcpy (recs, s->recs, s->n * sizeof *recs);
  journal_block_encode (s->sb, &s->info, recs, s->n, &done, copy);
  fuzz_assert (done == s->n);
  fuzz_assert (decode (s->sb, copy, s->seq, &again) == 1);
  check_same (s, &again);

  if (s->sb->auth) {
    struct superblock unkeyed = *s->sb;

    unkeyed.auth = NULL;
    fuzz_assert (decode (&unkeyed, block, s->seq, &again) == 1);
    check_same (s, &again);
  }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static struct seen s;
  struct fuzz_input in = {data, size};
  uint8_t options = fuzz_byte (&in);
  const struct fuzz_disk *fd = fuzz_disk (options);
  uint8_t block[SB_BLOCK];

  fuzz_take (&in, block, SB_BLOCK);
  if (!(options & OPT_RAW))
    fuzz_seal_journal_block (&fd->sb, block);
  if (decode (&fd->sb, block, le64_get (block + JH_SEQ), &s) == 1)
    check_again (block, &s);
  return 0;
}
