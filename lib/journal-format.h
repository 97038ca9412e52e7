/* The journal on the disk: encoding its blocks, and reading it back.
 *
 * Notes on the design.
 *
 * A ring of 4 KiB blocks after the superblocks.  Block sequence number S
 * lives at ring position S mod N (N blocks in all); the superblock
 * records the tail, the oldest block still needed.  A commit is one
 * durable write of one or more groups, each a header block, its copy in
 * the next block, and, in the "full" crash mode, the data of its records
 * in the blocks after those two.  A header block holds the fields at
 * the JH_* offsets below, then records, each laid out at the JR_*
 * offsets (little-endian; nbd-integrity-format(5) has the same tables,
 * and tests/unit/test-format-doc checks the two agree).  JREC_TAGS and
 * JREC_DATA records carry the count tags after their header.  A
 * JREC_FLUSH record (a flush mark) has count 0 and, in place of the
 * first sector, the sequence number below which every record was
 * durable in place when it was written.  A record never spans blocks;
 * the data of JREC_DATA records fills the blocks after the header's
 * copy, in record order, each record's data padded to whole blocks.
 * Data blocks have no header: the record's tags verify them.
 *
 * Reading the journal back (journal_scan) has to tell a commit that was
 * never acknowledged (torn by the crash: the journal ends there) from one
 * that was, and was damaged since (data would be lost).  It reads every
 * block of the ring first (the survey), then follows the chain of groups
 * from the tail:
 *
 *  1. Every block is bound to its place (sequence matching its position),
 *     to the disk (the UUID in its CRC) and, on a keyed disk, to the key
 *     (the MAC), so no block from elsewhere, an earlier lap or an earlier
 *     version of the disk passes for the one expected there.
 *  2. Every header records the tail of the last completed checkpoint,
 *     which was durable before the header was written.  The scan starts
 *     at the newest tail any header or the superblock names: a damaged
 *     newest superblock copy, whose older copy names an older tail, no
 *     longer hides the blocks after it, and the tags at home are never
 *     behind the tail used.
 *  3. A flush writes a mark after its data is durable, naming the
 *     sequence F below which every record's data is in place.  A mark is
 *     true wherever it is found, even in a torn commit, since it was only
 *     written once what it says was so.  The newest mark in the live
 *     ring gives F.
 *  4. Commits are written one after another, each durable before the
 *     next begins.  If the chain ends at a group before F, a group that
 *     had been durable is unreadable: both copies of its header were
 *     damaged.  Flushed writes may be lost, so the scan fails, naming the
 *     block, rather than hand recovery a journal with a hole in it.  A
 *     chain that ends at or after F ends where the crash cut it, or loses
 *     only writes that were never flushed, which may read old.
 *  5. One damaged header block costs nothing: its copy is used, and the
 *     damage is reported, unless it is in the newest commit and no flush
 *     mark covers it: that commit may have been cut by the crash before
 *     it was durable, and its blocks reach the disk in any order (seen
 *     in the crash replay of a real kernel's page cache).  Within a
 *     group, copies of two attempts at one commit (a write that failed,
 *     rewritten) are told apart by the attempt number, and the chain
 *     follows only groups of one commit until its recorded length, then
 *     a new commit that starts there, of a later attempt: no leftover of
 *     a failed attempt joins it.
 *  6. The next opening starts its sequence numbers above every sequence
 *     number in the ring, so no block left from before, beyond a torn
 *     commit or a lost superblock's tail, is ever taken for a new one.
 *
 * What it cannot tell: both copies of a header damaged after the last
 * flush mark (those writes were not flushed, so they may be lost), one
 * copy damaged in the newest commit with no mark after it (nothing is
 * lost, but it looks like a crash, so it is not reported), and
 * the newest mark lost together with damage to the data it covered.
 */
#ifndef NBD_INTEGRITY_JOURNAL_FORMAT_H
#define NBD_INTEGRITY_JOURNAL_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backing.h"
#include "superblock.h"

#define JOURNAL_MAGIC 0x324a494eu /* "NIJ2" */

/* The byte offsets of a header block's fields, in order: each runs up to
 * the next. */
enum {
  JH_MAGIC = 0,              /* u32 JOURNAL_MAGIC */
  JH_RECORDS = 4,            /* u32 number of records */
  JH_SEQ = 8,                /* u64 sequence */
  JH_PAYLOAD_BYTES = 16,     /* u32 bytes of the records */
  JH_COPY = 20,              /* u32 0 the header, 1 its copy after it */
  JH_ATTEMPT = 24,           /* u64 commit attempt, counted per opening */
  JH_FROM_TAIL = 32,         /* u32 blocks since the tail */
  JH_FROM_COMMIT = 36,       /* u32 blocks since its commit began */
  JH_COMMIT_BLOCKS = 40,     /* u32 blocks of its commit */
  JH_MODE = 44,              /* u32 crash mode of the writer */
  JOURNAL_HEADER = 48,       /* the records, then zeroes */
  JOURNAL_MAC_OFFSET = 4060, /* u8[JOURNAL_MAC_SIZE] (keyed; zero otherwise) */
  JOURNAL_CRC_OFFSET = 4092, /* u32 CRC32C (disk UUID || the bytes before) */
};

/* The byte offsets of a record's fields, from its start. */
enum {
  JR_SECTOR = 0,              /* u64 first sector (JREC_FLUSH: sequence) */
  JR_COUNT = 8,               /* u32 sector count */
  JR_KIND = 12,               /* u16 enum journal_record_kind */
  JR_RESERVED = 14,           /* u16, zero */
  JOURNAL_RECORD_HEADER = 16, /* the tags, if it has any */
};

