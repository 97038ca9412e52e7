/* Loading the configuration file (config.h): reading its text, the line
 * of every group and key, reporting problems, and reading the groups in
 * order.
 *
 * GKeyFile parses the values, with its escapes, but it gives no line
 * numbers and silently merges a repeated group or key.  So the text is
 * also scanned here, line by line as GKeyFile reads it, to learn the line
 * of every group and key: the scan finds repeated keys, and GKeyFile
 * gives the values.  Every problem is reported, not only the first, so
 * that one run shows everything to fix.  A group's keys are read by the
 * table of keys (config-keys.c); what concerns several keys or several
 * groups is checked in config-check.c.
 */
#include <stdarg.h>
#include <string.h>

#include "config-internal.h"
#include "tool.h"
#include "userfile.h"

#define DEFAULT_PLUGIN "integrity"
#define DEFAULT_STATUS_DIR "/run/nbd-integrity"
#define DEFAULT_RESTART_DELAY 1 /* seconds */
#define DEFAULT_TIMEOUT 30      /* seconds, nbd-client -timeout */
#define MAX_NAME 64
#define NAME_CHARS                                                             \
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

/* Problems and their lines. */

static void vproblem_at (struct parser *p, int line, const char *fmt,
                         va_list ap) __attribute__ ((format (printf, 3, 0)));

static void
vproblem_at (struct parser *p, int line, const char *fmt, va_list ap)
{
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);

  tool_error (p->cmd, "%s:%d: %s", p->file, line, msg);
  p->problems++;
}

void
problem_at (struct parser *p, int line, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  vproblem_at (p, line, fmt, ap);
  va_end (ap);
}

static char *
line_id (const char *group, const char *key)
{
  return key ? g_strdup_printf ("%s\n%s", group, key) : g_strdup (group);
}

int
line_of (struct parser *p, const char *group, const char *key)
{
  g_autofree char *id = line_id (group, key);
  int line = GPOINTER_TO_INT (g_hash_table_lookup (p->lines, id));

  return line ? line : GPOINTER_TO_INT (g_hash_table_lookup (p->lines, group));
}

void
problem (struct parser *p, const char *group, const char *key, const char *fmt,
         ...)
{
  va_list ap;

  va_start (ap, fmt);
  vproblem_at (p, line_of (p, group, key), fmt, ap);
  va_end (ap);
}

/* The text scan. */

static void
entry_free (void *data)
{
  struct entry *e = data;

  g_free (e->group);
  g_free (e->key);
  g_free (e);
}

/* Records the line of a group or key.  A repeated one is an error:
 * GKeyFile would merge it silently, and one of the two is a mistake. */
static void
add_entry (struct parser *p, const char *group, const char *key, int line)
{
  char *id = line_id (group, key);
  int first = GPOINTER_TO_INT (g_hash_table_lookup (p->lines, id));
  struct entry *e;

  if (first) {
    if (key)
      problem_at (p, line, "%s= is given twice in [%s] (first at line %d)", key,
                  group, first);
    else
      problem_at (p, line, "[%s] is given twice (first at line %d)", group,
                  first);
    g_free (id);
    return;
  }
  g_hash_table_insert (p->lines, id, GINT_TO_POINTER (line));
  e = g_new (struct entry, 1);
  e->group = g_strdup (group);
  e->key = g_strdup (key);
  e->line = line;
  g_ptr_array_add (p->entries, e);
}

/* Scans one line as GKeyFile reads it: blank, a comment, [GROUP] or
 * KEY=VALUE (with spaces around the key).  False if it is none. */
static bool
scan_line (struct parser *p, char *text, int line, char **group)
{
  char *s = g_strchug (text), *end;

  if (*s == '\0' || *s == '#')
    return true;
  if (*s == '[') {
    end = strrchr (s, ']');
    if (end == NULL)
      return false;
    g_free (*group);
    *group = g_strndup (s + 1, end - s - 1);
    add_entry (p, *group, NULL, line);
    return true;
  }
  end = strchr (s, '=');
  if (end == NULL || end == s || *group == NULL)
    return false;
  *end = '\0';
  add_entry (p, *group, g_strchomp (s), line);
  return true;
}

/* Scans TEXT; returns the first line that is not blank, a comment, a
 * group or a key, or 0. */
static int
scan_text (struct parser *p, const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  g_autofree char *group = NULL;
  int bad = 0;

  for (int i = 0; lines[i]; i++)
    if (!scan_line (p, lines[i], i + 1, &group) && bad == 0)
      bad = i + 1;
  return bad;
}

