/* A power-loss simulating backing: see powerloss.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "powerloss.h"

#define TEAR 512

struct pending {
  uint64_t off, len;
  bool durable;
  uint8_t *data; /* NULL: a punch, zeroes */
};

struct powerloss {
  struct backing b; /* first, so a struct backing * is a struct powerloss * */
  pthread_mutex_t lock; /* protects every field below */
  uint8_t *current, *durable;
  struct pending *pending;
  size_t nr_pending, cap;
  uint64_t ios, crash_at;
  bool crashed;
  uint8_t **keep;     /* set to the crash image on close */
  bool *keep_crashed; /* set to crashed on close */
  uint64_t keep_seed;
};

static struct powerloss *
pl (struct backing *b)
{
  return (struct powerloss *)b;
}

static uint64_t
next_random (uint64_t *state)
{
  uint64_t x = *state;

  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *state = x;
}

static void
apply (uint8_t *image, const struct pending *p, uint64_t off, uint64_t len)
{
  if (p->data)
    memcpy (image + off, p->data + (off - p->off), len);
  else
    memset (image + off, 0, len);
}

/* Starts an I/O call: false (errno EIO) once the power has failed. */
static bool
io_begin (struct powerloss *p)
{
  p->ios++;
  if (p->crash_at && p->ios >= p->crash_at)
    p->crashed = true;
  if (p->crashed)
    errno = EIO;
  return !p->crashed;
}

static int
remember (struct powerloss *p, const void *buf, uint64_t len, uint64_t off,
          bool durable)
{
  struct pending *e;

  if (p->nr_pending == p->cap) {
    size_t cap = p->cap ? 2 * p->cap : 64;
    struct pending *n = realloc (p->pending, cap * sizeof *n);
    if (n == NULL)
      return -1;
    p->pending = n;
    p->cap = cap;
  }
  e = &p->pending[p->nr_pending];
  *e = (struct pending){.off = off, .len = len, .durable = durable};
  if (buf) {
    e->data = malloc (len);
    if (e->data == NULL)
      return -1;
    memcpy (e->data, buf, len);
  }
  p->nr_pending++;
  return 0;
}

static int
pl_pread (struct backing *b, void *buf, size_t len, uint64_t off)
{
  struct powerloss *p = pl (b);
  int r = -1;

  pthread_mutex_lock (&p->lock);
  if (off + len > b->size)
    errno = EIO;
  else if (io_begin (p)) {
    memcpy (buf, p->current + off, len);
    r = 0;
  }
  pthread_mutex_unlock (&p->lock);
  return r;
}

/* A write (BUF) or punch (NULL).  The write at which the power fails
 * still reaches the disk, in part or not at all, half the time. */
static int
pl_change (struct backing *b, const void *buf, uint64_t len, uint64_t off,
           bool durable)
{
  struct powerloss *p = pl (b);
  int r = -1;

  pthread_mutex_lock (&p->lock);
  if (off + len > b->size)
    errno = ENOSPC;
  else if (io_begin (p)) {
    if (buf)
      memcpy (p->current + off, buf, len);
    else
      memset (p->current + off, 0, len);
    r = remember (p, buf, len, off, durable);
  } else if (p->ios == p->crash_at && p->crash_at % 2)
    remember (p, buf, len, off, false);
  pthread_mutex_unlock (&p->lock);
  return r;
}

static int
pl_pwrite (struct backing *b, const void *buf, size_t len, uint64_t off,
           unsigned flags)
{
  return pl_change (b, buf, len, off, flags & BACKING_DSYNC);
}

static int
pl_punch (struct backing *b, uint64_t off, uint64_t len)
{
  return pl_change (b, NULL, len, off, false);
}

static void
forget_pending (struct powerloss *p)
{
  for (size_t i = 0; i < p->nr_pending; i++)
    free (p->pending[i].data);
  p->nr_pending = 0;
}

