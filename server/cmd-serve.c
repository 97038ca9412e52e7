/* nbd-integrity serve: one nbdkit for each export of a configuration
 * file, supervised.  This file is the command: its options, what must be
 * on the host, and which of its three ways to serve; serve.h says where
 * the rest is.
 *
 * Notes on the design.
 *
 * One nbdkit process for each export, not one serving them all: a crash,
 * a failing disk or a restart of one export leaves the others serving,
 * and each has its own status file and log lines.  nbdkit 1.32 serves
 * many exports from one process only through one plugin instance, with
 * one set of parameters, so it could not give each export its own disk,
 * key and mode anyway.
 *
 * --check prints the nbdkit commands and starts nothing.
 * --socket-activated EXPORT becomes that export's nbdkit, for systemd to
 * supervise.  Otherwise serve supervises every export (serve-supervise.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "serve.h"
#include "tool.h"

/* What must be there before anything starts. */
static bool
check_host (const struct config *cfg)
{
  g_autofree char *nbdkit = g_find_program_in_path (cfg->nbdkit);

  if (nbdkit == NULL) {
    tool_error ("serve", "%s: nbdkit=%s: no such program", cfg->file,
                cfg->nbdkit);
    return false;
  }
  if (strchr (cfg->plugin, '/') && access (cfg->plugin, R_OK) == -1) {
    tool_error ("serve", "%s: plugin=%s: %s", cfg->file, cfg->plugin,
                g_strerror (errno));
    return false;
  }
  if (g_mkdir_with_parents (cfg->status_dir, 0755) == -1) {
    tool_error ("serve", "%s: status-dir=%s: %s", cfg->file, cfg->status_dir,
                g_strerror (errno));
    return false;
  }
  return true;
}

static int
print_commands (const struct config *cfg)
{
  for (guint i = 0; i < cfg->exports->len; i++) {
    g_auto (GStrv) argv =
        nbdkit_argv (cfg, g_ptr_array_index (cfg->exports, i));
    g_autofree char *line = command_line (argv);
    printf ("%s\n", line);
  }
  return EXIT_OK;
}

/* exec, not fork: LISTEN_PID names this process, and systemd supervises
 * it. */
static int
exec_socket_activated (const struct config *cfg, const char *name)
{
  const struct export_config *e = config_export (cfg, name);
  g_auto (GStrv) argv = NULL;

  if (e == NULL) {
    tool_error ("serve", "%s: no [export %s]", cfg->file, name);
    return EXIT_TROUBLE;
  }
  if (getenv ("LISTEN_FDS") == NULL || getenv ("LISTEN_PID") == NULL) {
    tool_error ("serve",
                "--socket-activated %s: no socket was passed (LISTEN_FDS): "
                "run it from a systemd socket unit; see SYSTEMD in "
                "nbd-integrity(8)",
                name);
    return EXIT_TROUBLE;
  }
  if (!check_host (cfg))
    return EXIT_TROUBLE;
  argv = nbdkit_socket_activated_argv (cfg, e);
  execvp (cfg->nbdkit, argv);
  tool_error ("serve", "%s: %s", cfg->nbdkit, g_strerror (errno));
  return EXIT_TROUBLE;
}

static int
serve (struct supervisor *s)
{
  if (!check_host (s->cfg) || !block_signals (s))
    return EXIT_TROUBLE;
  if (s->cfg->syslog)
    openlog ("nbd-integrity", LOG_PID, LOG_DAEMON);
  say (s, LOG_INFO, NULL, "serving %u export%s of %s", s->nr_children,
       s->nr_children == 1 ? "" : "s", s->cfg->file);
  for (guint i = 0; i < s->nr_children; i++)
    start_or_retry (s, &s->children[i]);
  supervise (s);
  tidy_up (s);
  say (s, LOG_INFO, NULL, "every export has stopped");
  return EXIT_OK;
}

static int
serve_supervised (const struct config *cfg)
{
  struct supervisor s = {0};
  int status;

  supervisor_init (&s, cfg);
  status = serve (&s);
  supervisor_clear (&s);
  return status;
}

int
cmd_serve (int argc, char **argv)
{
  gboolean check = FALSE;
  g_autofree char *activated = NULL;
  GOptionEntry entries[] = {
      {"check", 0, 0, G_OPTION_ARG_NONE, &check,
       "Only check CONFIG, and print the nbdkit commands it would run", NULL},
      {"socket-activated", 0, 0, G_OPTION_ARG_STRING, &activated,
       "Run EXPORT's nbdkit alone on the socket systemd passes", "EXPORT"},
      G_OPTION_ENTRY_NULL,
  };
  struct config *cfg;
  int status;

  if (!parse_command (&argc, &argv, "CONFIG", 1,
                      "Serves every export of CONFIG, each with its own "
                      "nbdkit, restarting any that dies, until SIGTERM or "
                      "SIGINT.  See nbd-integrity(8).",
                      entries) ||
      (cfg = config_load ("serve", argv[1], CONFIG_SERVE)) == NULL)
    return EXIT_TROUBLE;
  if (check)
    status = print_commands (cfg);
  else if (activated)
    status = exec_socket_activated (cfg, activated);
  else
    status = serve_supervised (cfg);
  config_free (cfg);
  return status;
}