/* The line of the byte AT of TEXT. */
static int
line_at (const char *text, const char *at)
{
  int line = 1;

  for (const char *c = text; c < at; c++)
    line += *c == '\n';
  return line;
}

/* Reads the file into P->kf and scans it.  False, reported, if it
 * cannot be read or parsed at all. */
static bool
load_file (struct parser *p)
{
  g_autoptr (GError) err = NULL;
  g_autofree char *text = NULL;
  const char *nul;
  gsize len;
  int bad;

  if (!read_user_file (p->cmd, p->file, &text, &len))
    return false;
  /* GKeyFile reads on past a NUL byte, the scan would not: the lines
   * after it would escape every check. */
  nul = memchr (text, '\0', len);
  if (nul) {
    problem_at (p, line_at (text, nul), "a NUL byte: this is not a text file");
    return false;
  }
  bad = scan_text (p, text);
  if (!g_key_file_load_from_data (p->kf, text, len, G_KEY_FILE_NONE, &err)) {
    if (bad)
      problem_at (p, bad, "%s", err->message);
    else
      tool_error (p->cmd, "%s: %s", p->file, err->message);
    return false;
  }
  if (bad)
    problem_at (p, bad, "not a [group], key=value or # comment");
  return true;
}

/* Values. */

bool
has_key (struct parser *p, const char *group, const char *key)
{
  return g_key_file_has_key (p->kf, group, key, NULL);
}

char *
get_string (struct parser *p, const char *group, const char *key)
{
  g_autoptr (GError) err = NULL;
  char *value;

  if (!has_key (p, group, key))
    return NULL;
  value = g_key_file_get_string (p->kf, group, key, &err);
  if (value == NULL)
    problem (p, group, key, "%s=: %s", key, err->message);
  else if (*value == '\0') {
    problem (p, group, key, "%s= is empty", key);
    g_clear_pointer (&value, g_free);
  }
  return value;
}

/* The groups. */

static char *
default_plugin (void)
{
  /* What the tests (and meson devenv users) point at the built plugin. */
  const char *env = g_getenv ("NBD_INTEGRITY_PLUGIN");

  return g_strdup (env && *env ? env : DEFAULT_PLUGIN);
}

static void
read_server (struct parser *p, struct config *cfg)
{
  cfg->nbdkit = g_strdup ("nbdkit");
  cfg->plugin = default_plugin ();
  cfg->syslog = false;
  cfg->restart_delay = DEFAULT_RESTART_DELAY;
  cfg->status_dir = g_strdup (DEFAULT_STATUS_DIR);
  cfg->timeout = DEFAULT_TIMEOUT;
  read_keys (p, "server", GROUP_SERVER, cfg);
}

static void
export_free (void *data)
{
  struct export_config *e = data;

  g_free (e->name);
  config_fields_free (GROUP_EXPORT, e);
  g_free (e);
}

static struct export_config *
read_export (struct parser *p, const char *group, const char *name)
{
  struct export_config *e = g_new0 (struct export_config, 1);

  e->name = g_strdup (name);
  e->line = line_of (p, group, NULL);
  e->tag_cache = e->write_buffer = -1;
  e->tls = TLS_OFF;
  e->timeout = p->cfg->timeout;
  read_keys (p, group, GROUP_EXPORT, e);
  /* nbdkit 1.32 aborts when a client hangs up with replies pending and
   * more than one thread serves its connection (KNOWN PROBLEMS in
   * nbdkit-integrity-plugin(1)), and the abort ends every connection of
   * the export.  On a TCP port, whose clients may be any host's, each
   * connection gets one thread unless threads= says otherwise. */
  if (e->threads == 0 && e->port)
    e->threads = 1;
  return e;
}

static void
array_free (void *data)
{
  struct array_config *a = data;

  g_free (a->name);
  config_fields_free (GROUP_ARRAY, a);
  g_free (a);
}

static struct array_config *
read_array (struct parser *p, const char *group, const char *name)
{
  struct array_config *a = g_new0 (struct array_config, 1);

  a->name = g_strdup (name);
  a->line = line_of (p, group, NULL);
  a->members = g_ptr_array_new ();
  read_keys (p, group, GROUP_ARRAY, a);
  return a;
}

/* NAME if GROUP is "KIND NAME", else NULL. */
static const char *
group_name (const char *group, const char *kind)
{
  size_t n = strlen (kind);

  return strncmp (group, kind, n) == 0 && group[n] == ' ' ? group + n + 1
                                                          : NULL;
}

