/* How fast the core reads or writes a disk with no server and no client:
 * THREADS threads call disk_read or disk_write, each on its own part of
 * the disk, for SECONDS.  Through nbdkit, fio and the socket copies share
 * the machine's cores with the hashing; here only the disk's own work
 * runs, so the figure, set against hash-speed's one core times THREADS,
 * says whether tags are computed in parallel, outside every lock.  Run it
 * on a disk whose file is in the page cache.
 *
 *   disk-speed [OPTION]... DISK THREADS SECONDS read|write
 *
 *   --bs SIZE      bytes a request (default 1M)
 *   --random       requests at random aligned places of each thread's part
 *                  (default: one after another)
 *   --flush N      a flush after every N requests of each thread
 *   --fua          every write with FUA
 *   --ops N        N requests a thread, then stop (SECONDS is then only a
 *                  bound): the same work every run, for callgrind
 *   --mode MODE    crash mode (default tags)
 *   --write-buffer SIZE   as the plugin's write-buffer= (0: write through)
 *
 * Prints "MB/s" (the first line, which scripts/bench reads), then
 * "IOPS".
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "disk.h"
#include "report.h"

struct job {
  struct disk *d;
  bool write, random, fua;
  uint32_t bs;
  uint64_t flush_every, ops; /* 0: none, no limit */
  double seconds;
};

struct worker {
  pthread_t thread;
  const struct job *job;
  uint64_t first, size; /* its part of the disk, in bytes */
  uint64_t requests;    /* done */
  int err;
};

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* xorshift64: the same places every run. */
static uint64_t
next_random (uint64_t *state)
{
  *state ^= *state << 13;
  *state ^= *state >> 7;
  *state ^= *state << 17;
  return *state;
}

static uint64_t
next_offset (struct worker *w, uint64_t *off, uint64_t *seed)
{
  const struct job *job = w->job;
  uint64_t blocks = w->size / job->bs;
  uint64_t at = job->random ? next_random (seed) % blocks * job->bs : *off;

  *off = (*off + job->bs) % (blocks * job->bs);
  return w->first + at;
}

static int
one_request (struct worker *w, uint8_t *buf, uint64_t offset)
{
  const struct job *job = w->job;

  if (!job->write)
    return disk_read (job->d, buf, job->bs, offset);
  if (disk_write (job->d, buf, job->bs, offset, job->fua) == -1)
    return -1;
  if (job->flush_every && (w->requests + 1) % job->flush_every == 0)
    return disk_flush (job->d);
  return 0;
}

static void *
run (void *arg)
{
  struct worker *w = arg;
  const struct job *job = w->job;
  uint8_t *buf = malloc (job->bs);
  uint64_t off = 0, seed = 0x9e3779b97f4a7c15ull ^ w->first;
  double start = now ();

  if (buf == NULL) {
    w->err = ENOMEM;
    return NULL;
  }
  for (size_t i = 0; i < job->bs; i++)
    buf[i] = i * 131 + (i >> 12) + w->first;
  while ((job->ops == 0 || w->requests < job->ops) &&
         now () - start < job->seconds) {
    if (one_request (w, buf, next_offset (w, &off, &seed)) == -1) {
      w->err = errno;
      break;
    }
    w->requests++;
  }
  free (buf);
  return NULL;
}

static int
usage (void)
{
  fprintf (stderr, "usage: disk-speed [--bs SIZE] [--random] [--flush N] "
                   "[--fua] [--ops N] [--mode MODE] [--write-buffer SIZE] "
                   "DISK THREADS SECONDS read|write\n");
  return 2;
}

/* SIZE with an optional K or M suffix. */
static uint64_t
parse_size (const char *s)
{
  char *end;
  uint64_t n = strtoull (s, &end, 10);

  if (*end == 'K' || *end == 'k')
    n <<= 10;
  else if (*end == 'M' || *end == 'm')
    n <<= 20;
  return n;
}

