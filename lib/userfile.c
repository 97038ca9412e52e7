/* Files the user names: see userfile.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <sys/stat.h>
#include <unistd.h>

#include "report.h"
#include "userfile.h"

static const char *
type_name (mode_t mode)
{
  switch (mode & S_IFMT) {
  case S_IFREG:
    return "a regular file";
  case S_IFBLK:
    return "a block device";
  case S_IFCHR:
    return "a character device";
  case S_IFIFO:
    return "a FIFO";
  case S_IFDIR:
    return "a directory";
  case S_IFSOCK:
    return "a socket";
  default:
    return "of an unknown type";
  }
}

static bool
wanted (mode_t mode, unsigned kinds)
{
  return ((kinds & USERFILE_REGULAR) && S_ISREG (mode)) ||
         ((kinds & USERFILE_BLOCK) && S_ISBLK (mode));
}

static const char *
kinds_name (unsigned kinds)
{
  if (kinds == USERFILE_BLOCK)
    return "a block device";
  return kinds & USERFILE_BLOCK ? "a regular file or a block device"
                                : "a regular file";
}

/* Closes FD, if it is open, keeping errno. */
static void
close_keeping_errno (int fd)
{
  int saved_errno = errno;

  if (fd != -1)
    close (fd);
  errno = saved_errno;
}

/* Records "ROLE PATH is a FIFO, not a regular file", closes FD and
 * fails. */
static int
refuse_type (int fd, const char *path, const char *role, mode_t mode,
             unsigned kinds)
{
  ni_error_set ("%s%s%s is %s, not %s", role ? role : "", role ? " " : "", path,
                type_name (mode), kinds_name (kinds));
  errno = S_ISDIR (mode) ? EISDIR : EINVAL;
  close_keeping_errno (fd);
  return -1;
}

/* Records "ROLE PATH: CALL: error", closes FD and fails. */
static int
call_failed (int fd, const char *path, const char *role, const char *call)
{
  ni_error_set ("%s%s%s: %s: %m", role ? role : "", role ? " " : "", path,
                call);
  close_keeping_errno (fd);
  return -1;
}

static int
clear_nonblock (int fd)
{
  int flags = fcntl (fd, F_GETFL);

  return flags == -1 ? -1 : fcntl (fd, F_SETFL, flags & ~O_NONBLOCK);
}

int
userfile_open (const char *path, int flags, mode_t mode, unsigned kinds,
               const char *role)
{
  struct stat st;
  int fd;

  /* Looked at before it is opened too: opening a device may do something
   * (a watchdog starts, a tape rewinds), and a FIFO opened for writing
   * fails with a puzzling ENXIO.  The fstat decides: the file may be
   * replaced in between. */
  if (stat (path, &st) == 0 && !wanted (st.st_mode, kinds))
    return refuse_type (-1, path, role, st.st_mode, kinds);
  fd = open (path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, mode);
  if (fd == -1)
    return call_failed (-1, path, role, "open");
  if (fstat (fd, &st) == -1)
    return call_failed (fd, path, role, "fstat");
  if (!wanted (st.st_mode, kinds))
    return refuse_type (fd, path, role, st.st_mode, kinds);
  if (clear_nonblock (fd) == -1)
    return call_failed (fd, path, role, "fcntl");
  return fd;
}

ssize_t
userfile_read (int fd, void *buf, size_t len)
{
  size_t got = 0;

  while (got < len) {
    ssize_t r = read (fd, (char *)buf + got, len - got);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1)
      return -1;
    if (r == 0)
      break;
    got += r;
  }
  return got;
}
