/* The write-ahead journal of tags: see journal.h. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deadline.h"
#include "journal.h"
#include "report.h"

/* Most blocks of one group and of one record: a scan takes no more data
 * blocks after a group's headers (JOURNAL_MAX_GROUP_DATA). */
#define MAX_GROUP_BLOCKS (JOURNAL_MAX_GROUP_DATA + 1)
/* Most blocks one commit writes, header groups one after another. */
#define MAX_BATCH_BLOCKS 1024
/* Deferred writes queue up by the thousand: one commit takes them all. */
#define MAX_BATCH_RECORDS 2048
/* How long a deferred entry may wait for a commit that nobody asked for. */
#define COMMIT_DELAY_MS 100

uint32_t
journal_sectors_max (unsigned tag_size)
{
  return journal_record_max (tag_size) * (MAX_GROUP_BLOCKS / 4);
}

struct journal {
  struct backing *b;
  struct superblock sb;
  uint64_t nr_blocks;
  const struct journal_checkpointer *cp;
  void *opaque;
  bool background;
  pthread_t thread;
  uint8_t *buf; /* MAX_BATCH_BLOCKS blocks; used by the leader only */
  struct journal_record batch[MAX_BATCH_RECORDS]; /* leader only */
  struct journal_record whole[MAX_BATCH_RECORDS]; /* batch, as queued */

  pthread_mutex_t lock;   /* protects every field below */
  pthread_cond_t changed; /* a commit finished, or in_flight fell to 0 */
  struct journal_entry *queue, **queue_end;
  uint64_t submitted, completed; /* entries, counted in queue order */
  bool busy;                     /* a leader is committing (or capturing) */
  uint64_t head, tail;           /* block sequence numbers */
  uint64_t in_flight;            /* committed, not yet applied */
  uint64_t attempts;             /* commits tried, for their headers */
  /* The head after the last commit with a change in it, and the sequence
   * the newest flush mark covers up to: a flush with nothing between them
   * writes no mark. */
  uint64_t changed_to, marked_to;
  /* Commits with records in flight, oldest first: a ring of PENDING_CAP
   * entries from pending_first, pending_n of them in use. */
  struct pending_commit {
    uint64_t start, left;
  } * pending;
  size_t pending_first, pending_n, pending_cap;
  enum { CKPT_IDLE, CKPT_CAPTURED, CKPT_COMPLETING } ckpt;
  void *captured;     /* what the checkpoint writes home */
  uint64_t ckpt_tail; /* the tail once it is complete */
  int ckpt_result;    /* of the last checkpoint completed */
  bool want_checkpoint, want_commit, stop; /* for the background thread */
  struct journal_stats stats;
};

static void *checkpointer (void *arg);

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
  j->head = j->tail = j->changed_to = j->marked_to = head;
  j->stats.last_checkpoint_time = time (NULL); /* it opens empty */
  pthread_mutex_init (&j->lock, NULL);
  pthread_condattr_init (&attr);
  pthread_condattr_setclock (&attr, CLOCK_MONOTONIC); /* wait_or_time_out */
  pthread_cond_init (&j->changed, &attr);
  pthread_condattr_destroy (&attr);
  return j;
}

int
journal_start_background (struct journal *j)
{
  int err;

  if (j->background)
    return 0;
  err = pthread_create (&j->thread, NULL, checkpointer, j);
  if (err) {
    errno = err;
    ni_error_set ("%s: cannot start the checkpoint thread: %m", j->b->name);
    return -1;
  }
  j->background = true;
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
  pthread_mutex_destroy (&j->lock);
  free (j->pending);
  free (j->buf);
  free (j);
}

/* An upper bound on the blocks N records take: each block loses less than
 * one record header and one tag to packing, and one more header to a
 * split. */
static uint64_t
blocks_needed (const struct journal *j, size_t bytes)
{
  size_t usable =
      JOURNAL_PAYLOAD - 2 * (JOURNAL_RECORD_HEADER + j->sb.tag_size);

  return (bytes + usable - 1) / usable + 1;
}

/* An upper bound on the blocks of a batch of records of BYTES with DATA
 * data blocks: encode_batch starts a new group after at least half
 * MAX_GROUP_BLOCKS of data, and every group has two header blocks. */
static uint64_t
batch_blocks (const struct journal *j, size_t bytes, uint64_t data)
{
  uint64_t groups = blocks_needed (j, bytes) + data / (MAX_GROUP_BLOCKS / 2);

  return JOURNAL_GROUP_HEADERS * groups + data;
}

