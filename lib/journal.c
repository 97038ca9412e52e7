/* The journal's engine: opening it, group commit, and flush marks.  See
 * journal.h, and journal-internal.h for what its other files share. */
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "journal-internal.h"
#include "report.h"
#include "thread.h"

uint32_t
journal_sectors_max (unsigned tag_size)
{
  return journal_record_max (tag_size) * (MAX_GROUP_BLOCKS / 4);
}

struct journal *
journal_open (struct backing *b, const struct superblock *sb, uint64_t head,
              const struct journal_checkpointer *cp, void *opaque)
{
  struct journal *j = calloc (1, sizeof *j);
  pthread_condattr_t attr;

  if (j == NULL || posix_memalign ((void **)&j->buf, SB_BLOCK,
                                   MAX_BATCH_BLOCKS * SB_BLOCK) != 0) {
    errno = ENOMEM;
    ni_error_set ("%s: cannot allocate the journal: %m", b->name);
    free (j);
    return NULL;
  }
  j->b = b;
  j->sb = *sb;
  j->nr_blocks = sb_journal_blocks (sb);
  j->cp = cp;
  j->opaque = opaque;
  j->queue_end = &j->queue;
  j->ready_end = &j->ready;
  j->head = j->tail = j->changed_to = j->marked_to = head;
  j->stats.last_checkpoint_time = time (NULL); /* it opens empty */
  clock_gettime (CLOCK_MONOTONIC, &j->covered_at);
  pthread_mutex_init (&j->lock, NULL);
  pthread_condattr_init (&attr);
  pthread_condattr_setclock (&attr, CLOCK_MONOTONIC); /* wait_or_time_out */
  pthread_cond_init (&j->changed, &attr);
  pthread_condattr_destroy (&attr);
  pthread_cond_init (&j->applied, NULL);
  return j;
}

int
journal_start_background (struct journal *j)
{
  int err;

  if (j->background)
    return 0;
  /* Set before the thread starts, which reads it (mark_due_locked). */
  pthread_mutex_lock (&j->lock);
  j->background = true;
  pthread_mutex_unlock (&j->lock);
  err = thread_start (&j->thread, journal_background_thread, j);
  if (err) {
    pthread_mutex_lock (&j->lock);
    j->background = false;
    pthread_mutex_unlock (&j->lock);
    errno = err;
    ni_error_set ("%s: cannot start the checkpoint thread: %m", j->b->name);
    return -1;
  }
  return 0;
}

void
journal_close (struct journal *j)
{
  if (j == NULL)
    return;
  if (j->background) {
    pthread_mutex_lock (&j->lock);
    j->stop = true;
    pthread_cond_broadcast (&j->changed);
    pthread_mutex_unlock (&j->lock);
    pthread_join (j->thread, NULL);
  }
  pthread_cond_destroy (&j->changed);
  pthread_cond_destroy (&j->applied);
  pthread_mutex_destroy (&j->lock);
  free (j->pending);
  free (j->buf);
  free (j);
}

/* Writes BLOCKS encoded blocks at the head, in two pieces if the ring
 * wraps, each durable on return. */
static int
write_blocks (struct journal *j, uint64_t blocks)
{
  uint64_t pos = j->head % j->nr_blocks;
  uint64_t first = blocks < j->nr_blocks - pos ? blocks : j->nr_blocks - pos;

  assert (blocks > 0 && blocks <= MAX_BATCH_BLOCKS);
  assert (journal_block_offset (&j->sb, j->head) % SB_BLOCK == 0);

  if (backing_pwrite (j->b, j->buf, first * SB_BLOCK,
                      journal_block_offset (&j->sb, j->head),
                      BACKING_DSYNC) == -1)
    return -1;
  if (first < blocks &&
      backing_pwrite (j->b, j->buf + first * SB_BLOCK,
                      (blocks - first) * SB_BLOCK, j->sb.journal_offset,
                      BACKING_DSYNC) == -1)
    return -1;
  return 0;
}

