/* Error and log reporting for lib/.
 *
 * Library functions fail by returning -1 (or NULL) with errno set and a
 * message for the user recorded with ni_error_set; the caller prints
 * ni_error() once, with whatever context it adds (nbdkit_error in the
 * plugin, stderr in the tool).  Events that are not the failure of the
 * current call (a tag mismatch found during a read, a recovery decision)
 * go to the process-wide log function.
 */
#ifndef NBD_INTEGRITY_REPORT_H
#define NBD_INTEGRITY_REPORT_H

#include <stdarg.h>

enum ni_log_level { NI_LOG_DEBUG, NI_LOG_INFO, NI_LOG_WARNING, NI_LOG_ERROR };

typedef void (*ni_log_fn) (enum ni_log_level level, const char *msg);

/* Records the message ni_error() returns in this thread. Keeps errno. */
void ni_error_set (const char *fmt, ...)
    __attribute__ ((format (printf, 1, 2)));

/* Prefixes this thread's message with "NAME: ", unless it names NAME
 * already.  Keeps errno. */
void ni_error_prefix (const char *name);

/* The last message recorded by ni_error_set in this thread. */
const char *ni_error (void);

/* Installs the log function (default: stderr). Not thread-safe: call once
 * at start-up. */
void ni_log_set (ni_log_fn fn);

/* Sends a message to the log function. Keeps errno. */
void ni_log (enum ni_log_level level, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

#endif