/* Most blocks one batch may take: a quarter of the ring, so that a
 * checkpoint can always make room. */
static uint64_t
batch_limit (const struct journal *j)
{
  uint64_t quarter = j->nr_blocks / 4;

  return quarter > MAX_BATCH_BLOCKS   ? MAX_BATCH_BLOCKS
         : quarter < MAX_GROUP_BLOCKS ? MAX_GROUP_BLOCKS
                                      : quarter;
}

/* Moves queued waiters into the batch while they fit.  Takes at least
 * one.  Called with the lock held. */
static size_t
take_batch (struct journal *j, struct journal_entry **taken, uint64_t *blocks)
{
  size_t n = 0, bytes = 0;
  uint64_t data = 0;

  *taken = j->queue;
  for (struct journal_entry *w = j->queue; w; w = w->next) {
    size_t more = journal_record_bytes (&j->sb, &w->rec);
    uint64_t more_data = journal_record_data_blocks (&j->sb, &w->rec);
    if (n > 0 &&
        (n == MAX_BATCH_RECORDS ||
         batch_blocks (j, bytes + more, data + more_data) > batch_limit (j)))
      break;
    bytes += more;
    data += more_data;
    j->whole[n] = w->rec;
    j->batch[n++] = w->rec;
    j->queue = w->next;
  }
  if (j->queue == NULL)
    j->queue_end = &j->queue;
  *blocks = batch_blocks (j, bytes, data);
  return n;
}

/* Copies the data of the data records [FIRST, LAST) of the batch into the
 * blocks from BLOCK on; returns the blocks used. */
static uint64_t
encode_data (struct journal *j, size_t first, size_t last, uint64_t block)
{
  uint64_t used = 0;

  for (size_t i = first; i < last; i++) {
    const struct journal_record *rec = &j->whole[i];
    size_t bytes = (size_t)rec->count * j->sb.sector_size;
    uint64_t nb = journal_record_data_blocks (&j->sb, rec);
    uint8_t *p = j->buf + (block + used) * SB_BLOCK;

    if (nb == 0)
      continue;
    memcpy (p, rec->data, bytes);
    memset (p + bytes, 0, nb * SB_BLOCK - bytes);
    used += nb;
  }
  return used;
}

/* The end of the records from FIRST whose data fits after one header
 * block (a scan takes no more). */
static size_t
group_end (const struct journal *j, size_t first, size_t n)
{
  uint64_t data = 0;
  size_t i;

  for (i = first; i < n; i++) {
    uint64_t more = journal_record_data_blocks (&j->sb, &j->whole[i]);
    if (i > first && data + more >= MAX_GROUP_BLOCKS)
      break;
    data += more;
  }
  return i;
}

/* Encodes one group's header and its copy at block BLOCK of buf, from
 * the batch's records [*DONE, LAST), advancing *DONE. */
static void
encode_headers (struct journal *j, struct journal_block_info *info,
                size_t *done, size_t last, uint64_t block)
{
  uint8_t *header = j->buf + block * SB_BLOCK;

  info->seq = info->commit + block;
  info->copy = 0;
  journal_block_encode (&j->sb, info, j->batch, last, done, header);
  memcpy (header + SB_BLOCK, header, SB_BLOCK);
  info->seq++;
  info->copy = 1;
  journal_block_reseal (&j->sb, info, header + SB_BLOCK);
}

/* Encodes the batch of N records into buf as the commit INFO describes
 * (its start, attempt and tail); returns the blocks used.  Each header
 * gives the commit's length, known once all are encoded. */
static uint64_t
encode_batch (struct journal *j, size_t n, struct journal_block_info *info)
{
  size_t done = 0;
  uint64_t blocks = 0, headers[MAX_BATCH_BLOCKS / JOURNAL_GROUP_HEADERS];
  size_t groups = 0;

  info->commit_blocks = 0;
  while (done < n) {
    size_t first = done;
    headers[groups++] = blocks;
    encode_headers (j, info, &done, group_end (j, first, n), blocks);
    blocks += JOURNAL_GROUP_HEADERS;
    blocks += encode_data (j, first, done, blocks);
  }
  info->commit_blocks = blocks;
  for (size_t g = 0; g < groups; g++)
    for (uint32_t copy = 0; copy < JOURNAL_GROUP_HEADERS; copy++) {
      info->seq = info->commit + headers[g] + copy;
      info->copy = copy;
      journal_block_reseal (&j->sb, info,
                            j->buf + (headers[g] + copy) * SB_BLOCK);
    }
  return blocks;
}

