/* Write-back: writes acknowledged before they reach the disk.
 *
 * Notes on the design.  An NBD write without FUA need not be durable
 * until the next flush, but its tags must be durable in the journal before
 * its data can reach the disk.  Committed request by request, that is one
 * durable journal write each: at queue depth 1, every write paid a disk
 * round trip.  So such a write is copied into memory here, its record
 * submitted to the journal without waiting (journal_submit), and the
 * request acknowledged.  The next commit takes every queued record in one
 * durable write, then writes their data in place; until then the write
 * holds its range (rangelock.h), so requests that touch it wait, and
 * their wait commits it.  Data is still written to the disk once.
 *
 * The budget bounds the memory: a writer waits while the copies queued
 * would exceed it (or there are too many), and the queue is committed as
 * soon as it holds half the budget (or half the most writes), or a request
 * waits for a range or for room, or a flush comes.
 *
 * A deferred write that fails to commit or to reach its place cannot fail
 * its request, which was acknowledged long ago: its error is kept, and the
 * next flush fails with it, as the page cache reports a failed write-back
 * at the next fsync.  Its old data and tags stay, so it reads as before.
 */
#ifndef NBD_INTEGRITY_WRITEBACK_H
#define NBD_INTEGRITY_WRITEBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "journal.h"

/* The default budget. */
#define WRITEBACK_DEFAULT_BYTES (16u << 20)

struct writeback;

/* Write-back through journal J with BUDGET bytes of copies.  NULL with
 * errno and ni_error() on failure. */
struct writeback *writeback_new (struct journal *j, size_t budget);

void writeback_free (struct writeback *wb);

/* The largest write to defer in one piece: a quarter of the budget. */
size_t writeback_max_bytes (const struct writeback *wb);

/* Memory for a deferred write of BYTES (at most writeback_max_bytes),
 * waiting for room in the budget, and committing what is queued to make
 * it.  *TICKET is what writeback_release takes back.  NULL with EINVAL if
 * BYTES is too large. */
void *writeback_alloc (struct writeback *wb, size_t bytes, uint64_t *ticket);

/* Gives back what writeback_alloc took. */
void writeback_release (struct writeback *wb, uint64_t ticket);

/* After journal_submit of a deferred write: commits the queue now if it
 * holds half the budget, someone waits for room, or CONTENDED (a request
 * waits for a range: see rangelock_contended). */
void writeback_submitted (struct writeback *wb, bool contended);

/* Keeps the error ERR of a deferred write for the next flush. */
void writeback_failed (struct writeback *wb, int err);

/* Commits and applies every write deferred so far.  -1 with errno if any
 * deferred write failed since the last call (the error is then cleared). */
int writeback_flush (struct writeback *wb);

/* Bytes of deferred writes not yet applied. */
uint64_t writeback_pending_bytes (struct writeback *wb);

#endif
