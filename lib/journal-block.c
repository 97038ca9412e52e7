/* The journal's blocks, one at a time: records' sizes, and encoding,
 * sealing and decoding a header block bound to its place in the ring.
 * See journal-format.h; journal-scan.c reads the ring back with these. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "journal-format.h"
#include "le.h"
#include "report.h"

uint32_t
journal_record_max (unsigned tag_size)
{
  return (JOURNAL_PAYLOAD - JOURNAL_RECORD_HEADER) / tag_size;
}

uint32_t
journal_data_sectors_max (const struct superblock *sb)
{
  uint32_t by_blocks = 32 * SB_BLOCK / sb->sector_size;
  uint32_t by_tags = journal_record_max (sb->tag_size);

  return by_blocks < by_tags ? by_blocks : by_tags;
}

static bool
has_tags (const struct journal_record *rec)
{
  return rec->kind == JREC_TAGS || rec->kind == JREC_DATA;
}

size_t
journal_record_bytes (const struct superblock *sb,
                      const struct journal_record *rec)
{
  size_t tags = has_tags (rec) ? (size_t)rec->count * sb->tag_size : 0;
  return JOURNAL_RECORD_HEADER + tags;
}

uint64_t
journal_record_data_blocks (const struct superblock *sb,
                            const struct journal_record *rec)
{
  uint64_t bytes = (uint64_t)rec->count * sb->sector_size;

  return rec->kind == JREC_DATA ? (bytes + SB_BLOCK - 1) / SB_BLOCK : 0;
}

uint64_t
journal_block_offset (const struct superblock *sb, uint64_t seq)
{
  return sb->journal_offset + seq % sb_journal_blocks (sb) * SB_BLOCK;
}

/* ---- one block ---- */

/* Encodes as much of REC as fits in SPACE bytes at P.  Returns the bytes
 * used (0 if not even one sector fits) and advances REC past them. */
static size_t
encode_record (const struct superblock *sb, struct journal_record *rec,
               uint8_t *p, size_t space)
{
  uint32_t count = rec->count;
  size_t tag_bytes;

  if (space < JOURNAL_RECORD_HEADER + (has_tags (rec) ? sb->tag_size : 0))
    return 0;
  if (has_tags (rec) && journal_record_bytes (sb, rec) > space) {
    if (rec->kind == JREC_DATA)
      return 0; /* never split: its data blocks follow its header */
    count = (space - JOURNAL_RECORD_HEADER) / sb->tag_size;
  }
  le64_put (p + JR_SECTOR, rec->sector);
  le32_put (p + JR_COUNT, count);
  le16_put (p + JR_KIND, rec->kind);
  le16_put (p + JR_RESERVED, 0);
  tag_bytes = has_tags (rec) ? (size_t)count * sb->tag_size : 0;
  if (tag_bytes) {
    memcpy (p + JOURNAL_RECORD_HEADER, rec->tags, tag_bytes);
    rec->tags += tag_bytes;
  }
  if (rec->kind != JREC_FLUSH)
    rec->sector += count;
  rec->count -= count;
  return JOURNAL_RECORD_HEADER + tag_bytes;
}

static uint32_t
block_crc (const struct superblock *sb, const uint8_t *block)
{
  return crc32c (crc32c (0, sb->uuid, DISK_UUID_SIZE), block,
                 JOURNAL_CRC_OFFSET);
}

static void
block_mac (const struct superblock *sb, const uint8_t *block,
           uint8_t mac[JOURNAL_MAC_SIZE])
{
  hasher_tag (sb->auth, sb->uuid, HASH_DOMAIN_JOURNAL, block,
              JOURNAL_MAC_OFFSET, mac);
}

/* Is BLOCK a header block of this disk's journal, sealed for SEQ, as far
 * as the checksum tells? */
bool
journal_block_sealed (const struct superblock *sb, uint64_t seq,
                      const uint8_t block[SB_BLOCK])
{
  return le32_get (block + JH_MAGIC) == JOURNAL_MAGIC &&
         le64_get (block + JH_SEQ) == seq && seq < JOURNAL_MAX_SEQ &&
         le32_get (block + JOURNAL_CRC_OFFSET) == block_crc (sb, block);
}

/* A sealed block: is it the key holder's? */
static bool
block_authentic (const struct superblock *sb, const uint8_t *block)
{
  uint8_t mac[JOURNAL_MAC_SIZE];

  if (sb->auth == NULL)
    return true;
  block_mac (sb, block, mac);
  return hasher_tag_equal (sb->auth, mac, block + JOURNAL_MAC_OFFSET);
}

void
journal_block_reseal (const struct superblock *sb,
                      const struct journal_block_info *info,
                      uint8_t block[SB_BLOCK])
{
  le32_put (block + JH_MAGIC, JOURNAL_MAGIC);
  le64_put (block + JH_SEQ, info->seq);
  le32_put (block + JH_COPY, info->copy);
  le64_put (block + JH_ATTEMPT, info->attempt);
  le32_put (block + JH_FROM_TAIL, info->seq - info->tail);
  le32_put (block + JH_FROM_COMMIT, info->seq - info->commit);
  le32_put (block + JH_COMMIT_BLOCKS, info->commit_blocks);
  le32_put (block + JH_MODE, info->mode);
  if (sb->auth)
    block_mac (sb, block, block + JOURNAL_MAC_OFFSET);
  le32_put (block + JOURNAL_CRC_OFFSET, block_crc (sb, block));
}

