/* nbdkit dust plugin, for the end-to-end tests: a failing disk.
 *
 *   nbdkit nbdkit-dust-plugin.so file=DISK badblocks=LIST
 *
 * Serves the file DISK as the kernel's dm-dust serves its device: some
 * 4096-byte blocks are bad, and fail every read until they are written.
 * A read that touches a bad block fails with EIO; a write that touches
 * one clears it, as dm-dust's writes do.  Debian 12's kernel has no
 * dm-dust (CONFIG_DM_DUST is not set); attached with nbd-client, this
 * is a real block device that fails the same way.
 *
 * Notes on the design.
 *
 * LIST is a file of block numbers (block N is bytes N*4096 to
 * N*4096+4095 of DISK), separated by white space.  It is read when the
 * plugin starts (a missing LIST is an empty one) and again by the first
 * request after it changed (its inode, size or mtime): then the blocks
 * it names are the bad ones, and no others.  Replace it with a rename,
 * so that no request reads it half-written.  A LIST that cannot be
 * parsed is logged and leaves the bad blocks as they were.
 *
 * The bad blocks are a bitmap, one bit a block.  Reading the list and
 * every use of the bitmap happen under one lock; the data is read and
 * written outside it.  A write clears its blocks only once it has
 * succeeded.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

#define DUST_BLOCK 4096

static char *filename;
static char *list_path;
static int fd = -1;
static uint64_t size;    /* of DISK, bytes */
static uint64_t nblocks; /* DUST_BLOCK blocks, the last one maybe partial */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *bad;        /* bitmap of nblocks bits; protected by lock */
static struct stat list_st; /* LIST as last read; protected by lock */
static bool list_seen;      /* LIST existed when last looked at; by lock */

static void
dust_unload (void)
{
  free (filename);
  free (list_path);
  free (bad);
  if (fd >= 0)
    close (fd);
}

static int
dust_config (const char *key, const char *value)
{
  char **p = strcmp (key, "file") == 0        ? &filename
             : strcmp (key, "badblocks") == 0 ? &list_path
                                              : NULL;

  if (p == NULL) {
    nbdkit_error ("unknown parameter '%s'", key);
    return -1;
  }
  free (*p);
  /* LIST need not exist yet. */
  *p = p == &filename ? nbdkit_realpath (value) : nbdkit_absolute_path (value);
  return *p ? 0 : -1;
}

static int
dust_config_complete (void)
{
  if (filename == NULL || list_path == NULL) {
    nbdkit_error ("you must give file=DISK and badblocks=LIST");
    return -1;
  }
  return 0;
}

#define dust_config_help                                                       \
  "[file=]DISK           (required) The file to serve.\n"                      \
  "badblocks=LIST        (required) Numbers of the 4096-byte blocks that "     \
  "fail reads until written; re-read when it changes."

static bool
block_is_bad (uint64_t b)
{
  return bad[b / 8] & (1u << (b % 8));
}

