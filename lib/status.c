/* The status file: see status.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "status.h"
#include "userfile.h"

#define FIELD(key, member, kind, help)                                         \
  {                                                                            \
    key, offsetof (struct disk_counters, member), kind, help                   \
  }

const struct status_field status_fields[] = {
    FIELD ("reads", reads, STATUS_COUNTER, "Read requests."),
    FIELD ("writes", writes, STATUS_COUNTER, "Write and zero requests."),
    FIELD ("trims", trims, STATUS_COUNTER, "Trim requests."),
    FIELD ("flushes", flushes, STATUS_COUNTER, "Flush requests."),
    FIELD ("bytes_read", bytes_read, STATUS_COUNTER, "Bytes read by clients."),
    FIELD ("bytes_written", bytes_written, STATUS_COUNTER,
           "Bytes written by clients."),
    FIELD ("sectors_verified", sectors_verified, STATUS_COUNTER,
           "Sectors checked against their tags."),
    FIELD ("mismatches", mismatches, STATUS_COUNTER,
           "Sectors whose data did not match their tag (reads failed)."),
    FIELD ("io_errors", io_errors, STATUS_COUNTER,
           "Errors of the backing disk."),
    FIELD ("backing_bytes_written", backing_bytes_written, STATUS_COUNTER,
           "Bytes the server wrote to the backing disk: data, journal, tags."),
    FIELD ("deferred_bytes", deferred_bytes, STATUS_GAUGE,
           "Bytes of writes acknowledged but not yet written (write-buffer=)."),
    FIELD ("recovery_failed_sectors", recovery_failed_sectors, STATUS_GAUGE,
           "Sectors recovery at the opening had to fail: they read as EIO "
           "until rewritten (nbd-integrity verify lists them)."),
    FIELD ("recovery_repaired_blocks", recovery_repaired_blocks, STATUS_GAUGE,
           "Damaged journal blocks recovery at the opening read from their "
           "copies."),
    FIELD ("journal_commits", journal.commits, STATUS_COUNTER,
           "Durable journal writes."),
    FIELD ("journal_records", journal.records, STATUS_COUNTER,
           "Records of changes committed to the journal."),
    FIELD ("journal_flush_marks", journal.marks, STATUS_COUNTER,
           "Flush marks committed to the journal: flushes that made "
           "changes durable."),
    FIELD ("checkpoints", journal.checkpoints, STATUS_COUNTER,
           "Checkpoints: journaled tags written home."),
    FIELD ("journal_used_blocks", journal.used_blocks, STATUS_GAUGE,
           "Journal blocks not yet checkpointed."),
    FIELD ("journal_total_blocks", journal.total_blocks, STATUS_GAUGE,
           "Journal blocks in all (0 without a journal)."),
    FIELD ("last_checkpoint_time", journal.last_checkpoint_time, STATUS_GAUGE,
           "Unix time of the last checkpoint (0: no journal)."),
};

const size_t status_nr_fields = sizeof status_fields / sizeof status_fields[0];

uint64_t
status_field_get (const struct disk_counters *c,
                  const struct status_field *field)
{
  return *(const uint64_t *)((const char *)c + field->offset);
}

uint64_t *
status_field_value (struct disk_counters *c, const struct status_field *field)
{
  return (uint64_t *)((char *)c + field->offset);
}

void
status_subtract (struct disk_counters *c, const struct disk_counters *baseline)
{
  for (size_t i = 0; i < status_nr_fields; i++)
    if (status_fields[i].kind == STATUS_COUNTER)
      *status_field_value (c, &status_fields[i]) -=
          status_field_get (baseline, &status_fields[i]);
  if (c->nr_recent > c->mismatches)
    c->nr_recent = c->mismatches;
}

/* A string value as GKeyFile reads it back (g_key_file_get_string). */
static void
write_string (FILE *f, const char *key, const char *value)
{
  fprintf (f, "%s=", key);
  for (const char *p = value; *p; p++) {
    if (*p == '\\')
      fputs ("\\\\", f);
    else if (*p == '\n')
      fputs ("\\n", f);
    else if (*p == '\r')
      fputs ("\\r", f);
    else if (*p == '\t')
      fputs ("\\t", f);
    else if (*p == ' ' && p == value)
      fputs ("\\s", f); /* a leading space would be dropped */
    else
      fputc (*p, f);
  }
  fputc ('\n', f);
}

