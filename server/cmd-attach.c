/* nbd-integrity attach and detach: the client side of a configuration
 * file.  attach connects each export to its device= with nbd-client and,
 * with --assemble, starts the MD arrays on them; detach stops the arrays
 * and disconnects the devices.
 *
 * The nbd-client options are those MD RAID needs over these exports:
 *
 * -b 4096: the kernel's largest block size.  It is a whole number of
 * sectors of either sector size, so no request covers part of a
 * sector, which the server would have to read, check and rewrite.
 *
 * -timeout N: a request to a server that has gone fails after N seconds,
 * so MD fails that member instead of hanging the array.
 *
 * -N NAME, the export's name: each nbdkit serves its one disk under any
 * name, so the name need not match anything on the server.  But without
 * it (or with an empty one) nbd-client 3.24 warns that "the oldstyle
 * protocol is no longer supported", which misleads.
 *
 * --dry-run prints the commands instead of running them, and checks
 * nothing on this host: the output is what would run on a host where
 * nothing is attached yet.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "probe.h"
#include "tool.h"

#define BLOCK_SIZE 4096
#define DEFAULT_WAIT_S 60
#define PROBE_TIMEOUT_MS 1000

struct client {
  const char *cmd; /* "attach" or "detach" */
  struct config *cfg;
  GPtrArray *exports; /* struct export_config *: those to work on */
  GPtrArray *arrays;  /* struct array_config *: those on them only */
  bool dry_run;
  unsigned failures;
};

/* Running commands. */

/* Runs ARGV, its output going to ours; with --dry-run only prints it.
 * False, reported and counted, if it could not run or failed. */
static bool
run (struct client *cl, char **argv)
{
  g_autofree char *line = command_line (argv);
  g_autoptr (GError) err = NULL;
  int status;

  if (cl->dry_run) {
    printf ("%s\n", line);
    return true;
  }
  if (tool_verbose)
    fprintf (stderr, "nbd-integrity: %s: running %s\n", cl->cmd, line);
  fflush (stdout);
  if (!g_spawn_sync (NULL, argv, NULL,
                     G_SPAWN_SEARCH_PATH | G_SPAWN_CHILD_INHERITS_STDIN, NULL,
                     NULL, NULL, NULL, &status, &err) ||
      !g_spawn_check_wait_status (status, &err)) {
    tool_error (cl->cmd, "%s: %s", line, err->message);
    cl->failures++;
    return false;
  }
  return true;
}

/* Runs ARGV (a NULL-terminated GPtrArray, freed) with run. */
static bool
run_argv (struct client *cl, GPtrArray *argv)
{
  bool ok;

  g_ptr_array_add (argv, NULL);
  ok = run (cl, (char **)argv->pdata);
  g_ptr_array_free (argv, TRUE);
  return ok;
}

/* Whether ARGV exits 0, run quietly (a question, not an action). */
static bool
succeeds (char **argv)
{
  int status;

  return g_spawn_sync (NULL, argv, NULL,
                       G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL |
                           G_SPAWN_STDERR_TO_DEV_NULL,
                       NULL, NULL, NULL, NULL, &status, NULL) &&
         g_spawn_check_wait_status (status, NULL);
}