/* Writes BLOCKS encoded blocks at the head, in two pieces if the ring
 * wraps, each durable on return. */
static int
write_blocks (struct journal *j, uint64_t blocks)
{
  uint64_t pos = j->head % j->nr_blocks;
  uint64_t first = blocks < j->nr_blocks - pos ? blocks : j->nr_blocks - pos;

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

/* Checkpoints run in two steps.  Capture, with commits held off (the
 * caller holds busy) and nothing in flight, takes the state to write home
 * as of the head, which becomes the new tail.  Complete, with commits
 * going on, makes that state durable and records the tail.  Anyone may
 * complete a captured checkpoint: a leader that finds the ring full does.
 * Both are called with the lock held and drop it for the callbacks. */
static int
capture_locked (struct journal *j)
{
  void *captured;

  while (j->in_flight > 0)
    pthread_cond_wait (&j->changed, &j->lock);
  pthread_mutex_unlock (&j->lock);
  captured = j->cp->capture (j->opaque);
  pthread_mutex_lock (&j->lock);
  if (captured == NULL)
    return -1;
  j->captured = captured;
  j->ckpt_tail = j->head;
  j->ckpt = CKPT_CAPTURED;
  return 0;
}

static int
complete_locked (struct journal *j)
{
  void *captured = j->captured;
  uint64_t new_tail = j->ckpt_tail;
  int r;

  j->ckpt = CKPT_COMPLETING;
  pthread_mutex_unlock (&j->lock);
  r = j->cp->complete (j->opaque, captured, new_tail);
  pthread_mutex_lock (&j->lock);
  if (r == 0) {
    j->tail = new_tail;
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
static int
make_room_locked (struct journal *j, uint64_t blocks)
{
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

/* Asks the background checkpointer to run once the ring is half full, so
 * writers seldom find it full. */
static void
maybe_want_checkpoint (struct journal *j)
{
  if (j->background && j->ckpt == CKPT_IDLE &&
      j->head - j->tail >= j->nr_blocks / 2)
    j->want_checkpoint = true;
}

/* Hands the entries of a batch their outcome: wakes journal_commit's
 * callers, and applies the deferred ones here (the lock dropped), so that
 * they are in place before the next batch is written. */
static void
finish_batch (struct journal *j, struct journal_entry *e, size_t n,
              uint64_t commit, int err)
{
  for (size_t i = 0; i < n; i++) {
    struct journal_entry *next = e->next; /* apply may free e */
    e->commit = commit;
    if (e->apply) {
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
}

/* The pending ring (struct journal): room for one more commit. */
static int
reserve_pending_locked (struct journal *j)
{
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
  return j->pending_n ? pending_at (j, 0)->start : j->head;
}

/* What a successful commit of the batch's N records, BLOCKS blocks from
 * START, changes: the head, the records in flight, and how far changes
 * and flush marks go. */
static void
note_commit_locked (struct journal *j, uint64_t start, uint64_t blocks,
                    size_t n)
{
  *pending_at (j, j->pending_n++) = (struct pending_commit){start, n};
  j->head += blocks;
  j->in_flight += n;
  for (size_t i = 0; i < n; i++)
    if (j->whole[i].kind != JREC_FLUSH) {
      j->changed_to = j->head;
      j->stats.records++;
    } else {
      j->stats.marks++;
      if (j->whole[i].sector > j->marked_to)
        j->marked_to = j->whole[i].sector;
    }
  j->stats.commits++;
  maybe_want_checkpoint (j);
}

/* Commits one batch as leader.  Called with the lock held and busy set;
 * drops the lock for I/O. */
static void
lead_commit (struct journal *j)
{
  struct journal_entry *taken;
  uint64_t blocks;
  size_t n = take_batch (j, &taken, &blocks);
  struct journal_block_info info = {.mode = j->sb.mode};
  int r, err = 0;

  r = make_room_locked (j, blocks);
  if (r == 0 && (r = reserve_pending_locked (j)) == -1)
    errno = ENOMEM;
  if (r == 0) {
    info.commit = j->head;
    info.attempt = ++j->attempts;
    info.tail = j->tail;
    pthread_mutex_unlock (&j->lock);
    blocks = encode_batch (j, n, &info);
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
record_fits (const struct journal *j, const struct journal_record *rec)
{
  return blocks_needed (j, journal_record_bytes (&j->sb, rec)) +
             journal_record_data_blocks (&j->sb, rec) <=
         MAX_GROUP_BLOCKS;
}

static void
enqueue_locked (struct journal *j, struct journal_entry *e)
{
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

  if (!record_fits (j, rec)) {
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
  if (!record_fits (j, &e->rec)) {
    errno = EINVAL;
    return -1;
  }
  pthread_mutex_lock (&j->lock);
  enqueue_locked (j, e);
  pthread_mutex_unlock (&j->lock);
  return 0;
}

/* Commits every entry submitted so far.  Called with the lock held. */
static void
commit_submitted_locked (struct journal *j)
{
  uint64_t target = j->submitted;

  commit_until (j, completed_to, &target);
}

void
journal_commit_submitted (struct journal *j)
{
  pthread_mutex_lock (&j->lock);
  commit_submitted_locked (j);
  pthread_mutex_unlock (&j->lock);
}

void
journal_kick (struct journal *j)
{
  pthread_mutex_lock (&j->lock);
  if (j->background) {
    /* Every writer kicks while a commit runs: wake the thread once. */
    if (!j->want_commit) {
      j->want_commit = true;
      pthread_cond_broadcast (&j->changed);
    }
  } else
    commit_submitted_locked (j);
  pthread_mutex_unlock (&j->lock);
}

void
journal_applied (struct journal *j, uint64_t commit)
{
  size_t i;

  pthread_mutex_lock (&j->lock);
  for (i = 0; i < j->pending_n && pending_at (j, i)->start != commit; i++)
    ;
  assert (i < j->pending_n && pending_at (j, i)->left > 0);
  pending_at (j, i)->left--;
  /* The oldest commits wholly applied leave: a flush may be waiting. */
  for (; j->pending_n && pending_at (j, 0)->left == 0; j->pending_n--)
    j->pending_first = (j->pending_first + 1) % j->pending_cap;
  if (--j->in_flight == 0 || i == 0)
    pthread_cond_broadcast (&j->changed);
  pthread_mutex_unlock (&j->lock);
}

int
journal_flush (struct journal *j)
{
  struct journal_record mark = {.kind = JREC_FLUSH};
  uint64_t upto, commit;
  bool changed;

  pthread_mutex_lock (&j->lock);
  upto = j->head;
  while (applied_below_locked (j) < upto)
    pthread_cond_wait (&j->changed, &j->lock);
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
  return 0;
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
  int r;

  pthread_mutex_lock (&j->lock);
  if (j->ckpt == CKPT_CAPTURED)
    r = complete_locked (j);
  else {
    /* A leader that needed the room completed it, or is completing it. */
    while (j->ckpt == CKPT_COMPLETING)
      pthread_cond_wait (&j->changed, &j->lock);
    r = j->ckpt_result;
  }
  pthread_mutex_unlock (&j->lock);
  return r;
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

/* The background thread: commits deferred entries when kicked, or when
 * nobody else has for COMMIT_DELAY_MS, and runs a checkpoint whenever a
 * commit finds the ring half full. */
static void *
checkpointer (void *arg)
{
  struct journal *j = arg;

  pthread_mutex_lock (&j->lock);
  while (!j->stop) {
    if (j->want_commit || (!j->want_checkpoint && wait_or_time_out (j))) {
      j->want_commit = false;
      commit_submitted_locked (j);
      continue;
    }
    if (!j->want_checkpoint)
      continue;
    j->want_checkpoint = false;
    pthread_mutex_unlock (&j->lock);
    ni_error_clear (); /* each is a call of this thread's own */
    if (journal_checkpoint (j) == -1)
      ni_log (NI_LOG_ERROR, "%s: background checkpoint: %s", j->b->name,
              ni_error ());
    pthread_mutex_lock (&j->lock);
  }
  pthread_mutex_unlock (&j->lock);
  return NULL;
}

void
journal_get_stats (struct journal *j, struct journal_stats *stats)
{
  pthread_mutex_lock (&j->lock);
  *stats = j->stats;
  stats->used_blocks = j->head - j->tail;
  stats->total_blocks = j->nr_blocks;
  pthread_mutex_unlock (&j->lock);
}
