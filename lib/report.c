/* Error and log reporting for lib/: see report.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "report.h"

static __thread char last_error[1024];

static void
log_to_stderr (enum ni_log_level level, const char *msg)
{
  if (level != NI_LOG_DEBUG)
    fprintf (stderr, "%s\n", msg);
}

static ni_log_fn log_fn = log_to_stderr;

void
ni_error_set (const char *fmt, ...)
{
  int saved_errno = errno;
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (last_error, sizeof last_error, fmt, ap);
  va_end (ap);
  errno = saved_errno;
}

void
ni_error_prefix (const char *name)
{
  char msg[sizeof last_error];

  if (strstr (last_error, name))
    return;
  snprintf (msg, sizeof msg, "%s", last_error);
  ni_error_set ("%s: %s", name, msg);
}

const char *
ni_error (void)
{
  return last_error[0] ? last_error : "unknown error";
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
