/* nbd-integrity: format, inspect, verify and recover the disks that
 * nbdkit-integrity-plugin serves.
 *
 * The options before the command (-v, --version, --help) are parsed here,
 * stopping at the command's name; the command parses the rest itself.
 */
#include <locale.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "tool.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

static const struct command {
  const char *name;
  int (*run) (int argc, char **argv);
  const char *help;
} commands[] = {
    {"format", cmd_format, "write a new format on a disk or image file"},
    {"dump", cmd_dump, "print the superblock (--json for scripts)"},
    {"verify", cmd_verify, "check every sector against its tag, offline"},
    {"compare", cmd_compare, "which copies of a mirror differ, which is good"},
    {"invalidate", cmd_invalidate, "make sectors fail until MD rewrites them"},
    {"locate", cmd_locate, "where a sector's data and tag are on the disk"},
    {"recover", cmd_recover, "replay the journal offline and report it"},
    {"check", cmd_check, "check superblocks and journal, reading no data"},
    {"status", cmd_status, "live counters of served disks (status=PATH)"},
    {"serve", cmd_serve, "serve the exports of a configuration file"},
    {"attach", cmd_attach, "attach the exports with nbd-client, build arrays"},
    {"detach", cmd_detach, "stop the arrays, detach the exports"},
};

static void
log_to_stderr (enum ni_log_level level, const char *msg)
{
  if (level != NI_LOG_DEBUG || tool_verbose)
    fprintf (stderr, "nbd-integrity: %s\n", msg);
}

static char *
command_list (void)
{
  GString *s = g_string_new ("Commands:\n");

  for (size_t i = 0; i < G_N_ELEMENTS (commands); i++)
    g_string_append_printf (s, "  %-10s %s\n", commands[i].name,
                            commands[i].help);
  g_string_append (s, "\n\"nbd-integrity COMMAND --help\" shows a command's "
                      "options.  See nbd-integrity(8).");
  return g_string_free (s, FALSE);
}

static const struct command *
find_command (const char *name)
{
  for (size_t i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (name, commands[i].name) == 0)
      return &commands[i];
  return NULL;
}

/* Prints MSG and the usage on stderr. */
static int
usage_error (GOptionContext *ctx, const char *msg)
{
  g_autofree char *help = g_option_context_get_help (ctx, TRUE, NULL);

  fprintf (stderr, "nbd-integrity: %s\n\n%s", msg, help);
  return EXIT_TROUBLE;
}

int
main (int argc, char **argv)
{
  gboolean version = FALSE;
  GOptionEntry entries[] = {
      verbose_option (),
      {"version", 'V', 0, G_OPTION_ARG_NONE, &version,
       "Print the version and exit", NULL},
      G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("COMMAND [ARG...]");
  g_autofree char *list = command_list ();
  g_autofree char *unknown = NULL;
  g_autoptr (GError) err = NULL;
  const struct command *cmd;

  /* glib prints its help and messages in the user's character set. */
  setlocale (LC_ALL, "");
  ni_log_set (log_to_stderr);
  g_set_prgname ("nbd-integrity");
  /* Stop at the command's name: what follows is the command's. */
  g_option_context_set_strict_posix (ctx, TRUE);
  g_option_context_set_summary (ctx, "Formats, inspects and verifies "
                                     "integrity-tagged disks.");
  g_option_context_set_description (ctx, list);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &err))
    return usage_error (ctx, err->message);
  if (version) {
    printf ("nbd-integrity %s\n", PACKAGE_VERSION);
    return EXIT_OK;
  }
  if (argc < 2)
    return usage_error (ctx, "no command given");
  cmd = find_command (argv[1]);
  if (cmd == NULL) {
    unknown = g_strdup_printf ("unknown command '%s'", argv[1]);
    return usage_error (ctx, unknown);
  }
  return cmd->run (argc - 1, argv + 1);
}
