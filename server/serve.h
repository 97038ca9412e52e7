/* The pieces of nbd-integrity serve, and all that passes between them.
 *
 * cmd-serve.c        the command: its options, what the host must have,
 *                    and which way to serve (--check, --socket-activated,
 *                    supervised)
 * serve-nbdkit.c     the nbdkit command line of an export
 * serve-supervise.c  the supervisor: its signals and its poll loop, which
 *                    reaps, restarts and stops the children
 * serve-child.c      one child: starting it, and what to do when it exits
 * serve-log.c        messages: the supervisor's and its children's lines,
 *                    each with its export's name, to stderr or syslog
 *
 * A child is running (pid set), waiting to be restarted (restart_at
 * set), or stopped (neither: only once stopping).  Its log pipe may stay
 * open after its exit until its last words are read.
 */
#ifndef NBD_INTEGRITY_SERVE_H
#define NBD_INTEGRITY_SERVE_H

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/types.h>

#include <glib.h>

#include "config.h"

struct child {
  const struct export_config *e;
  char **argv;           /* the nbdkit command */
  pid_t pid;             /* 0 when not running */
  int log_fd;            /* read end of its stderr; -1 when closed */
  GString *partial;      /* the start of a line not yet ended */
  gint64 started;        /* g_get_monotonic_time () at the start */
  gint64 restart_at;     /* when to start it again; 0: not waiting */
  unsigned quick_deaths; /* exits in a row within STABLE_RUN_S */
  char *last_exit;       /* how the last one ended; NULL before any */
};

struct supervisor {
  const struct config *cfg;
  struct child *children;
  guint nr_children;
  struct pollfd *pollfds; /* the signalfd, then the open log pipes */
  struct child **polled;  /* the child of each pollfds[i], i > 0 */
  int signal_fd;
  sigset_t old_mask; /* restored in each child before exec */
  bool stopping;
  gint64 stop_notice_at; /* when to name the children still running */
};

/* serve-nbdkit.c */

/* Export E's nbdkit, in the foreground and stopping with its parent,
 * listening where E says: for g_strfreev. */
char **nbdkit_argv (const struct config *cfg, const struct export_config *e);

/* Export E's nbdkit, serving the socket systemd passes: for g_strfreev. */
char **nbdkit_socket_activated_argv (const struct config *cfg,
                                     const struct export_config *e);

/* serve-supervise.c */

/* A supervisor of one child for each export of CFG, none started yet. */
void supervisor_init (struct supervisor *s, const struct config *cfg);

/* Frees what supervisor_init allocated and closes what is open. */
void supervisor_clear (struct supervisor *s);

/* Blocks the signals the supervisor reads, before any child exists.
 * Prints the error and returns false on failure. */
bool block_signals (struct supervisor *s);

/* Runs the loop until a stop signal and every child's exit. */
void supervise (struct supervisor *s);

/* Once every child has exited: their last output, and their sockets. */
void tidy_up (struct supervisor *s);

/* serve-child.c */

/* C, for export E of CFG, not started. */
void child_init (struct child *c, const struct config *cfg,
                 const struct export_config *e);

/* Frees what child_init allocated and closes C's log pipe. */
void child_clear (struct child *c);

/* Starts C, or if it cannot be started now, schedules a new try. */
void start_or_retry (struct supervisor *s, struct child *c);

/* Logs C's exit with wait STATUS and, unless stopping, schedules its
 * restart. */
void child_exited (struct supervisor *s, struct child *c, int status);

/* After C's last exit: the rest of its output, and its socket, which no
 * one can connect to any more. */
void child_tidy_up (const struct supervisor *s, struct child *c);

/* serve-log.c */

/* Logs a message about export NAME (NULL: about the supervisor). */
void say (const struct supervisor *s, int priority, const char *name,
          const char *fmt, ...) __attribute__ ((format (printf, 4, 5)));

/* Logs what C has written; closes the pipe at its end. */
void read_log (const struct supervisor *s, struct child *c);

/* Logs what is left of C's output, and closes its pipe (if open). */
void close_log (const struct supervisor *s, struct child *c);

#endif
