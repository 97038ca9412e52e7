/* Rate-limited logging, so that a dying disk cannot flood the log.
 *
 * Notes on the design.
 *
 * Time is cut into windows of RATELIMIT_INTERVAL_MS, each starting with
 * the first message after the last window ended.  The first
 * RATELIMIT_BURST messages of a window are logged; the rest are counted,
 * and once the window has ended one line says how many were suppressed:
 * "NAME: N more NOUN suppressed".  That line is logged by the next
 * message, or by ratelimit_log_suppressed, which an owner calls now and
 * then and at the end.  The counters of what happened (struct disk_stats)
 * count every event: only the log is limited.
 *
 * Every field is protected by the lock, which is taken only to log.
 */
#ifndef NBD_INTEGRITY_RATELIMIT_H
#define NBD_INTEGRITY_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "report.h"

#define RATELIMIT_BURST 10
#define RATELIMIT_INTERVAL_MS 1000

struct ratelimit {
  pthread_mutex_t lock;  /* protects every field below */
  const char *name;      /* of the disk, for the summary line */
  const char *noun;      /* what is suppressed, plural: "mismatches" */
  uint64_t window_start; /* ms on the monotonic clock */
  uint64_t logged;       /* in the window */
  uint64_t suppressed;   /* in the window */
};

/* NAME and NOUN must outlive RL. */
void ratelimit_init (struct ratelimit *rl, const char *name, const char *noun);
void ratelimit_destroy (struct ratelimit *rl);

/* Whether a message at time NOW (ms) may be logged; if not, it is
 * counted.  *ENDED is set to the number suppressed in a window that NOW
 * has ended, which the caller reports first; 0 if none. */
bool ratelimit_allow (struct ratelimit *rl, uint64_t now, uint64_t *ended);

/* The number suppressed in a window that has ended by NOW, now reported
 * (forgotten); with END, whether or not the window has ended. */
uint64_t ratelimit_take_suppressed (struct ratelimit *rl, uint64_t now,
                                    bool end);

/* Logs the message unless the limit suppresses it (see above). */
void ratelimit_log (struct ratelimit *rl, enum ni_log_level level,
                    const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

/* Logs the summary line of a window that has ended; with END, of the
 * window in progress too (when closing). */
void ratelimit_log_suppressed (struct ratelimit *rl, bool end);

#endif