static void note (struct client *cl, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
note (struct client *cl, const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  fprintf (stderr, "nbd-integrity: %s: %s\n", cl->cmd, msg);
}

/* What is attached already, from sysfs. */

/* The first line of /sys/block/NAME/FILE, where NAME is DEVICE's
 * kernel name; NULL if there is none. */
static char *
sysfs_block (const char *device, const char *file)
{
  g_autofree char *real = realpath (device, NULL);
  g_autofree char *base = real ? g_path_get_basename (real) : NULL;
  g_autofree char *path =
      base ? g_build_filename ("/sys/block", base, file, NULL) : NULL;
  char *text = NULL;

  if (path == NULL || !g_file_get_contents (path, &text, NULL, NULL))
    return NULL;
  return g_strchomp (text);
}

/* Whether nbd DEVICE is connected: the kernel gives it a pid then. */
static bool
nbd_connected (const char *device)
{
  g_autofree char *pid = sysfs_block (device, "pid");

  return pid != NULL;
}

static bool
md_running (const char *device)
{
  g_autofree char *state = sysfs_block (device, "md/array_state");

  return state && strcmp (state, "clear") != 0 &&
         strcmp (state, "inactive") != 0;
}

/* Attaching. */

static void
add_client_tls (GPtrArray *a, const struct export_config *e)
{
  if (e->tls == TLS_OFF)
    return;
  argv_add (a, "-enable-tls");
  if (e->tls_certfile) {
    argv_add (a, "-certfile");
    argv_add (a, "%s", e->tls_certfile);
    argv_add (a, "-keyfile");
    argv_add (a, "%s", e->tls_keyfile);
  }
  if (e->tls_cacertfile) {
    argv_add (a, "-cacertfile");
    argv_add (a, "%s", e->tls_cacertfile);
  }
  if (e->tls_hostname) {
    argv_add (a, "-tlshostname");
    argv_add (a, "%s", e->tls_hostname);
  }
}

static GPtrArray *
nbd_client_argv (const struct export_config *e)
{
  GPtrArray *a = g_ptr_array_new_with_free_func (g_free);

  argv_add (a, "nbd-client");
  if (e->socket) {
    argv_add (a, "-unix");
    argv_add (a, "%s", e->socket);
  } else {
    argv_add (a, "%s", config_client_host (e));
    argv_add (a, "%u", e->port);
  }
  argv_add (a, "%s", e->device);
  argv_add (a, "-b");
  argv_add (a, "%d", BLOCK_SIZE);
  argv_add (a, "-timeout");
  argv_add (a, "%u", e->timeout);
  argv_add (a, "-N");
  argv_add (a, "%s", e->name);
  add_client_tls (a, e);
  return a;
}

static bool
server_up (const struct export_config *e)
{
  if (e->socket)
    return probe_unix (e->socket);
  return probe_tcp (config_client_host (e), e->port, PROBE_TIMEOUT_MS);
}

/* Waits up to WAIT seconds for E's server to take connections: attach
 * may run while serve is still starting it. */
static bool
wait_for_server (struct client *cl, const struct export_config *e,
                 unsigned wait)
{
  gint64 deadline = g_get_monotonic_time () + wait * G_USEC_PER_SEC;
  g_autofree char *where = NULL;

  while (!server_up (e)) {
    if (g_get_monotonic_time () >= deadline) {
      where = e->socket ? g_strdup (e->socket)
                        : g_strdup_printf ("%s port %u", config_client_host (e),
                                           e->port);
      tool_error (cl->cmd, "%s: no server on %s after %u s", e->name, where,
                  wait);
      cl->failures++;
      return false;
    }
    g_usleep (G_USEC_PER_SEC / 5);
  }
  return true;
}

static bool
attach_export (struct client *cl, const struct export_config *e, unsigned wait)
{
  if (!cl->dry_run && nbd_connected (e->device)) {
    note (cl, "%s: %s is connected already: left as it is", e->name, e->device);
    return true;
  }
  if (!cl->dry_run && wait && !wait_for_server (cl, e, wait))
    return false;
  return run_argv (cl, nbd_client_argv (e));
}

/* Arrays. */

static void
add_members (GPtrArray *a, const struct array_config *array)
{
  for (guint i = 0; i < array->members->len; i++) {
    const struct export_config *e = g_ptr_array_index (array->members, i);
    argv_add (a, "%s", e->device);
  }
}

static GPtrArray *
mdadm_assemble_argv (const struct array_config *array)
{
  GPtrArray *a = g_ptr_array_new_with_free_func (g_free);

  argv_add (a, "mdadm");
  argv_add (a, "--assemble");
  argv_add (a, "%s", array->device);
  add_members (a, array);
  return a;
}

static GPtrArray *
mdadm_create_argv (const struct array_config *array)
{
  GPtrArray *a = g_ptr_array_new_with_free_func (g_free);

  argv_add (a, "mdadm");
  argv_add (a, "--create");
  argv_add (a, "%s", array->device);
  argv_add (a, "--run");
  argv_add (a, "--level=%s", array->level);
  argv_add (a, "--raid-devices=%u", array->members->len);
  if (array->assume_clean)
    argv_add (a, "--assume-clean");
  add_members (a, array);
  return a;
}

/* Whether any member of ARRAY carries an MD superblock. */
static bool
members_have_superblock (const struct array_config *array)
{
  for (guint i = 0; i < array->members->len; i++) {
    const struct export_config *e = g_ptr_array_index (array->members, i);
    char *argv[] = {"mdadm", "--examine", e->device, NULL};
    if (succeeds (argv))
      return true;
  }
  return false;
}

/* With --dry-run: both branches, as comments say. */
static void
print_assemble_or_create (struct client *cl, const struct array_config *a)
{
  printf ("# if a member of [array %s] carries an MD superblock:\n", a->name);
  run_argv (cl, mdadm_assemble_argv (a));
  printf ("# if none does:\n");
  run_argv (cl, mdadm_create_argv (a));
}

/* Assembles ARRAY; creates it instead if CREATE and none of its members
 * carries an MD superblock, which is the only case in which creating it
 * cannot destroy an array. */
static void
start_array (struct client *cl, const struct array_config *a, bool create)
{
  if (cl->dry_run) {
    if (create)
      print_assemble_or_create (cl, a);
    else
      run_argv (cl, mdadm_assemble_argv (a));
  } else if (md_running (a->device))
    note (cl, "[array %s]: %s is running already: left as it is", a->name,
          a->device);
  else if (members_have_superblock (a))
    run_argv (cl, mdadm_assemble_argv (a));
  else if (create)
    run_argv (cl, mdadm_create_argv (a));
  else {
    tool_error (cl->cmd,
                "%s:%d: [array %s]: no member carries an MD superblock, so "
                "there is no array to assemble; to create a new one on "
                "them, run attach --assemble --create",
                cl->cfg->file, a->line, a->name);
    cl->failures++;
  }
}

/* Which exports and arrays. */

static bool
selected (const struct client *cl, const struct export_config *e)
{
  return g_ptr_array_find (cl->exports, e, NULL);
}

/* Every export with a device=: the others are served for other hosts. */
static bool
select_local_exports (struct client *cl)
{
  for (guint i = 0; i < cl->cfg->exports->len; i++) {
    struct export_config *e = g_ptr_array_index (cl->cfg->exports, i);
    if (e->device)
      g_ptr_array_add (cl->exports, e);
  }
  if (cl->exports->len == 0)
    tool_error (cl->cmd, "%s: no [export NAME] has a device= to %s",
                cl->cfg->file, cl->cmd);
  return cl->exports->len > 0;
}

/* The exports named in NAMES.  False, reported, if a name is not an
 * export's or the export has no device=. */
static bool
select_named_exports (struct client *cl, int nr_names, char **names)
{
  bool ok = true;

  for (int i = 0; i < nr_names; i++) {
    struct export_config *e = config_export (cl->cfg, names[i]);
    if (e == NULL) {
      tool_error (cl->cmd, "%s: there is no [export %s]", cl->cfg->file,
                  names[i]);
      ok = false;
    } else if (e->device == NULL) {
      tool_error (cl->cmd,
                  "%s:%d: [export %s] has no device=: give the device to "
                  "attach it as, such as /dev/nbd0",
                  cl->cfg->file, e->line, e->name);
      ok = false;
    } else if (!selected (cl, e))
      g_ptr_array_add (cl->exports, e);
  }
  return ok;
}

/* The arrays all of whose members are selected. */
static void
select_arrays (struct client *cl)
{
  for (guint i = 0; i < cl->cfg->arrays->len; i++) {
    struct array_config *a = g_ptr_array_index (cl->cfg->arrays, i);
    bool all = true;

    for (guint j = 0; j < a->members->len && all; j++)
      all = selected (cl, g_ptr_array_index (a->members, j));
    if (all)
      g_ptr_array_add (cl->arrays, a);
  }
}

/* Loads CONFIG and selects what the command works on.  False, reported,
 * on any problem. */
static bool
client_init (struct client *cl, const char *cmd, int argc, char **argv)
{
  cl->cmd = cmd;
  cl->exports = g_ptr_array_new ();
  cl->arrays = g_ptr_array_new ();
  cl->cfg = config_load (cmd, argv[1], CONFIG_ATTACH);
  if (cl->cfg == NULL)
    return false;
  if (argc > 2 ? !select_named_exports (cl, argc - 2, argv + 2)
               : !select_local_exports (cl))
    return false;
  select_arrays (cl);
  return true;
}

static void
client_clear (struct client *cl)
{
  g_ptr_array_unref (cl->exports);
  g_ptr_array_unref (cl->arrays);
  config_free (cl->cfg);
}

static int
client_status (const struct client *cl)
{
  return cl->failures ? EXIT_TROUBLE : EXIT_OK;
}

static GOptionEntry
dry_run_option (gboolean *dry_run)
{
  return (GOptionEntry){.long_name = "dry-run",
                        .short_name = 'n',
                        .arg = G_OPTION_ARG_NONE,
                        .arg_data = dry_run,
                        .description = "Print the commands, run nothing"};
}

/* A member whose attach failed: its array is not started, as MD would
 * start it degraded or not at all. */
static bool
array_attached (struct client *cl, const struct array_config *a)
{
  for (guint i = 0; i < a->members->len; i++) {
    const struct export_config *e = g_ptr_array_index (a->members, i);
    if (!cl->dry_run && !nbd_connected (e->device)) {
      tool_error (cl->cmd, "[array %s]: not started: %s (%s) is not attached",
                  a->name, e->name, e->device);
      cl->failures++;
      return false;
    }
  }
  return true;
}

static void
attach_all (struct client *cl, unsigned wait, bool assemble, bool create)
{
  for (guint i = 0; i < cl->exports->len; i++)
    attach_export (cl, g_ptr_array_index (cl->exports, i), wait);
  for (guint i = 0; i < cl->arrays->len && assemble; i++)
    if (array_attached (cl, g_ptr_array_index (cl->arrays, i)))
      start_array (cl, g_ptr_array_index (cl->arrays, i), create);
}

int
cmd_attach (int argc, char **argv)
{
  gboolean dry_run = FALSE, assemble = FALSE, create = FALSE;
  int wait = DEFAULT_WAIT_S;
  GOptionEntry entries[] = {
      dry_run_option (&dry_run),
      {"assemble", 0, 0, G_OPTION_ARG_NONE, &assemble,
       "Then assemble the arrays on the exports", NULL},
      {"create", 0, 0, G_OPTION_ARG_NONE, &create,
       "With --assemble: create an array none of whose members carries an "
       "MD superblock",
       NULL},
      {"wait", 0, 0, G_OPTION_ARG_INT, &wait,
       "Wait up to SECONDS for each server to come up (default 60)", "SECONDS"},
      G_OPTION_ENTRY_NULL,
  };
  struct client cl = {0};
  int status;

  if (!parse_command_list (&argc, &argv, "CONFIG [EXPORT...]",
                           "Attaches the exports of CONFIG (or those named) "
                           "with nbd-client.  See nbd-integrity(8).",
                           entries))
    return EXIT_TROUBLE;
  if (wait < 0 || (create && !assemble)) {
    tool_error ("attach", wait < 0 ? "--wait takes 0 seconds or more"
                                   : "--create goes with --assemble");
    return EXIT_TROUBLE;
  }
  cl.dry_run = dry_run;
  if (client_init (&cl, "attach", argc, argv))
    attach_all (&cl, wait, assemble, create);
  else
    cl.failures++;
  status = client_status (&cl);
  client_clear (&cl);
  return status;
}

/* Detaching. */

static void
stop_array (struct client *cl, const struct array_config *a)
{
  char *argv[] = {"mdadm", "--stop", a->device, NULL};

  if (cl->dry_run || md_running (a->device))
    run (cl, argv);
  else if (tool_verbose)
    note (cl, "[array %s]: %s is not running", a->name, a->device);
}

static void
detach_export (struct client *cl, const struct export_config *e)
{
  char *argv[] = {"nbd-client", "-d", e->device, NULL};

  if (cl->dry_run || nbd_connected (e->device))
    run (cl, argv);
  else if (tool_verbose)
    note (cl, "%s: %s is not connected", e->name, e->device);
}

static void
detach_all (struct client *cl)
{
  /* The arrays first: a member pulled from under one fails. */
  for (guint i = 0; i < cl->arrays->len; i++)
    stop_array (cl, g_ptr_array_index (cl->arrays, i));
  for (guint i = 0; i < cl->exports->len; i++)
    detach_export (cl, g_ptr_array_index (cl->exports, i));
}

int
cmd_detach (int argc, char **argv)
{
  gboolean dry_run = FALSE;
  GOptionEntry entries[] = {
      dry_run_option (&dry_run),
      G_OPTION_ENTRY_NULL,
  };
  struct client cl = {0};
  int status;

  if (!parse_command_list (&argc, &argv, "CONFIG [EXPORT...]",
                           "Stops the arrays of CONFIG and disconnects its "
                           "exports (or those named).  See nbd-integrity(8).",
                           entries))
    return EXIT_TROUBLE;
  cl.dry_run = dry_run;
  if (client_init (&cl, "detach", argc, argv))
    detach_all (&cl);
  else
    cl.failures++;
  status = client_status (&cl);
  client_clear (&cl);
  return status;
}
