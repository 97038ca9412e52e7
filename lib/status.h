/* The status file: a served disk's counters, for nbd-integrity status.
 *
 * Notes on the design.
 *
 * A key file in glib's syntax (so the tool reads it with GKeyFile),
 * written here with plain stdio, one group:
 *
 *     [status]
 *     version=1                   STATUS_VERSION
 *     state=serving               or "closed", written last
 *     disk=PATH                   escaped as a key file string
 *     hash=crc32c                 algorithm
 *     mode=tags                   crash mode
 *     pid=N                       of the serving process
 *     start_time=T                Unix times: the server's start,
 *     counters_since=T            the last reset (or the start),
 *     update_time=T               this write
 *     reads=N ...                 one line for each of status_fields[]
 *     last_mismatch_sectors=N;N;  newest first, at most 8
 *
 * It is written to PATH.tmp, made anew each time (what is there is
 * removed, never written through: it may be a link to the disk), and
 * renamed over PATH, so a reader sees the old file or the new one whole.
 * There is no fsync: the file describes a running process, and is
 * rewritten after a crash.
 *
 * The rename replaces whatever is at PATH, so status_check_path refuses,
 * before anything is written, a PATH that holds anything else: the disk
 * or its key file (or a link to either), a FIFO or a device, or a file
 * whose first line does not start with STATUS_MAGIC (as every status
 * file's has, since version 1).  A status file of an earlier run is
 * replaced (a restart), and so is an empty file, which holds nothing to
 * lose and is what a crash may leave of a file never synced.
 *
 * Reset: the tool creates PATH.reset (status_reset_path); the publisher
 * that sees it takes the counters then as its baseline, publishes the
 * counters minus the baseline (status_subtract), then removes PATH.reset,
 * so a reader that sees the file gone sees the new counters.
 */
#ifndef NBD_INTEGRITY_STATUS_H
#define NBD_INTEGRITY_STATUS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stats.h"

#define STATUS_VERSION 1
#define STATUS_MAGIC "# nbd-integrity status" /* how the first line starts */
#define STATUS_GROUP "status"
#define STATUS_RECENT_KEY "last_mismatch_sectors"

enum status_kind {
  STATUS_COUNTER, /* only grows; a reset starts it again from 0 */
  STATUS_GAUGE,   /* a level or a time: a reset leaves it */
};

/* One number of struct disk_counters, as the status file names it. */
struct status_field {
  const char *key;
  size_t offset; /* of its uint64_t in struct disk_counters */
  enum status_kind kind;
  const char *help; /* one line, for the tool's Prometheus output */
};

extern const struct status_field status_fields[];
extern const size_t status_nr_fields;

/* FIELD's number in C, and where it is. */
uint64_t status_field_get (const struct disk_counters *c,
                           const struct status_field *field);
uint64_t *status_field_value (struct disk_counters *c,
                              const struct status_field *field);

struct status {
  const char *state; /* "serving" or "closed" */
  const char *disk, *hash, *mode;
  pid_t pid;
  uint64_t start_time, counters_since, update_time; /* Unix time */
  struct disk_counters counters;
};

/* Writes S to PATH atomically (see above).  -1 with errno and ni_error()
 * naming the file on failure. */
int status_write (const char *path, const struct status *s);

/* Whether PATH may take the status of DISK, whose key file is KEYFILE
 * (NULL: none): see above.  0 if it may; -1 with errno and ni_error()
 * naming PATH and what is there if not. */
int status_check_path (const char *path, const char *disk, const char *keyfile);

/* PATH.reset, malloc'd; NULL with errno on failure. */
char *status_reset_path (const char *path);

/* C minus BASELINE: the counters since a reset, and only the recent
 * mismatches that came after it.  Gauges are left as they are. */
void status_subtract (struct disk_counters *c,
                      const struct disk_counters *baseline);

#endif
