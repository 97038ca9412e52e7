/* A progress bar on stderr for long commands (format, verify).
 *
 * Shown only when stderr is a terminal, and only once the work has taken
 * more than a second, so that quick runs and scripts see nothing.
 */
#ifndef NBD_INTEGRITY_PROGRESS_H
#define NBD_INTEGRITY_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

struct progress {
  const char *what; /* "formatting", "verifying" */
  gint64 start;     /* monotonic, microseconds */
  bool tty;
  int shown; /* permille last drawn; -1 if the bar is not on screen */
};

void progress_start (struct progress *p, const char *what);

/* Redraws the bar if it moved.  OPAQUE is a struct progress, so that this
 * can be passed as a lib/ progress callback. */
void progress_update (void *opaque, uint64_t done, uint64_t total);

/* Ends the bar's line, if one was drawn. */
void progress_end (struct progress *p);

#endif
