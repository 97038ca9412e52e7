/* Shared by the unit tests: see util.h. */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk.h"
#include "format.h"
#include "powerloss.h"
#include "report.h"
#include "util.h"

#define COPY_CHUNK (64 * 1024)

static char scratch[4096];

static void
quiet (enum ni_log_level level, const char *msg)
{
  (void)level;
  (void)msg;
}

static int
remove_one (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
  (void)st;
  (void)flag;
  (void)ftw;
  return remove (path);
}

int
run_suite (Suite *s)
{
  const char *tmp = getenv ("TMPDIR");
  SRunner *sr;
  int failed;

  snprintf (scratch, sizeof scratch, "%s/nbd-integrity-unit-XXXXXX",
            tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp (scratch) == NULL) {
    perror ("mkdtemp");
    return EXIT_FAILURE;
  }
  ni_log_set (quiet);
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  nftw (scratch, remove_one, 16, FTW_DEPTH | FTW_PHYS);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

struct scratch_name {
  struct scratch_name *next;
  char *path;
};

/* Every path scratch_path made, kept reachable so that LeakSanitizer
 * (scripts/sanitize) does not report them: they live as long as the test. */
static struct scratch_name *scratch_names;

const char *
scratch_path (const char *name)
{
  struct scratch_name *n = malloc (sizeof *n);

  ck_assert_ptr_nonnull (n);
  ck_assert_int_ne (asprintf (&n->path, "%s/%s", scratch, name), -1);
  n->next = scratch_names;
  scratch_names = n;
  return n->path;
}

const char *
scratch_disk (const char *name, uint64_t size, const char *hash,
              uint32_t sector_size)
{
  return scratch_disk_keyed (name, size, hash, sector_size, NULL);
}

const char *
scratch_disk_keyed (const char *name, uint64_t size, const char *hash,
                    uint32_t sector_size, const char *keyfile)
{
  const char *path = scratch_path (name);
  struct format_options fo = {.path = path,
                              .hash = hash,
                              .sector_size = sector_size,
                              .create_size = size,
                              .keyfile = keyfile,
                              .force = true};

  unlink (path);
  ck_assert_msg (format_disk (&fo) == 0, "format %s: %s", path, ni_error ());
  return path;
}

uint8_t *
formatted_image (uint64_t size)
{
  struct format_options fo = {.force = true};
  struct backing *b = powerloss_new (NULL, size);
  uint8_t *image = malloc (size);

  ck_assert_ptr_nonnull (image);
  ck_assert_int_eq (format_backing (b, &fo), 0);
  memcpy (image, powerloss_current (b), size);
  backing_close (b);
  return image;
}

struct disk *
open_disk_with (const char *path, bool write_through)
{
  struct disk_options opts = {.path = path, .write_through = write_through};
  struct disk *d = disk_open (&opts);

  ck_assert_msg (d != NULL, "disk_open %s: %s", path, ni_error ());
  return d;
}

struct disk *
open_disk (const char *path)
{
  return open_disk_with (path, true);
}

/* What run_disk_op's writes write, their sector size, and where in
 * sector FIRST the unaligned write starts, and how long it is. */
#define OP_BYTE 'B'
#define OP_SS 4096
#define UNALIGNED_OFF 100
#define UNALIGNED_LEN (3 * OP_SS)

int
run_disk_op (struct disk *d, enum disk_op op, uint64_t first)
{
  static uint8_t buf[4 * OP_SS];
  const uint64_t ss = OP_SS, at = first * ss;

  memset (buf, OP_BYTE, sizeof buf);
  switch (op) {
  case OP_WRITE:
    if (disk_write (d, buf, 4 * ss, at, false) == -1)
      return -1;
    return disk_flush (d);
  case OP_WRITE_FUA:
    return disk_write (d, buf, 4 * ss, at, true);
  case OP_UNALIGNED:
    return disk_write (d, buf, UNALIGNED_LEN, at + UNALIGNED_OFF, false);
  case OP_TRIM:
    return disk_trim (d, 4 * ss, at, false);
  case OP_ZERO:
    return disk_zero (d, 4 * ss, at, false);
  case OP_FLUSH:
    return disk_flush (d);
  case OP_READ:
    return disk_read (d, buf, 4 * ss, at);
  case OP_CHECKPOINT:
    return disk_checkpoint (d);
  case NR_DISK_OPS:
    break;
  }
  errno = EINVAL;
  return -1;
}

void
apply_disk_op (uint8_t *image, enum disk_op op, uint64_t first)
{
  uint8_t *at = image + first * OP_SS;

  switch (op) {
  case OP_WRITE:
  case OP_WRITE_FUA:
    memset (at, OP_BYTE, 4 * OP_SS);
    break;
  case OP_UNALIGNED:
    memset (at + UNALIGNED_OFF, OP_BYTE, UNALIGNED_LEN);
    break;
  case OP_TRIM: /* trimmed sectors read as unwritten: zeroes */
  case OP_ZERO:
    memset (at, 0, 4 * OP_SS);
    break;
  case OP_FLUSH:
  case OP_READ:
  case OP_CHECKPOINT:
  case NR_DISK_OPS:
    break;
  }
}

void
copy_file (const char *from, const char *to)
{
  int in = open (from, O_RDONLY), out;
  static uint8_t buf[COPY_CHUNK], zeroes[COPY_CHUNK];
  struct stat st;

  ck_assert_msg (in >= 0, "open %s: %s", from, strerror (errno));
  ck_assert_int_eq (fstat (in, &st), 0);
  out = open (to, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ck_assert_msg (out >= 0, "open %s: %s", to, strerror (errno));
  ck_assert_int_eq (ftruncate (out, st.st_size), 0);
  for (off_t off = 0; off < st.st_size; off += COPY_CHUNK) {
    size_t len = st.st_size - off < COPY_CHUNK ? st.st_size - off : COPY_CHUNK;
    ck_assert_int_eq (pread (in, buf, len, off), (ssize_t)len);
    if (memcmp (buf, zeroes, len) != 0)
      ck_assert_int_eq (pwrite (out, buf, len, off), (ssize_t)len);
  }
  close (in);
  ck_assert_int_eq (close (out), 0);
}

void
file_write (const char *path, const void *buf, size_t len, uint64_t off)
{
  int fd = open (path, O_WRONLY);

  ck_assert_msg (fd >= 0, "open %s: %s", path, strerror (errno));
  ck_assert_int_eq (pwrite (fd, buf, len, off), (ssize_t)len);
  ck_assert_int_eq (close (fd), 0);
}

void
file_write_new (const char *path, const void *buf, size_t len)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

  ck_assert_msg (fd >= 0, "open %s: %s", path, strerror (errno));
  ck_assert_int_eq (write (fd, buf, len), (ssize_t)len);
  ck_assert_int_eq (close (fd), 0);
}

void
file_read (const char *path, void *buf, size_t len, uint64_t off)
{
  int fd = open (path, O_RDONLY);

  ck_assert_msg (fd >= 0, "open %s: %s", path, strerror (errno));
  ck_assert_int_eq (pread (fd, buf, len, off), (ssize_t)len);
  close (fd);
}

void
file_flip_bit (const char *path, uint64_t off, int bit)
{
  uint8_t byte;

  file_read (path, &byte, 1, off);
  byte ^= 1 << bit;
  file_write (path, &byte, 1, off);
}

const char *
scratch_key (void)
{
  static const char *path;
  uint8_t key[32];

  if (path == NULL) {
    path = scratch_path ("key");
    for (size_t i = 0; i < sizeof key; i++)
      key[i] = i * 29 + 3;
    file_write_new (path, key, sizeof key);
  }
  return path;
}
