/* nbd-integrity status: the live counters that the plugin publishes with
 * status=PATH (the file is described in lib/status.h), as a table for
 * people, --json for scripts or --prometheus for a metrics collector.
 * --reset asks each server to count from zero again.
 *
 * A file whose state is "serving" but whose process is gone is stale: the
 * server died without closing (kill -9, a crash), and its counters are
 * those of its last moments.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "status.h"
#include "report.h"
#include "tool.h"
#include "userfile.h"

/* How long --reset waits for a server to take it: many intervals. */
#define RESET_TIMEOUT_S 5

/* One status file, as read. */
struct status_file {
  const char *file;
  char *state, *disk, *hash, *mode;
  uint64_t pid, start_time, counters_since, update_time;
  struct disk_counters c;
  bool serving; /* state "serving" and its process alive */
  bool stale;   /* state "serving" but its process gone */
};

static void
status_file_clear (void *data)
{
  struct status_file *e = data;

  g_free (e->state);
  g_free (e->disk);
  g_free (e->hash);
  g_free (e->mode);
}

static bool
process_alive (uint64_t pid)
{
  return pid > 0 && pid <= INT32_MAX &&
         (kill ((pid_t)pid, 0) == 0 || errno == EPERM);
}

static bool
read_u64 (GKeyFile *kf, const char *key, uint64_t *value, GError **err)
{
  *value = g_key_file_get_uint64 (kf, STATUS_GROUP, key, err);
  return *err == NULL;
}

static bool
read_string (GKeyFile *kf, const char *key, char **value, GError **err)
{
  *value = g_key_file_get_string (kf, STATUS_GROUP, key, err);
  return *value != NULL;
}

static bool
read_recent (GKeyFile *kf, struct disk_counters *c, GError **err)
{
  gsize n;
  g_auto (GStrv) list =
      g_key_file_get_string_list (kf, STATUS_GROUP, STATUS_RECENT_KEY, &n, err);

  if (list == NULL)
    return false;
  c->nr_recent = MIN (n, STATS_RECENT_MISMATCHES);
  for (uint64_t i = 0; i < c->nr_recent; i++)
    if (!g_ascii_string_to_unsigned (list[i], 10, 0, UINT64_MAX,
                                     &c->recent_mismatches[i], err))
      return false;
  return true;
}

static bool
read_counters (GKeyFile *kf, struct disk_counters *c, GError **err)
{
  for (size_t i = 0; i < status_nr_fields; i++)
    if (!read_u64 (kf, status_fields[i].key,
                   status_field_value (c, &status_fields[i]), err))
      return false;
  return read_recent (kf, c, err);
}

static bool
read_version (GKeyFile *kf, GError **err)
{
  uint64_t version;

  if (!read_u64 (kf, "version", &version, err))
    return false;
  if (version != STATUS_VERSION)
    g_set_error (err, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_INVALID_VALUE,
                 "status file version %" PRIu64 ", but this nbd-integrity "
                 "reads version %d",
                 version, STATUS_VERSION);
  return *err == NULL;
}

static bool
read_status_file (GKeyFile *kf, struct status_file *e, GError **err)
{
  return read_version (kf, err) && read_string (kf, "state", &e->state, err) &&
         read_string (kf, "disk", &e->disk, err) &&
         read_string (kf, "hash", &e->hash, err) &&
         read_string (kf, "mode", &e->mode, err) &&
         read_u64 (kf, "pid", &e->pid, err) &&
         read_u64 (kf, "start_time", &e->start_time, err) &&
         read_u64 (kf, "counters_since", &e->counters_since, err) &&
         read_u64 (kf, "update_time", &e->update_time, err) &&
         read_counters (kf, &e->c, err);
}

/* Reads FILE into E, for status_file_clear to free.  Prints the error and
 * returns false on failure. */
static bool
load_status_file (const char *file, struct status_file *e)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) err = NULL;
  g_autofree char *text = NULL;
  gsize len;
  bool in_service;

  memset (e, 0, sizeof *e);
  e->file = file;
  if (!read_user_file ("status", file, &text, &len))
    return false;
  if (!g_key_file_load_from_data (kf, text, len, G_KEY_FILE_NONE, &err) ||
      !read_status_file (kf, e, &err)) {
    tool_error ("status", "%s: %s", file, err->message);
    status_file_clear (e);
    return false;
  }
  in_service = strcmp (e->state, "serving") == 0;
  e->serving = in_service && process_alive (e->pid);
  e->stale = in_service && !e->serving;
  return true;
}

