/* The library's own threads: the checkpointer and the status publisher.
 *
 * They start with every asynchronous signal blocked.  A signal sent to
 * the process (nbdkit's SIGTERM, a terminal's SIGINT) is then taken by
 * one of the program's threads, whose handlers expect it, never by ours:
 * a signal handled on a thread that waits on a condition variable may be
 * seen late or, under ThreadSanitizer, not at all (an nbdkit that did not
 * stop on SIGTERM).  Faults (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP,
 * SIGABRT, SIGSYS) stay unblocked: they concern the thread that made
 * them, and blocking one kills the process without its handler.
 */
#ifndef NBD_INTEGRITY_THREAD_H
#define NBD_INTEGRITY_THREAD_H

#include <pthread.h>

/* pthread_create (T, NULL, FN, ARG) with the new thread's asynchronous
 * signals blocked; the caller's own mask is as it was.  Returns 0 or an
 * error number, as pthread_create does. */
int thread_start (pthread_t *t, void *(*fn) (void *), void *arg);

#endif
