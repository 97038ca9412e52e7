/* The crash-replay workload: several connections to one export, each a
 * thread with its own part of the disk, sending a random mix of writes
 * (with and without FUA), zeroes, trims and flushes, of lengths and
 * alignments chosen independently of each other and of the operation.
 * Every request is recorded (record.h); after each flush, and each
 * request with FUA, it puts a mark in the dm-log-writes log of the disk
 * under the server, so the checker knows where in the log the answer was.
 *
 *   workload --fill SEED DEVICE BYTES
 *       fills the first BYTES of DEVICE with the garbage the checker
 *       expects under a never written sector (record.h's pattern of SEED)
 *   workload SOCKET DM-NAME RECORD SECONDS THREADS SEED
 *       the load, on the Unix socket of an NBD server, for SECONDS
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <libnbd.h>
#include <linux/dm-ioctl.h>

#include "oracle.h"
#include "record.h"

#define MAX_THREADS 16
#define MAX_REQUEST (1024 * 1024)
#define MAX_WRITE                                                              \
  (256 * 1024) /* the log holds every byte, twice in full mode */

struct load {
  const char *socket, *dm_name;
  FILE *record;
  pthread_mutex_t lock; /* protects record, and orders marks with it */
  atomic_uint_fast64_t seq, marks;
  uint64_t size, region, deadline;
  unsigned threads;
  uint64_t seed;
};

struct worker {
  struct load *load;
  unsigned id;
  uint64_t rnd;
  uint8_t *buf;
  int failed;
};

static uint64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Puts "mN" in the log of DM_NAME; *RETURNED is when it was queued. */
static int
put_mark (const char *dm_name, uint64_t n, uint64_t *returned)
{
  /* A dm_ioctl, then the message: dm_target_msg ends in a flexible
   * array, so it cannot be a member of a struct. */
  union {
    struct dm_ioctl io;
    uint8_t
        bytes[sizeof (struct dm_ioctl) + sizeof (struct dm_target_msg) + 64];
  } m;
  struct dm_target_msg *msg =
      (struct dm_target_msg *)(m.bytes + sizeof (struct dm_ioctl));
  int fd, r;

  memset (&m, 0, sizeof m);
  m.io.version[0] = DM_VERSION_MAJOR;
  m.io.data_size = sizeof m;
  m.io.data_start = sizeof (struct dm_ioctl);
  snprintf (m.io.name, sizeof m.io.name, "%s", dm_name);
  snprintf (msg->message, 64, "mark m%" PRIu64, n);
  if ((fd = open ("/dev/mapper/control", O_RDWR | O_CLOEXEC)) == -1)
    return -1;
  r = ioctl (fd, DM_TARGET_MSG, &m);
  *returned = now_ns ();
  close (fd);
  return r;
}

/* Where a request goes: its alignment and length chosen apart from each
 * other and from the operation, within the thread's region, often in its
 * first eighth so that sectors are written many times. */
static void
choose_range (struct worker *w, uint64_t *off, uint64_t *len)
{
  static const uint64_t align[] = {1, 512, 4096};
  uint64_t region = w->load->region, base = w->id * region;
  uint64_t span = rnd_below (&w->rnd, 2) ? region / 8 : region;
  uint64_t a = align[rnd_below (&w->rnd, 3)];

  switch (rnd_below (&w->rnd, 3)) {
  case 0:
    *len = 1 + rnd_below (&w->rnd, 8191);
    break;
  case 1:
    *len = 512 * (1 + rnd_below (&w->rnd, 64));
    break;
  default:
    *len = 4096 * (1 + rnd_below (&w->rnd, MAX_WRITE / 4096));
    break;
  }
  if (*len > span)
    *len = span;
  *off = rnd_below (&w->rnd, span - *len + 1) / a * a;
  *off += base;
}

static int
send_request (struct worker *w, struct nbd_handle *h, struct record_op *op)
{
  uint32_t flags = op->fua ? LIBNBD_CMD_FLAG_FUA : 0;

  switch (op->op) {
  case 'W':
    pattern_fill (op->seq, op->offset, w->buf, op->length);
    return nbd_pwrite (h, w->buf, op->length, op->offset, flags);
  case 'Z':
    return nbd_zero (h, op->length, op->offset, flags);
  case 'T':
    return nbd_trim (h, op->length, op->offset, flags);
  default:
    return nbd_flush (h, 0);
  }
}

static void
choose_request (struct worker *w, struct record_op *op)
{
  uint64_t kind = rnd_below (&w->rnd, 100);

  memset (op, 0, sizeof *op);
  op->op = kind < 62 ? 'W' : kind < 72 ? 'Z' : kind < 82 ? 'T' : 'F';
  op->thread = w->id;
  op->mark = -1;
  if (op->op != 'F') {
    choose_range (w, &op->offset, &op->length);
    op->fua = rnd_below (&w->rnd, 6) == 0;
  }
}