/* Asks the server that publishes FILE to reset its counters, and waits
 * until it has published them reset (see lib/status.h).  Prints the error
 * and returns false on failure. */
static bool
reset_one (const char *file)
{
  g_autofree char *reset_path = status_reset_path (file);
  gint64 deadline = g_get_monotonic_time () + RESET_TIMEOUT_S * G_USEC_PER_SEC;
  struct status_file e;
  int fd;

  if (!load_status_file (file, &e))
    return false;
  status_file_clear (&e);
  if (!e.serving) {
    tool_error ("status",
                "%s: no server is running (pid %" PRIu64 "): "
                "nothing to reset",
                file, e.pid);
    return false;
  }
  fd = userfile_open (reset_path, O_WRONLY | O_CREAT, 0644, USERFILE_REGULAR,
                      NULL);
  if (fd == -1) {
    tool_error ("status", "%s", ni_error ());
    return false;
  }
  close (fd);
  while (access (reset_path, F_OK) == 0) {
    if (g_get_monotonic_time () > deadline) {
      unlink (reset_path);
      tool_error ("status",
                  "%s: the server (pid %" PRIu64 ") did not take "
                  "the reset within %d s",
                  file, e.pid, RESET_TIMEOUT_S);
      return false;
    }
    g_usleep (G_USEC_PER_SEC / 50);
  }
  return true;
}

static uint64_t
age (const struct status_file *e, uint64_t now)
{
  return now > e->update_time ? now - e->update_time : 0;
}

/* Seconds since the last checkpoint while the journal holds blocks; of a
 * server that is gone, as of its last update. */
static uint64_t
checkpoint_lag (const struct status_file *e, uint64_t now)
{
  const struct journal_stats *js = &e->c.journal;
  uint64_t until = e->serving ? now : e->update_time;

  if (js->used_blocks == 0 || until < js->last_checkpoint_time)
    return 0;
  return until - js->last_checkpoint_time;
}

static bool
troubled (const struct status_file *e)
{
  return e->c.mismatches > 0 || e->c.io_errors > 0;
}

/* People: one row an export. */

static char *
duration (uint64_t s)
{
  if (s < 120)
    return g_strdup_printf ("%" PRIu64 "s", s);
  if (s < 120 * 60)
    return g_strdup_printf ("%" PRIu64 "m", s / 60);
  if (s < 48 * 3600)
    return g_strdup_printf ("%" PRIu64 "h", s / 3600);
  return g_strdup_printf ("%" PRIu64 "d", s / 86400);
}

static char *
state_cell (const struct status_file *e)
{
  if (e->stale)
    return g_strdup_printf ("STALE: pid %" PRIu64 " gone", e->pid);
  return g_strdup (e->state);
}

static char *
journal_cell (const struct journal_stats *js)
{
  if (js->total_blocks == 0)
    return g_strdup ("-");
  return g_strdup_printf ("%.1f%%", 100.0 * js->used_blocks / js->total_blocks);
}

/* Appends E's row to CELLS. */
static void
add_row (GPtrArray *cells, const struct status_file *e, uint64_t now)
{
  const struct disk_counters *c = &e->c;
  bool journal = c->journal.total_blocks > 0;

  g_ptr_array_add (cells, g_strdup (e->disk));
  g_ptr_array_add (cells, g_strdup (e->mode));
  g_ptr_array_add (cells, g_strdup_printf ("%" PRIu64, c->reads));
  g_ptr_array_add (cells, g_strdup_printf ("%" PRIu64, c->writes));
  g_ptr_array_add (cells, g_strdup_printf ("%" PRIu64, c->sectors_verified));
  g_ptr_array_add (cells, g_strdup_printf ("%" PRIu64, c->mismatches));
  g_ptr_array_add (cells,
                   c->nr_recent
                       ? g_strdup_printf ("%" PRIu64, c->recent_mismatches[0])
                       : g_strdup ("-"));
  g_ptr_array_add (cells, journal_cell (&c->journal));
  g_ptr_array_add (cells, journal ? duration (checkpoint_lag (e, now))
                                  : g_strdup ("-"));
  g_ptr_array_add (cells, g_format_size_full (c->backing_bytes_written,
                                              G_FORMAT_SIZE_IEC_UNITS));
  g_ptr_array_add (cells, g_strdup_printf ("%" PRIu64, c->io_errors));
  g_ptr_array_add (cells, duration (age (e, now)));
  g_ptr_array_add (cells, state_cell (e));
}

