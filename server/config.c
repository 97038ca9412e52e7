/* Reading and checking the configuration file: see config.h.
 *
 * GKeyFile parses the values, with its escapes, but it gives no line
 * numbers and silently merges a repeated group or key.  So the text is
 * also scanned here, line by line as GKeyFile reads it, to learn the line
 * of every group and key: the scan finds repeated and unknown keys, and
 * GKeyFile gives the values.  Every problem is reported, not only the
 * first, so that one run shows everything to fix.
 */
#include <stdarg.h>
#include <string.h>
#include <sys/un.h>

#include "config.h"
#include "disk.h"
#include "hash.h"
#include "params.h"
#include "report.h"
#include "status.h"
#include "tool.h"
#include "userfile.h"

#define DEFAULT_PLUGIN "integrity"
#define DEFAULT_STATUS_DIR "/run/nbd-integrity"
#define DEFAULT_RESTART_DELAY 1 /* seconds */
#define DEFAULT_TIMEOUT 30      /* seconds, nbd-client -timeout */
#define MAX_NAME 64
#define NAME_CHARS                                                             \
  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

static const char *const server_keys[] = {
    "nbdkit", "plugin", "log", "restart-delay", "status-dir", "timeout", NULL,
};

static const char *const export_keys[] = {
    "disk",
    "keyfile",
    "hash",
    "mode",
    "tag-cache",
    "write-buffer",
    "lock-memory",
    "core-dumps",
    "socket",
    "address",
    "port",
    "tls",
    "tls-certificates",
    "tls-verify-peer",
    "threads",
    "device",
    "host",
    "timeout",
    "tls-certfile",
    "tls-keyfile",
    "tls-cacertfile",
    "tls-hostname",
    NULL,
};

/* The keys that mean nothing without TLS. */
static const char *const tls_keys[] = {
    "tls-certificates", "tls-verify-peer", "tls-certfile", "tls-keyfile",
    "tls-cacertfile",   "tls-hostname",    NULL,
};

static const char *const array_keys[] = {
    "device", "level", "members", "assume-clean", NULL,
};

/* The levels mdadm --create takes that make sense over exports. */
static const char *const array_levels[] = {
    "linear", "0", "1", "4", "5", "6", "10", NULL,
};

static const char *const tls_modes[] = {"off", "on", "require", NULL};

/* A [GROUP] or KEY=VALUE line of the file. */
struct entry {
  char *group;
  char *key; /* NULL for the [GROUP] line */
  int line;
};

struct parser {
  const char *cmd, *file;
  enum config_role role;
  char *dir; /* the file's directory, for relative paths */
  GKeyFile *kf;
  GPtrArray *entries; /* struct entry, in file order */
  GHashTable *lines;  /* "GROUP" or "GROUP\nKEY" -> its line */
  unsigned problems;
};

static void vproblem_at (struct parser *p, int line, const char *fmt,
                         va_list ap) __attribute__ ((format (printf, 3, 0)));

static void
vproblem_at (struct parser *p, int line, const char *fmt, va_list ap)
{
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);

  tool_error (p->cmd, "%s:%d: %s", p->file, line, msg);
  p->problems++;
}

static void problem_at (struct parser *p, int line, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
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

/* The line of KEY in GROUP, or of the [GROUP] line if KEY is NULL or
 * not there. */
static int
line_of (struct parser *p, const char *group, const char *key)
{
  g_autofree char *id = line_id (group, key);
  int line = GPOINTER_TO_INT (g_hash_table_lookup (p->lines, id));

  return line ? line : GPOINTER_TO_INT (g_hash_table_lookup (p->lines, group));
}

/* Reports a problem at the line of KEY in GROUP (see line_of). */
static void problem (struct parser *p, const char *group, const char *key,
                     const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));

static void
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

/* Values.  Each returns the default when the key is not there, and
 * reports a value it cannot take. */

static bool
has_key (struct parser *p, const char *group, const char *key)
{
  return g_key_file_has_key (p->kf, group, key, NULL);
}

/* NULL if not there or empty (reported). */
static char *
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

static char *
get_path (struct parser *p, const char *group, const char *key)
{
  g_autofree char *value = get_string (p, group, key);

  return value ? g_canonicalize_filename (value, p->dir) : NULL;
}

/* A program's name, looked for on PATH, or its path. */
static char *
get_program (struct parser *p, const char *group, const char *key)
{
  g_autofree char *value = get_string (p, group, key);

  if (value && strchr (value, '/'))
    return g_canonicalize_filename (value, p->dir);
  return g_steal_pointer (&value);
}