/* Runs JOB in THREADS threads; the requests done, or -1. */
static int64_t
run_workers (const struct job *job, int threads, const char *name)
{
  struct worker *w = calloc (threads, sizeof *w);
  uint64_t part = disk_size (job->d) / threads / job->bs * job->bs;
  int64_t total = 0;

  if (w == NULL || part == 0) {
    fprintf (stderr, "disk-speed: %s\n", w ? "disk too small" : "no memory");
    free (w);
    return -1;
  }
  for (int i = 0; i < threads; i++) {
    w[i] = (struct worker){.job = job, .first = i * part, .size = part};
    pthread_create (&w[i].thread, NULL, run, &w[i]);
  }
  for (int i = 0; i < threads; i++) {
    pthread_join (w[i].thread, NULL);
    if (w[i].err) {
      fprintf (stderr, "disk-speed: %s: %s\n", name, strerror (w[i].err));
      total = -1;
    }
    if (total >= 0)
      total += w[i].requests;
  }
  free (w);
  return total;
}

/* What the journal did, on stderr: commits and checkpoints are what a
 * write costs beyond its data. */
static void
report_journal (struct disk *d)
{
  struct journal_stats js;

  disk_journal_stats (d, &js);
  fprintf (stderr,
           "journal: %" PRIu64 " commits, %" PRIu64 " records, %" PRIu64
           " flush marks, %" PRIu64 " checkpoints, %" PRIu64 " blocks\n",
           js.commits, js.records, js.marks, js.checkpoints, js.total_blocks);
}

/* Parses the options into JOB and OPTS; the index of the first operand,
 * or -1 on bad usage. */
static int
parse_options (int argc, char **argv, struct job *job,
               struct disk_options *opts)
{
  static const struct option longopts[] = {
      {"bs", required_argument, NULL, 'b'},
      {"random", no_argument, NULL, 'r'},
      {"flush", required_argument, NULL, 'f'},
      {"fua", no_argument, NULL, 'u'},
      {"ops", required_argument, NULL, 'o'},
      {"mode", required_argument, NULL, 'm'},
      {"write-buffer", required_argument, NULL, 'w'},
      {NULL, 0, NULL, 0},
  };
  int c;

  while ((c = getopt_long (argc, argv, "", longopts, NULL)) != -1) {
    if (c == 'b')
      job->bs = parse_size (optarg);
    else if (c == 'r')
      job->random = true;
    else if (c == 'f')
      job->flush_every = strtoull (optarg, NULL, 10);
    else if (c == 'u')
      job->fua = true;
    else if (c == 'o')
      job->ops = strtoull (optarg, NULL, 10);
    else if (c == 'm' && disk_mode_by_name (optarg) != -1)
      opts->mode = disk_mode_by_name (optarg);
    else if (c == 'w') {
      opts->write_buffer_bytes = parse_size (optarg);
      opts->write_through = opts->write_buffer_bytes == 0;
    } else
      return -1;
  }
  return optind;
}

static int
fail (void)
{
  fprintf (stderr, "disk-speed: %s\n", ni_error ());
  return EXIT_FAILURE;
}

int
main (int argc, char **argv)
{
  struct disk_options opts = {.mode = DISK_MODE_TAGS};
  struct job job = {.bs = 1u << 20};
  double start, elapsed;
  int64_t requests;
  int threads, first = parse_options (argc, argv, &job, &opts);

  if (first == -1 || argc - first != 4 ||
      (threads = atoi (argv[first + 1])) < 1 || job.bs == 0 ||
      (strcmp (argv[first + 3], "read") != 0 &&
       strcmp (argv[first + 3], "write") != 0))
    return usage ();
  argv += first;
  job.write = argv[3][0] == 'w';
  job.seconds = atof (argv[2]);
  opts.path = argv[0];
  job.d = disk_open (&opts);
  if (job.d == NULL || disk_start_background (job.d) == -1)
    return fail ();
  start = now ();
  requests = run_workers (&job, threads, argv[0]);
  elapsed = now () - start;
  report_journal (job.d);
  if (disk_close (job.d) == -1)
    return fail ();
  if (requests < 0)
    return EXIT_FAILURE;
  printf ("%.0f\n%.0f\n", requests * (double)job.bs / elapsed / 1e6,
          requests / elapsed);
  return EXIT_SUCCESS;
}
