/* Fuzz target: one journal block (journal_block_decode).
 *
 * Input: one byte of options, then the block (4 KiB; zeroes past the end
 * of the input).  The options' low bits choose the disk's layout (fuzz.h);
 * bit 7 keeps the block's checksum as given, which otherwise is made
 * right.  The block is decoded as the block of the sequence number it
 * claims.
 *
 * Every record reported must be one the header promises: a known kind,
 * at least one sector, all of them on the disk, its tags (for the kinds
 * that carry tags) inside the payload the header counts, and no more
 * records than the header's count; a block that decodes must have
 * reported all of them.
 */
#include <string.h>

#include "journal.h"
#include "le.h"
#include "fuzz.h"

#define OPT_RAW 0x80

struct seen {
  const struct superblock *sb;
  const uint8_t *block;
  uint64_t seq;
  uint32_t records;
  uint8_t sum; /* of every tag byte: read them all, for the sanitizer */
};

static int
check_record (void *opaque, uint64_t seq, const struct journal_record *rec)
{
  struct seen *s = opaque;
  const uint8_t *payload = s->block + JOURNAL_HEADER;
  size_t tag_bytes = (size_t)rec->count * s->sb->tag_size;
  uint32_t used = le32_get (s->block + 16);

  fuzz_assert (seq == s->seq);
  fuzz_assert (++s->records <= le32_get (s->block + 4));
  fuzz_assert (rec->count > 0 && rec->sector < s->sb->data_sectors &&
               rec->count <= s->sb->data_sectors - rec->sector);
  fuzz_assert (rec->data == NULL);
  if (rec->kind == JREC_UNWRITTEN) {
    fuzz_assert (rec->tags == NULL);
    return 0;
  }
  fuzz_assert (rec->kind == JREC_TAGS || rec->kind == JREC_DATA);
  fuzz_assert (used <= JOURNAL_PAYLOAD);
  fuzz_assert (rec->tags >= payload + JOURNAL_RECORD_HEADER &&
               rec->tags <= payload + used &&
               tag_bytes <= (size_t)(payload + used - rec->tags));
  for (size_t i = 0; i < tag_bytes; i++)
    s->sum += rec->tags[i];
  return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct fuzz_input in = {data, size};
  uint8_t options = fuzz_byte (&in);
  const struct fuzz_disk *fd = fuzz_disk (options);
  uint8_t block[SB_BLOCK];
  struct seen s = {.sb = &fd->sb, .block = block};
  int r;

  fuzz_take (&in, block, SB_BLOCK);
  if (!(options & OPT_RAW))
    fuzz_seal_journal_block (&fd->sb, block);
  s.seq = le64_get (block + 8);
  r = journal_block_decode (&fd->sb, s.seq, block, NULL, check_record, &s);
  fuzz_assert (r == -1 || r == 0 || r == 1);
  if (r == 0)
    fuzz_assert (s.records == 0);
  if (r == 1)
    fuzz_assert (s.records == le32_get (block + 4));
  return 0;
}
