/* Error and log reporting for lib/: see report.h.  Messages are per
 * thread, since the plugin's threads and lib's own fail independently. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

static __thread char last_error[1024];
static __thread bool error_current;    /* last_error was set since the clear */
static __thread char errno_error[256]; /* ni_error() without one */

static void
log_to_stderr (enum ni_log_level level, const char *msg)
{
  if (level != NI_LOG_DEBUG)
    fprintf (stderr, "%s\n", msg);
}

static ni_log_fn log_fn = log_to_stderr;

void
ni_error_clear (void)
{
  error_current = false;
}

void
ni_error_set (const char *fmt, ...)
{
  int saved_errno = errno;
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (last_error, sizeof last_error, fmt, ap);
  va_end (ap);
  error_current = true;
  errno = saved_errno;
}

void
ni_error_prefix (const char *name)
{
  char msg[sizeof last_error];

  snprintf (msg, sizeof msg, "%s", ni_error ());
  if (error_current && strstr (msg, name))
    return;
  ni_error_set ("%s: %s", name, msg);
}

const char *
ni_error (void)
{
  int saved_errno = errno;
  const char *msg;

  if (error_current && last_error[0])
    return last_error;
  if (saved_errno == 0)
    return "unknown error";
  /* GNU's: the message, in errno_error or static; this thread's either way. */
  msg = strerror_r (saved_errno, errno_error, sizeof errno_error);
  errno = saved_errno;
  return msg;
}

void
ni_log_set (ni_log_fn fn)
{
  log_fn = fn ? fn : log_to_stderr;
}

void
ni_log (enum ni_log_level level, const char *fmt, ...)
{
  int saved_errno = errno;
  char msg[1024];
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  log_fn (level, msg);
  errno = saved_errno;
}
