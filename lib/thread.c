/* The library's own threads: see thread.h. */
#include <signal.h>

#include "thread.h"

static const int fault_signals[] = {
    SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS,
};

int
thread_start (pthread_t *t, void *(*fn) (void *), void *arg)
{
  sigset_t async, old;
  int err;

  sigfillset (&async);
  for (size_t i = 0; i < sizeof fault_signals / sizeof *fault_signals; i++)
    sigdelset (&async, fault_signals[i]);
  /* The new thread inherits the mask in force when it is made. */
  err = pthread_sigmask (SIG_BLOCK, &async, &old);
  if (err)
    return err;
  err = pthread_create (t, NULL, fn, arg);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  return err;
}
