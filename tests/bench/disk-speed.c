/* How fast the core reads or writes a disk with no server and no client:
 * THREADS threads call disk_read or disk_write with 1 MiB requests, each
 * on its own part of the disk, for SECONDS.  Through nbdkit, fio and the
 * socket copies share the machine's cores with the hashing; here only the
 * disk's own work runs, so the figure, set against hash-speed's one core
 * times THREADS, says whether tags are computed in parallel, outside every
 * lock.  Run it on a disk whose file is in the page cache.
 *
 *   disk-speed DISK THREADS SECONDS read|write     prints "MB/s"
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "disk.h"
#include "report.h"

#define REQUEST (1u << 20)

struct worker {
  pthread_t thread;
  struct disk *d;
  bool write;
  uint64_t first, size; /* its part of the disk, in bytes */
  double seconds;
  uint64_t bytes; /* done */
  int err;
};

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *
run (void *arg)
{
  struct worker *w = arg;
  uint8_t *buf = malloc (REQUEST);
  uint64_t off = 0;
  double start = now ();

  if (buf == NULL) {
    w->err = ENOMEM;
    return NULL;
  }
  for (size_t i = 0; i < REQUEST; i++)
    buf[i] = i * 131 + (i >> 12) + w->first;
  while (now () - start < w->seconds) {
    int r = w->write ? disk_write (w->d, buf, REQUEST, w->first + off, false)
                     : disk_read (w->d, buf, REQUEST, w->first + off);
    if (r == -1) {
      w->err = errno;
      break;
    }
    w->bytes += REQUEST;
    off = (off + REQUEST) % w->size;
  }
  free (buf);
  return NULL;
}

int
main (int argc, char **argv)
{
  struct disk_options opts = {.mode = DISK_MODE_TAGS};
  struct worker *w;
  struct disk *d;
  uint64_t part, total = 0;
  double start, elapsed;
  int threads;

  if (argc != 5 || (threads = atoi (argv[2])) < 1 ||
      (strcmp (argv[4], "read") != 0 && strcmp (argv[4], "write") != 0)) {
    fprintf (stderr, "usage: disk-speed DISK THREADS SECONDS read|write\n");
    return 2;
  }
  opts.path = argv[1];
  d = disk_open (&opts);
  if (d == NULL) {
    fprintf (stderr, "disk-speed: %s\n", ni_error ());
    return EXIT_FAILURE;
  }
  part = disk_size (d) / threads / REQUEST * REQUEST;
  w = calloc (threads, sizeof *w);
  if (w == NULL || part == 0) {
    fprintf (stderr, "disk-speed: %s\n", w ? "disk too small" : "no memory");
    return EXIT_FAILURE;
  }
  start = now ();
  for (int i = 0; i < threads; i++) {
    w[i] = (struct worker){.d = d,
                           .write = argv[4][0] == 'w',
                           .first = i * part,
                           .size = part,
                           .seconds = atof (argv[3])};
    pthread_create (&w[i].thread, NULL, run, &w[i]);
  }
  for (int i = 0; i < threads; i++) {
    pthread_join (w[i].thread, NULL);
    if (w[i].err) {
      fprintf (stderr, "disk-speed: %s: %s\n", argv[1], strerror (w[i].err));
      return EXIT_FAILURE;
    }
    total += w[i].bytes;
  }
  elapsed = now () - start;
  if (disk_close (d) == -1) {
    fprintf (stderr, "disk-speed: %s\n", ni_error ());
    return EXIT_FAILURE;
  }
  printf ("%.0f\n", total / elapsed / 1e6);
  free (w);
  return EXIT_SUCCESS;
}
