/* A fault-injecting backing: see faulty.h. */
#include <errno.h>
#include <stdlib.h>

#include "faulty.h"

struct faulty {
  struct backing b; /* first, so a struct backing * is a struct faulty * */
  struct backing *inner;
  uint64_t calls, fail_at;
  int err;
  bool persist, hit;
};

static struct faulty *
fy (struct backing *b)
{
  return (struct faulty *)b;
}

/* Counts a call; false (errno set) if it is to fail. */
static bool
call_ok (struct backing *b)
{
  struct faulty *f = fy (b);

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
  return call_ok (b) ? backing_pread (fy (b)->inner, buf, len, off) : -1;
}

static int
f_pwrite (struct backing *b, const void *buf, size_t len, uint64_t off,
          unsigned flags)
{
  return call_ok (b) ? backing_pwrite (fy (b)->inner, buf, len, off, flags)
                     : -1;
}

static int
f_sync (struct backing *b)
{
  return call_ok (b) ? backing_sync (fy (b)->inner) : -1;
}

static int
f_punch (struct backing *b, uint64_t off, uint64_t len)
{
  return call_ok (b) ? backing_punch (fy (b)->inner, off, len) : -1;
}

static void
f_close (struct backing *b)
{
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

bool
faulty_hit (struct backing *b)
{
  return fy (b)->hit;
}
