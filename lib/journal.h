/* The write-ahead journal: group commit, flush marks and checkpoints.
 *
 * Notes on the design.  The journal's blocks and how they are read back
 * are in journal-format.h; this is the engine that writes them.
 *
 * Writing: journal_commit queues the caller's record; whichever caller
 * finds no commit in progress becomes the leader, encodes every queued
 * record and writes them durably in one go (group commit), each header
 * block followed by its copy, then wakes the others.  A committed record
 * is "in flight" until its writer calls journal_applied, having written
 * the data and set the tags.  A commit whose write fails leaves the head
 * where it was: the next commit rewrites those blocks, with a later
 * attempt number, so no gap is left for a scan to stop at.
 *
 * Deferred entries (journal_submit) are queued without waiting: they go
 * with the next commit, whoever leads it (journal_commit_submitted, a
 * journal_commit, or the background thread after COMMIT_DELAY_MS).  Once
 * it is durable they are "ready", and the next commit's durable write may
 * go on while they are written in place.  The background thread applies
 * them between commits, and every thread that waits for applies (a
 * flush, a checkpoint's capture, a writer waiting for room or for a
 * range) applies ready entries instead of sleeping while there are any:
 * none waits for work that nobody does.  Writers that have no reason to
 * wait do not help: their in-place writes then contend for the file's
 * lock (in-process, 16 threads of random 4 KiB writes: 117,000 a second
 * with one apply per write, 142,000 without).  Which thread
 * applies an entry changes nothing on the disk: a deferred write holds
 * its range until applied, so no two overlap.
 *
 * Flush (journal_flush): waits until every record committed before it is
 * applied, syncs the disk, then commits a flush mark naming the sequence
 * below which every record is now durable in place.  Recovery trusts a
 * record below the newest mark to be on the disk, so a journal that has
 * lost one, or a sector that does not hold one, is damage, not a crash.
 * A flush with nothing new since the last mark writes none.
 *
 * Checkpoints free the ring in two steps.  Capture holds commits off only
 * until nothing is in flight, and takes the tags as they are then (every
 * record before the head applied, none after): the head becomes the new
 * tail.  Complete runs while writers go on: it syncs the data, writes the
 * captured tags home, syncs, and records the tail, which every header
 * written after carries too.  Tags home therefore never get ahead of
 * durable data.  A background thread starts one when the ring is half
 * full; a leader that finds it full completes or runs one itself, and
 * only then do writers wait.
 *
 * The checkpoint's states (struct journal's ckpt; every change under its
 * lock, which capture and complete drop only around the owner's
 * callbacks):
 *
 *                 capture_locked: waits for in_flight == 0,
 *                 then cp->capture; the head is the tail to be
 *     CKPT_IDLE ---------------------------------------------> CKPT_CAPTURED
 *         ^      by journal_checkpoint_begin or, when the ring      |
 *         |      is full, journal_make_room_locked; busy held       |
 *         |      throughout, so no commit starts                    |
 *         |                                                         |
 *         |   complete_locked, once                complete_locked: |
 *         |   cp->complete returns:          by journal_checkpoint_ |
 *         |   the tail moves if it            end, by a begin that  |
 *         |   succeeded; wakes waiters       finds one left, or by  |
 *         |                                   make_room; busy free, |
 *         +---------------- CKPT_COMPLETING <--- commits go on -----+
 *
 *   busy       set by commit_until around each lead_commit, and by
 *              journal_checkpoint_begin around the capture: at most one
 *              leader or capture at a time.
 *   in_flight  raised by note_commit_locked, lowered by journal_applied
 *              (which wakes a capture waiting for it to reach 0; the
 *              capture applies ready entries itself meanwhile).
 *   waiting    while CKPT_COMPLETING, journal_make_room_locked and
 *              journal_checkpoint_end wait for "changed", and
 *              journal_checkpoint_begin waits for it to end and busy to
 *              clear; a failed capture leaves CKPT_IDLE.
 *
 * The background thread (journal_background_thread) runs a checkpoint
 * when journal_want_checkpoint_locked, called after each commit, finds
 * the ring half full in CKPT_IDLE, and a flush when it finds records of
 * JOURNAL_FLUSH_SECTORS sectors that no flush mark covers.
 */