/* Hands the entries of a batch their outcome.  journal_commit's callers
 * are woken.  Deferred entries whose commit is durable join the ready
 * list, for whichever thread applies them first: the leader is
 * free to lead the next commit while they are written in place.  Those
 * of a failed commit are told so here, the lock dropped. */
static void
finish_batch (struct journal *j, struct journal_entry *e, size_t n,
              uint64_t commit, int err)
{
  for (size_t i = 0; i < n; i++) {
    struct journal_entry *next = e->next; /* apply may free e */
    e->commit = commit;
    if (e->apply && err == 0) {
      e->next = NULL;
      *j->ready_end = e;
      j->ready_end = &e->next;
    } else if (e->apply) {
      pthread_mutex_unlock (&j->lock);
      e->apply (e, err);
      pthread_mutex_lock (&j->lock);
    } else {
      e->done = true;
      e->err = err;
    }
    e = next;
  }
  j->completed += n;
  if (j->ready && j->apply_waiters > 0)
    pthread_cond_broadcast (&j->applied); /* work for them */
}

size_t
journal_apply_ready_locked (struct journal *j, size_t max)
{
  ASSERT_LOCKED (&j->lock);
  size_t n;

  for (n = 0; n < max && j->ready; n++) {
    struct journal_entry *e = j->ready;
    if ((j->ready = e->next) == NULL)
      j->ready_end = &j->ready;
    pthread_mutex_unlock (&j->lock);
    e->apply (e, 0);
    pthread_mutex_lock (&j->lock);
  }
  return n;
}

void
journal_wait_applied_locked (struct journal *j,
                             bool (*done) (struct journal *j, void *arg),
                             void *arg)
{
  ASSERT_LOCKED (&j->lock);
  while (!done (j, arg)) {
    if (journal_apply_ready_locked (j, 1) > 0)
      continue;
    j->apply_waiters++;
    pthread_cond_wait (&j->applied, &j->lock);
    j->apply_waiters--;
  }
}

/* The pending ring (struct journal): room for one more commit. */
static int
reserve_pending_locked (struct journal *j)
{
  ASSERT_LOCKED (&j->lock);
  size_t cap = j->pending_cap ? 2 * j->pending_cap : 16;
  struct pending_commit *p;

  if (j->pending_n < j->pending_cap)
    return 0;
  p = malloc (cap * sizeof *p);
  if (p == NULL)
    return -1;
  for (size_t i = 0; i < j->pending_n; i++)
    p[i] = j->pending[(j->pending_first + i) % j->pending_cap];
  free (j->pending);
  j->pending = p;
  j->pending_cap = cap;
  j->pending_first = 0;
  return 0;
}

static struct pending_commit *
pending_at (struct journal *j, size_t i)
{
  return &j->pending[(j->pending_first + i) % j->pending_cap];
}

/* The sequence below which every committed record has been applied. */
static uint64_t
applied_below_locked (struct journal *j)
{
  ASSERT_LOCKED (&j->lock);
  return j->pending_n ? pending_at (j, 0)->start : j->head;
}

/* What a successful commit of the batch's N records, BLOCKS blocks from
 * START, changes: the head, the records in flight, and how far changes
 * and flush marks go. */
static void
note_commit_locked (struct journal *j, uint64_t start, uint64_t blocks,
                    size_t n)
{
  ASSERT_LOCKED (&j->lock);
  *pending_at (j, j->pending_n++) = (struct pending_commit){start, n};
  j->head += blocks;
  j->in_flight += n;
  for (size_t i = 0; i < n; i++)
    if (j->whole[i].kind != JREC_FLUSH) {
      j->changed_to = j->head;
      j->sectors += j->whole[i].count;
      j->stats.records++;
    } else {
      j->stats.marks++;
      if (j->whole[i].sector > j->marked_to)
        j->marked_to = j->whole[i].sector;
    }
  j->stats.commits++;
  journal_want_checkpoint_locked (j);
}

