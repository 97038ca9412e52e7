/* A reader of the kernel's dm-log-writes log (Documentation/admin-guide/
 * device-mapper/log-writes.rst, drivers/md/dm-log-writes.c): what a
 * device was asked to write, in the order the writes would reach its
 * medium, and the flushes and marks among them.
 *
 * The log device holds a super block (the log's sector size, and the
 * number of entries) in its first sector, then every entry in its own
 * sector (sector, count, flags and, for a mark, its text), each followed
 * by the data it wrote.  Sector numbers and counts are in the log's
 * sector size.  A write is logged only once a flush that followed its
 * completion has completed, just before that flush: so everything before
 * a FLUSH entry is durable once it is, and a write logged after the last
 * FLUSH (and not FUA) may or may not have reached the medium.  A FUA
 * write is durable when logged.  Marks are logged when they are asked
 * for.
 */
#ifndef NBD_INTEGRITY_REPLAY_LOGWRITES_H
#define NBD_INTEGRITY_REPLAY_LOGWRITES_H

#include <stdint.h>

#define LW_FLUSH (1 << 0)
#define LW_FUA (1 << 1)
#define LW_DISCARD (1 << 2)
#define LW_MARK (1 << 3)
#define LW_METADATA (1 << 4)

#define LW_MARK_MAX 64

struct lw_entry {
  uint64_t sector, nr_sectors, flags;
  uint64_t data;          /* byte offset of the written data in the log */
  char mark[LW_MARK_MAX]; /* a mark's text, NUL-terminated */
};

struct lw_log {
  int fd;
  uint32_t sector_size;
  uint64_t nr_entries;
  struct lw_entry *entries;
};

/* Opens and indexes the log at PATH.  -1 with a message on stderr. */
int lw_open (struct lw_log *log, const char *path);

void lw_close (struct lw_log *log);

/* The index of the mark called TEXT, or -1. */
int64_t lw_find_mark (const struct lw_log *log, const char *text);

/* Writes entry I to the device image FD (a flush or a mark writes
 * nothing).  A discarded range may read back as anything, so it is filled
 * from the random state *RND.  -1 with a message on stderr. */
int lw_apply (const struct lw_log *log, uint64_t i, int fd, uint64_t *rnd);

/* Whether entry I changes the device, and whether the device may have
 * lost it after a crash right after it (it was neither flushed nor FUA). */
int lw_is_write (const struct lw_entry *e);

#endif
