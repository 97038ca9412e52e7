/* What every command shares: option parsing, messages and reading the
 * superblock. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report.h"
#include "tool.h"
#include "userfile.h"

gboolean tool_verbose;

void
tool_error (const char *cmd, const char *fmt, ...)
{
  va_list ap;

  fprintf (stderr, "nbd-integrity: %s: ", cmd);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
}

GOptionEntry
verbose_option (void)
{
  return (GOptionEntry){.long_name = "verbose",
                        .short_name = 'v',
                        .arg = G_OPTION_ARG_NONE,
                        .arg_data = &tool_verbose,
                        .description = "Print debug messages too"};
}

GOptionEntry
json_option (gboolean *json)
{
  return (GOptionEntry){.long_name = "json",
                        .arg = G_OPTION_ARG_NONE,
                        .arg_data = json,
                        .description = "Print one JSON object"};
}

GOptionEntry
keyfile_option (char **keyfile)
{
  return (GOptionEntry){.long_name = "keyfile",
                        .arg = G_OPTION_ARG_FILENAME,
                        .arg_data = keyfile,
                        .description = "Key file of a keyed disk",
                        .arg_description = "FILE"};
}

/* Parses a command's ENTRIES (plus -v), leaving the positional
 * arguments in argv[1..]. */
static bool
parse_options (int *argc, char ***argv, const char *params, const char *summary,
               GOptionEntry *entries)
{
  const char *cmd = (*argv)[0];
  g_autofree char *prgname = g_strdup_printf ("nbd-integrity %s", cmd);
  g_autoptr (GOptionContext) ctx = g_option_context_new (params);
  g_autoptr (GError) err = NULL;
  /* -v is taken after the command too, wherever the user thinks of it. */
  GOptionEntry common_entries[] = {verbose_option (), G_OPTION_ENTRY_NULL};

  /* So that --help says "Usage: nbd-integrity COMMAND ...". */
  g_set_prgname (prgname);
  g_option_context_set_summary (ctx, summary);
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_main_entries (ctx, common_entries, NULL);
  if (!g_option_context_parse (ctx, argc, argv, &err)) {
    tool_error (cmd, "%s (see nbd-integrity %s --help)", err->message, cmd);
    return false;
  }
  return true;
}

bool
parse_command (int *argc, char ***argv, const char *params, int nparams,
               const char *summary, GOptionEntry *entries)
{
  const char *cmd = (*argv)[0];

  if (!parse_options (argc, argv, params, summary, entries))
    return false;
  if (*argc != 1 + nparams) {
    tool_error (cmd, "expected %s%s (see nbd-integrity %s --help)", params,
                *argc > 1 + nparams ? " and nothing more" : "", cmd);
    return false;
  }
  return true;
}

bool
parse_command_list (int *argc, char ***argv, const char *params,
                    const char *summary, GOptionEntry *entries)
{
  const char *cmd = (*argv)[0];

  if (!parse_options (argc, argv, params, summary, entries))
    return false;
  if (*argc < 2) {
    tool_error (cmd, "expected %s (see nbd-integrity %s --help)", params, cmd);
    return false;
  }
  return true;
}

void
argv_add (GPtrArray *argv, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  g_ptr_array_add (argv, g_strdup_vprintf (fmt, ap));
  va_end (ap);
}

/* Whether WORD means itself to a shell, unquoted. */
static bool
plain_word (const char *word)
{
  static const char plain[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
                              "VWXYZ0123456789_-+=:,./@%";

  return *word && strspn (word, plain) == strlen (word);
}

char *
command_line (char *const *argv)
{
  GString *line = g_string_new (NULL);

  for (char *const *arg = argv; *arg; arg++) {
    g_autofree char *quoted = plain_word (*arg) ? NULL : g_shell_quote (*arg);

    if (arg != argv)
      g_string_append_c (line, ' ');
    g_string_append (line, quoted ? quoted : *arg);
  }
  return g_string_free (line, FALSE);
}

struct backing *
open_superblock (const char *cmd, const char *disk, struct superblock *sb)
{
  struct backing *b = backing_open_file (disk, true);

  if (b == NULL || sb_read (b, sb) == -1) {
    tool_error (cmd, "%s", ni_error ());
    backing_close (b);
    return NULL;
  }
  return b;
}

bool
read_user_file (const char *cmd, const char *path, char **text, gsize *len)
{
  int fd = userfile_open (path, O_RDONLY, 0, USERFILE_REGULAR, NULL);
  GString *s;
  char buf[65536];
  ssize_t n;

  if (fd == -1) {
    tool_error (cmd, "%s", ni_error ());
    return false;
  }
  s = g_string_new (NULL);
  while ((n = userfile_read (fd, buf, sizeof buf)) > 0)
    g_string_append_len (s, buf, n);
  if (n == -1)
    tool_error (cmd, "%s: read: %s", path, g_strerror (errno));
  close (fd);
  *len = s->len;
  *text = g_string_free (s, n == -1);
  return n != -1;
}

void
collect_bad_sector (void *opaque, uint64_t sector, enum sector_check why)
{
  struct bad_sector b = {.sector = sector, .why = why};

  g_array_append_val ((GArray *)opaque, b);
}