static void
write_counters (FILE *f, const struct disk_counters *c)
{
  for (size_t i = 0; i < status_nr_fields; i++)
    fprintf (f, "%s=%" PRIu64 "\n", status_fields[i].key,
             status_field_get (c, &status_fields[i]));
  fputs (STATUS_RECENT_KEY "=", f);
  for (uint64_t i = 0; i < c->nr_recent; i++)
    fprintf (f, "%" PRIu64 ";", c->recent_mismatches[i]);
  fputc ('\n', f);
}

static void
write_status (FILE *f, const struct status *s)
{
  fputs (STATUS_MAGIC ": see nbdkit-integrity-plugin(1)\n", f);
  fputs ("[" STATUS_GROUP "]\n", f);
  fprintf (f, "version=%d\n", STATUS_VERSION);
  write_string (f, "state", s->state);
  write_string (f, "disk", s->disk);
  write_string (f, "hash", s->hash);
  write_string (f, "mode", s->mode);
  fprintf (f,
           "pid=%ld\nstart_time=%" PRIu64 "\ncounters_since=%" PRIu64
           "\nupdate_time=%" PRIu64 "\n",
           (long)s->pid, s->start_time, s->counters_since, s->update_time);
  write_counters (f, &s->counters);
}

static char *
suffixed (const char *path, const char *suffix)
{
  char *s;

  return asprintf (&s, "%s%s", path, suffix) == -1 ? NULL : s;
}

/* Refuses PATH, which is FILE, the disk or the key file (WHAT). */
static int
refuse_same (const char *path, const char *what, const char *file)
{
  ni_error_set ("status file %s is the %s %s: writing the status there "
                "would replace the %s; give the status file a path of its own",
                path, what, file, what);
  errno = EEXIST;
  return -1;
}

/* Refuses a PATH that holds something other than a status file. */
static int
check_contents (const char *path)
{
  char head[sizeof STATUS_MAGIC - 1];
  ssize_t n;
  int fd = userfile_open (path, O_RDONLY, 0, USERFILE_REGULAR, "status file");

  if (fd == -1 && errno == ENOENT) {
    ni_error_clear (); /* nothing there yet to replace: not a failure */
    return 0;
  }
  if (fd == -1)
    return -1;
  n = userfile_read (fd, head, sizeof head);
  close (fd);
  if (n == -1) {
    ni_error_set ("status file %s: read: %m", path);
    return -1;
  }
  if (n == 0 || (n == sizeof head && memcmp (head, STATUS_MAGIC, n) == 0))
    return 0;
  ni_error_set ("status file %s: the file there is not a status file (its "
                "first line does not start with \"" STATUS_MAGIC "\"), and "
                "writing the status would replace it: remove it, or give the "
                "status file another path",
                path);
  errno = EEXIST;
  return -1;
}

int
status_check_path (const char *path, const char *disk, const char *keyfile)
{
  ni_error_clear ();
  if (userfile_same (path, disk))
    return refuse_same (path, "disk", disk);
  if (keyfile && userfile_same (path, keyfile))
    return refuse_same (path, "key file", keyfile);
  return check_contents (path);
}

char *
status_reset_path (const char *path)
{
  return suffixed (path, ".reset");
}

/* Writes S to TMP, made anew: a file already there is removed, never
 * written through, for it may be a link to anything (the disk).  -1 with
 * errno on failure. */
static int
write_file (const char *tmp, const struct status *s)
{
  FILE *f;
  int fd, failed;

  if (unlink (tmp) == -1 && errno != ENOENT)
    return -1;
  fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd == -1)
    return -1;
  f = fdopen (fd, "w");
  if (f == NULL) {
    close (fd);
    return -1;
  }
  write_status (f, s);
  failed = ferror (f);
  if (fclose (f) == EOF || failed)
    return -1;
  return 0;
}

int
status_write (const char *path, const struct status *s)
{
  char *tmp = suffixed (path, ".tmp");
  int r = -1;

  if (tmp == NULL)
    ni_error_set ("%s: %m", path);
  else if (write_file (tmp, s) == -1)
    ni_error_set ("%s: writing the status: %m", tmp);
  else if (rename (tmp, path) == -1)
    ni_error_set ("%s: rename to %s: %m", tmp, path);
  else
    r = 0;
  if (r == -1 && tmp) {
    int saved_errno = errno;
    unlink (tmp);
    errno = saved_errno;
  }
  free (tmp);
  return r;
}
