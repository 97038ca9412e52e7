/* The write-ahead journal of tags.
 *
 * Notes on the design.
 *
 * A ring of 4 KiB blocks.  Block sequence number S lives at ring position
 * S mod (number of blocks); the superblock records the tail sequence, the
 * oldest block still needed.  Recovery reads blocks from the tail for as
 * long as each has a good checksum and the sequence number expected at
 * its position, so stale blocks from earlier laps end the scan.
 *
 * Block layout (little-endian):
 *
 *     0  u32 magic "NIJ1"        4  u32 number of records
 *     8  u64 sequence           16  u32 payload bytes   20  u32 reserved
 *    24  records ...
 *  4060  u8[32] keyed algorithms: MAC of bytes 0..4059; zero otherwise
 *  4092  u32 CRC32C(disk UUID || bytes 0..4091)
 *
 * The CRC finds a torn block, the end of the journal.  On a keyed disk a
 * block whose CRC is good but whose MAC is not was written without the
 * key: a forged trim or a replayed block.  The scan ends there too,
 * logging it, so no such record is ever applied.
 *
 * Record: u64 first sector, u32 sector count, u16 kind, u16 reserved, then
 * for JREC_TAGS and JREC_DATA the count tags.  A record never spans
 * blocks, but the data of JREC_DATA records (the "full" crash mode) fills
 * the blocks right after the block that holds them, in record order, each
 * record's data padded to whole blocks.  Data blocks carry no header: the
 * record's tags verify them.
 *
 * Writing: journal_commit queues the caller's record; whichever caller
 * finds no commit in progress becomes the leader, encodes every queued
 * record and writes them durably in one go (group commit), then wakes the
 * others.  A committed record is "in flight" until its writer calls
 * journal_applied, having written the data and set the tags.
 *
 * Deferred entries (journal_submit) are queued without waiting: they go
 * with the next commit, whoever leads it (journal_commit_submitted, a
 * journal_commit, or the background thread after COMMIT_DELAY_MS), and
 * the leader applies them through their callback before it leads again.
 *
 * Checkpoints free the ring in two steps.  Capture holds commits off only
 * until nothing is in flight, and takes the tags as they are then (every
 * record before the head applied, none after): the head becomes the new
 * tail.  Complete runs while writers go on: it syncs the data, writes the
 * captured tags home, syncs, and records the tail.  Tags home therefore
 * never get ahead of durable data.  A background thread starts one when
 * the ring is half full; a leader that finds it full completes or runs one
 * itself, and only then do writers wait.
 */
#ifndef NBD_INTEGRITY_JOURNAL_H
#define NBD_INTEGRITY_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backing.h"
#include "superblock.h"

#define JOURNAL_MAGIC 0x314a494eu /* "NIJ1" */
#define JOURNAL_HEADER 24
#define JOURNAL_RECORD_HEADER 16
#define JOURNAL_MAC_SIZE 32
#define JOURNAL_MAC_OFFSET (SB_BLOCK - 4 - JOURNAL_MAC_SIZE)
#define JOURNAL_PAYLOAD (JOURNAL_MAC_OFFSET - JOURNAL_HEADER)

enum journal_record_kind { JREC_TAGS = 1, JREC_UNWRITTEN = 2, JREC_DATA = 3 };

struct journal_record {
  uint64_t sector;
  uint32_t count;
  uint16_t kind;
  const uint8_t *tags; /* count * tag_size bytes for JREC_TAGS, JREC_DATA */
  const uint8_t *data; /* count * sector_size bytes for JREC_DATA */
};

/* Largest count of one record that fits in a block. */
uint32_t journal_record_max (unsigned tag_size);

/* Most sectors one journal_commit takes; callers split larger requests. */
uint32_t journal_sectors_max (unsigned tag_size);

/* Most sectors of one JREC_DATA record. */
uint32_t journal_data_sectors_max (const struct superblock *sb);

/* Encodes as many of RECS[*DONE..N) into BLOCK (sequence SEQ) as fit,
 * splitting a record if needed: on return RECS[*DONE] has been advanced
 * past what was encoded, *DONE counts whole records done. */