void
journal_block_encode (const struct superblock *sb,
                      const struct journal_block_info *info,
                      struct journal_record *recs, size_t n, size_t *done,
                      uint8_t block[SB_BLOCK])
{
  size_t used = 0;
  uint32_t nrec = 0;

  memset (block, 0, SB_BLOCK);
  while (*done < n) {
    size_t r = encode_record (sb, &recs[*done], block + JOURNAL_HEADER + used,
                              JOURNAL_PAYLOAD - used);
    if (r == 0)
      break;
    used += r;
    nrec++;
    if (recs[*done].count > 0)
      break; /* split: the rest goes in the next block */
    ++*done;
  }
  le32_put (block + JH_RECORDS, nrec);
  le32_put (block + JH_PAYLOAD_BYTES, used);
  journal_block_reseal (sb, info, block);
}

/* Checks record REC decoded from block SEQ, which has a good checksum. */
static bool
record_valid (const struct superblock *sb, uint64_t seq,
              const struct journal_record *rec)
{
  if (rec->kind == JREC_FLUSH)
    return rec->count == 0 && rec->sector <= seq;
  return rec->count > 0 && (has_tags (rec) || rec->kind == JREC_UNWRITTEN) &&
         (rec->kind != JREC_DATA ||
          rec->count <= journal_data_sectors_max (sb)) &&
         rec->sector < sb->data_sectors &&
         rec->count <= sb->data_sectors - rec->sector;
}

static void
get_info (const uint8_t *block, struct journal_block_info *info)
{
  info->seq = le64_get (block + JH_SEQ);
  info->copy = le32_get (block + JH_COPY);
  info->attempt = le64_get (block + JH_ATTEMPT);
  info->tail = info->seq - le32_get (block + JH_FROM_TAIL);
  info->commit = info->seq - le32_get (block + JH_FROM_COMMIT);
  info->commit_blocks = le32_get (block + JH_COMMIT_BLOCKS);
  info->mode = le32_get (block + JH_MODE);
}

/* The fields of a block with a good checksum make sense. */
static bool
info_valid (const struct superblock *sb, const uint8_t *block,
            const struct journal_block_info *info)
{
  uint64_t n = sb_journal_blocks (sb);
  uint32_t from_tail = le32_get (block + JH_FROM_TAIL);
  uint32_t from_commit = le32_get (block + JH_FROM_COMMIT);

  return info->copy <= 1 && from_tail <= n && from_tail <= info->seq &&
         from_commit <= info->seq && from_commit < info->commit_blocks &&
         info->commit_blocks <= n &&
         (info->mode == MODE_TAGS || info->mode == MODE_FULL) &&
         le32_get (block + JH_PAYLOAD_BYTES) <= JOURNAL_PAYLOAD;
}

static int
out_of_range (uint64_t seq)
{
  ni_error_set ("journal block %" PRIu64 " has a good checksum but a field "
                "or record out of range: the journal was written by a "
                "different version, or is damaged",
                seq);
  errno = EUCLEAN;
  return -1;
}

int
journal_block_decode (const struct superblock *sb, uint64_t seq,
                      const uint8_t block[SB_BLOCK],
                      struct journal_block_info *info, journal_record_fn fn,
                      void *opaque)
{
  uint32_t nrec = le32_get (block + JH_RECORDS);
  uint32_t used = le32_get (block + JH_PAYLOAD_BYTES);
  const uint8_t *p = block + JOURNAL_HEADER, *end = p + used;
  struct journal_block_info local;

  if (info == NULL)
    info = &local;
  if (!journal_block_sealed (sb, seq, block) || !block_authentic (sb, block))
    return 0;
  get_info (block, info);
  if (!info_valid (sb, block, info))
    return out_of_range (seq);
  for (uint32_t i = 0; i < nrec; i++) {
    struct journal_record rec;

    if (p + JOURNAL_RECORD_HEADER > end)
      return out_of_range (seq);
    rec.sector = le64_get (p + JR_SECTOR);
    rec.count = le32_get (p + JR_COUNT);
    rec.kind = le16_get (p + JR_KIND);
    rec.tags = has_tags (&rec) ? p + JOURNAL_RECORD_HEADER : NULL;
    rec.data = NULL;
    rec.data_seq = 0;
    if (!record_valid (sb, seq, &rec) ||
        p + journal_record_bytes (sb, &rec) > end)
      return out_of_range (seq);
    p += journal_record_bytes (sb, &rec);
    if (fn && fn (opaque, seq, &rec) == -1)
      return -1;
  }
  return 1;
}

/* ---- the survey: every block of the ring ---- */

/* A valid header block found in the ring. */