/* The same spellings as the plugin's booleans (params.h). */
static bool
get_bool (struct parser *p, const char *group, const char *key)
{
  g_autofree char *value = get_string (p, group, key);
  int r = value ? parse_bool (value) : 0;

  if (r == -1)
    problem (p, group, key, "%s=%s: give true or false", key, value);
  return r == 1;
}

/* Checks VALUE of plugin parameter KEY as the plugin will (params.h): a
 * file this accepts starts its exports. */
static bool
check_param (struct parser *p, const char *group, const char *key,
             const char *value, union param_value *v)
{
  if (param_parse (param_by_name (key), value, v) == 0)
    return true;
  problem (p, group, key, "%s", ni_error ());
  return false;
}

static unsigned
get_uint (struct parser *p, const char *group, const char *key, unsigned min,
          unsigned max, unsigned dflt)
{
  g_autofree char *value = get_string (p, group, key);
  guint64 n;

  if (value == NULL)
    return dflt;
  if (!g_ascii_string_to_unsigned (value, 10, min, max, &n, NULL)) {
    problem (p, group, key, "%s=%s: give a whole number from %u to %u", key,
             value, min, max);
    return dflt;
  }
  return n;
}

/* Bytes; -1 if not there. */
/* A size parameter of the plugin's; -1 if not given or refused. */
static int64_t
get_size_param (struct parser *p, const char *group, const char *key)
{
  g_autofree char *value = get_string (p, group, key);
  union param_value v;

  return value && check_param (p, group, key, value, &v) ? (int64_t)v.size : -1;
}

/* The index of the value in CHOICES. */
static int
get_choice (struct parser *p, const char *group, const char *key,
            const char *const *choices, int dflt)
{
  g_autofree char *value = get_string (p, group, key);
  g_autofree char *list = NULL;

  if (value == NULL)
    return dflt;
  for (int i = 0; choices[i]; i++)
    if (strcmp (value, choices[i]) == 0)
      return i;
  list = g_strjoinv (", ", (char **)choices);
  problem (p, group, key, "%s=%s: give one of %s", key, value, list);
  return dflt;
}

static void
check_keys (struct parser *p, const char *group, const char *const *known)
{
  for (guint i = 0; i < p->entries->len; i++) {
    const struct entry *e = g_ptr_array_index (p->entries, i);

    if (e->key && strcmp (e->group, group) == 0 &&
        !g_strv_contains (known, e->key))
      problem_at (p, e->line, "unknown key %s= in [%s]", e->key, group);
  }
}

/* [server] */

static char *
default_plugin (void)
{
  /* What the tests (and meson devenv users) point at the built plugin. */
  const char *env = g_getenv ("NBD_INTEGRITY_PLUGIN");

  return g_strdup (env && *env ? env : DEFAULT_PLUGIN);
}

/* Reads [server] into CFG, and the default nbd-client timeout. */
static void
read_server (struct parser *p, struct config *cfg, unsigned *timeout)
{
  static const char *const logs[] = {"stderr", "syslog", NULL};
  const char *g = "server";

  check_keys (p, g, server_keys);
  cfg->nbdkit = get_program (p, g, "nbdkit");
  if (cfg->nbdkit == NULL)
    cfg->nbdkit = g_strdup ("nbdkit");
  cfg->plugin = get_program (p, g, "plugin");
  if (cfg->plugin == NULL)
    cfg->plugin = default_plugin ();
  cfg->syslog = get_choice (p, g, "log", logs, 0) == 1;
  cfg->restart_delay =
      get_uint (p, g, "restart-delay", 0, 3600, DEFAULT_RESTART_DELAY);
  cfg->status_dir = get_path (p, g, "status-dir");
  if (cfg->status_dir == NULL)
    cfg->status_dir = g_strdup (DEFAULT_STATUS_DIR);
  *timeout = get_uint (p, g, "timeout", 1, 86400, DEFAULT_TIMEOUT);
}

/* [export NAME] */

static void
export_free (void *data)
{
  struct export_config *e = data;

  g_free (e->name);
  g_free (e->disk);
  g_free (e->keyfile);
  g_free (e->hash);
  g_free (e->mode);
  g_free (e->socket);
  g_free (e->address);
  g_free (e->tls_certificates);
  g_free (e->device);
  g_free (e->host);
  g_free (e->tls_certfile);
  g_free (e->tls_keyfile);
  g_free (e->tls_cacertfile);
  g_free (e->tls_hostname);
  g_free (e);
}

