/* A progress bar on stderr for long commands (format, verify).
 *
 * Shown only when stderr is a terminal, and only once the work has taken
 * more than a second, so that quick runs and scripts see nothing.  It is
 * redrawn twice a second with the time left at the rate so far, so that
 * on a disk of many TiB, where a tenth of a percent is minutes of work,
 * it still shows that work goes on; with progress_start_bytes, also how
 * many bytes of how many, and how fast.
 */
#ifndef NBD_INTEGRITY_PROGRESS_H
#define NBD_INTEGRITY_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

struct progress {
  const char *what; /* "formatting", "verifying" */
  gint64 start;     /* monotonic, microseconds */
  gint64 drawn;     /* when the bar was last drawn */
  bool tty;
  bool bytes; /* done and total are bytes */
  int width;  /* of the line last drawn; -1 if no bar is on screen */
};

void progress_start (struct progress *p, const char *what);

/* The same, for work counted in bytes. */
void progress_start_bytes (struct progress *p, const char *what);

/* Redraws the bar if half a second has passed.  OPAQUE is a struct
 * progress, so that this can be passed as a lib/ progress callback. */
void progress_update (void *opaque, uint64_t done, uint64_t total);

/* Ends the bar's line, if one was drawn. */
void progress_end (struct progress *p);

#endif
