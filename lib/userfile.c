/* Files the user names: see userfile.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

  ni_error_clear ();
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

/* PATH with every link resolved, or, for a file not there yet, with its
 * directory's; PATH itself if neither can be.  NULL only without memory. */
static char *
resolve (const char *path)
{
  const char *slash = strrchr (path, '/');
  char *real = realpath (path, NULL), *dir, *real_dir;

  if (real || errno != ENOENT)
    return real ? real : strdup (path);
  dir = slash ? strndup (path, slash - path + 1) : strdup (".");
  real_dir = dir ? realpath (dir, NULL) : NULL;
  free (dir);
  if (real_dir == NULL)
    return strdup (path);
  if (asprintf (&real, "%s%s%s", real_dir,
                real_dir[strlen (real_dir) - 1] == '/' ? "" : "/",
                slash ? slash + 1 : path) == -1)
    real = NULL;
  free (real_dir);
  return real;
}

bool
userfile_same (const char *a, const char *b)
{
  struct stat sa, sb;
  char *ra, *rb;
  bool same;

  if (stat (a, &sa) == 0 && stat (b, &sb) == 0) {
    if (S_ISBLK (sa.st_mode) && S_ISBLK (sb.st_mode))
      return sa.st_rdev == sb.st_rdev;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  }
  ra = resolve (a);
  rb = resolve (b);
  same = ra && rb && strcmp (ra, rb) == 0;
  free (ra);
  free (rb);
  return same;
}