/* Commits one batch as leader.  Called with the lock held and busy set;
 * drops the lock for I/O.  Its deferred entries are left ready, not
 * applied. */
static void
lead_commit (struct journal *j)
{
  struct journal_entry *taken;
  uint64_t blocks;
  size_t n = journal_take_batch_locked (j, &taken, &blocks);
  struct journal_block_info info = {.mode = j->sb.mode};
  int r, err = 0;

  r = journal_make_room_locked (j, blocks);
  if (r == 0 && (r = reserve_pending_locked (j)) == -1)
    errno = ENOMEM;
  if (r == 0) {
    info.commit = j->head;
    info.attempt = ++j->attempts;
    info.tail = j->tail;
    pthread_mutex_unlock (&j->lock);
    blocks = journal_encode_batch (j, n, &info);
    r = write_blocks (j, blocks);
    pthread_mutex_lock (&j->lock);
  }
  if (r == -1)
    err = errno ? errno : EIO;
  /* A failed write does not advance the head: the next commit rewrites
   * those blocks, so no gap can end a later scan early. */
  if (r == 0)
    note_commit_locked (j, info.commit, blocks, n);
  finish_batch (j, taken, n, info.commit, err);
}

/* Leads commits, or waits for other leaders, until DONE says so.  Called
 * with the lock held. */
static void
commit_until (struct journal *j, bool (*done) (struct journal *j, void *arg),
              void *arg)
{
  while (!done (j, arg)) {
    if (j->busy) {
      pthread_cond_wait (&j->changed, &j->lock);
      continue;
    }
    j->busy = true;
    lead_commit (j);
    j->busy = false;
    pthread_cond_broadcast (&j->changed);
  }
}

static bool
entry_done (struct journal *j, void *arg)
{
  (void)j;
  return ((struct journal_entry *)arg)->done;
}

static bool
completed_to (struct journal *j, void *arg)
{
  return j->completed >= *(uint64_t *)arg;
}

static bool
applied_to (struct journal *j, void *arg)
{
  return applied_below_locked (j) >= *(uint64_t *)arg;
}

static void
enqueue_locked (struct journal *j, struct journal_entry *e)
{
  ASSERT_LOCKED (&j->lock);
  e->next = NULL;
  e->done = false;
  e->err = 0;
  *j->queue_end = e;
  j->queue_end = &e->next;
  j->submitted++;
}

int
journal_commit (struct journal *j, const struct journal_record *rec,
                uint64_t *commit)
{
  struct journal_entry e = {.rec = *rec};

  if (!journal_record_fits (j, rec)) {
    errno = EINVAL; /* callers split requests: see journal_sectors_max */
    return -1;
  }
  pthread_mutex_lock (&j->lock);
  enqueue_locked (j, &e);
  commit_until (j, entry_done, &e);
  pthread_mutex_unlock (&j->lock);
  if (e.err) {
    errno = e.err;
    return -1;
  }
  *commit = e.commit;
  return 0;
}

int
journal_submit (struct journal *j, struct journal_entry *e)
{
  if (!journal_record_fits (j, &e->rec)) {
    errno = EINVAL;
    return -1;
  }
  pthread_mutex_lock (&j->lock);
  enqueue_locked (j, e);
  pthread_mutex_unlock (&j->lock);
  return 0;
}

void
journal_commit_queued_locked (struct journal *j)
{
  ASSERT_LOCKED (&j->lock);
  uint64_t target = j->submitted;

  commit_until (j, completed_to, &target);
}

/* Commits every entry submitted so far and applies them, helped by
 * whoever else applies.  Called with the lock held. */
