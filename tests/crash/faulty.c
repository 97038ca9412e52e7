/* A fault-injecting backing: see faulty.h. */
#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "faulty.h"

struct faulty {
  struct backing b; /* first, so a struct backing * is a struct faulty * */
  struct backing *inner;
  uint64_t calls, fail_at;
  int err;
  bool persist, hit;
  bool *keep_hit; /* set to hit on close */
  unsigned kinds; /* of the calls that count, if there are ranges */
  size_t nr_ranges;
  struct {
    uint64_t off, len;
  } ranges[FAULTY_MAX_RANGES];
};

static struct faulty *
fy (struct backing *b)
{
  return (struct faulty *)b;
}

/* Whether a call of KIND on [OFF, OFF+LEN) counts (faulty_target). */
static bool
targeted (const struct faulty *f, unsigned kind, uint64_t off, uint64_t len)
{
  if (f->nr_ranges == 0)
    return true;
  if (!(f->kinds & kind))
    return false;
  for (size_t i = 0; i < f->nr_ranges; i++)
    if (off < f->ranges[i].off + f->ranges[i].len &&
        f->ranges[i].off < off + len)
      return true;
  return false;
}

/* Counts a call of KIND on [OFF, OFF+LEN) if it is targeted; false
 * (errno set) if it is to fail. */
static bool
call_ok (struct backing *b, unsigned kind, uint64_t off, uint64_t len)
{
  struct faulty *f = fy (b);

  if (!targeted (f, kind, off, len))
    return true;
  f->calls++;
  if (f->fail_at == 0 || f->calls < f->fail_at ||
      (f->calls > f->fail_at && !f->persist))
    return true;
  f->hit = true;
  errno = f->err;
  return false;
}

static int
f_pread (struct backing *b, void *buf, size_t len, uint64_t off)
{
  return call_ok (b, FAULTY_READ, off, len)
             ? backing_pread (fy (b)->inner, buf, len, off)
             : -1;
}

static int
f_pwrite (struct backing *b, const void *buf, size_t len, uint64_t off,
          unsigned flags)
{
  return call_ok (b, FAULTY_WRITE, off, len)
             ? backing_pwrite (fy (b)->inner, buf, len, off, flags)
             : -1;
}

static int
f_sync (struct backing *b)
{
  return call_ok (b, 0, 0, 0) ? backing_sync (fy (b)->inner) : -1;
}

static int
f_punch (struct backing *b, uint64_t off, uint64_t len)
{
  return call_ok (b, FAULTY_PUNCH, off, len)
             ? backing_punch (fy (b)->inner, off, len)
             : -1;
}

static void
f_close (struct backing *b)
{
  if (fy (b)->keep_hit)
    *fy (b)->keep_hit = fy (b)->hit;
  backing_close (fy (b)->inner);
}

static const struct backing_ops faulty_ops = {
    .pread = f_pread,
    .pwrite = f_pwrite,
    .sync = f_sync,
    .punch = f_punch,
    .close = f_close,
};

struct backing *
faulty_new (struct backing *inner)
{
  struct faulty *f = calloc (1, sizeof *f);

  if (f == NULL)
    return NULL;
  f->inner = inner;
  backing_init (&f->b, &faulty_ops, inner->name, inner->size, false);
  return &f->b;
}

void
faulty_arm (struct backing *b, uint64_t n, int err, bool persist)
{
  struct faulty *f = fy (b);

  f->fail_at = n ? f->calls + n : 0;
  f->err = err;
  f->persist = persist;
  f->hit = false;
}

void
faulty_target (struct backing *b, unsigned kinds, uint64_t off, uint64_t len)
{
  struct faulty *f = fy (b);

  assert (f->nr_ranges < FAULTY_MAX_RANGES);
  f->kinds = kinds;
  f->ranges[f->nr_ranges].off = off;
  f->ranges[f->nr_ranges].len = len;
  f->nr_ranges++;
}

void
faulty_untarget (struct backing *b)
{
  fy (b)->nr_ranges = 0;
}

bool
faulty_hit (struct backing *b)
{
  return fy (b)->hit;
}

void
faulty_keep_hit (struct backing *b, bool *out)
{
  fy (b)->keep_hit = out;
}