void journal_block_encode (const struct superblock *sb, uint64_t seq,
                           struct journal_record *recs, size_t n, size_t *done,
                           uint8_t block[SB_BLOCK]);

/* Decodes BLOCK, expected to hold sequence SEQ.  Calls FN for each record
 * (tags point into BLOCK; data is NULL: journal_scan reads it).  Returns 1 if
 * the block is valid, 0 if it is not the block expected (end of the journal),
 * -1 with ni_error() if it has a good checksum but a record is out of range.
 * A keyed disk's blocks are authenticated with sb->auth; without it (a
 * tool that has no key) they are decoded unauthenticated. */
typedef int (*journal_record_fn) (void *opaque, uint64_t seq,
                                  const struct journal_record *rec);
int journal_block_decode (const struct superblock *sb, uint64_t seq,
                          const uint8_t block[SB_BLOCK], journal_record_fn fn,
                          void *opaque);

/* Reads the journal from SB's tail, calling FN for every record.  On
 * success stores the sequence number after the last valid block in
 * *HEAD; -1 with ni_error() if the journal could not be read. */
int journal_scan (struct backing *b, const struct superblock *sb,
                  journal_record_fn fn, void *opaque, uint64_t *head);

struct journal;

/* How the journal's owner checkpoints.  CAPTURE returns what COMPLETE
 * will write home (NULL with ni_error() on failure); COMPLETE makes the
 * data durable, then what CAPTURE took, then records NEW_TAIL, and frees
 * CAPTURED whether or not it succeeds. */
struct journal_checkpointer {
  void *(*capture) (void *opaque);
  int (*complete) (void *opaque, void *captured, uint64_t new_tail);
};

/* A journal for writing, empty, its next block sequence HEAD. */
struct journal *journal_open (struct backing *b, const struct superblock *sb,
                              uint64_t head,
                              const struct journal_checkpointer *cp,
                              void *opaque);

/* Starts the thread that checkpoints when the ring is half full and
 * commits deferred entries left waiting.  Call it in the process that
 * serves: a thread does not survive fork. */
int journal_start_background (struct journal *j);

void journal_close (struct journal *j);

/* Makes REC durable in the journal (group commit).  On success the record
 * is in flight until journal_applied. */
int journal_commit (struct journal *j, const struct journal_record *rec);

/* Marks one committed record applied (its data and tags are in place). */
void journal_applied (struct journal *j);

/* A record submitted without waiting for its commit.  The submitter owns
 * it until the leader of the commit that takes it calls APPLY, outside
 * the journal's lock: with ERR 0 once it is durable (APPLY must then call
 * journal_applied), or with the errno of the failed commit.  The other
 * fields are the journal's. */
struct journal_entry {
  struct journal_record rec;
  void (*apply) (struct journal_entry *e, int err);
  bool done;
  int err;
  struct journal_entry *next;
};

/* Queues E for the next commit.  -1 with EINVAL if its record is larger
 * than one commit takes (see journal_sectors_max). */
int journal_submit (struct journal *j, struct journal_entry *e);

/* Commits and applies every entry submitted before the call. */
void journal_commit_submitted (struct journal *j);

/* The same, in the background thread if it runs (without waiting), here
 * otherwise. */
void journal_kick (struct journal *j);

/* Checkpoints: everything committed before the call leaves the ring. */
int journal_checkpoint (struct journal *j);

/* The two steps of journal_checkpoint, for a caller (a test) that wants
 * writes in between.  journal_checkpoint_end returns the result of the
 * checkpoint begun, whoever completed it. */
int journal_checkpoint_begin (struct journal *j);
int journal_checkpoint_end (struct journal *j);

struct journal_stats {
  uint64_t commits; /* durable journal writes */
  uint64_t records; /* records committed */
  uint64_t checkpoints;
  uint64_t used_blocks; /* blocks between tail and head now */
  uint64_t total_blocks;
  uint64_t last_checkpoint_time; /* Unix time; the opening counts as one */
};

void journal_get_stats (struct journal *j, struct journal_stats *stats);

#endif
