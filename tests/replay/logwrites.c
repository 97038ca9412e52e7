/* A reader of dm-log-writes logs: see logwrites.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "le.h"
#include "logwrites.h"
#include "oracle.h"

#define LW_MAGIC UINT64_C (0x6a736677736872)
#define LW_VERSION 1
#define LW_ENTRY_BYTES 32 /* sector, nr_sectors, flags, data_len */

static int
read_exact (int fd, void *buf, size_t len, uint64_t off, const char *path)
{
  ssize_t r = pread (fd, buf, len, off);

  if (r == (ssize_t)len)
    return 0;
  fprintf (stderr, "%s: cannot read %zu bytes at %llu: %s\n", path, len,
           (unsigned long long)off, r < 0 ? strerror (errno) : "short log");
  return -1;
}

static int
read_super (struct lw_log *log, const char *path)
{
  uint8_t s[28];

  if (read_exact (log->fd, s, sizeof s, 0, path) == -1)
    return -1;
  if (le64_get (s) != LW_MAGIC || le64_get (s + 8) != LW_VERSION) {
    fprintf (stderr, "%s: not a dm-log-writes log (version 1)\n", path);
    return -1;
  }
  log->nr_entries = le64_get (s + 16);
  log->sector_size = le32_get (s + 24);
  if (log->sector_size < 512 || log->sector_size > 65536 ||
      log->sector_size & (log->sector_size - 1)) {
    fprintf (stderr, "%s: bad sector size %u\n", path, log->sector_size);
    return -1;
  }
  return 0;
}

static int
read_entry (struct lw_log *log, struct lw_entry *e, uint64_t at,
            const char *path)
{
  uint8_t h[LW_ENTRY_BYTES + LW_MARK_MAX];
  uint64_t len;

  if (read_exact (log->fd, h, sizeof h, at, path) == -1)
    return -1;
  e->sector = le64_get (h);
  e->nr_sectors = le64_get (h + 8);
  e->flags = le64_get (h + 16);
  len = le64_get (h + 24);
  e->data = at + log->sector_size;
  memset (e->mark, 0, sizeof e->mark);
  if (e->flags & LW_MARK)
    memcpy (e->mark, h + LW_ENTRY_BYTES, len < LW_MARK_MAX ? len : 0);
  return 0;
}

int
lw_open (struct lw_log *log, const char *path)
{
  struct stat st;
  uint64_t at;

  memset (log, 0, sizeof *log);
  if ((log->fd = open (path, O_RDONLY | O_CLOEXEC)) == -1 ||
      fstat (log->fd, &st) == -1) {
    fprintf (stderr, "%s: %s\n", path, strerror (errno));
    return -1;
  }
  if (read_super (log, path) == -1)
    goto fail;
  if ((log->entries = calloc (log->nr_entries, sizeof *log->entries)) == NULL)
    goto fail;
  at = log->sector_size;
  for (uint64_t i = 0; i < log->nr_entries; i++) {
    struct lw_entry *e = &log->entries[i];

    if (read_entry (log, e, at, path) == -1)
      goto fail;
    at = e->data;
    if (!(e->flags & LW_DISCARD))
      at += e->nr_sectors * log->sector_size;
    if (at > (uint64_t)st.st_size) {
      fprintf (stderr, "%s: entry %llu runs past the end of the log\n", path,
               (unsigned long long)i);
      goto fail;
    }
  }
  return 0;

fail:
  lw_close (log);
  return -1;
}

void
lw_close (struct lw_log *log)
{
  if (log->fd >= 0)
    close (log->fd);
  free (log->entries);
  log->fd = -1;
  log->entries = NULL;
}

int64_t
lw_find_mark (const struct lw_log *log, const char *text)
{
  for (uint64_t i = 0; i < log->nr_entries; i++)
    if ((log->entries[i].flags & LW_MARK) &&
        strcmp (log->entries[i].mark, text) == 0)
      return i;
  return -1;
}

int
lw_is_write (const struct lw_entry *e)
{
  return !(e->flags & LW_MARK) && e->nr_sectors > 0;
}

int
lw_apply (const struct lw_log *log, uint64_t i, int fd, uint64_t *rnd)
{
  const struct lw_entry *e = &log->entries[i];
  uint64_t len = e->nr_sectors * log->sector_size;
  uint64_t off = e->sector * log->sector_size;
  uint8_t buf[65536];

  if (!lw_is_write (e))
    return 0;
  for (uint64_t done = 0; done < len;) {
    size_t n = len - done < sizeof buf ? len - done : sizeof buf;

    if (e->flags & LW_DISCARD)
      rnd_fill (rnd, buf, n);
    else if (read_exact (log->fd, buf, n, e->data + done, "log") == -1)
      return -1;
    if (pwrite (fd, buf, n, off + done) != (ssize_t)n) {
      fprintf (stderr, "cannot write the replayed image: %s\n",
               strerror (errno));
      return -1;
    }
    done += n;
  }
  return 0;
}
