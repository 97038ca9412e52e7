/* Backing I/O: see backing.h.  The real implementation over a file or a
 * block device. */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backing.h"
#include "report.h"
#include "userfile.h"

/* What a disk may be. */
#define DISK_KINDS (USERFILE_REGULAR | USERFILE_BLOCK)

struct file_backing {
  struct backing b;
  int fd;
};

static int
file_fd (struct backing *b)
{
  return ((struct file_backing *)b)->fd;
}

/* Reads (RWF < 0) or writes (with pwritev2's flags RWF) all LEN bytes at
 * OFF, through short transfers and interruptions. */
static int
file_transfer (struct backing *b, char *p, size_t len, uint64_t off, int rwf)
{
  while (len > 0) {
    struct iovec iov = {.iov_base = p, .iov_len = len};
    ssize_t r = rwf < 0 ? pread (file_fd (b), p, len, off)
                        : pwritev2 (file_fd (b), &iov, 1, off, rwf);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return -1;
    if (r == 0) {
      errno = EIO; /* past the end: the disk was truncated */
      return -1;
    }
    p += r;
    off += r;
    len -= r;
  }
  return 0;
}

static int
file_pread (struct backing *b, void *buf, size_t len, uint64_t off)
{
  return file_transfer (b, buf, len, off, -1);
}

static int
file_pwrite (struct backing *b, const void *buf, size_t len, uint64_t off,
             unsigned flags)
{
  return file_transfer (b, (char *)buf, len, off,
                        flags & BACKING_DSYNC ? RWF_DSYNC : 0);
}

static int
file_sync (struct backing *b)
{
  return fdatasync (file_fd (b));
}

static int
file_punch (struct backing *b, uint64_t off, uint64_t len)
{
  int mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;

  if (fallocate (file_fd (b), mode, off, len) == 0)
    return 0;
  if (errno == ENOTTY || errno == ENODEV || errno == ENOSYS)
    errno = EOPNOTSUPP;
  return -1;
}

static void
file_prefetch (struct backing *b, uint64_t off, uint64_t len)
{
  (void)posix_fadvise (file_fd (b), off, len, POSIX_FADV_WILLNEED);
}

static void
file_close (struct backing *b)
{
  close (file_fd (b));
}

static const struct backing_ops file_ops = {
    .pread = file_pread,
    .pwrite = file_pwrite,
    .sync = file_sync,
    .punch = file_punch,
    .prefetch = file_prefetch,
    .close = file_close,
};

void
backing_init (struct backing *b, const struct backing_ops *ops,
              const char *name, uint64_t size, bool readonly)
{
  b->ops = ops;
  b->name = strdup (name);
  b->size = size;
  b->readonly = readonly;
  atomic_init (&b->bytes_written, 0);
  atomic_init (&b->punch, BACKING_PUNCH_UNKNOWN);
}

static bool
is_regular_file (int fd)
{
  struct stat st;

  return fstat (fd, &st) == 0 && S_ISREG (st.st_mode);
}

/* The size of FD, a regular file or a block device. */
static int
fd_size (int fd, uint64_t *size)
{
  struct stat st;

  if (fstat (fd, &st) == -1)
    return -1;
  if (S_ISBLK (st.st_mode))
    return ioctl (fd, BLKGETSIZE64, size);
  *size = st.st_size;
  return 0;
}

/* One writer at a time: two servers of one disk, or a format or a
 * recovery beside a server, would each overwrite the other's journal and
 * tags.  The lock goes with the file descriptor, so a writer that dies,
 * even by SIGKILL, leaves none behind. */
static int
lock_for_writing (int fd, const char *path)
{
  if (flock (fd, LOCK_EX | LOCK_NB) == 0)
    return 0;
  if (errno == EWOULDBLOCK)
    ni_error_set ("%s is in use: another process has it open for writing "
                  "(a server, a format or a recovery); stop that first",
                  path);
  else
    ni_error_set ("%s: cannot lock it for writing: %m", path);
  errno = EBUSY;
  return -1;
}

