/* A progress bar: see progress.h. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "progress.h"

#define BAR_WIDTH 40
#define REDRAW_US (G_USEC_PER_SEC / 2)

void
progress_start (struct progress *p, const char *what)
{
  p->what = what;
  p->start = g_get_monotonic_time ();
  p->drawn = 0;
  p->tty = isatty (STDERR_FILENO);
  p->bytes = false;
  p->width = -1;
}

void
progress_start_bytes (struct progress *p, const char *what)
{
  progress_start (p, what);
  p->bytes = true;
}

/* "3.0 GiB": plain spaces, where glib's sizes have no-break ones. */
static void
format_size (uint64_t bytes, char *out, size_t len)
{
  static const char *const units[] = {"bytes", "KiB", "MiB",
                                      "GiB",   "TiB", "PiB"};
  double v = bytes;
  unsigned u = 0;

  while (v >= 1024 && u + 1 < G_N_ELEMENTS (units)) {
    v /= 1024;
    u++;
  }
  snprintf (out, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
}

/* " 2.0 GiB of 16.0 TiB, 1.90 GB/s," for work in bytes; "" otherwise. */
static void
format_bytes (const struct progress *p, uint64_t done, uint64_t total,
              double seconds, char *out, size_t len)
{
  char d[32], t[32];

  if (!p->bytes) {
    out[0] = '\0';
    return;
  }
  format_size (done, d, sizeof d);
  format_size (total, t, sizeof t);
  snprintf (out, len, " %s of %s, %.2f GB/s,", d, t, done / seconds / 1e9);
}

/* "1:02:03 left", at the rate so far. */
static void
format_left (uint64_t done, uint64_t total, double seconds, char *out,
             size_t len)
{
  unsigned long left;

  if (done == 0) {
    snprintf (out, len, "time left unknown");
    return;
  }
  left = (unsigned long)((double)(total - done) * seconds / done);
  snprintf (out, len, "%lu:%02lu:%02lu left", left / 3600, left / 60 % 60,
            left % 60);
}

void
progress_update (void *opaque, uint64_t done, uint64_t total)
{
  struct progress *p = opaque;
  gint64 now = g_get_monotonic_time ();
  double seconds = (now - p->start) / 1e6;
  int permille = total ? (int)(done * 1000 / total) : 1000;
  char bar[BAR_WIDTH + 1], bytes[96], left[32];
  int width;

  if (!p->tty || now - p->start < G_USEC_PER_SEC || now - p->drawn < REDRAW_US)
    return;
  p->drawn = now;
  memset (bar, ' ', BAR_WIDTH);
  memset (bar, '#', permille * BAR_WIDTH / 1000);
  bar[BAR_WIDTH] = '\0';
  format_bytes (p, done, total, seconds, bytes, sizeof bytes);
  format_left (done, total, seconds, left, sizeof left);
  width = fprintf (stderr, "\r%s [%s] %3d.%d%%%s %s", p->what, bar,
                   permille / 10, permille % 10, bytes, left);
  /* Blank what a longer line drawn before left behind. */
  if (width < p->width)
    fprintf (stderr, "%*s", p->width - width, "");
  p->width = width;
}

void
progress_end (struct progress *p)
{
  if (p->width >= 0)
    fputc ('\n', stderr);
  p->width = -1;
}
