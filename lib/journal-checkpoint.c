/* Checkpoints, and the background thread that starts them and commits
 * deferred entries left waiting: see journal.h for the states, and
 * journal-internal.h. */
#include <errno.h>
#include <time.h>

#include "deadline.h"
#include "journal-internal.h"
#include "report.h"

/* Checkpoints run in two steps.  Capture, with commits held off (the
 * caller holds busy) and nothing in flight, takes the state to write home
 * as of the head, which becomes the new tail.  Complete, with commits
 * going on, makes that state durable and records the tail.  Anyone may
 * complete a captured checkpoint: a leader that finds the ring full does.
 * Both are called with the lock held and drop it for the callbacks. */
static bool
nothing_in_flight (struct journal *j, void *arg)
{
  (void)arg;
  return j->in_flight == 0;
}

static int
capture_locked (struct journal *j)
{
  ASSERT_LOCKED (&j->lock);
  void *captured;

  journal_wait_applied_locked (j, nothing_in_flight, NULL);
  pthread_mutex_unlock (&j->lock);
  captured = j->cp->capture (j->opaque);
  pthread_mutex_lock (&j->lock);
  if (captured == NULL)
    return -1;
  j->ckpt_sectors = j->sectors;
  j->captured = captured;
  j->ckpt_tail = j->head;
  j->ckpt = CKPT_CAPTURED;
  return 0;
}

static int
complete_locked (struct journal *j)
{
  ASSERT_LOCKED (&j->lock);
  void *captured = j->captured;
  uint64_t new_tail = j->ckpt_tail;
  int r;

  j->ckpt = CKPT_COMPLETING;
  pthread_mutex_unlock (&j->lock);
  r = j->cp->complete (j->opaque, captured, new_tail);
  pthread_mutex_lock (&j->lock);
  if (r == 0) {
    j->tail = new_tail;
    journal_cover_locked (j, j->ckpt_sectors);
    j->stats.checkpoints++;
    j->stats.last_checkpoint_time = time (NULL);
  }
  j->ckpt_result = r;
  j->captured = NULL;
  j->ckpt = CKPT_IDLE;
  pthread_cond_broadcast (&j->changed);
  return r;
}

/* Makes room for BLOCKS more blocks, as leader (busy held): completes a
 * captured checkpoint, waits for one completing, or runs a whole one. */
int
journal_make_room_locked (struct journal *j, uint64_t blocks)
{
  ASSERT_LOCKED (&j->lock);
  while (j->head + blocks - j->tail > j->nr_blocks) {
    int r = 0;

    if (j->ckpt == CKPT_COMPLETING)
      pthread_cond_wait (&j->changed, &j->lock);
    else if (j->ckpt == CKPT_CAPTURED)
      r = complete_locked (j);
    else if ((r = capture_locked (j)) == 0)
      r = complete_locked (j);
    if (r == -1)
      return -1;
  }
  return 0;
}

/* Is a flush mark of the background thread's due (journal.h)? */
static bool
mark_due_locked (struct journal *j)
{
  ASSERT_LOCKED (&j->lock);
  return j->background && !j->flushing &&
         j->sectors - j->marked_sectors >= JOURNAL_FLUSH_SECTORS &&
         ms_since (&j->covered_at) >= JOURNAL_FLUSH_INTERVAL_MS;
}

/* Asks the background checkpointer to run once the ring is half full, so
 * writers seldom find it full. */
void
journal_want_checkpoint_locked (struct journal *j)
{
  ASSERT_LOCKED (&j->lock);
  if (j->background && j->ckpt == CKPT_IDLE &&
      j->head - j->tail >= j->nr_blocks / 2)
    j->want_checkpoint = true;
  if (mark_due_locked (j))
    j->want_flush = true;
}

int
journal_checkpoint_begin (struct journal *j)
{
  int r;

  pthread_mutex_lock (&j->lock);
  for (;;) {
    if (j->ckpt == CKPT_CAPTURED) /* begun, not ended: finish it first */
      complete_locked (j);
    else if (j->busy || j->ckpt == CKPT_COMPLETING)
      pthread_cond_wait (&j->changed, &j->lock);
    else
      break;
  }
  j->busy = true;
  r = capture_locked (j);
  j->busy = false;
  pthread_cond_broadcast (&j->changed);
  pthread_mutex_unlock (&j->lock);
  return r;
}

int
journal_checkpoint_end (struct journal *j)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&j->lock);

  if (j->ckpt == CKPT_CAPTURED)
    return complete_locked (j);
  /* A leader that needed the room completed it, or is completing it. */
  while (j->ckpt == CKPT_COMPLETING)
    pthread_cond_wait (&j->changed, &j->lock);
  return j->ckpt_result;
}

int
journal_checkpoint (struct journal *j)
{
  if (journal_checkpoint_begin (j) == -1)
    return -1;
  return journal_checkpoint_end (j);
}

/* Waits until something changes or COMMIT_DELAY_MS pass; true if they
 * passed.  Called with the lock held. */
static bool
wait_or_time_out (struct journal *j)
{
  struct timespec until = deadline_in_ms (COMMIT_DELAY_MS);

  return pthread_cond_timedwait (&j->changed, &j->lock, &until) == ETIMEDOUT;
}

/* Runs FN, the background thread's flush or checkpoint (WHAT), with the
 * lock dropped; a failure is logged and kept for the next flush. */
static void
run_in_background_locked (struct journal *j, int (*fn) (struct journal *),
                          const char *what)
{
  ASSERT_LOCKED (&j->lock);
  pthread_mutex_unlock (&j->lock);
  ni_error_clear (); /* each is a call of this thread's own */
  if (fn (j) == -1) {
    journal_background_failed (j, errno);
    ni_log (NI_LOG_ERROR, "%s: background %s: %s", j->b->name, what,
            ni_error ());
  }
  pthread_mutex_lock (&j->lock);
}

/* Makes a flush mark for records that no flush of the client's has
 * covered, so that a crash leaves recovery few sectors to read. */
static void
background_flush_locked (struct journal *j)
{
  j->want_flush = false;
  j->flushing = true;
  run_in_background_locked (j, journal_flush_now, "flush");
  j->flushing = false;
}

/* The background thread: commits deferred entries when kicked, or when
 * nobody else has for COMMIT_DELAY_MS; applies ready entries, one at a
 * time so that a kick is not kept waiting behind them; and runs a
 * checkpoint whenever a commit finds the ring half full. */
void *
journal_background_thread (void *arg)
{
  struct journal *j = arg;

  pthread_mutex_lock (&j->lock);
  while (!j->stop) {
    if (j->want_commit || (!j->want_checkpoint && !j->want_flush && !j->ready &&
                           wait_or_time_out (j))) {
      j->want_commit = false;
      journal_commit_queued_locked (j);
      /* A writer that stopped before the interval passed commits no
       * more: the mark falls due here. */
      if (mark_due_locked (j))
        j->want_flush = true;
      continue;
    }
    if (journal_apply_ready_locked (j, 1) > 0)
      continue;
    if (j->want_flush) {
      background_flush_locked (j);
      continue;
    }
    if (!j->want_checkpoint)
      continue;
    j->want_checkpoint = false;
    run_in_background_locked (j, journal_checkpoint, "checkpoint");
  }
  pthread_mutex_unlock (&j->lock);
  return NULL;
}
