/* Rate-limited logging: see ratelimit.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "lock.h"
#include "ratelimit.h"

void
ratelimit_init (struct ratelimit *rl, const char *name, const char *noun)
{
  pthread_mutex_init (&rl->lock, NULL);
  rl->name = name;
  rl->noun = noun;
  rl->window_start = 0;
  rl->logged = rl->suppressed = 0;
}

void
ratelimit_destroy (struct ratelimit *rl)
{
  pthread_mutex_destroy (&rl->lock);
}

static uint64_t
now_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ends the window if NOW is past it or END; returns what it suppressed.
 * Called with the lock held. */
static uint64_t
end_window_locked (struct ratelimit *rl, uint64_t now, bool end)
{
  ASSERT_LOCKED (&rl->lock);
  uint64_t suppressed = rl->suppressed;

  if (!end && now - rl->window_start < RATELIMIT_INTERVAL_MS)
    return 0;
  rl->logged = rl->suppressed = 0;
  return suppressed;
}

bool
ratelimit_allow (struct ratelimit *rl, uint64_t now, uint64_t *ended)
{
  bool allow;

  pthread_mutex_lock (&rl->lock);
  *ended = end_window_locked (rl, now, false);
  if (rl->logged == 0 && rl->suppressed == 0)
    rl->window_start = now;
  allow = rl->logged < RATELIMIT_BURST;
  if (allow)
    rl->logged++;
  else
    rl->suppressed++;
  pthread_mutex_unlock (&rl->lock);
  return allow;
}

uint64_t
ratelimit_take_suppressed (struct ratelimit *rl, uint64_t now, bool end)
{
  uint64_t n;

  pthread_mutex_lock (&rl->lock);
  n = end_window_locked (rl, now, end);
  pthread_mutex_unlock (&rl->lock);
  return n;
}

static void
log_summary (struct ratelimit *rl, uint64_t suppressed)
{
  if (suppressed)
    ni_log (NI_LOG_ERROR, "%s: %" PRIu64 " more %s suppressed", rl->name,
            suppressed, rl->noun);
}

void
ratelimit_log (struct ratelimit *rl, enum ni_log_level level, const char *fmt,
               ...)
{
  int saved_errno = errno; /* for %m in FMT */
  uint64_t ended;
  bool allow = ratelimit_allow (rl, now_ms (), &ended);
  char msg[512];
  va_list ap;

  log_summary (rl, ended);
  if (!allow)
    return;
  errno = saved_errno;
  va_start (ap, fmt);
  vsnprintf (msg, sizeof msg, fmt, ap);
  va_end (ap);
  ni_log (level, "%s", msg);
  errno = saved_errno;
}

void
ratelimit_log_suppressed (struct ratelimit *rl, bool end)
{
  log_summary (rl, ratelimit_take_suppressed (rl, now_ms (), end));
}