static bool
check_name (struct parser *p, const char *group, const char *name)
{
  size_t n = strlen (name);

  if (n > 0 && n <= MAX_NAME && g_ascii_isalnum (name[0]) &&
      strspn (name, NAME_CHARS) == n)
    return true;
  problem (p, group, NULL,
           "[%s]: a name has 1 to %d letters, digits, '.', '_' or '-', "
           "and starts with a letter or digit",
           group, MAX_NAME);
  return false;
}

static bool
known_group (const char *group)
{
  return strcmp (group, "server") == 0 || group_name (group, "export") ||
         group_name (group, "array");
}

/* Calls FN for each group of KIND, in file order. */
static void
for_each_group (struct parser *p, enum group_kind kind,
                void (*fn) (struct parser *p, const char *group,
                            const char *name))
{
  for (guint i = 0; i < p->entries->len; i++) {
    const struct entry *e = g_ptr_array_index (p->entries, i);
    const char *name =
        e->key ? NULL : group_name (e->group, group_kind_name (kind));

    if (name && check_name (p, e->group, name))
      fn (p, e->group, name);
  }
}

static void
add_export (struct parser *p, const char *group, const char *name)
{
  struct export_config *e = read_export (p, group, name);

  check_status_path (p, group, e);
  g_ptr_array_add (p->cfg->exports, e);
}

static void
add_array (struct parser *p, const char *group, const char *name)
{
  g_ptr_array_add (p->cfg->arrays, read_array (p, group, name));
}

static void
read_groups (struct parser *p)
{
  for (guint i = 0; i < p->entries->len; i++) {
    const struct entry *e = g_ptr_array_index (p->entries, i);
    if (e->key == NULL && !known_group (e->group))
      problem_at (p, e->line,
                  "unknown group [%s]: give [server], [export NAME] or "
                  "[array NAME]",
                  e->group);
  }
  read_server (p, p->cfg);
  for_each_group (p, GROUP_EXPORT, add_export);
  /* After every export, which the arrays name. */
  for_each_group (p, GROUP_ARRAY, add_array);
  if (p->cfg->exports->len == 0) {
    tool_error (p->cmd, "%s: no [export NAME] group: nothing to %s", p->file,
                p->role == CONFIG_SERVE ? "serve" : "attach");
    p->problems++;
  }
  check_exports_apart (p);
}

static void
parser_init (struct parser *p, const char *cmd, const char *file,
             enum config_role role, struct config *cfg)
{
  g_autofree char *path = g_canonicalize_filename (file, NULL);

  p->cmd = cmd;
  p->file = file;
  p->role = role;
  p->dir = g_path_get_dirname (path);
  p->kf = g_key_file_new ();
  p->entries = g_ptr_array_new_with_free_func (entry_free);
  p->lines = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  p->cfg = cfg;
  p->problems = 0;
}

static void
parser_clear (struct parser *p)
{
  g_free (p->dir);
  g_key_file_unref (p->kf);
  g_ptr_array_unref (p->entries);
  g_hash_table_unref (p->lines);
}

struct config *
config_load (const char *cmd, const char *file, enum config_role role)
{
  struct config *cfg = g_new0 (struct config, 1);
  struct parser p;

  cfg->file = g_strdup (file);
  cfg->exports = g_ptr_array_new_with_free_func (export_free);
  cfg->arrays = g_ptr_array_new_with_free_func (array_free);
  parser_init (&p, cmd, file, role, cfg);
  if (!load_file (&p))
    p.problems++;
  else
    read_groups (&p);
  if (p.problems)
    g_clear_pointer (&cfg, config_free);
  parser_clear (&p);
  return cfg;
}

void
config_free (struct config *cfg)
{
  if (cfg == NULL)
    return;
  g_free (cfg->file);
  config_fields_free (GROUP_SERVER, cfg);
  /* The arrays point into the exports. */
  g_ptr_array_unref (cfg->arrays);
  g_ptr_array_unref (cfg->exports);
  g_free (cfg);
}

struct export_config *
config_export (const struct config *cfg, const char *name)
{
  for (guint i = 0; i < cfg->exports->len; i++) {
    struct export_config *e = g_ptr_array_index (cfg->exports, i);
    if (strcmp (e->name, name) == 0)
      return e;
  }
  return NULL;
}

char *
config_status_path (const struct config *cfg, const struct export_config *e)
{
  g_autofree char *file = g_strdup_printf ("%s.status", e->name);

  return g_build_filename (cfg->status_dir, file, NULL);
}

const char *
config_client_host (const struct export_config *e)
{
  if (e->host)
    return e->host;
  return any_address (e->address) ? "localhost" : e->address;
}
