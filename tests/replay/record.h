/* What the crash-replay workload did, for the checker's oracle: one line
 * per request, in the order each thread issued them, with the times it
 * was sent and answered on one monotonic clock, and the dm-log-writes
 * mark logged after it was answered.
 *
 *   OP THREAD SEQ OFFSET LENGTH FUA SENT ANSWERED MARK MARK_RETURNED
 *
 * OP is one of W (write), Z (zero), T (trim), F (flush); FUA is 0 or 1;
 * times are nanoseconds; MARK is the number N of the mark "mN" put in the
 * log after the answer (every flush and every request with FUA has one),
 * or -1, and MARK_RETURNED the time the mark's ioctl returned: the mark
 * is in the log before anything the disk wrote after that.  SEQ numbers
 * the requests of all threads, from 1; a write's data is
 * pattern_fill (SEQ, OFFSET, ...).
 */
#ifndef NBD_INTEGRITY_REPLAY_RECORD_H
#define NBD_INTEGRITY_REPLAY_RECORD_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct record_op {
  char op; /* 'W', 'Z', 'T' or 'F' */
  unsigned thread;
  uint64_t seq;
  uint64_t offset, length;
  bool fua;
  uint64_t sent, answered;
  int64_t mark;
  uint64_t mark_returned;
};

/* One line of F; -1 on an error, 0 at the end, 1 with *OP. */
int record_read (FILE *f, struct record_op *op);

/* OP as one line of F. */
void record_write (FILE *f, const struct record_op *op);

/* The bytes [OFFSET, OFFSET+LEN) of the disk as the write SEQ gives them:
 * every byte depends on SEQ and its offset, so no two writes, nor two
 * places of one write, hold the same sector. */
void pattern_fill (uint64_t seq, uint64_t offset, uint8_t *buf, uint64_t len);

/* The SEQ whose pattern fills the disk before it is formatted: garbage
 * that no request writes. */
#define pattern_garbage_seq(seed) (UINT64_C (1) << 63 | (seed))

#endif