static const char *const headings[] = {
    "DISK",     "MODE",     "READS",   "WRITES",   "VERIFIED",
    "MISMATCH", "LAST-BAD", "JOURNAL", "CKPT-LAG", "BACKING-WRITTEN",
    "IO-ERR",   "AGE",      "STATE",
};
#define COLUMNS G_N_ELEMENTS (headings)

/* Prints CELLS, rows of COLUMNS, aligned: the disk and the state to the
 * left, the numbers to the right. */
static void
print_cells (GPtrArray *cells)
{
  int width[COLUMNS] = {0};

  for (guint i = 0; i < cells->len; i++)
    width[i % COLUMNS] =
        MAX (width[i % COLUMNS], (int)strlen (g_ptr_array_index (cells, i)));
  for (guint i = 0; i < cells->len; i++) {
    const char *cell = g_ptr_array_index (cells, i);
    guint column = i % COLUMNS;

    if (column == COLUMNS - 1)
      printf ("%s\n", cell);
    else
      printf (column == 0 ? "%-*s  " : "%*s  ", width[column], cell);
  }
}

static void
print_recent (const struct status_file *e)
{
  if (e->c.nr_recent == 0)
    return;
  printf ("%s: last mismatched sectors, newest first:", e->disk);
  for (uint64_t i = 0; i < e->c.nr_recent; i++)
    printf (" %" PRIu64, e->c.recent_mismatches[i]);
  putchar ('\n');
}

static void
print_table (const GArray *exports, uint64_t now)
{
  g_autoptr (GPtrArray) cells = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < COLUMNS; i++)
    g_ptr_array_add (cells, g_strdup (headings[i]));
  for (guint i = 0; i < exports->len; i++)
    add_row (cells, &g_array_index (exports, struct status_file, i), now);
  print_cells (cells);
  for (guint i = 0; i < exports->len; i++)
    print_recent (&g_array_index (exports, struct status_file, i));
}

/* Scripts: one JSON object, {"exports": [...]}. */

static void
json_status_file (struct json *j, const struct status_file *e, uint64_t now)
{
  json_object (j, NULL);
  json_string (j, "status_file", e->file);
  json_string (j, "disk", e->disk);
  json_string (j, "state", e->state);
  json_bool (j, "stale", e->stale);
  json_u64 (j, "pid", e->pid);
  json_string (j, "hash", e->hash);
  json_string (j, "mode", e->mode);
  json_u64 (j, "start_time", e->start_time);
  json_u64 (j, "counters_since", e->counters_since);
  json_u64 (j, "update_time", e->update_time);
  json_u64 (j, "age_seconds", age (e, now));
  for (size_t i = 0; i < status_nr_fields; i++)
    json_u64 (j, status_fields[i].key,
              status_field_get (&e->c, &status_fields[i]));
  json_u64 (j, "checkpoint_lag_seconds", checkpoint_lag (e, now));
  json_array (j, STATUS_RECENT_KEY);
  for (uint64_t i = 0; i < e->c.nr_recent; i++)
    json_u64 (j, NULL, e->c.recent_mismatches[i]);
  json_array_end (j);
  json_object_end (j);
}

static void
print_json (const GArray *exports, uint64_t now)
{
  struct json j;

  json_begin (&j, stdout);
  json_array (&j, "exports");
  for (guint i = 0; i < exports->len; i++)
    json_status_file (&j, &g_array_index (exports, struct status_file, i), now);
  json_array_end (&j);
  json_end (&j);
}

/* Prometheus: the text exposition format, one family a metric. */

static void
prometheus_family (const char *name, const char *type, const char *help)
{
  printf ("# HELP nbd_integrity_%s %s\n# TYPE nbd_integrity_%s %s\n", name,
          help, name, type);
}

/* A label value, escaped as the format wants. */
static void
prometheus_label (const char *value)
{
  for (const char *p = value; *p; p++) {
    if (*p == '\\' || *p == '"')
      printf ("\\%c", *p);
    else if (*p == '\n')
      fputs ("\\n", stdout);
    else
      putchar (*p);
  }
}

