/* The write-ahead journal of tags: see journal.h. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "deadline.h"
#include "journal.h"
#include "le.h"
#include "report.h"

/* Most data blocks after one header block, and most blocks a record
 * takes: the limits a scan checks. */
#define MAX_GROUP_BLOCKS 64
/* Most blocks one commit writes, header groups one after another. */
#define MAX_BATCH_BLOCKS 1024
/* Deferred writes queue up by the thousand: one commit takes them all. */
#define MAX_BATCH_RECORDS 2048
/* How long a deferred entry may wait for a commit that nobody asked for. */
#define COMMIT_DELAY_MS 100

uint32_t
journal_record_max (unsigned tag_size)
{
  return (JOURNAL_PAYLOAD - JOURNAL_RECORD_HEADER) / tag_size;
}

uint32_t
journal_sectors_max (unsigned tag_size)
{
  return journal_record_max (tag_size) * (MAX_GROUP_BLOCKS / 4);
}

uint32_t
journal_data_sectors_max (const struct superblock *sb)
{
  uint32_t by_blocks = (MAX_GROUP_BLOCKS / 2) * SB_BLOCK / sb->sector_size;
  uint32_t by_tags = journal_record_max (sb->tag_size);

  return by_blocks < by_tags ? by_blocks : by_tags;
}

static bool
has_tags (const struct journal_record *rec)
{
  return rec->kind == JREC_TAGS || rec->kind == JREC_DATA;
}

static size_t
record_bytes (const struct superblock *sb, const struct journal_record *rec)
{
  size_t tags = has_tags (rec) ? (size_t)rec->count * sb->tag_size : 0;
  return JOURNAL_RECORD_HEADER + tags;
}

/* Blocks the data of REC takes after its header block. */
static uint64_t
data_blocks (const struct superblock *sb, const struct journal_record *rec)
{
  uint64_t bytes = (uint64_t)rec->count * sb->sector_size;

  return rec->kind == JREC_DATA ? (bytes + SB_BLOCK - 1) / SB_BLOCK : 0;
}

/* Encodes as much of REC as fits in SPACE bytes at P.  Returns the bytes
 * used (0 if not even one sector fits) and advances REC past them. */
static size_t
encode_record (const struct superblock *sb, struct journal_record *rec,
               uint8_t *p, size_t space)
{
  uint32_t count = rec->count;
  size_t tag_bytes;

  if (space < JOURNAL_RECORD_HEADER + (has_tags (rec) ? sb->tag_size : 0))
    return 0;
  if (has_tags (rec) && record_bytes (sb, rec) > space) {
    if (rec->kind == JREC_DATA)
      return 0; /* never split: its data blocks follow its header */
    count = (space - JOURNAL_RECORD_HEADER) / sb->tag_size;
  }
  le64_put (p, rec->sector);
  le32_put (p + 8, count);
  le16_put (p + 12, rec->kind);
  le16_put (p + 14, 0);
  tag_bytes = has_tags (rec) ? (size_t)count * sb->tag_size : 0;
  if (tag_bytes) {
    memcpy (p + JOURNAL_RECORD_HEADER, rec->tags, tag_bytes);
    rec->tags += tag_bytes;
  }
  rec->sector += count;
  rec->count -= count;
  return JOURNAL_RECORD_HEADER + tag_bytes;
}

static uint32_t
block_crc (const struct superblock *sb, const uint8_t *block)
{
  return crc32c (crc32c (0, sb->uuid, DISK_UUID_SIZE), block, SB_BLOCK - 4);
}

static void
block_mac (const struct superblock *sb, const uint8_t *block,
           uint8_t mac[JOURNAL_MAC_SIZE])
{
  hasher_tag (sb->auth, sb->uuid, HASH_DOMAIN_JOURNAL, block,
              JOURNAL_MAC_OFFSET, mac);
}

/* A block with a good CRC: is it the key holder's? */
static bool
block_authentic (const struct superblock *sb, uint64_t seq,
                 const uint8_t *block)
{
  uint8_t mac[JOURNAL_MAC_SIZE];

  if (sb->auth == NULL)
    return true;
  block_mac (sb, block, mac);
  if (hasher_tag_equal (sb->auth, mac, block + JOURNAL_MAC_OFFSET))
    return true;
  ni_log (NI_LOG_WARNING,
          "journal block %" PRIu64 " has a good checksum but fails "
          "authentication with the disk's key: it was written by someone "
          "without the key.  Recovery ignores it and every block after it",
          seq);
  return false;
}

