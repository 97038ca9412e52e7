/* The journal's engine as its three files share it: journal.c (opening,
 * group commit, flush), journal-batch.c (packing queued records into a
 * commit's blocks) and journal-checkpoint.c (checkpoints and the
 * background thread).  Nothing outside them includes it.
 */
#ifndef NBD_INTEGRITY_JOURNAL_INTERNAL_H
#define NBD_INTEGRITY_JOURNAL_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "journal.h"
#include "lock.h"

/* Most blocks of one group and of one record: a scan takes no more data
 * blocks after a group's headers (JOURNAL_MAX_GROUP_DATA). */
#define MAX_GROUP_BLOCKS (JOURNAL_MAX_GROUP_DATA + 1)
/* Most blocks one commit writes, header groups one after another. */
#define MAX_BATCH_BLOCKS 1024
/* Deferred writes queue up by the thousand: one commit takes them all. */
#define MAX_BATCH_RECORDS 2048
/* How long a deferred entry may wait for a commit that nobody asked for. */
#define COMMIT_DELAY_MS 100

struct journal {
  struct backing *b;
  struct superblock sb;
  uint64_t nr_blocks;
  const struct journal_checkpointer *cp;
  void *opaque;
  bool background;
  pthread_t thread;
  uint8_t *buf; /* MAX_BATCH_BLOCKS blocks; used by the leader only */
  struct journal_record batch[MAX_BATCH_RECORDS]; /* leader only */
  struct journal_record whole[MAX_BATCH_RECORDS]; /* batch, as queued */

  pthread_mutex_t lock;   /* protects every field below */
  pthread_cond_t changed; /* a commit or a checkpoint finished */
  /* Records applied: the oldest commit in flight left, or in_flight fell
   * to 0.  Signalled only while apply_waiters > 0. */
  pthread_cond_t applied;
  unsigned apply_waiters;
  struct journal_entry *queue, **queue_end;
  /* Deferred entries whose commit is durable, oldest first, for any
   * thread to apply (journal_apply_ready_locked). */
  struct journal_entry *ready, **ready_end;
  uint64_t submitted, completed; /* entries, counted in queue order */
  bool busy;                     /* a leader is committing (or capturing) */
  uint64_t head, tail;           /* block sequence numbers */
  uint64_t in_flight;            /* committed, not yet applied */
  uint64_t attempts;             /* commits tried, for their headers */
  /* The head after the last commit with a change in it, and the sequence
   * the newest flush mark covers up to: a flush with nothing between them
   * writes no mark. */
  uint64_t changed_to, marked_to;
  /* Sectors of the records committed so far, and of those a flush mark
   * or a checkpoint covers: the rest a crash would leave recovery to
   * read (JOURNAL_FLUSH_SECTORS). */
  uint64_t sectors, marked_sectors, ckpt_sectors;
  struct timespec covered_at; /* when a mark or checkpoint last did */
  /* Commits with records in flight, oldest first: a ring of PENDING_CAP
   * entries from pending_first, pending_n of them in use. */
  struct pending_commit {
    uint64_t start, left;
  } * pending;
  size_t pending_first, pending_n, pending_cap;
  enum { CKPT_IDLE, CKPT_CAPTURED, CKPT_COMPLETING } ckpt;
  void *captured;     /* what the checkpoint writes home */
  uint64_t ckpt_tail; /* the tail once it is complete */
  int ckpt_result;    /* of the last checkpoint completed */
  /* The errno of a background flush or checkpoint that failed, for the
   * next journal_flush to report; 0 if none did. */
  int background_err;
  /* For the background thread. */
  bool want_checkpoint, want_commit, want_flush, flushing, stop;
  struct journal_stats stats;
};

/* journal-batch.c */

/* Moves queued entries into the batch while they fit, at least one; the
 * count, with the first in *TAKEN and an upper bound of the blocks they
 * take in *BLOCKS. */
size_t journal_take_batch_locked (struct journal *j,
                                  struct journal_entry **taken,
                                  uint64_t *blocks);

/* Encodes the batch of N records into buf as the commit INFO describes
 * (its start, attempt and tail); returns the blocks used.  Lock not held:
 * only the leader touches the batch and buf. */
uint64_t journal_encode_batch (struct journal *j, size_t n,
                               struct journal_block_info *info);

/* Whether REC fits in one commit. */
bool journal_record_fits (const struct journal *j,
                          const struct journal_record *rec);

/* journal-checkpoint.c */

/* Makes room for BLOCKS more blocks, as leader (busy held). */
int journal_make_room_locked (struct journal *j, uint64_t blocks);

/* Asks the background thread for a checkpoint if the ring is half full. */
void journal_want_checkpoint_locked (struct journal *j);

/* The background thread (journal_start_background). */
void *journal_background_thread (void *arg);

/* journal_flush without reporting a background failure: the background
 * thread's own flush. */
int journal_flush_now (struct journal *j);

/* Notes that the sectors of the first SECTORS committed are covered by a
 * flush mark or a checkpoint. */
void journal_cover_locked (struct journal *j, uint64_t sectors);

/* Keeps ERR, of a background flush or checkpoint, for the next
 * journal_flush. */
void journal_background_failed (struct journal *j, int err);

/* journal.c */

/* Commits every entry submitted so far; applies none. */
void journal_commit_queued_locked (struct journal *j);

/* Applies at most MAX deferred entries whose commit is durable; returns
 * how many.  Drops the lock around each. */
size_t journal_apply_ready_locked (struct journal *j, size_t max);

/* Waits until DONE says so, applying ready entries meanwhile, so that a
 * thread waiting for applies never waits for work nobody else will do. */
void journal_wait_applied_locked (struct journal *j,
                                  bool (*done) (struct journal *j, void *arg),
                                  void *arg);

#endif