static void
read_plugin_params (struct parser *p, const char *group,
                    struct export_config *e)
{
  e->disk = get_path (p, group, "disk");
  if (!has_key (p, group, "disk") && p->role == CONFIG_SERVE)
    problem (p, group, NULL, "[%s] has no disk=: give the disk to serve",
             group);
  union param_value v;

  e->keyfile = get_path (p, group, "keyfile");
  e->hash = get_string (p, group, "hash");
  if (e->hash)
    check_param (p, group, "hash", e->hash, &v);
  e->mode = get_string (p, group, "mode");
  if (e->mode)
    check_param (p, group, "mode", e->mode, &v);
  e->tag_cache = get_size_param (p, group, "tag-cache");
  e->write_buffer = get_size_param (p, group, "write-buffer");
  e->lock_memory = get_bool (p, group, "lock-memory");
  e->core_dumps = get_bool (p, group, "core-dumps");
}

static void
read_listener (struct parser *p, const char *group, struct export_config *e)
{
  bool has_socket = has_key (p, group, "socket");
  bool has_port = has_key (p, group, "port");
  size_t max_socket = sizeof (((struct sockaddr_un *)NULL)->sun_path) - 1;

  e->socket = get_path (p, group, "socket");
  e->address = get_string (p, group, "address");
  e->port = get_uint (p, group, "port", 1, 65535, 0);
  if (has_socket && has_port)
    problem_at (p,
                MAX (line_of (p, group, "socket"), line_of (p, group, "port")),
                "socket= and port= both given: an export listens on a Unix "
                "socket or on a TCP port");
  else if (!has_socket && !has_port)
    problem (p, group, NULL,
             "[%s] listens nowhere: give socket=PATH or port=NUMBER", group);
  if (has_key (p, group, "address") && !has_port)
    problem (p, group, "address", "address= goes with port=");
  if (e->socket && strlen (e->socket) > max_socket)
    problem (p, group, "socket",
             "socket=%s: longer than the %zu bytes a Unix "
             "socket's path may have",
             e->socket, max_socket);
}

/* nbdkit 1.32 aborts when a client hangs up with replies pending and
 * more than one thread serves its connection (KNOWN PROBLEMS in
 * nbdkit-integrity-plugin(1)), and the abort ends every connection of
 * the export.  On a TCP port, whose clients may be any host's, each
 * connection gets one thread unless threads= says otherwise. */
static void
read_threads (struct parser *p, const char *group, struct export_config *e)
{
  e->threads = get_uint (p, group, "threads", 1, 1024, e->port ? 1 : 0);
}

static void
read_tls (struct parser *p, const char *group, struct export_config *e)
{
  e->tls = get_choice (p, group, "tls", tls_modes, TLS_OFF);
  e->tls_certificates = get_path (p, group, "tls-certificates");
  e->tls_verify_peer = get_bool (p, group, "tls-verify-peer");
  e->tls_certfile = get_path (p, group, "tls-certfile");
  e->tls_keyfile = get_path (p, group, "tls-keyfile");
  e->tls_cacertfile = get_path (p, group, "tls-cacertfile");
  e->tls_hostname = get_string (p, group, "tls-hostname");
  for (int i = 0; tls_keys[i] && e->tls == TLS_OFF; i++)
    if (has_key (p, group, tls_keys[i]))
      problem (p, group, tls_keys[i], "%s= needs tls=on or tls=require",
               tls_keys[i]);
  if (has_key (p, group, "tls-certfile") != has_key (p, group, "tls-keyfile"))
    problem (p, group,
             has_key (p, group, "tls-certfile") ? "tls-certfile"
                                                : "tls-keyfile",
             "tls-certfile= and tls-keyfile= go together: the client's "
             "certificate and its key");
}

static void
read_client (struct parser *p, const char *group, struct export_config *e,
             unsigned timeout)
{
  e->device = get_path (p, group, "device");
  e->host = get_string (p, group, "host");
  e->timeout = get_uint (p, group, "timeout", 1, 86400, timeout);
  if (e->host && has_key (p, group, "socket"))
    problem (p, group, "host",
             "host= is for an export on a TCP port; a client attaches "
             "socket= on this host");
}

