/* A fault-injecting backing, after SQLite's fault injector: it passes
 * every call to the backing it wraps, except that call number N fails
 * with a chosen errno (once, or from then on).  A target narrows the
 * calls that count to some kinds of call on some byte ranges: the tag
 * runs, the journal, the data area. */
#ifndef NBD_INTEGRITY_FAULTY_H
#define NBD_INTEGRITY_FAULTY_H

#include <stdbool.h>
#include <stdint.h>

#include "backing.h"

/* Kinds of call, for faulty_target. */
#define FAULTY_READ 1  /* pread */
#define FAULTY_WRITE 2 /* pwrite */
#define FAULTY_PUNCH 4 /* punch */

/* Most ranges one backing targets. */
#define FAULTY_MAX_RANGES 16

/* Wraps INNER, which the new backing owns. */
struct backing *faulty_new (struct backing *inner);

/* Fails call number N from now (1 is the next call) with ERR; if
 * PERSIST, every call after it fails too.  N 0 disarms. */
void faulty_arm (struct backing *b, uint64_t n, int err, bool persist);

/* From now on only calls of KINDS (FAULTY_READ | ...) whose bytes meet
 * [OFF, OFF+LEN) count towards call N and fail; every other call, sync
 * included, passes uncounted.  Each call adds a range and sets KINDS for
 * them all; the test aborts past FAULTY_MAX_RANGES. */
void faulty_target (struct backing *b, unsigned kinds, uint64_t off,
                    uint64_t len);

/* Removes every range: every call counts again. */
void faulty_untarget (struct backing *b);

/* True once the armed fault has been hit. */
bool faulty_hit (struct backing *b);

/* When B is closed, stores faulty_hit (B) in *OUT: for tests whose
 * backing is closed by the code under test. */
void faulty_keep_hit (struct backing *b, bool *out);

#endif