static int
do_request (struct worker *w, struct nbd_handle *h)
{
  struct load *l = w->load;
  struct record_op op;

  choose_request (w, &op);
  op.seq = atomic_fetch_add (&l->seq, 1) + 1;
  op.sent = now_ns ();
  if (send_request (w, h, &op) == -1) {
    fprintf (stderr,
             "workload: request %" PRIu64 " (%c at %" PRIu64 ", %" PRIu64
             " bytes): %s\n",
             op.seq, op.op, op.offset, op.length, nbd_get_error ());
    return -1;
  }
  op.answered = now_ns ();
  if (op.op == 'F' || op.fua) {
    op.mark = atomic_fetch_add (&l->marks, 1);
    if (put_mark (l->dm_name, op.mark, &op.mark_returned) == -1) {
      fprintf (stderr, "workload: mark on %s: %s\n", l->dm_name,
               strerror (errno));
      return -1;
    }
  }
  pthread_mutex_lock (&l->lock);
  record_write (l->record, &op);
  pthread_mutex_unlock (&l->lock);
  return 0;
}

static void *
run_worker (void *arg)
{
  struct worker *w = arg;
  struct nbd_handle *h = nbd_create ();

  if (h == NULL || nbd_connect_unix (h, w->load->socket) == -1) {
    fprintf (stderr, "workload: %s\n", nbd_get_error ());
    w->failed = 1;
    goto out;
  }
  while (now_ns () < w->load->deadline)
    if (do_request (w, h) == -1) {
      w->failed = 1;
      break;
    }
  nbd_shutdown (h, 0);
out:
  nbd_close (h);
  return NULL;
}

static uint64_t
export_size (const char *socket)
{
  struct nbd_handle *h = nbd_create ();
  int64_t size = -1;

  if (h && nbd_connect_unix (h, socket) == 0)
    size = nbd_get_size (h);
  if (size < 0)
    fprintf (stderr, "workload: %s: %s\n", socket, nbd_get_error ());
  nbd_close (h);
  return size < 0 ? 0 : size;
}

static int
run_load (struct load *l)
{
  struct worker w[MAX_THREADS];
  pthread_t t[MAX_THREADS];
  int failed = 0;

  for (unsigned i = 0; i < l->threads; i++) {
    w[i] = (struct worker){.load = l, .id = i, .rnd = l->seed * 31 + i + 1};
    if ((w[i].buf = malloc (MAX_REQUEST)) == NULL ||
        pthread_create (&t[i], NULL, run_worker, &w[i]) != 0) {
      perror ("workload");
      exit (EXIT_FAILURE);
    }
  }
  for (unsigned i = 0; i < l->threads; i++) {
    pthread_join (t[i], NULL);
    failed |= w[i].failed;
    free (w[i].buf);
  }
  return failed ? -1 : 0;
}

static int
fill (uint64_t seed, const char *device, uint64_t size)
{
  uint8_t *buf = malloc (MAX_REQUEST);
  int fd = open (device, O_WRONLY | O_CLOEXEC);

  if (fd == -1 || buf == NULL) {
    perror (device);
    return EXIT_FAILURE;
  }
  for (uint64_t off = 0; off < size; off += MAX_REQUEST) {
    uint64_t n = size - off < MAX_REQUEST ? size - off : MAX_REQUEST;

    pattern_fill (pattern_garbage_seq (seed), off, buf, n);
    if (pwrite (fd, buf, n, off) != (ssize_t)n) {
      perror (device);
      return EXIT_FAILURE;
    }
  }
  free (buf);
  return fsync (fd) == 0 && close (fd) == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

int
main (int argc, char **argv)
{
  struct load l = {.lock = PTHREAD_MUTEX_INITIALIZER};

  if (argc == 5 && strcmp (argv[1], "--fill") == 0)
    return fill (strtoull (argv[2], NULL, 0), argv[3],
                 strtoull (argv[4], NULL, 0));
  if (argc != 7) {
    fprintf (stderr, "usage: workload --fill SEED DEVICE BYTES\n"
                     "       workload SOCKET DM-NAME RECORD SECONDS "
                     "THREADS SEED\n");
    return 2;
  }
  l.socket = argv[1];
  l.dm_name = argv[2];
  l.threads = atoi (argv[5]);
  l.seed = strtoull (argv[6], NULL, 0);
  if (l.threads < 1 || l.threads > MAX_THREADS || l.seed == 0 ||
      (l.size = export_size (l.socket)) == 0 ||
      (l.record = fopen (argv[3], "w")) == NULL) {
    fprintf (stderr, "workload: bad arguments or no export\n");
    return 2;
  }
  l.region = l.size / l.threads / 4096 * 4096;
  l.deadline = now_ns () + strtoull (argv[4], NULL, 0) * 1000000000;
  if (run_load (&l) == -1 || fclose (l.record) != 0)
    return EXIT_FAILURE;
  printf ("workload: %" PRIu64 " requests, %" PRIu64 " marks\n",
          atomic_load (&l.seq), atomic_load (&l.marks));
  return EXIT_SUCCESS;
}