static bool
same_file (const struct stat *a, const struct stat *b)
{
  return a->st_ino == b->st_ino && a->st_dev == b->st_dev &&
         a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
         a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Parses the open LIST into a new bitmap NEW; -1 if it is not a list of
 * block numbers of DISK. */
static int
parse_list (FILE *f, uint8_t *new)
{
  uint64_t b;
  int r;

  while ((r = fscanf (f, "%" SCNu64, &b)) == 1) {
    if (b >= nblocks) {
      nbdkit_error ("%s: block %" PRIu64 " is past the end of %s", list_path, b,
                    filename);
      return -1;
    }
    new[b / 8] |= 1u << (b % 8);
  }
  if (r != EOF || ferror (f)) {
    nbdkit_error ("%s: not a list of block numbers", list_path);
    return -1;
  }
  return 0;
}

/* Reads LIST again if it changed since it was last read.  Called with
 * the lock held.  -1 only if the list could not be read at all. */
static int
refresh_list (void)
{
  struct stat st;
  FILE *f;
  uint8_t *new;
  uint64_t count = 0;

  if (stat (list_path, &st) == -1) {
    if (errno != ENOENT) {
      nbdkit_error ("stat: %s: %m", list_path);
      return -1;
    }
    if (list_seen)
      memset (bad, 0, (nblocks + 7) / 8);
    list_seen = false;
    return 0;
  }
  if (list_seen && same_file (&st, &list_st))
    return 0;
  f = fopen (list_path, "r");
  if (f == NULL) {
    nbdkit_error ("open: %s: %m", list_path);
    return -1;
  }
  new = calloc ((nblocks + 7) / 8, 1);
  if (new == NULL) {
    nbdkit_error ("calloc: %m");
    fclose (f);
    return -1;
  }
  list_st = st; /* a bad list is logged once, not at every request */
  list_seen = true;
  if (parse_list (f, new) == -1) {
    free (new);
    fclose (f);
    return 0;
  }
  fclose (f);
  free (bad);
  bad = new;
  for (uint64_t b = 0; b < nblocks; b++)
    count += block_is_bad (b);
  nbdkit_debug ("%s: %" PRIu64 " bad blocks", list_path, count);
  return 0;
}

static int
dust_get_ready (void)
{
  struct stat st;
  int r;

  fd = open (filename, O_RDWR | O_CLOEXEC);
  if (fd == -1) {
    nbdkit_error ("open: %s: %m", filename);
    return -1;
  }
  if (fstat (fd, &st) == -1) {
    nbdkit_error ("fstat: %s: %m", filename);
    return -1;
  }
  size = st.st_size;
  nblocks = (size + DUST_BLOCK - 1) / DUST_BLOCK;
  bad = calloc ((nblocks + 7) / 8, 1);
  if (bad == NULL) {
    nbdkit_error ("calloc: %m");
    return -1;
  }
  pthread_mutex_lock (&lock);
  r = refresh_list ();
  pthread_mutex_unlock (&lock);
  return r;
}

static void *
dust_open (int readonly)
{
  (void)readonly;
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static int64_t
dust_get_size (void *handle)
{
  (void)handle;
  return size;
}

/* The first bad block of [OFFSET, OFFSET+COUNT), or -1 if none is bad;
 * -1 with *ERR set if the list could not be read. */
static int64_t
first_bad_block (uint32_t count, uint64_t offset, int *err)
{
  int64_t found = -1;

  pthread_mutex_lock (&lock);
  *err = refresh_list () == -1 ? EIO : 0;
  for (uint64_t b = offset / DUST_BLOCK;
       !*err && found == -1 && b <= (offset + count - 1) / DUST_BLOCK; b++)
    if (block_is_bad (b))
      found = b;
  pthread_mutex_unlock (&lock);
  return found;
}

/* Clears every bad block of [OFFSET, OFFSET+COUNT), just written; a
 * list changed since the last request applies first. */
static void
clear_blocks (uint32_t count, uint64_t offset)
{
  pthread_mutex_lock (&lock);
  (void)refresh_list ();
  for (uint64_t b = offset / DUST_BLOCK; b <= (offset + count - 1) / DUST_BLOCK;
       b++)
    if (block_is_bad (b)) {
      bad[b / 8] &= ~(1u << (b % 8));
      nbdkit_debug ("block %" PRIu64 " written: no longer bad", b);
    }
  pthread_mutex_unlock (&lock);
}

static int
dust_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
            uint32_t flags)
{
  char *p = buf;
  int64_t b;
  int err;

  (void)handle;
  (void)flags;
  b = first_bad_block (count, offset, &err);
  if (err) {
    errno = err;
    return -1;
  }
  if (b >= 0) {
    nbdkit_error ("read of bytes %" PRIu64 "-%" PRIu64 ": block %" PRId64
                  " is bad",
                  offset, offset + count - 1, b);
    errno = EIO;
    return -1;
  }
  while (count > 0) {
    ssize_t r = pread (fd, p, count, offset);
    if (r == -1) {
      nbdkit_error ("pread: %m");
      return -1;
    }
    if (r == 0) {
      nbdkit_error ("pread: unexpected end of file");
      errno = EIO;
      return -1;
    }
    p += r;
    count -= r;
    offset += r;
  }
  return 0;
}

static int
dust_pwrite (void *handle, const void *buf, uint32_t count, uint64_t offset,
             uint32_t flags)
{
  const char *p = buf;
  uint32_t left = count;
  uint64_t off = offset;

  (void)handle;
  while (left > 0) {
    ssize_t r = pwrite (fd, p, left, off);
    if (r == -1) {
      nbdkit_error ("pwrite: %m");
      return -1;
    }
    p += r;
    left -= r;
    off += r;
  }
  if ((flags & NBDKIT_FLAG_FUA) && fdatasync (fd) == -1) {
    nbdkit_error ("fdatasync: %m");
    return -1;
  }
  clear_blocks (count, offset);
  return 0;
}

static int
dust_flush (void *handle, uint32_t flags)
{
  (void)handle;
  (void)flags;
  if (fdatasync (fd) == -1) {
    nbdkit_error ("fdatasync: %m");
    return -1;
  }
  return 0;
}

static int
dust_can_fua (void *handle)
{
  (void)handle;
  return NBDKIT_FUA_NATIVE;
}

static struct nbdkit_plugin plugin = {
    .name = "dust",
    .longname = "nbdkit dust plugin (tests)",
    .description = "A file whose bad blocks fail reads until written",
    .unload = dust_unload,
    .config = dust_config,
    .config_complete = dust_config_complete,
    .config_help = dust_config_help,
    .magic_config_key = "file",
    .get_ready = dust_get_ready,
    .open = dust_open,
    .get_size = dust_get_size,
    .can_fua = dust_can_fua,
    .pread = dust_pread,
    .pwrite = dust_pwrite,
    .flush = dust_flush,
    .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN (plugin)