/* A sample of metric NAME for E's disk. */
static void
prometheus_sample (const char *name, const struct status_file *e,
                   uint64_t value)
{
  printf ("nbd_integrity_%s{disk=\"", name);
  prometheus_label (e->disk);
  printf ("\"} %" PRIu64 "\n", value);
}

static void
prometheus_field (const GArray *exports, const struct status_field *f)
{
  bool counter = f->kind == STATUS_COUNTER;
  g_autofree char *name =
      g_strdup_printf ("%s%s", f->key, counter ? "_total" : "");

  prometheus_family (name, counter ? "counter" : "gauge", f->help);
  for (guint i = 0; i < exports->len; i++) {
    const struct status_file *e =
        &g_array_index (exports, struct status_file, i);
    prometheus_sample (name, e, status_field_get (&e->c, f));
  }
}

static uint64_t
up (const struct status_file *e, uint64_t now)
{
  (void)now;
  return e->serving;
}

/* Metrics the tool works out from the file. */
static const struct derived_metric {
  const char *name, *help;
  uint64_t (*value) (const struct status_file *e, uint64_t now);
} derived_metrics[] = {
    {"up", "1 if the server is serving, 0 if closed or gone.", up},
    {"status_age_seconds", "Seconds since the status file was written.", age},
    {"checkpoint_lag_seconds",
     "Seconds since the last checkpoint while the journal holds blocks.",
     checkpoint_lag},
};

static void
prometheus_derived (const GArray *exports, const struct derived_metric *m,
                    uint64_t now)
{
  prometheus_family (m->name, "gauge", m->help);
  for (guint i = 0; i < exports->len; i++) {
    const struct status_file *e =
        &g_array_index (exports, struct status_file, i);
    prometheus_sample (m->name, e, m->value (e, now));
  }
}

static void
prometheus_last_mismatch (const GArray *exports)
{
  prometheus_family ("last_mismatch_sector", "gauge",
                     "The sector of the latest mismatch since the reset.");
  for (guint i = 0; i < exports->len; i++) {
    const struct status_file *e =
        &g_array_index (exports, struct status_file, i);
    if (e->c.nr_recent)
      prometheus_sample ("last_mismatch_sector", e, e->c.recent_mismatches[0]);
  }
}

static void
print_prometheus (const GArray *exports, uint64_t now)
{
  for (size_t i = 0; i < status_nr_fields; i++)
    prometheus_field (exports, &status_fields[i]);
  for (size_t i = 0; i < G_N_ELEMENTS (derived_metrics); i++)
    prometheus_derived (exports, &derived_metrics[i], now);
  prometheus_last_mismatch (exports);
}

int
cmd_status (int argc, char **argv)
{
  gboolean json = FALSE, prometheus = FALSE, reset = FALSE;
  GOptionEntry entries[] = {
      json_option (&json),
      {"prometheus", 0, 0, G_OPTION_ARG_NONE, &prometheus,
       "Print in the Prometheus text format", NULL},
      {"reset", 0, 0, G_OPTION_ARG_NONE, &reset,
       "Have each server count from zero again, then print", NULL},
      G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GArray) exports =
      g_array_new (FALSE, FALSE, sizeof (struct status_file));
  uint64_t now = g_get_real_time () / G_USEC_PER_SEC;
  int status = EXIT_OK;

  if (!parse_command_list (&argc, &argv, "STATUSFILE...",
                           "Prints the live counters that nbdkit-integrity-"
                           "plugin keeps with status=STATUSFILE.  Exit "
                           "status: 0 no errors, 1 mismatches or I/O errors "
                           "counted, 2 a status file could not be read.",
                           entries))
    return EXIT_TROUBLE;
  if (json && prometheus) {
    tool_error ("status", "give --json or --prometheus, not both");
    return EXIT_TROUBLE;
  }
  g_array_set_clear_func (exports, status_file_clear);
  for (int i = 1; i < argc; i++) {
    struct status_file e;
    if ((reset && !reset_one (argv[i])) || !load_status_file (argv[i], &e)) {
      status = EXIT_TROUBLE;
      continue;
    }
    g_array_append_val (exports, e);
    if (troubled (&e) && status == EXIT_OK)
      status = EXIT_MISMATCH;
  }
  if (json)
    print_json (exports, now);
  else if (prometheus)
    print_prometheus (exports, now);
  else if (exports->len)
    print_table (exports, now);
  return status;
}