#define JOURNAL_MAC_SIZE 32
#define JOURNAL_PAYLOAD (JOURNAL_MAC_OFFSET - JOURNAL_HEADER)

/* Blocks a header group takes before its data: the header and its copy. */
#define JOURNAL_GROUP_HEADERS 2

/* Most data blocks after one group's headers. */
#define JOURNAL_MAX_GROUP_DATA 63

/* Sequence numbers stop short of this: a larger one is damage. */
#define JOURNAL_MAX_SEQ (UINT64_C (1) << 62)

enum journal_record_kind {
  JREC_TAGS = 1,
  JREC_UNWRITTEN = 2,
  JREC_DATA = 3,
  JREC_FLUSH = 4,
};

struct journal_record {
  uint64_t sector; /* for JREC_FLUSH: the sequence it covers up to */
  uint32_t count;
  uint16_t kind;
  const uint8_t *tags; /* count * tag_size bytes for JREC_TAGS, JREC_DATA */
  const uint8_t *data; /* count * sector_size bytes for JREC_DATA */
  uint64_t data_seq;   /* journal_scan: the block its data starts in */
};

/* A header block's fields other than its records. */
struct journal_block_info {
  uint64_t seq;
  uint32_t copy;          /* 0 or 1 */
  uint64_t attempt;       /* of the commit */
  uint64_t tail;          /* the journal's tail when it was written */
  uint64_t commit;        /* sequence of its commit's first block */
  uint32_t commit_blocks; /* blocks of the whole commit */
  uint32_t mode;          /* enum sb_mode */
};

/* Largest count of one record that fits in a block. */
uint32_t journal_record_max (unsigned tag_size);

/* Bytes REC takes in a header block. */
size_t journal_record_bytes (const struct superblock *sb,
                             const struct journal_record *rec);

/* Data blocks REC takes after its group's headers. */
uint64_t journal_record_data_blocks (const struct superblock *sb,
                                     const struct journal_record *rec);

/* Most sectors of one JREC_DATA record. */
uint32_t journal_data_sectors_max (const struct superblock *sb);

/* Encodes as many of RECS[*DONE..N) into BLOCK as fit, splitting a
 * record if needed, with the fields of INFO, and seals it: on return
 * RECS[*DONE] has been advanced past what was encoded, and *DONE counts
 * whole records done. */
void journal_block_encode (const struct superblock *sb,
                           const struct journal_block_info *info,
                           struct journal_record *recs, size_t n, size_t *done,
                           uint8_t block[SB_BLOCK]);

/* Rewrites the fields of an encoded BLOCK from INFO and seals it again:
 * for the copy of a header, and for a commit's length once it is known. */
void journal_block_reseal (const struct superblock *sb,
                           const struct journal_block_info *info,
                           uint8_t block[SB_BLOCK]);

/* Decodes BLOCK, expected to hold sequence SEQ.  Fills *INFO (may be
 * NULL) and calls FN for each record (tags point into BLOCK; data is
 * NULL: journal_scan reads it).  Returns 1 if the block is a valid header
 * block, 0 if it is not (damaged, torn, stale or never written), -1 with
 * ni_error() if it has a good checksum but a field or record is out of
 * range.  A keyed disk's blocks are authenticated with sb->auth; without
 * it (a tool that has no key) they are decoded unauthenticated. */
typedef int (*journal_record_fn) (void *opaque, uint64_t seq,
                                  const struct journal_record *rec);
int journal_block_decode (const struct superblock *sb, uint64_t seq,
                          const uint8_t block[SB_BLOCK],
                          struct journal_block_info *info, journal_record_fn fn,
                          void *opaque);

/* Whether BLOCK has a header block's magic, is bound to SEQ and has a
 * good checksum: a keyed disk's may still fail authentication. */
bool journal_block_sealed (const struct superblock *sb, uint64_t seq,
                           const uint8_t block[SB_BLOCK]);

/* Byte offset on the disk of the block with sequence SEQ. */
uint64_t journal_block_offset (const struct superblock *sb, uint64_t seq);

/* Reading the journal back: what journal_scan is given and finds. */
struct journal_scan {
  /* Given: called for every record of the live journal, in order, with
   * the sequence of the header that holds it; may be NULL.  The fields
   * below are set before the first call. */
  journal_record_fn record;
  void *opaque;
  /* Given: called with each piece of damage found, in words naming the
   * block; NULL logs them as warnings. */
  void (*damage) (void *opaque, const char *what);

  /* Found. */
  uint64_t tail;           /* the first block of the live journal */
  uint64_t flushed_to;     /* records in blocks below it were durable */
  uint32_t mode;           /* the crash mode that wrote it (enum sb_mode) */
  bool newer_tail;         /* a header named a tail after the superblock's */
  uint64_t head;           /* the block after the live journal */
  uint64_t next_seq;       /* above every sequence number in the ring */
  uint64_t repaired;       /* damaged header blocks whose copy was used */
  uint64_t first_repaired; /* the first of them */
  uint64_t unflushed_lost; /* blocks after a damaged group, not replayed */
};

/* Reads the journal of the disk on B, calling JS->record for each record
 * of its live part.  -1 with ni_error() if it could not be read, or
 * (EUCLEAN) if it has lost records that a flush had made durable. */
int journal_scan (struct backing *b, const struct superblock *sb,
                  struct journal_scan *js);

#endif
