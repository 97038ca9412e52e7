/* A progress bar: see progress.h. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"

#define BAR_WIDTH 40

void
progress_start (struct progress *p, const char *what)
{
  p->what = what;
  p->start = g_get_monotonic_time ();
  p->tty = isatty (STDERR_FILENO);
  p->shown = -1;
}

void
progress_update (void *opaque, uint64_t done, uint64_t total)
{
  struct progress *p = opaque;
  int permille = total ? (int)(done * 1000 / total) : 1000;
  char bar[BAR_WIDTH + 1];

  if (!p->tty || permille == p->shown ||
      g_get_monotonic_time () - p->start < G_USEC_PER_SEC)
    return;
  p->shown = permille;
  memset (bar, ' ', BAR_WIDTH);
  memset (bar, '#', permille * BAR_WIDTH / 1000);
  bar[BAR_WIDTH] = '\0';
  fprintf (stderr, "\r%s [%s] %3d.%d%%", p->what, bar, permille / 10,
           permille % 10);
}

void
progress_end (struct progress *p)
{
  if (p->shown >= 0)
    fputc ('\n', stderr);
  p->shown = -1;
}