#ifndef NBD_INTEGRITY_JOURNAL_H
#define NBD_INTEGRITY_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backing.h"
#include "journal-format.h"
#include "superblock.h"

/* The background thread makes a flush mark (as journal_flush does) once
 * records of JOURNAL_FLUSH_SECTORS sectors are covered by none, nor by a
 * checkpoint, and JOURNAL_FLUSH_INTERVAL_MS have passed since the last
 * mark or checkpoint.  Recovery trusts a flushed record without reading
 * its sector, so a crash leaves it the sectors of at most about that
 * long's writes to read, not a full journal's (over a million in 64 MiB).
 * The interval is the price: each mark syncs the disk, and a mark every
 * 16,384 sectors took sequential writes from 2.5 GB/s to 0.9 (a sync
 * every 64 MiB) where one every 5 s left 2.4 (docs/BENCHMARKS.md). */
#define JOURNAL_FLUSH_SECTORS 16384
#define JOURNAL_FLUSH_INTERVAL_MS 5000

/* Most sectors one journal_commit takes; callers split larger requests. */
uint32_t journal_sectors_max (unsigned tag_size);

struct journal;

/* How the journal's owner checkpoints.  CAPTURE returns what COMPLETE
 * will write home (NULL with ni_error() on failure); COMPLETE makes the
 * data durable, then what CAPTURE took, then records NEW_TAIL, and frees
 * CAPTURED whether or not it succeeds. */
struct journal_checkpointer {
  void *(*capture) (void *opaque);
  int (*complete) (void *opaque, void *captured, uint64_t new_tail);
};

/* A journal for writing, empty, its next block sequence HEAD.  NULL with
 * errno and ni_error() on failure. */
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
 * is in flight until journal_applied, given the *COMMIT it returns. */
int journal_commit (struct journal *j, const struct journal_record *rec,
                    uint64_t *commit);

/* Marks one record of commit COMMIT applied (its data and tags are in
 * place). */
void journal_applied (struct journal *j, uint64_t commit);

/* Makes every record committed before the call durable in place: waits
 * for them to be applied, syncs the disk and commits a flush mark.  If a
 * background flush or checkpoint failed since the last call, fails with
 * its error instead (once): a later sync may not see it again. */
int journal_flush (struct journal *j);

/* A record submitted without waiting for its commit.  The submitter owns
 * it until the leader of the commit that takes it calls APPLY, outside
 * the journal's lock: with ERR 0 once it is durable (APPLY must then call
 * journal_applied with E->commit), or with the errno of the failed commit.  The
 * other fields are the journal's. */
struct journal_entry {
  struct journal_record rec;
  void (*apply) (struct journal_entry *e, int err);
  bool done;
  int err;
  uint64_t commit; /* for journal_applied */
  struct journal_entry *next;
};

/* Queues E for the next commit.  -1 with EINVAL if its record is larger
 * than one commit takes (see journal_sectors_max). */
int journal_submit (struct journal *j, struct journal_entry *e);

/* Commits and applies every entry submitted before the call. */
void journal_commit_submitted (struct journal *j);

/* Commits every entry submitted before the call (or waits for the commit
 * under way to take them), then applies ready entries until none is
 * left; other threads may still be applying some on return.  What a
 * thread that must wait for room or for a range does first. */
void journal_commit_and_help (struct journal *j);

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
  uint64_t records; /* records of changes committed */
  uint64_t marks;   /* flush marks committed */
  uint64_t checkpoints;
  uint64_t used_blocks; /* blocks between tail and head now */
  uint64_t total_blocks;
  uint64_t last_checkpoint_time; /* Unix time; the opening counts as one */
};

void journal_get_stats (struct journal *j, struct journal_stats *stats);

#endif