void
journal_block_encode (const struct superblock *sb, uint64_t seq,
                      struct journal_record *recs, size_t n, size_t *done,
                      uint8_t block[SB_BLOCK])
{
  size_t used = 0;
  uint32_t nrec = 0;

  memset (block, 0, SB_BLOCK);
  while (*done < n) {
    size_t r = encode_record (sb, &recs[*done], block + JOURNAL_HEADER + used,
                              JOURNAL_PAYLOAD - used);
    if (r == 0)
      break;
    used += r;
    nrec++;
    if (recs[*done].count > 0)
      break; /* split: the rest goes in the next block */
    ++*done;
  }
  le32_put (block, JOURNAL_MAGIC);
  le32_put (block + 4, nrec);
  le64_put (block + 8, seq);
  le32_put (block + 16, used);
  if (sb->auth)
    block_mac (sb, block, block + JOURNAL_MAC_OFFSET);
  le32_put (block + SB_BLOCK - 4, block_crc (sb, block));
}

/* Checks record REC decoded from a block with a good checksum. */
static bool
record_valid (const struct superblock *sb, const struct journal_record *rec)
{
  return rec->count > 0 && (has_tags (rec) || rec->kind == JREC_UNWRITTEN) &&
         (rec->kind != JREC_DATA ||
          rec->count <= journal_data_sectors_max (sb)) &&
         rec->sector < sb->data_sectors &&
         rec->count <= sb->data_sectors - rec->sector;
}

int
journal_block_decode (const struct superblock *sb, uint64_t seq,
                      const uint8_t block[SB_BLOCK], journal_record_fn fn,
                      void *opaque)
{
  uint32_t nrec = le32_get (block + 4);
  uint32_t used = le32_get (block + 16);
  const uint8_t *p = block + JOURNAL_HEADER;

  if (le32_get (block) != JOURNAL_MAGIC || le64_get (block + 8) != seq ||
      le32_get (block + SB_BLOCK - 4) != block_crc (sb, block) ||
      !block_authentic (sb, seq, block))
    return 0;
  if (used > JOURNAL_PAYLOAD)
    goto bad;
  for (uint32_t i = 0; i < nrec; i++) {
    struct journal_record rec;

    if (p + JOURNAL_RECORD_HEADER > block + JOURNAL_HEADER + used)
      goto bad;
    rec.sector = le64_get (p);
    rec.count = le32_get (p + 8);
    rec.kind = le16_get (p + 12);
    rec.tags = has_tags (&rec) ? p + JOURNAL_RECORD_HEADER : NULL;
    rec.data = NULL;
    if (!record_valid (sb, &rec) ||
        p + record_bytes (sb, &rec) > block + JOURNAL_HEADER + used)
      goto bad;
    p += record_bytes (sb, &rec);
    if (fn && fn (opaque, seq, &rec) == -1)
      return -1;
  }
  return 1;

bad:
  ni_error_set ("journal block %" PRIu64 " has a good checksum but a record "
                "out of range: the journal was written by a different "
                "version, or is damaged",
                seq);
  errno = EUCLEAN;
  return -1;
}

static uint64_t
block_offset (const struct superblock *sb, uint64_t seq)
{
  return sb->journal_offset + seq % sb_journal_blocks (sb) * SB_BLOCK;
}

/* The records of one header block, as journal_scan gathers them. */
struct block_records {
  struct journal_record recs[JOURNAL_PAYLOAD / JOURNAL_RECORD_HEADER];
  size_t n;
  uint64_t data_blocks;
  const struct superblock *sb;
};

static int
gather (void *opaque, uint64_t seq, const struct journal_record *rec)
{
  struct block_records *br = opaque;

  (void)seq;
  br->recs[br->n++] = *rec;
  br->data_blocks += data_blocks (br->sb, rec);
  return 0;
}

static int
read_block (struct backing *b, const struct superblock *sb, uint64_t seq,
            uint8_t *block)
{
  if (backing_pread (b, block, SB_BLOCK, block_offset (sb, seq)) == 0)
    return 0;
  ni_error_set ("%s: reading journal block %" PRIu64 ": %m", b->name, seq);
  return -1;
}

/* Reads the data blocks after header block SEQ and points each data
 * record of BR at its data in BUF. */
static int
read_data (struct backing *b, const struct superblock *sb, uint64_t seq,
           struct block_records *br, uint8_t *buf)
{
  uint64_t next = 0;

  for (uint64_t i = 0; i < br->data_blocks; i++)
    if (read_block (b, sb, seq + 1 + i, buf + i * SB_BLOCK) == -1)
      return -1;
  for (size_t i = 0; i < br->n; i++) {
    if (br->recs[i].kind != JREC_DATA)
      continue;
    br->recs[i].data = buf + next * SB_BLOCK;
    next += data_blocks (sb, &br->recs[i]);
  }
  return 0;
}