static void
commit_and_apply_locked (struct journal *j)
{
  ASSERT_LOCKED (&j->lock);
  uint64_t upto;

  journal_commit_queued_locked (j);
  upto = j->head;
  journal_wait_applied_locked (j, applied_to, &upto);
}

void
journal_commit_submitted (struct journal *j)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&j->lock);
  commit_and_apply_locked (j);
}

void
journal_commit_and_help (struct journal *j)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&j->lock);
  journal_commit_queued_locked (j);
  journal_apply_ready_locked (j, SIZE_MAX);
}

void
journal_kick (struct journal *j)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&j->lock);

  if (!j->background)
    commit_and_apply_locked (j);
  else if (!j->want_commit) {
    /* Every writer kicks while a commit runs: wake the thread once. */
    j->want_commit = true;
    pthread_cond_broadcast (&j->changed);
  }
}

void
journal_applied (struct journal *j, uint64_t commit)
{
  size_t i, left = 0;

  pthread_mutex_lock (&j->lock);
  for (i = 0; i < j->pending_n && pending_at (j, i)->start != commit; i++)
    ;
  assert (i < j->pending_n && pending_at (j, i)->left > 0);
  pending_at (j, i)->left--;
  /* The oldest commits wholly applied leave: a flush may be waiting. */
  for (; j->pending_n && pending_at (j, 0)->left == 0; j->pending_n--, left++)
    j->pending_first = (j->pending_first + 1) % j->pending_cap;
  /* Waking nobody costs nothing, but waking a waiter for every record
   * applied would cost a context switch each. */
  if (--j->in_flight == 0 || left > 0)
    if (j->apply_waiters > 0)
      pthread_cond_broadcast (&j->applied);
  pthread_mutex_unlock (&j->lock);
}

void
journal_cover_locked (struct journal *j, uint64_t sectors)
{
  ASSERT_LOCKED (&j->lock);
  if (sectors > j->marked_sectors)
    j->marked_sectors = sectors;
  clock_gettime (CLOCK_MONOTONIC, &j->covered_at);
}

/* A sync of the background thread's failed: the next journal_flush fails
 * with its error, since a later sync may not see the error again (Linux
 * reports a failed write-back to one fsync per file description). */
void
journal_background_failed (struct journal *j, int err)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&j->lock);
  if (j->background_err == 0)
    j->background_err = err;
}

int
journal_flush (struct journal *j)
{
  int err;

  pthread_mutex_lock (&j->lock);
  err = j->background_err;
  j->background_err = 0;
  pthread_mutex_unlock (&j->lock);
  if (err) {
    ni_error_set ("%s: a background flush or checkpoint failed: %s", j->b->name,
                  strerror (err));
    errno = err;
    return -1;
  }
  return journal_flush_now (j);
}

int
journal_flush_now (struct journal *j)
{
  struct journal_record mark = {.kind = JREC_FLUSH};
  uint64_t upto, sectors, commit;
  bool changed;

  pthread_mutex_lock (&j->lock);
  upto = j->head;
  sectors = j->sectors;
  journal_wait_applied_locked (j, applied_to, &upto);
  changed = j->changed_to > j->marked_to;
  pthread_mutex_unlock (&j->lock);
  if (backing_sync (j->b) == -1)
    return -1;
  if (!changed)
    return 0;
  /* Only now is what the mark says true: a mark is never ahead of the
   * data it covers (journal-format.h). */
  mark.sector = upto;
  if (journal_commit (j, &mark, &commit) == -1)
    return -1;
  journal_applied (j, commit);
  pthread_mutex_lock (&j->lock);
  journal_cover_locked (j, sectors);
  pthread_mutex_unlock (&j->lock);
  return 0;
}

void
journal_get_stats (struct journal *j, struct journal_stats *stats)
{
  ACQUIRE_LOCK_FOR_CURRENT_SCOPE (&j->lock);
  *stats = j->stats;
  stats->used_blocks = j->head - j->tail;
  stats->total_blocks = j->nr_blocks;
}
