/* Publishing a served disk's status file (status.h) from a thread.
 *
 * Notes on the design.
 *
 * The publisher writes the file when it starts, then wakes every
 * PUBLISH_INTERVAL_MS and rewrites it only if a counter changed or a
 * reset was asked for: a mismatch shows within the interval, and an idle
 * server writes nothing.  Each wake also logs how many log lines the rate
 * limit suppressed in a second that has ended (disk_log_suppressed).
 *
 * What it publishes is the disk's counters minus a baseline: zero at the
 * start, the counters at the time of the last reset after one (the reset
 * protocol is in status.h).  Stopping joins the thread and writes the file
 * a last time, with state "closed".
 *
 * A failed write is logged once, and again only after one has succeeded;
 * it is retried at the next wake.
 */
#ifndef NBD_INTEGRITY_PUBLISHER_H
#define NBD_INTEGRITY_PUBLISHER_H

#define PUBLISH_INTERVAL_MS 250

struct disk;
struct publisher;

/* Publishes D's status at PATH and starts the thread.  Call it in the
 * process that serves, after any fork.  NULL with ni_error() naming the
 * file on failure. */
struct publisher *publisher_start (struct disk *d, const char *path);

/* Stops the thread, writes the status with state "closed" and frees P.
 * Call it before closing the disk.  -1 with ni_error() if that last
 * write failed. */
int publisher_stop (struct publisher *p);

#endif
