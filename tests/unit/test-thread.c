/* The library's threads take no asynchronous signal (thread.h): one
 * started by thread_start has them blocked and its caller's mask is
 * untouched, and every thread a served disk runs (the checkpointer, the
 * status publisher) was started so.  (An nbdkit under ThreadSanitizer
 * once did not stop on SIGTERM: the checkpointer had taken it.) */
#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "disk.h"
#include "publisher.h"
#include "thread.h"
#include "util.h"

static const int async_signals[] = {SIGTERM, SIGINT,  SIGHUP,
                                    SIGQUIT, SIGUSR1, SIGCHLD};
static const int fault_signals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGABRT};

static void *
read_own_mask (void *arg)
{
  pthread_sigmask (SIG_BLOCK, NULL, arg);
  return NULL;
}

START_TEST (started_thread_blocks_async_signals)
{
  sigset_t before, after, theirs;
  pthread_t t;

  pthread_sigmask (SIG_BLOCK, NULL, &before);
  ck_assert_int_eq (thread_start (&t, read_own_mask, &theirs), 0);
  ck_assert_int_eq (pthread_join (t, NULL), 0);
  pthread_sigmask (SIG_BLOCK, NULL, &after);
  for (size_t i = 0; i < sizeof async_signals / sizeof *async_signals; i++) {
    int sig = async_signals[i];
    ck_assert_msg (sigismember (&theirs, sig), "signal %d not blocked", sig);
    ck_assert_int_eq (sigismember (&after, sig), sigismember (&before, sig));
  }
  for (size_t i = 0; i < sizeof fault_signals / sizeof *fault_signals; i++)
    ck_assert_msg (!sigismember (&theirs, fault_signals[i]),
                   "fault signal %d blocked", fault_signals[i]);
}
END_TEST

/* Whether /proc's status of thread TID says SIGTERM is blocked. */
static bool
blocks_sigterm (const char *tid)
{
  char path[64], line[256];
  unsigned long long mask = 0;
  FILE *f;

  snprintf (path, sizeof path, "/proc/self/task/%s/status", tid);
  f = fopen (path, "r");
  if (f == NULL)
    return true; /* it has exited since the directory was read */
  while (fgets (line, sizeof line, f))
    if (sscanf (line, "SigBlk: %llx", &mask) == 1)
      break;
  fclose (f);
  return mask & (1ULL << (SIGTERM - 1));
}

/* How many threads other than the caller there are; fails the test if
 * one of them takes SIGTERM. */
static int
others_block_sigterm (void)
{
  char self[32];
  struct dirent *e;
  DIR *dir = opendir ("/proc/self/task");
  int others = 0;

  ck_assert_ptr_nonnull (dir);
  snprintf (self, sizeof self, "%d", (int)gettid ());
  while ((e = readdir (dir)) != NULL) {
    if (e->d_name[0] == '.' || strcmp (e->d_name, self) == 0)
      continue;
    ck_assert_msg (blocks_sigterm (e->d_name), "thread %s takes SIGTERM",
                   e->d_name);
    others++;
  }
  closedir (dir);
  return others;
}

START_TEST (served_disk_threads_block_async_signals)
{
  const char *path = scratch_disk ("thread.img", 16 << 20, NULL, 0);
  struct disk *d = open_disk_with (path, false);
  struct publisher *p;
  int before = others_block_sigterm ();

  ck_assert_int_eq (disk_start_background (d), 0);
  p = publisher_start (d, scratch_path ("status.json"));
  ck_assert_ptr_nonnull (p);
  /* The checkpointer and the publisher, at least (a sanitizer may run
   * threads of its own, which block signals too). */
  ck_assert_int_ge (others_block_sigterm (), before + 2);
  ck_assert_int_eq (publisher_stop (p), 0);
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("thread");
  TCase *tc = tcase_create ("signals");

  tcase_add_test (tc, started_thread_blocks_async_signals);
  tcase_add_test (tc, served_disk_threads_block_async_signals);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
