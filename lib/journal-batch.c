/* Packing a commit: the queued records into header groups and data
 * blocks, as journal-format.h lays them out.  Only the leader of a commit
 * (journal.c) calls it.  See journal-internal.h. */
#include <string.h>

#include "journal-internal.h"

/* An upper bound on the blocks N records take: each block loses less than
 * one record header and one tag to packing, and one more header to a
 * split. */
static uint64_t
blocks_needed (const struct journal *j, size_t bytes)
{
  size_t usable =
      JOURNAL_PAYLOAD - 2 * (JOURNAL_RECORD_HEADER + j->sb.tag_size);

  return (bytes + usable - 1) / usable + 1;
}

/* An upper bound on the blocks of a batch of records of BYTES with DATA
 * data blocks: journal_encode_batch starts a new group after at least half
 * MAX_GROUP_BLOCKS of data, and every group has two header blocks. */
static uint64_t
batch_blocks (const struct journal *j, size_t bytes, uint64_t data)
{
  uint64_t groups = blocks_needed (j, bytes) + data / (MAX_GROUP_BLOCKS / 2);

  return JOURNAL_GROUP_HEADERS * groups + data;
}

/* Most blocks one batch may take: a quarter of the ring, so that a
 * checkpoint can always make room. */
static uint64_t
batch_limit (const struct journal *j)
{
  uint64_t quarter = j->nr_blocks / 4;

  return quarter > MAX_BATCH_BLOCKS   ? MAX_BATCH_BLOCKS
         : quarter < MAX_GROUP_BLOCKS ? MAX_GROUP_BLOCKS
                                      : quarter;
}

/* Moves queued waiters into the batch while they fit.  Takes at least
 * one.  Called with the lock held. */
size_t
journal_take_batch_locked (struct journal *j, struct journal_entry **taken,
                           uint64_t *blocks)
{
  ASSERT_LOCKED (&j->lock);
  size_t n = 0, bytes = 0;
  uint64_t data = 0;

  *taken = j->queue;
  for (struct journal_entry *w = j->queue; w; w = w->next) {
    size_t more = journal_record_bytes (&j->sb, &w->rec);
    uint64_t more_data = journal_record_data_blocks (&j->sb, &w->rec);
    if (n > 0 &&
        (n == MAX_BATCH_RECORDS ||
         batch_blocks (j, bytes + more, data + more_data) > batch_limit (j)))
      break;
    bytes += more;
    data += more_data;
    j->whole[n] = w->rec;
    j->batch[n++] = w->rec;
    j->queue = w->next;
  }
  if (j->queue == NULL)
    j->queue_end = &j->queue;
  *blocks = batch_blocks (j, bytes, data);
  return n;
}

/* Copies the data of the data records [FIRST, LAST) of the batch into the
 * blocks from BLOCK on; returns the blocks used. */
static uint64_t
encode_data (struct journal *j, size_t first, size_t last, uint64_t block)
{
  uint64_t used = 0;

  for (size_t i = first; i < last; i++) {
    const struct journal_record *rec = &j->whole[i];
    size_t bytes = (size_t)rec->count * j->sb.sector_size;
    uint64_t nb = journal_record_data_blocks (&j->sb, rec);
    uint8_t *p = j->buf + (block + used) * SB_BLOCK;

    if (nb == 0)
      continue;
    memcpy (p, rec->data, bytes);
    memset (p + bytes, 0, nb * SB_BLOCK - bytes);
    used += nb;
  }
  return used;
}

/* The end of the records from FIRST whose data fits after one header
 * block (a scan takes no more). */
static size_t
group_end (const struct journal *j, size_t first, size_t n)
{
  uint64_t data = 0;
  size_t i;

  for (i = first; i < n; i++) {
    uint64_t more = journal_record_data_blocks (&j->sb, &j->whole[i]);
    if (i > first && data + more >= MAX_GROUP_BLOCKS)
      break;
    data += more;
  }
  return i;
}

/* Encodes one group's header and its copy at block BLOCK of buf, from
 * the batch's records [*DONE, LAST), advancing *DONE. */
static void
encode_headers (struct journal *j, struct journal_block_info *info,
                size_t *done, size_t last, uint64_t block)
{
  uint8_t *header = j->buf + block * SB_BLOCK;

  info->seq = info->commit + block;
  info->copy = 0;
  journal_block_encode (&j->sb, info, j->batch, last, done, header);
  memcpy (header + SB_BLOCK, header, SB_BLOCK);
  info->seq++;
  info->copy = 1;
  journal_block_reseal (&j->sb, info, header + SB_BLOCK);
}

/* Encodes the batch of N records into buf as the commit INFO describes
 * (its start, attempt and tail); returns the blocks used.  Each header
 * gives the commit's length, known once all are encoded. */
uint64_t
journal_encode_batch (struct journal *j, size_t n,
                      struct journal_block_info *info)
{
  size_t done = 0;
  uint64_t blocks = 0, headers[MAX_BATCH_BLOCKS / JOURNAL_GROUP_HEADERS];
  size_t groups = 0;

  info->commit_blocks = 0;
  while (done < n) {
    size_t first = done;
    headers[groups++] = blocks;
    encode_headers (j, info, &done, group_end (j, first, n), blocks);
    blocks += JOURNAL_GROUP_HEADERS;
    blocks += encode_data (j, first, done, blocks);
  }
  info->commit_blocks = blocks;
  for (size_t g = 0; g < groups; g++)
    for (uint32_t copy = 0; copy < JOURNAL_GROUP_HEADERS; copy++) {
      info->seq = info->commit + headers[g] + copy;
      info->copy = copy;
      journal_block_reseal (&j->sb, info,
                            j->buf + (headers[g] + copy) * SB_BLOCK);
    }
  return blocks;
}

bool
journal_record_fits (const struct journal *j, const struct journal_record *rec)
{
  return blocks_needed (j, journal_record_bytes (&j->sb, rec)) +
             journal_record_data_blocks (&j->sb, rec) <=
         MAX_GROUP_BLOCKS;
}
