/* Backing I/O: the only way lib/ touches the disk it protects.
 *
 * One small table of operations, so that tests can put a fault-injecting
 * or power-loss-simulating implementation under the real code.  Every
 * operation returns 0 on success or -1 with errno set; a short transfer
 * is an error (EIO), never a partial success.
 */
#ifndef NBD_INTEGRITY_BACKING_H
#define NBD_INTEGRITY_BACKING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct backing;

/* Flags for pwrite. */
#define BACKING_DSYNC 1 /* durable on return (data and what reaches it) */

struct backing_ops {
  int (*pread) (struct backing *b, void *buf, size_t len, uint64_t off);
  int (*pwrite) (struct backing *b, const void *buf, size_t len, uint64_t off,
                 unsigned flags);
  /* Makes every completed write durable. */
  int (*sync) (struct backing *b);
  /* Deallocates and zeroes a range; -1 with EOPNOTSUPP if it cannot. */
  int (*punch) (struct backing *b, uint64_t off, uint64_t len);
  /* Starts reading a range that is read soon; may be NULL. */
  void (*prefetch) (struct backing *b, uint64_t off, uint64_t len);
  void (*close) (struct backing *b);
};

/* What punch has shown it can do: learned from every punch, since a
 * backing that cannot punch never will. */
enum backing_punch {
  BACKING_PUNCH_UNKNOWN,     /* not tried yet */
  BACKING_PUNCH_WORKS,       /* a punch succeeded */
  BACKING_PUNCH_UNSUPPORTED, /* a punch failed with EOPNOTSUPP */
};

struct backing {
  const struct backing_ops *ops;
  char *name;    /* path, for messages */
  uint64_t size; /* bytes */
  bool readonly;
  atomic_uint_fast64_t bytes_written;
  atomic_int punch; /* enum backing_punch */
};

/* Opens a file or block device.  Opened for writing, it is locked
 * (flock) for as long as it is open: a second writer gets EBUSY, and a
 * regular file is punched past its end, which changes nothing but tells
 * whether its file system punches (backing_punches).  NULL with errno
 * and ni_error() on failure. */
struct backing *backing_open_file (const char *path, bool readonly);

/* Creates PATH as a sparse file of SIZE bytes if it does not exist, or
 * grows it to SIZE if it is a smaller regular file. */
int backing_create_file (const char *path, uint64_t size);

int backing_pread (struct backing *b, void *buf, size_t len, uint64_t off);
int backing_pwrite (struct backing *b, const void *buf, size_t len,
                    uint64_t off, unsigned flags);
int backing_sync (struct backing *b);
int backing_punch (struct backing *b, uint64_t off, uint64_t len);

/* True if punch is known to work on B: a punch has succeeded on it (for
 * a file opened for writing, the open tried one past its end).  False
 * while that is unknown or once it failed with EOPNOTSUPP. */
bool backing_punches (struct backing *b);

/* Makes a range read as zeroes: punches it, or writes zeroes where the
 * backing cannot punch. */
int backing_zero (struct backing *b, uint64_t off, uint64_t len);

/* Writes zeroes over a range, so that it is allocated on the disk. */
int backing_write_zeroes (struct backing *b, uint64_t off, uint64_t len);

/* Starts reading [OFF, OFF+LEN), which is read soon, without waiting:
 * many reads asked for at once keep a disk's queue full.  A hint that
 * cannot be taken changes nothing but speed, so none fails. */
void backing_prefetch (struct backing *b, uint64_t off, uint64_t len);

void backing_close (struct backing *b);

/* Shared by implementations: fills in the common fields. */
void backing_init (struct backing *b, const struct backing_ops *ops,
                   const char *name, uint64_t size, bool readonly);

#endif
