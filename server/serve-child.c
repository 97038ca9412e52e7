/* One child of serve: starting an export's nbdkit, and what to do when
 * it exits.
 *
 * A child that exits unasked is restarted after restart-delay; one that
 * keeps dying within STABLE_RUN_S of its start (a wrong key, a damaged
 * superblock, a disk that is not there yet) waits twice as long each
 * time, up to MAX_BACKOFF_S, so that it neither spins nor floods the
 * log.  A child that cannot even be started (its socket taken, no pipe,
 * no fork) is tried again the same way.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "probe.h"
#include "serve.h"

#define STABLE_RUN_S 10  /* a child that ran this long was not failing */
#define MAX_BACKOFF_S 30 /* the longest wait before a restart */

void
child_init (struct child *c, const struct config *cfg,
            const struct export_config *e)
{
  c->e = e;
  c->argv = nbdkit_argv (cfg, e);
  c->log_fd = -1;
  c->partial = g_string_new (NULL);
}

void
child_clear (struct child *c)
{
  g_strfreev (c->argv);
  g_string_free (c->partial, TRUE);
  g_free (c->last_exit);
  if (c->log_fd != -1)
    close (c->log_fd);
}

/* Starting. */

/* nbdkit 1.32 leaves its socket behind when it exits, and then cannot
 * listen there again.  Removes it, but not a file that is not a socket,
 * nor a socket a server still listens on (another supervisor serving the
 * same export: two servers would corrupt the disk). */
static bool
clear_stale_socket (const struct supervisor *s, const struct child *c)
{
  const char *path = c->e->socket;
  struct stat st;

  if (lstat (path, &st) == -1) {
    if (errno == ENOENT)
      return true;
    say (s, LOG_ERR, c->e->name, "%s: %s", path, g_strerror (errno));
    return false;
  }
  if (!S_ISSOCK (st.st_mode)) {
    say (s, LOG_ERR, c->e->name, "%s is there and is not a socket", path);
    return false;
  }
  if (probe_unix (path)) {
    say (s, LOG_ERR, c->e->name,
         "a server already listens on %s (another nbd-integrity serve?)", path);
    return false;
  }
  if (unlink (path) == -1 && errno != ENOENT) {
    say (s, LOG_ERR, c->e->name, "removing the old %s: %s", path,
         g_strerror (errno));
    return false;
  }
  return true;
}

/* In the child, between fork and exec: stdin from /dev/null, stdout and
 * stderr to the log pipe, the signals as they were. */
static void G_GNUC_NORETURN
exec_child (const struct supervisor *s, const struct child *c, int log_fd)
{
  int null = open ("/dev/null", O_RDONLY | O_CLOEXEC);

  sigprocmask (SIG_SETMASK, &s->old_mask, NULL);
  if (null == -1 || dup2 (null, 0) == -1 || dup2 (log_fd, 1) == -1 ||
      dup2 (log_fd, 2) == -1)
    _exit (127);
  execvp (c->argv[0], c->argv);
  dprintf (2, "cannot run %s: %s\n", c->argv[0], strerror (errno));
  _exit (127);
}

static bool
start_child (struct supervisor *s, struct child *c)
{
  int fds[2];
  pid_t pid;

  c->restart_at = 0;
  if (c->e->socket && !clear_stale_socket (s, c))
    return false;
  if (c->log_fd != -1) { /* the last one's pipe, still open */
    read_log (s, c);
    close_log (s, c);
  }
  if (pipe2 (fds, O_CLOEXEC) == -1) {
    say (s, LOG_ERR, c->e->name, "pipe: %s", g_strerror (errno));
    return false;
  }
  pid = fork ();
  if (pid == 0)
    exec_child (s, c, fds[1]);
  close (fds[1]);
  if (pid == -1) {
    say (s, LOG_ERR, c->e->name, "fork: %s", g_strerror (errno));
    close (fds[0]);
    return false;
  }
  fcntl (fds[0], F_SETFL, O_NONBLOCK);
  c->pid = pid;
  c->log_fd = fds[0];
  c->started = g_get_monotonic_time ();
  if (c->last_exit)
    say (s, LOG_NOTICE, c->e->name,
         "restarted nbdkit (pid %d): the last one %s", (int)pid, c->last_exit);
  else
    say (s, LOG_INFO, c->e->name, "started nbdkit (pid %d)", (int)pid);
  return true;
}

