/* Option parsing, sizes, messages, progress and JSON for the tool. */
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "tool.h"

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

bool
parse_command (int *argc, char ***argv, const char *params, const char *summary,
               GOptionEntry *entries, int nextra)
{
  g_autoptr (GOptionContext) ctx = g_option_context_new (params);
  g_autoptr (GError) err = NULL;
  const char *cmd = (*argv)[0];

  g_option_context_set_summary (ctx, summary);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, argc, argv, &err)) {
    tool_error (cmd, "%s (see --help)", err->message);
    return false;
  }
  if (*argc != 2 + nextra) {
    tool_error (cmd, "expected %s (see --help)", params);
    return false;
  }
  return true;
}

bool
parse_size (const char *s, uint64_t *size)
{
  char *end;
  unsigned long long v;
  int shift = 0;

  if (!isdigit ((unsigned char)*s))
    return false;
  v = strtoull (s, &end, 10);
  switch (toupper ((unsigned char)*end)) {
  case 'T':
    shift += 10; /* fall through */
  case 'G':
    shift += 10; /* fall through */
  case 'M':
    shift += 10; /* fall through */
  case 'K':
    shift += 10;
    end++;
    break;
  default:
    break;
  }
  if (*end == 'i' || *end == 'B')
    end += *end == 'i' && end[1] == 'B' ? 2 : 1;
  if (*end != '\0' || (shift && v > (UINT64_MAX >> shift)))
    return false;
  *size = (uint64_t)v << shift;
  return true;
}

void
progress_init (struct progress *p, const char *what)
{
  p->what = what;
  p->start = g_get_monotonic_time ();
  p->shown = -1;
}

void
progress_update (struct progress *p, uint64_t done, uint64_t total)
{
  int permille = total ? (int)(done * 1000 / total) : 1000;
  int width = 40, filled = permille * width / 1000;

  if (!isatty (STDERR_FILENO) || permille == p->shown ||
      g_get_monotonic_time () - p->start < G_USEC_PER_SEC)
    return;
  p->shown = permille;
  fprintf (stderr, "\r%s [%.*s%*s] %3d.%d%%", p->what, filled,
           "########################################", width - filled, "",
           permille / 10, permille % 10);
}

void
progress_done (struct progress *p)
{
  if (p->shown >= 0)
    fputc ('\n', stderr);
}

void
json_string (FILE *f, const char *s)
{
  fputc ('"', f);
  for (; *s; s++) {
    unsigned char c = *s;
    if (c == '"' || c == '\\')
      fprintf (f, "\\%c", c);
    else if (c < 0x20)
      fprintf (f, "\\u%04x", c);
    else
      fputc (c, f);
  }
  fputc ('"', f);
}
