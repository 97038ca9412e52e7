/* A fault-injecting backing, after SQLite's fault injector: it passes
 * every call to the backing it wraps, except that call number N fails
 * with a chosen errno (once, or from then on). */
#ifndef NBD_INTEGRITY_FAULTY_H
#define NBD_INTEGRITY_FAULTY_H

#include <stdbool.h>
#include <stdint.h>

#include "backing.h"

/* Wraps INNER, which the new backing owns. */
struct backing *faulty_new (struct backing *inner);

/* Fails call number N from now (1 is the next call) with ERR; if
 * PERSIST, every call after it fails too.  N 0 disarms. */
void faulty_arm (struct backing *b, uint64_t n, int err, bool persist);

/* True once the armed fault has been hit. */
bool faulty_hit (struct backing *b);

#endif
