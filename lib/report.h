/* Error and log reporting for lib/.
 *
 * Library functions fail by returning -1 (or NULL) with errno set and a
 * message for the user recorded with ni_error_set; the caller prints
 * ni_error() once, with whatever context it adds (nbdkit_error in the
 * plugin, stderr in the tool).  Events that are not the failure of the
 * current call (a tag mismatch found during a read, a recovery decision)
 * go to the process-wide log function.
 *
 * A message is the current call's only if it was set since the last
 * ni_error_clear.  The entry points whose failures the plugin and the
 * tool print with ni_error() clear it first, as does a function that
 * handles a failure and goes on; a failure that set no message then
 * reads as strerror (errno), never as an earlier failure's message.
 * Only entry points and handled failures clear: a clear between a
 * failure's message and its return would lose the message.
 */
#ifndef NBD_INTEGRITY_REPORT_H
#define NBD_INTEGRITY_REPORT_H

#include <stdarg.h>

enum ni_log_level { NI_LOG_DEBUG, NI_LOG_INFO, NI_LOG_WARNING, NI_LOG_ERROR };

typedef void (*ni_log_fn) (enum ni_log_level level, const char *msg);

/* Starts a new call in this thread: until ni_error_set, ni_error()
 * returns strerror (errno).  Keeps errno. */
void ni_error_clear (void);

/* Records the message ni_error() returns in this thread. Keeps errno. */
void ni_error_set (const char *fmt, ...)
    __attribute__ ((format (printf, 1, 2)));

/* Prefixes this thread's message (ni_error()) with "NAME: ", unless it
 * was set since the clear and names NAME already.  Keeps errno. */
void ni_error_prefix (const char *name);

/* The message recorded by ni_error_set in this thread since the last
 * ni_error_clear; if there is none, strerror (errno) ("unknown error"
 * if errno is 0).  Valid until this thread's next ni_error_set or
 * ni_error.  Keeps errno. */
const char *ni_error (void);

/* Installs the log function (default: stderr). Not thread-safe: call once
 * at start-up. */
void ni_log_set (ni_log_fn fn);

/* Sends a message to the log function. Keeps errno. */
void ni_log (enum ni_log_level level, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

#endif