static struct export_config *
read_export (struct parser *p, const char *group, const char *name,
             unsigned timeout)
{
  struct export_config *e = g_new0 (struct export_config, 1);

  e->name = g_strdup (name);
  e->line = line_of (p, group, NULL);
  check_keys (p, group, export_keys);
  read_plugin_params (p, group, e);
  read_listener (p, group, e);
  read_threads (p, group, e);
  read_tls (p, group, e);
  read_client (p, group, e, timeout);
  return e;
}

/* [array NAME] */

static void
array_free (void *data)
{
  struct array_config *a = data;

  g_free (a->name);
  g_free (a->device);
  g_free (a->level);
  g_ptr_array_unref (a->members);
  g_free (a);
}

/* The array that already has export E as a member, or NULL. */
static const struct array_config *
array_of (const struct config *cfg, const struct export_config *e)
{
  for (guint i = 0; i < cfg->arrays->len; i++) {
    const struct array_config *a = g_ptr_array_index (cfg->arrays, i);
    guint index;

    if (g_ptr_array_find (a->members, e, &index))
      return a;
  }
  return NULL;
}

static void
add_member (struct parser *p, struct config *cfg, const char *group,
            struct array_config *a, const char *name)
{
  struct export_config *e = config_export (cfg, name);
  const struct array_config *other;

  if (e == NULL)
    problem (p, group, "members", "members=: there is no [export %s]", name);
  else if (g_ptr_array_find (a->members, e, NULL))
    problem (p, group, "members", "members=: %s is listed twice", name);
  else if ((other = array_of (cfg, e)) != NULL)
    problem (p, group, "members",
             "members=: %s is already a member of [array %s]", name,
             other->name);
  else if (e->device == NULL)
    problem (p, group, "members",
             "members=: [export %s] (line %d) has no device= to build "
             "the array on",
             name, e->line);
  else
    g_ptr_array_add (a->members, e);
}

static void
read_members (struct parser *p, struct config *cfg, const char *group,
              struct array_config *a)
{
  g_autofree char *value = get_string (p, group, "members");
  g_auto (GStrv) names = NULL;
  guint n = 0;

  if (value == NULL) {
    if (!has_key (p, group, "members"))
      problem (p, group, NULL,
               "[%s] has no members=: give its exports, such as "
               "members=d0,d1,d2",
               group);
    return;
  }
  names = g_strsplit (value, ",", -1);
  for (int i = 0; names[i]; i++) {
    const char *name = g_strstrip (names[i]);
    if (*name) {
      add_member (p, cfg, group, a, name);
      n++;
    }
  }
  if (n < 2)
    problem (p, group, "members",
             "members=%s: an array needs 2 members or "
             "more",
             value);
}

static struct array_config *
read_array (struct parser *p, struct config *cfg, const char *group,
            const char *name)
{
  struct array_config *a = g_new0 (struct array_config, 1);

  a->name = g_strdup (name);
  a->line = line_of (p, group, NULL);
  a->members = g_ptr_array_new ();
  check_keys (p, group, array_keys);
  a->device = get_path (p, group, "device");
  if (!has_key (p, group, "device"))
    problem (p, group, NULL,
             "[%s] has no device=: give the array's device, such as "
             "/dev/md0",
             group);
  a->level = get_string (p, group, "level");
  if (!has_key (p, group, "level"))
    problem (p, group, NULL, "[%s] has no level=: give its RAID level", group);
  else if (a->level && !g_strv_contains (array_levels, a->level))
    problem (p, group, "level", "level=%s: give linear, 0, 1, 4, 5, 6 or 10",
             a->level);
  a->assume_clean = get_bool (p, group, "assume-clean");
  read_members (p, cfg, group, a);
  return a;
}

/* What two exports must not share. */

static bool
any_address (const char *address)
{
  return address == NULL || strcmp (address, "0.0.0.0") == 0 ||
         strcmp (address, "::") == 0;
}

/* Whether A and B would listen on the same TCP port.  Exports on other
 * hosts (host=) of a client's configuration may share a port. */
static bool
same_port (const struct export_config *a, const struct export_config *b)
{
  if (a->port == 0 || a->port != b->port)
    return false;
  if (a->host && b->host && strcmp (a->host, b->host) != 0)
    return false;
  return any_address (a->address) || any_address (b->address) ||
         strcmp (a->address, b->address) == 0;
}

