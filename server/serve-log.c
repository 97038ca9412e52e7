/* serve's messages: the supervisor's own, and the lines its children
 * write, each with its export's name, to stderr or (log=syslog) syslog.
 *
 * Each child's stdout and stderr go to a pipe that the supervisor reads
 * without blocking, so a line may arrive in pieces: the start waits in
 * the child's partial until its end comes, the pipe closes, or it grows
 * to MAX_LOG_LINE, so that a child that never ends a line cannot make
 * the supervisor hold its output without bound.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "serve.h"

#define MAX_LOG_LINE 4096

void
say (const struct supervisor *s, int priority, const char *name,
     const char *fmt, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  if (s->cfg->syslog)
    syslog (priority, "%s%s%s", name ? name : "", name ? ": " : "", msg);
  else
    fprintf (stderr, "nbd-integrity: serve: %s%s%s\n", name ? name : "",
             name ? ": " : "", msg);
}

/* nbdkit marks its messages "nbdkit: PLUGIN[N]: error: ..." and
 * "...: debug: ..."; the rest is ordinary output. */
static int
line_priority (const char *line)
{
  if (strstr (line, ": error: "))
    return LOG_ERR;
  if (strstr (line, ": debug: "))
    return LOG_DEBUG;
  return LOG_NOTICE;
}

/* Logs each whole line of C->partial (and the rest too if FLUSH, or if
 * it is too long to wait for its end). */
static void
log_lines (const struct supervisor *s, struct child *c, bool flush)
{
  char *start = c->partial->str, *end = start + c->partial->len, *nl;

  while ((nl = memchr (start, '\n', end - start)) != NULL) {
    *nl = '\0';
    say (s, line_priority (start), c->e->name, "%s", start);
    start = nl + 1;
  }
  g_string_erase (c->partial, 0, start - c->partial->str);
  if (c->partial->len && (flush || c->partial->len >= MAX_LOG_LINE)) {
    say (s, line_priority (c->partial->str), c->e->name, "%s", c->partial->str);
    g_string_truncate (c->partial, 0);
  }
}

void
close_log (const struct supervisor *s, struct child *c)
{
  if (c->log_fd == -1)
    return;
  log_lines (s, c, true);
  close (c->log_fd);
  c->log_fd = -1;
}

void
read_log (const struct supervisor *s, struct child *c)
{
  char buf[4096];
  ssize_t n;

  while ((n = read (c->log_fd, buf, sizeof buf)) > 0) {
    g_string_append_len (c->partial, buf, n);
    log_lines (s, c, false);
  }
  if (n == 0 || (errno != EAGAIN && errno != EINTR))
    close_log (s, c);
}