int
journal_scan (struct backing *b, const struct superblock *sb,
              journal_record_fn fn, void *opaque, uint64_t *head)
{
  uint64_t seq = sb->journal_tail_seq;
  uint64_t end = seq + sb_journal_blocks (sb);
  uint8_t block[SB_BLOCK], *data = malloc (MAX_GROUP_BLOCKS * SB_BLOCK);
  struct block_records *br = malloc (sizeof *br);
  int r = -1;

  if (data == NULL || br == NULL)
    goto out;
  while (seq < end) {
    int valid;

    br->n = br->data_blocks = 0;
    br->sb = sb;
    if (read_block (b, sb, seq, block) == -1)
      goto out;
    valid = journal_block_decode (sb, seq, block, gather, br);
    if (valid == -1)
      goto out;
    /* A header whose data would not fit in the ring is not a real one. */
    if (valid == 0 || br->data_blocks >= MAX_GROUP_BLOCKS ||
        seq + 1 + br->data_blocks > end)
      break;
    if (read_data (b, sb, seq, br, data) == -1)
      goto out;
    for (size_t i = 0; i < br->n; i++)
      if (fn && fn (opaque, seq, &br->recs[i]) == -1)
        goto out;
    seq += 1 + br->data_blocks;
  }
  *head = seq;
  r = 0;

out:
  free (data);
  free (br);
  return r;
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

  if (j == NULL)
    return NULL;
  if (posix_memalign ((void **)&j->buf, SB_BLOCK,
                      MAX_BATCH_BLOCKS * SB_BLOCK) != 0) {
    free (j);
    errno = ENOMEM;
    return NULL;
  }
  j->b = b;
  j->sb = *sb;
  j->nr_blocks = sb_journal_blocks (sb);
  j->cp = cp;
  j->opaque = opaque;
  j->queue_end = &j->queue;
  j->head = j->tail = head;
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
 * data blocks: encode_batch starts a new header block after at least half
 * MAX_GROUP_BLOCKS of data. */
static uint64_t
batch_blocks (const struct journal *j, size_t bytes, uint64_t data)
{
  return blocks_needed (j, bytes) + data / (MAX_GROUP_BLOCKS / 2) + data;
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
    size_t more = record_bytes (&j->sb, &w->rec);
    uint64_t more_data = data_blocks (&j->sb, &w->rec);
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
    uint64_t nb = data_blocks (&j->sb, rec);
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
    uint64_t more = data_blocks (&j->sb, &j->whole[i]);
    if (i > first && data + more >= MAX_GROUP_BLOCKS)
      break;
    data += more;
  }
  return i;
}

/* Encodes the batch into buf; returns the blocks used. */
static uint64_t
encode_batch (struct journal *j, size_t n)
{
  size_t done = 0;
  uint64_t blocks = 0;

  while (done < n) {
    size_t first = done;
    journal_block_encode (&j->sb, j->head + blocks, j->batch,
                          group_end (j, first, n), &done,
                          j->buf + blocks * SB_BLOCK);
    blocks++;
    blocks += encode_data (j, first, done, blocks);
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
                      block_offset (&j->sb, j->head), BACKING_DSYNC) == -1)
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
finish_batch (struct journal *j, struct journal_entry *e, size_t n, int err)
{
  for (size_t i = 0; i < n; i++) {
    struct journal_entry *next = e->next; /* apply may free e */
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

/* Commits one batch as leader.  Called with the lock held and busy set;
 * drops the lock for I/O. */
static void
lead_commit (struct journal *j)
{
  struct journal_entry *taken;
  uint64_t blocks;
  size_t n = take_batch (j, &taken, &blocks);
  int r = 0, err = 0;

  r = make_room_locked (j, blocks);
  if (r == 0) {
    pthread_mutex_unlock (&j->lock);
    blocks = encode_batch (j, n);
    r = write_blocks (j, blocks);
    pthread_mutex_lock (&j->lock);
  }
  if (r == -1)
    err = errno ? errno : EIO;
  if (r == 0) {
    /* A failed write does not advance the head: the next commit rewrites
     * those blocks, so no gap can end a later scan early. */
    j->head += blocks;
    j->in_flight += n;
    j->stats.commits++;
    j->stats.records += n;
    maybe_want_checkpoint (j);
  }
  finish_batch (j, taken, n, err);
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
  return blocks_needed (j, record_bytes (&j->sb, rec)) +
             data_blocks (&j->sb, rec) <=
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
journal_commit (struct journal *j, const struct journal_record *rec)
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
journal_applied (struct journal *j)
{
  pthread_mutex_lock (&j->lock);
  if (--j->in_flight == 0)
    pthread_cond_broadcast (&j->changed);
  pthread_mutex_unlock (&j->lock);
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