/* Seconds to wait before starting C again, after a run of RAN_US. */
static unsigned
restart_delay (const struct supervisor *s, struct child *c, gint64 ran_us)
{
  unsigned delay = s->cfg->restart_delay;
  unsigned most = MAX (MAX_BACKOFF_S, delay);

  if (ran_us >= STABLE_RUN_S * G_USEC_PER_SEC)
    c->quick_deaths = 0;
  else
    c->quick_deaths++;
  for (unsigned i = 1; i < c->quick_deaths && delay < most; i++)
    delay = MAX (delay * 2, 1);
  return MIN (delay, most);
}

/* Schedules C's next start; returns the wait in seconds. */
static unsigned
schedule_restart (struct supervisor *s, struct child *c, gint64 ran_us)
{
  unsigned delay = restart_delay (s, c, ran_us);

  c->restart_at = MAX (g_get_monotonic_time () + delay * G_USEC_PER_SEC, 1);
  return delay;
}

void
start_or_retry (struct supervisor *s, struct child *c)
{
  if (!start_child (s, c))
    say (s, LOG_ERR, c->e->name, "not started; trying again in %u s",
         schedule_restart (s, c, 0));
}

/* Exiting. */

/* "was killed by SIGABRT (Aborted)": the name an administrator looks
 * for, and what it means. */
static char *
describe_exit (int status)
{
  const char *abbrev;

  if (WIFEXITED (status))
    return g_strdup_printf ("exited with status %d", WEXITSTATUS (status));
  if (!WIFSIGNALED (status))
    return g_strdup_printf ("ended with wait status %#x", status);
  abbrev = sigabbrev_np (WTERMSIG (status));
  if (abbrev == NULL)
    return g_strdup_printf ("was killed by signal %d (%s)", WTERMSIG (status),
                            strsignal (WTERMSIG (status)));
  return g_strdup_printf ("was killed by SIG%s (%s)", abbrev,
                          strsignal (WTERMSIG (status)));
}

/* An abort is a failed assertion, nbdkit's or the plugin's, whose
 * message is among the last words just logged; nbdkit 1.32 has one that
 * a client can trigger. */
static const char *
exit_hint (int status)
{
  if (WIFSIGNALED (status) && WTERMSIG (status) == SIGABRT)
    return " (a failed assertion: see its last words above, and KNOWN "
           "PROBLEMS in nbdkit-integrity-plugin(1))";
  return "";
}

void
child_exited (struct supervisor *s, struct child *c, int status)
{
  gint64 ran = g_get_monotonic_time () - c->started;
  g_autofree char *how = describe_exit (status);
  bool clean = WIFEXITED (status) && WEXITSTATUS (status) == 0;
  pid_t pid = c->pid;

  /* Its last words first, then its exit. */
  if (c->log_fd != -1)
    read_log (s, c);
  c->pid = 0;
  if (s->stopping) {
    say (s, clean ? LOG_INFO : LOG_ERR, c->e->name, "nbdkit (pid %d) %s%s",
         (int)pid, how,
         clean ? "" : ": its disk may not have been closed cleanly");
    return;
  }
  say (s, LOG_ERR, c->e->name,
       "nbdkit (pid %d) %s after %.1f s%s; restarting in %u s", (int)pid, how,
       (double)ran / G_USEC_PER_SEC, exit_hint (status),
       schedule_restart (s, c, ran));
  g_free (c->last_exit);
  c->last_exit = g_strdup_printf ("(pid %d) %s", (int)pid, how);
}

void
child_tidy_up (const struct supervisor *s, struct child *c)
{
  close_log (s, c);
  if (c->e->socket)
    clear_stale_socket (s, c);
}
