/* Write-back: see writeback.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "lock.h"
#include "report.h"
#include "writeback.h"

/* So many deferred writes at most; a commit takes half of them.  With
 * 4 KiB random writes at queue depth 32 (scripts/bench), 256 entries
 * made 50,000 writes a second and 1024 made 59,000.  4096 made only
 * 39,000 while every range lock acquired scanned every hold; with holds
 * filed by bucket (rangelock.h) they did no better than 1024 in-process
 * (disk-speed --bs 4k --random, 4 threads: 95,000 against 115,000). */
#define MAX_ENTRIES 1024

/* The copies live in one buffer, allocated once, used as a ring: no
 * allocation, page fault or zeroing per write.  Positions only grow; a
 * copy never wraps, so one that would starts at the next lap.  Copies are
 * freed in any order but given back in the order they were taken: SLOTS
 * records where each one starts, by allocation number. */
struct slot {
  uint64_t start;
  bool freed;
};

struct writeback {
  struct journal *j;
  size_t budget;
  uint8_t *buf;

  pthread_mutex_t lock; /* protects every field below */
  pthread_cond_t freed; /* room was given back */
  uint64_t head;        /* where the next copy goes */
  uint64_t first, next; /* allocation numbers: oldest live, next */
  struct slot slots[MAX_ENTRIES];
  unsigned waiting; /* writers waiting for room */
  /* Copies queued since the journal was last asked to commit: what its
   * next commit takes. */
  uint64_t unkicked_bytes, unkicked_entries;
  int err; /* of a failed deferred write; 0 if none */
};

struct writeback *
writeback_new (struct journal *j, size_t budget)
{
  struct writeback *wb = calloc (1, sizeof *wb);

  if (wb == NULL || (wb->buf = malloc (budget)) == NULL) {
    ni_error_set ("cannot allocate a write buffer of %zu bytes "
                  "(write-buffer=): %m",
                  budget);
    free (wb);
    return NULL;
  }
  wb->j = j;
  wb->budget = budget;
  pthread_mutex_init (&wb->lock, NULL);
  pthread_cond_init (&wb->freed, NULL);
  return wb;
}

void
writeback_free (struct writeback *wb)
{
  if (wb == NULL)
    return;
  pthread_cond_destroy (&wb->freed);
  pthread_mutex_destroy (&wb->lock);
  free (wb->buf);
  free (wb);
}

size_t
writeback_max_bytes (const struct writeback *wb)
{
  return wb->budget / 4;
}

/* Bytes of the ring in use. */
static uint64_t
used_locked (const struct writeback *wb)
{
  ASSERT_LOCKED ((pthread_mutex_t *)&wb->lock);
  return wb->first == wb->next
             ? 0
             : wb->head - wb->slots[wb->first % MAX_ENTRIES].start;
}

/* Where a copy of BYTES would start: here, or at the next lap. */
static uint64_t
start_for (const struct writeback *wb, size_t bytes)
{
  uint64_t off = wb->head % wb->budget;

  return off + bytes <= wb->budget ? wb->head : wb->head - off + wb->budget;
}

static bool
room_locked (const struct writeback *wb, size_t bytes)
{
  ASSERT_LOCKED ((pthread_mutex_t *)&wb->lock);
  uint64_t tail = wb->first == wb->next
                      ? wb->head
                      : wb->slots[wb->first % MAX_ENTRIES].start;

  return wb->next - wb->first < MAX_ENTRIES &&
         start_for (wb, bytes) + bytes - tail <= wb->budget;
}

void *
writeback_alloc (struct writeback *wb, size_t bytes, uint64_t *ticket)
{
  struct slot *slot;

  if (bytes > writeback_max_bytes (wb)) {
    errno = EINVAL; /* callers split: see writeback_max_bytes */
    return NULL;
  }
  pthread_mutex_lock (&wb->lock);
  while (!room_locked (wb, bytes)) {
    /* Whatever fills the ring is queued, or about to be: a writer that
     * queues while we wait sees us waiting (writeback_submitted).  Rather
     * than sleep while it is committed and applied, do that work. */
    wb->waiting++;
    pthread_mutex_unlock (&wb->lock);
    journal_commit_and_help (wb->j);
    pthread_mutex_lock (&wb->lock);
    if (!room_locked (wb, bytes))
      pthread_cond_wait (&wb->freed, &wb->lock);
    wb->waiting--;
  }
  *ticket = wb->next++;
  wb->unkicked_bytes += bytes;
  wb->unkicked_entries++;
  slot = &wb->slots[*ticket % MAX_ENTRIES];
  slot->start = start_for (wb, bytes);
  slot->freed = false;
  wb->head = slot->start + bytes;
  pthread_mutex_unlock (&wb->lock);
  return wb->buf + slot->start % wb->budget;
}

void
writeback_release (struct writeback *wb, uint64_t ticket)
{
  pthread_mutex_lock (&wb->lock);
  wb->slots[ticket % MAX_ENTRIES].freed = true;
  while (wb->first < wb->next && wb->slots[wb->first % MAX_ENTRIES].freed)
    wb->first++;
  /* A commit gives back a hundred copies one by one: wake the writers
   * waiting for room once, when half the ring is free (at the latest
   * when it is empty), not at each. */
  if (wb->waiting > 0 && used_locked (wb) <= wb->budget / 2 &&
      wb->next - wb->first <= MAX_ENTRIES / 2)
    pthread_cond_broadcast (&wb->freed);
  pthread_mutex_unlock (&wb->lock);
}

void
writeback_submitted (struct writeback *wb, bool contended)
{
  bool commit;

  /* Counted since the last kick, not as the ring's use: the ring stays
   * half full while a commit's writes are applied, and a kick at every
   * write meanwhile made commits of a few writes each (4,955 commits for
   * 100,000 random 4 KiB writes, against 154 when they are counted). */
  pthread_mutex_lock (&wb->lock);
  commit = contended || wb->waiting > 0 ||
           wb->unkicked_bytes >= wb->budget / 2 ||
           wb->unkicked_entries >= MAX_ENTRIES / 2;
  if (commit)
    wb->unkicked_bytes = wb->unkicked_entries = 0;
  pthread_mutex_unlock (&wb->lock);
  if (commit)
    journal_kick (wb->j);
}

void
writeback_failed (struct writeback *wb, int err)
{
  pthread_mutex_lock (&wb->lock);
  if (wb->err == 0)
    wb->err = err ? err : EIO;
  pthread_mutex_unlock (&wb->lock);
}

int
writeback_flush (struct writeback *wb)
{
  int err;

  journal_commit_submitted (wb->j);
  pthread_mutex_lock (&wb->lock);
  err = wb->err;
  wb->err = 0;
  pthread_mutex_unlock (&wb->lock);
  if (err == 0)
    return 0;
  errno = err;
  return -1;
}

uint64_t
writeback_pending_bytes (struct writeback *wb)
{
  uint64_t used;

  pthread_mutex_lock (&wb->lock);
  used = used_locked (wb);
  pthread_mutex_unlock (&wb->lock);
  return used;
}
