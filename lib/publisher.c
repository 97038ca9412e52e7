/* Publishing a served disk's status file: see publisher.h. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "deadline.h"
#include "disk.h"
#include "publisher.h"
#include "report.h"
#include "status.h"
#include "thread.h"

struct publisher {
  struct disk *d;
  char *path, *reset_path;
  pid_t pid;
  uint64_t start_time, counters_since;
  pthread_t thread;
  /* Used by the thread only, once started. */
  struct disk_counters baseline;  /* the disk's, at the last reset */
  struct disk_counters published; /* the disk's, last published */
  bool failing;                   /* the last write failed, and was logged */

  pthread_mutex_t lock; /* protects stop */
  pthread_cond_t wake;  /* stop was set */
  bool stop;
};

/* Writes the disk's counters RAW, minus the baseline, in STATE. */
static int
publish (struct publisher *p, const struct disk_counters *raw,
         const char *state)
{
  struct status s = {
      .state = state,
      .disk = disk_name (p->d),
      .hash = disk_superblock (p->d)->hash_name,
      .mode = disk_mode_name (p->d),
      .pid = p->pid,
      .start_time = p->start_time,
      .counters_since = p->counters_since,
      .update_time = time (NULL),
      .counters = *raw,
  };

  status_subtract (&s.counters, &p->baseline);
  if (status_write (p->path, &s) == -1)
    return -1;
  p->published = *raw;
  return 0;
}

/* If a reset was asked for, takes RAW as the new baseline. */
static bool
take_reset (struct publisher *p, const struct disk_counters *raw)
{
  if (access (p->reset_path, F_OK) == -1)
    return false;
  p->baseline = *raw;
  p->counters_since = time (NULL);
  return true;
}

static void
publish_if_changed (struct publisher *p)
{
  struct disk_counters raw;
  bool reset;

  disk_get_counters (p->d, &raw);
  reset = take_reset (p, &raw);
  if (!reset && memcmp (&raw, &p->published, sizeof raw) == 0)
    return;
  if (publish (p, &raw, "serving") == -1) {
    if (!p->failing)
      ni_log (NI_LOG_ERROR, "%s", ni_error ());
    p->failing = true;
    return; /* a reset stays asked for, and is retried */
  }
  p->failing = false;
  /* Only now: whoever sees the file gone sees the reset published. */
  if (reset)
    unlink (p->reset_path);
}

/* Waits one interval; false once asked to stop.  Called with the lock. */
static bool
wait_interval (struct publisher *p)
{
  struct timespec deadline = deadline_in_ms (PUBLISH_INTERVAL_MS);

  while (!p->stop &&
         pthread_cond_timedwait (&p->wake, &p->lock, &deadline) != ETIMEDOUT)
    ;
  return !p->stop;
}

static void *
run (void *arg)
{
  struct publisher *p = arg;

  pthread_mutex_lock (&p->lock);
  while (wait_interval (p)) {
    pthread_mutex_unlock (&p->lock);
    disk_log_suppressed (p->d);
    publish_if_changed (p);
    pthread_mutex_lock (&p->lock);
  }
  pthread_mutex_unlock (&p->lock);
  return NULL;
}

static void
publisher_free (struct publisher *p)
{
  pthread_cond_destroy (&p->wake);
  pthread_mutex_destroy (&p->lock);
  free (p->path);
  free (p->reset_path);
  free (p);
}

static struct publisher *
publisher_new (struct disk *d, const char *path)
{
  struct publisher *p = calloc (1, sizeof *p);
  pthread_condattr_t attr;

  if (p == NULL)
    return NULL;
  p->d = d;
  p->pid = getpid ();
  p->start_time = p->counters_since = time (NULL);
  pthread_mutex_init (&p->lock, NULL);
  pthread_condattr_init (&attr);
  pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
  pthread_cond_init (&p->wake, &attr);
  pthread_condattr_destroy (&attr);
  p->path = strdup (path);
  p->reset_path = status_reset_path (path);
  if (p->path == NULL || p->reset_path == NULL) {
    publisher_free (p);
    return NULL;
  }
  return p;
}

struct publisher *
publisher_start (struct disk *d, const char *path)
{
  struct publisher *p;
  struct disk_counters raw;
  int err;

  ni_error_clear ();
  p = publisher_new (d, path);
  if (p == NULL) {
    ni_error_set ("%s: %m", path);
    return NULL;
  }
  /* A reset asked of an earlier server: this one starts from zero. */
  unlink (p->reset_path);
  disk_get_counters (d, &raw);
  if (publish (p, &raw, "serving") == -1) {
    publisher_free (p);
    return NULL;
  }
  err = thread_start (&p->thread, run, p);
  if (err) {
    errno = err;
    ni_error_set ("%s: cannot start the status thread: %m", path);
    publisher_free (p);
    return NULL;
  }
  return p;
}

int
publisher_stop (struct publisher *p)
{
  struct disk_counters raw;
  int r;

  ni_error_clear ();
  pthread_mutex_lock (&p->lock);
  p->stop = true;
  pthread_cond_signal (&p->wake);
  pthread_mutex_unlock (&p->lock);
  pthread_join (p->thread, NULL);
  disk_get_counters (p->d, &raw);
  r = publish (p, &raw, "closed");
  publisher_free (p);
  return r;
}