struct backing *
backing_open_file (const char *path, bool readonly)
{
  struct file_backing *fb;
  uint64_t size;
  int fd;

  ni_error_clear (); /* the entry point of disk_open and the tool */
  fd = userfile_open (path, readonly ? O_RDONLY : O_RDWR, 0, DISK_KINDS, NULL);
  if (fd == -1)
    return NULL;
  if (fd_size (fd, &size) == -1) {
    ni_error_set ("%s: its size cannot be read: %m", path);
    close (fd);
    return NULL;
  }
  if (!readonly && lock_for_writing (fd, path) == -1) {
    close (fd);
    return NULL;
  }
  fb = calloc (1, sizeof *fb);
  if (fb == NULL) {
    ni_error_set ("%s: cannot allocate its backing: %m", path);
    close (fd);
    return NULL;
  }
  fb->fd = fd;
  backing_init (&fb->b, &file_ops, path, size, readonly);
  /* Past the end of a regular file there is nothing to deallocate: the
   * punch only asks the file system whether it can. */
  if (!readonly && is_regular_file (fd))
    backing_punch (&fb->b, size, 4096);
  return &fb->b;
}

int
backing_create_file (const char *path, uint64_t size)
{
  struct stat st;
  int fd, r = 0;

  fd = userfile_open (path, O_RDWR | O_CREAT, 0644, DISK_KINDS, NULL);
  if (fd == -1)
    return -1;
  if (fstat (fd, &st) == -1)
    r = -1;
  else if (S_ISREG (st.st_mode) && (uint64_t)st.st_size < size)
    r = ftruncate (fd, size);
  if (r == -1)
    ni_error_set ("%s: cannot grow to %" PRIu64 " bytes: %m", path, size);
  close (fd);
  return r;
}

int
backing_pread (struct backing *b, void *buf, size_t len, uint64_t off)
{
  return b->ops->pread (b, buf, len, off);
}

int
backing_pwrite (struct backing *b, const void *buf, size_t len, uint64_t off,
                unsigned flags)
{
  if (b->ops->pwrite (b, buf, len, off, flags) == -1)
    return -1;
  atomic_fetch_add (&b->bytes_written, len);
  return 0;
}

int
backing_sync (struct backing *b)
{
  return b->ops->sync (b);
}

int
backing_punch (struct backing *b, uint64_t off, uint64_t len)
{
  int r;

  if (atomic_load (&b->punch) == BACKING_PUNCH_UNSUPPORTED) {
    errno = EOPNOTSUPP;
    return -1;
  }
  r = b->ops->punch (b, off, len);
  if (r == 0)
    atomic_store (&b->punch, BACKING_PUNCH_WORKS);
  else if (errno == EOPNOTSUPP)
    atomic_store (&b->punch, BACKING_PUNCH_UNSUPPORTED);
  return r;
}

void
backing_prefetch (struct backing *b, uint64_t off, uint64_t len)
{
  if (b->ops->prefetch)
    b->ops->prefetch (b, off, len);
}

bool
backing_punches (struct backing *b)
{
  return atomic_load (&b->punch) == BACKING_PUNCH_WORKS;
}

int
backing_zero (struct backing *b, uint64_t off, uint64_t len)
{
  if (backing_punch (b, off, len) == 0)
    return 0;
  if (errno != EOPNOTSUPP)
    return -1;
  return backing_write_zeroes (b, off, len);
}

int
backing_write_zeroes (struct backing *b, uint64_t off, uint64_t len)
{
  static const uint8_t zeroes[1 << 16];

  while (len > 0) {
    size_t n = len < sizeof zeroes ? len : sizeof zeroes;
    if (backing_pwrite (b, zeroes, n, off, 0) == -1)
      return -1;
    off += n;
    len -= n;
  }
  return 0;
}

void
backing_close (struct backing *b)
{
  if (b == NULL)
    return;
  b->ops->close (b);
  free (b->name);
  free (b);
}
