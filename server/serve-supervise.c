/* serve's supervisor: one thread and one poll loop that reads the
 * children's logs, reaps and restarts them, and stops them all.
 *
 * SIGCHLD, SIGTERM and SIGINT are blocked and read from a signalfd, so
 * no work is done in a signal handler.
 *
 * On SIGTERM or SIGINT every child gets SIGTERM, and the supervisor
 * exits once all of them have: each checkpoints and marks its disk
 * clean first.  If the supervisor itself is killed, nbdkit's
 * --exit-with-parent stops the children.
 */
#include <errno.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "serve.h"
#include "tool.h"

#define STOP_NOTICE_S 10 /* when to say who keeps the supervisor waiting */

void
supervisor_init (struct supervisor *s, const struct config *cfg)
{
  s->cfg = cfg;
  s->nr_children = cfg->exports->len;
  s->children = g_new0 (struct child, s->nr_children);
  s->pollfds = g_new (struct pollfd, s->nr_children + 1);
  s->polled = g_new (struct child *, s->nr_children + 1);
  s->signal_fd = -1;
  for (guint i = 0; i < s->nr_children; i++)
    child_init (&s->children[i], cfg, g_ptr_array_index (cfg->exports, i));
}

void
supervisor_clear (struct supervisor *s)
{
  for (guint i = 0; i < s->nr_children; i++)
    child_clear (&s->children[i]);
  g_free (s->children);
  g_free (s->pollfds);
  g_free (s->polled);
  if (s->signal_fd != -1)
    close (s->signal_fd);
}

/* Before any child exists, so that no SIGCHLD is missed. */
bool
block_signals (struct supervisor *s)
{
  sigset_t mask;

  sigemptyset (&mask);
  sigaddset (&mask, SIGCHLD);
  sigaddset (&mask, SIGTERM);
  sigaddset (&mask, SIGINT);
  if (sigprocmask (SIG_BLOCK, &mask, &s->old_mask) == -1 ||
      (s->signal_fd = signalfd (-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) == -1) {
    tool_error ("serve", "signalfd: %s", g_strerror (errno));
    return false;
  }
  return true;
}

/* Signals. */

static struct child *
child_by_pid (struct supervisor *s, pid_t pid)
{
  for (guint i = 0; i < s->nr_children; i++)
    if (s->children[i].pid == pid)
      return &s->children[i];
  return NULL;
}

static void
reap_children (struct supervisor *s)
{
  struct child *c;
  int status;
  pid_t pid;

  while ((pid = waitpid (-1, &status, WNOHANG)) > 0)
    if ((c = child_by_pid (s, pid)) != NULL)
      child_exited (s, c, status);
}

static void
stop_children (struct supervisor *s, int signo)
{
  if (!s->stopping) {
    say (s, LOG_INFO, NULL, "%s: stopping every export", strsignal (signo));
    s->stop_notice_at =
        g_get_monotonic_time () + STOP_NOTICE_S * G_USEC_PER_SEC;
  }
  s->stopping = true;
  for (guint i = 0; i < s->nr_children; i++) {
    struct child *c = &s->children[i];
    c->restart_at = 0;
    if (c->pid)
      kill (c->pid, SIGTERM);
  }
}

static void
read_signals (struct supervisor *s)
{
  struct signalfd_siginfo si;
  int stop_signal = 0;
  bool child = false;

  while (read (s->signal_fd, &si, sizeof si) == sizeof si) {
    if (si.ssi_signo == SIGCHLD)
      child = true;
    else
      stop_signal = si.ssi_signo;
  }
  /* The stop first: a terminal's ^C reaches the children too, and those
   * that exit on it must not be restarted. */
  if (stop_signal)
    stop_children (s, stop_signal);
  if (child)
    reap_children (s);
}

/* The loop. */

static void
start_due_children (struct supervisor *s)
{
  gint64 now = g_get_monotonic_time ();

  for (guint i = 0; i < s->nr_children && !s->stopping; i++) {
    struct child *c = &s->children[i];
    if (c->restart_at && c->restart_at <= now)
      start_or_retry (s, c);
  }
}

static bool
any_running (const struct supervisor *s)
{
  for (guint i = 0; i < s->nr_children; i++)
    if (s->children[i].pid)
      return true;
  return false;
}

/* nbdkit 1.32 exits on SIGTERM only once its clients have disconnected,
 * and a kernel client stays until nbd-client -d: say so, once. */
static void
name_stragglers (struct supervisor *s)
{
  if (!s->stopping || s->stop_notice_at == 0 ||
      g_get_monotonic_time () < s->stop_notice_at)
    return;
  s->stop_notice_at = 0;
  for (guint i = 0; i < s->nr_children; i++) {
    const struct child *c = &s->children[i];
    if (c->pid)
      say (s, LOG_WARNING, c->e->name,
           "nbdkit (pid %d) is still running: it stops once its clients "
           "disconnect (nbd-integrity detach)",
           (int)c->pid);
  }
}

/* Milliseconds until the next restart or notice is due; -1 if none is. */
static int
poll_timeout (const struct supervisor *s)
{
  gint64 next = G_MAXINT64, now = g_get_monotonic_time ();

  if (s->stop_notice_at)
    next = s->stop_notice_at;
  for (guint i = 0; i < s->nr_children; i++)
    if (s->children[i].restart_at)
      next = MIN (next, s->children[i].restart_at);
  if (next == G_MAXINT64)
    return -1;
  return next <= now ? 0 : (int)MIN ((next - now + 999) / 1000, G_MAXINT);
}

static nfds_t
fill_pollfds (struct supervisor *s)
{
  nfds_t n = 1;

  s->pollfds[0] = (struct pollfd){.fd = s->signal_fd, .events = POLLIN};
  for (guint i = 0; i < s->nr_children; i++) {
    struct child *c = &s->children[i];
    if (c->log_fd == -1)
      continue;
    s->pollfds[n] = (struct pollfd){.fd = c->log_fd, .events = POLLIN};
    s->polled[n++] = c;
  }
  return n;
}

void
supervise (struct supervisor *s)
{
  while (!s->stopping || any_running (s)) {
    nfds_t n = fill_pollfds (s);

    if (poll (s->pollfds, n, poll_timeout (s)) == -1 && errno != EINTR) {
      say (s, LOG_ERR, NULL, "poll: %s", g_strerror (errno));
      g_usleep (G_USEC_PER_SEC / 10);
      continue;
    }
    /* Logs before exits, so that a child's last words come first. */
    for (nfds_t i = 1; i < n; i++)
      if (s->pollfds[i].revents)
        read_log (s, s->polled[i]);
    if (s->pollfds[0].revents)
      read_signals (s);
    start_due_children (s);
    name_stragglers (s);
  }
}

void
tidy_up (struct supervisor *s)
{
  for (guint i = 0; i < s->nr_children; i++)
    child_tidy_up (s, &s->children[i]);
}