static int
pl_sync (struct backing *b)
{
  struct powerloss *p = pl (b);
  int r = -1;

  pthread_mutex_lock (&p->lock);
  if (io_begin (p)) {
    for (size_t i = 0; i < p->nr_pending; i++)
      apply (p->durable, &p->pending[i], p->pending[i].off, p->pending[i].len);
    forget_pending (p);
    r = 0;
  }
  pthread_mutex_unlock (&p->lock);
  return r;
}

static void
pl_close (struct backing *b)
{
  struct powerloss *p = pl (b);

  if (p->keep)
    *p->keep = powerloss_image (b, p->keep_seed);
  if (p->keep_crashed)
    *p->keep_crashed = p->crashed;
  forget_pending (p);
  free (p->pending);
  free (p->current);
  free (p->durable);
  pthread_mutex_destroy (&p->lock);
}

static const struct backing_ops powerloss_ops = {
    .pread = pl_pread,
    .pwrite = pl_pwrite,
    .sync = pl_sync,
    .punch = pl_punch,
    .close = pl_close,
};

struct backing *
powerloss_new (const uint8_t *image, uint64_t size)
{
  struct powerloss *p = calloc (1, sizeof *p);

  if (p == NULL)
    return NULL;
  p->current = calloc (1, size);
  p->durable = calloc (1, size);
  if (p->current == NULL || p->durable == NULL) {
    free (p->current);
    free (p->durable);
    free (p);
    return NULL;
  }
  if (image) {
    memcpy (p->current, image, size);
    memcpy (p->durable, image, size);
  }
  pthread_mutex_init (&p->lock, NULL);
  backing_init (&p->b, &powerloss_ops, "powerloss", size, false);
  return &p->b;
}

void
powerloss_crash_after (struct backing *b, uint64_t n)
{
  struct powerloss *p = pl (b);

  pthread_mutex_lock (&p->lock);
  p->crash_at = n ? p->ios + n : 0;
  pthread_mutex_unlock (&p->lock);
}

void
powerloss_keep_image (struct backing *b, uint8_t **out, uint64_t seed)
{
  pl (b)->keep = out;
  pl (b)->keep_seed = seed;
}

bool
powerloss_crashed (struct backing *b)
{
  return pl (b)->crashed;
}

void
powerloss_keep_crashed (struct backing *b, bool *out)
{
  pl (b)->keep_crashed = out;
}

uint64_t
powerloss_io_count (struct backing *b)
{
  return pl (b)->ios;
}

const uint8_t *
powerloss_current (struct backing *b)
{
  return pl (b)->current;
}

/* Applies a random subset of P's 512-byte pieces. */
static void
apply_torn (uint8_t *image, const struct pending *p, uint64_t *rnd)
{
  for (uint64_t off = p->off; off < p->off + p->len;) {
    uint64_t end = (off / TEAR + 1) * TEAR;
    uint64_t len = (end < p->off + p->len ? end : p->off + p->len) - off;
    if (next_random (rnd) & 1)
      apply (image, p, off, len);
    off += len;
  }
}

uint8_t *
powerloss_image (struct backing *b, uint64_t seed)
{
  struct powerloss *p = pl (b);
  uint64_t rnd = seed * 0x9e3779b97f4a7c15ull + 1;
  uint8_t *image = malloc (b->size);

  if (image == NULL)
    return NULL;
  pthread_mutex_lock (&p->lock);
  memcpy (image, p->durable, b->size);
  for (size_t i = 0; i < p->nr_pending; i++) {
    const struct pending *e = &p->pending[i];
    switch (e->durable ? 1 : next_random (&rnd) % 3) {
    case 0: /* lost */
      break;
    case 1:
      apply (image, e, e->off, e->len);
      break;
    case 2:
      apply_torn (image, e, &rnd);
      break;
    }
  }
  pthread_mutex_unlock (&p->lock);
  return image;
}