/* Reports what export B shares with export A, which comes before it. */
static void
check_pair (struct parser *p, const struct export_config *a,
            const struct export_config *b)
{
  g_autofree char *group = g_strdup_printf ("export %s", b->name);

  if (a->socket && b->socket && strcmp (a->socket, b->socket) == 0)
    problem (p, group, "socket", "socket %s is also [export %s]'s (line %d)",
             b->socket, a->name, a->line);
  if (same_port (a, b))
    problem (p, group, "port", "port %u is also [export %s]'s (line %d)",
             b->port, a->name, a->line);
  if (a->disk && b->disk && userfile_same (a->disk, b->disk))
    problem (p, group, "disk",
             "disk %s is also [export %s]'s (line %d): two servers "
             "would corrupt it",
             b->disk, a->name, a->line);
  if (a->device && b->device && userfile_same (a->device, b->device))
    problem (p, group, "device", "device %s is also [export %s]'s (line %d)",
             b->device, a->name, a->line);
}

static void
check_exports_apart (struct parser *p, const struct config *cfg)
{
  for (guint j = 1; j < cfg->exports->len; j++)
    for (guint i = 0; i < j; i++)
      check_pair (p, g_ptr_array_index (cfg->exports, i),
                  g_ptr_array_index (cfg->exports, j));
}

/* The groups. */

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
for_each_group (struct parser *p, struct config *cfg, const char *kind,
                void (*fn) (struct parser *p, struct config *cfg,
                            const char *group, const char *name,
                            unsigned timeout),
                unsigned timeout)
{
  for (guint i = 0; i < p->entries->len; i++) {
    const struct entry *e = g_ptr_array_index (p->entries, i);
    const char *name = e->key ? NULL : group_name (e->group, kind);

    if (name && check_name (p, e->group, name))
      fn (p, cfg, e->group, name, timeout);
  }
}

/* What the plugin would refuse at start: a status file that would
 * replace the export's disk, its key or another file. */
static void
check_status_path (struct parser *p, const struct config *cfg,
                   const char *group, const struct export_config *e)
{
  g_autofree char *status = config_status_path (cfg, e);

  if (p->role == CONFIG_SERVE && e->disk &&
      status_check_path (status, e->disk, e->keyfile) == -1)
    problem (p, group, NULL, "%s", ni_error ());
}

static void
add_export (struct parser *p, struct config *cfg, const char *group,
            const char *name, unsigned timeout)
{
  struct export_config *e = read_export (p, group, name, timeout);

  check_status_path (p, cfg, group, e);
  g_ptr_array_add (cfg->exports, e);
}

static void
add_array (struct parser *p, struct config *cfg, const char *group,
           const char *name, unsigned timeout)
{
  (void)timeout;
  g_ptr_array_add (cfg->arrays, read_array (p, cfg, group, name));
}

static void
read_groups (struct parser *p, struct config *cfg)
{
  unsigned timeout;

  for (guint i = 0; i < p->entries->len; i++) {
    const struct entry *e = g_ptr_array_index (p->entries, i);
    if (e->key == NULL && !known_group (e->group))
      problem_at (p, e->line,
                  "unknown group [%s]: give [server], [export NAME] or "
                  "[array NAME]",
                  e->group);
  }
  read_server (p, cfg, &timeout);
  for_each_group (p, cfg, "export", add_export, timeout);
  /* After every export, which the arrays name. */
  for_each_group (p, cfg, "array", add_array, timeout);
  if (cfg->exports->len == 0) {
    tool_error (p->cmd, "%s: no [export NAME] group: nothing to %s", p->file,
                p->role == CONFIG_SERVE ? "serve" : "attach");
    p->problems++;
  }
  check_exports_apart (p, cfg);
}

static void
parser_init (struct parser *p, const char *cmd, const char *file,
             enum config_role role)
{
  g_autofree char *path = g_canonicalize_filename (file, NULL);

  p->cmd = cmd;
  p->file = file;
  p->role = role;
  p->dir = g_path_get_dirname (path);
  p->kf = g_key_file_new ();
  p->entries = g_ptr_array_new_with_free_func (entry_free);
  p->lines = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
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
  parser_init (&p, cmd, file, role);
  if (!load_file (&p))
    p.problems++;
  else
    read_groups (&p, cfg);
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
  g_free (cfg->nbdkit);
  g_free (cfg->plugin);
  g_free (cfg->status_dir);
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

const char *
tls_mode_name (enum tls_mode tls)
{
  return tls_modes[tls];
}
