/* Randomized crash test: the promise of the "tags" crash mode, checked
 * sector by sector after power failures at every I/O call of a workload.
 *
 * A seed makes a disk (sector size and hash, keyed or not, chosen by the
 * seed) and a workload of overlapping writes of mixed sizes, unaligned
 * writes, FUA writes, trims, zeroes, flushes, checkpoints and reads.  The
 * workload is run once to count its I/O calls, then again from the same
 * formatted image with the power failing at each chosen call.  The disk a
 * reboot would find is recovered (half the time after a second power
 * failure during the first recovery) and every sector is read back:
 *
 *   - a sector reads as its last flushed contents, or, if it was written
 *     after the last flush, as one of the contents written since;
 *   - a sector fails verification only if its data on the disk is none of
 *     those (a write torn by the crash), never otherwise.
 *
 * Environment: CRASH_SECONDS (default 20) bounds the run, CRASH_SEED
 * replays one seed, CRASH_POINTS caps the crash points tried per seed
 * (default: every I/O call), CRASH_TRACE=1 prints the workload and the
 * recovery decisions, CRASH_ONCE=1 never fails the power during
 * recovery.  Each failure prints its seed and crash
 * point, which replay it exactly.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "disk.h"
#include "format.h"
#include "journal.h"
#include "oracle.h"
#include "powerloss.h"
#include "report.h"
#include "superblock.h"

#define DATA_SECTORS 1024
#define OPS_PER_RUN 400

/* The keyed ones take the key in key_file: their unwritten tags and the
 * MACs of superblock and journal blocks go through recovery too. */
static const char *const hashes[] = {"crc32c",      "xxh3-128",
                                     "blake2b-256", "sha256",
                                     "hmac-sha256", "blake2b-256-keyed"};
#define NR_HASHES (sizeof hashes / sizeof hashes[0])

static const char *key_file;

struct disk_setup {
  uint64_t seed;
  enum disk_mode mode; /* tags or full */
  uint32_t sector_size;
  const char *hash;
  const char *keyfile; /* key_file for a keyed hash, else NULL */
  uint64_t size;
  uint8_t *formatted; /* the image right after format */
};

struct model {
  uint32_t ss;
  uint64_t nr;
  /* The last change, if a write: its sectors and their new values. */
  uint64_t last_first, last_n;
  uint64_t last_values[2 * 96];
  bool checkpoint_begun;
  uint8_t *latest;                /* contents after every issued write */
  struct sector_history *sectors; /* what each sector may read as */
};

struct totals {
  uint64_t seeds, points, violations, torn, recovered_twice, atomic_checked;
};

static void
quiet_log (enum ni_log_level level, const char *msg)
{
  (void)level;
  (void)msg;
}

/* ---- the model ---- */

static void
model_init (struct model *m, uint32_t ss, uint64_t nr)
{
  memset (m, 0, sizeof *m);
  m->ss = ss;
  m->nr = nr;
  m->latest = calloc (nr, ss);
  m->sectors = calloc (nr, sizeof *m->sectors);
  for (uint64_t s = 0; s < nr; s++)
    history_init (&m->sectors[s], sector_value (m->latest, ss));
}

static void
model_free (struct model *m)
{
  free (m->latest);
  free (m->sectors);
}

/* Records that the latest contents of sectors [S, S+N) were issued. */
static void
model_issue (struct model *m, uint64_t s, uint64_t n)
{
  for (uint64_t i = s; i < s + n; i++)
    history_write (&m->sectors[i], sector_value (m->latest + i * m->ss, m->ss));
}

/* Sectors [S, S+N) are durable as they are now. */
static void
model_durable (struct model *m, uint64_t s, uint64_t n)
{
  for (uint64_t i = s; i < s + n; i++)
    history_flushed (&m->sectors[i],
                     sector_value (m->latest + i * m->ss, m->ss));
}

/* ---- the workload ---- */

static void
covering (const struct model *m, uint64_t off, uint64_t len, uint64_t *s,
          uint64_t *n)
{
  *s = off / m->ss;
  *n = (off + len + m->ss - 1) / m->ss - *s;
}

/* One random operation.  Returns -1 when the disk failed (the power). */
static int
one_op (struct disk *d, struct model *m, uint64_t *rnd, uint8_t *buf)
{
  uint64_t kind = rnd_below (rnd, 100), s, n;
  uint64_t nsect =
      rnd_below (rnd, 8) ? 1 + rnd_below (rnd, 16) : 1 + rnd_below (rnd, 96);
  uint64_t first = rnd_below (rnd, m->nr - nsect + 1);
  uint64_t off = first * m->ss, len = nsect * m->ss;
  bool fua = rnd_below (rnd, 10) == 0;

  if (kind < 12) { /* unaligned: read-modify-write */
    off += rnd_below (rnd, m->ss);
    len = 1 + rnd_below (rnd, m->ss * 2);
    if (off + len > m->nr * m->ss)
      len = m->nr * m->ss - off;
  }
  covering (m, off, len, &s, &n);
  if (kind < 75)
    m->last_n = 0; /* a change: only a write is remembered below */
  if (getenv ("CRASH_TRACE"))
    fprintf (stderr,
             "op kind %" PRIu64 " sectors %" PRIu64 "+%" PRIu64 " fua %d\n",
             kind, s, n, fua);
  if (kind < 60) {
    rnd_fill (rnd, buf, len);
    memcpy (m->latest + off, buf, len);
    model_issue (m, s, n);
    m->last_first = s;
    m->last_n = n;
    for (uint64_t i = 0; i < n; i++)
      m->last_values[i] = sector_value (m->latest + (s + i) * m->ss, m->ss);
    if (disk_write (d, buf, len, off, fua) == -1)
      return -1;
  } else if (kind < 75) { /* trim (whole sectors) or zero */
    bool trim = kind < 68;
    if (trim)
      off = s * m->ss, len = n * m->ss;
    memset (m->latest + off, 0, len);
    model_issue (m, s, n);
    if ((trim ? disk_trim (d, len, off, fua) : disk_zero (d, len, off, fua)) ==
        -1)
      return -1;
  } else if (kind < 88) {
    if (disk_flush (d) == -1)
      return -1;
    model_durable (m, 0, m->nr);
    return 0;
  } else if (kind < 91) {
    /* A checkpoint in two steps, with the workload going on between: as
     * the background checkpointer runs while writers write. */
    m->checkpoint_begun = !m->checkpoint_begun;
    return m->checkpoint_begun ? disk_checkpoint_begin (d)
                               : disk_checkpoint_end (d);
  } else if (kind < 93)
    return disk_checkpoint (d);
  else {
    if (disk_read (d, buf, len, off) == -1)
      return -1;
    if (memcmp (buf, m->latest + off, len) != 0) {
      fprintf (stderr,
               "read before any crash returned wrong data at %" PRIu64 "\n",
               off);
      exit (EXIT_FAILURE);
    }
    return 0;
  }
  if (fua)
    model_durable (m, s, n);
  return 0;
}

static void
trace_decision (void *opaque, uint64_t sector, enum recovery_decision d)
{
  (void)opaque;
  if (getenv ("CRASH_TRACE"))
    fprintf (stderr, "recovery: sector %" PRIu64 ": %s\n", sector,
             recovery_decision_name (d));
}

static struct disk *
open_on (const struct disk_setup *ds, struct backing *b, const char *what)
{
  /* No background checkpointer: the same I/O every run. */
  struct disk_options opts = {.path = what,
                              .keyfile = ds->keyfile,
                              .recovered = trace_decision,
                              .mode = ds->mode};
  bool crashed = false;
  struct disk *d;

  powerloss_keep_crashed (b, &crashed); /* a failed open closes B */
  d = disk_open_backing (b, &opts);
  if (d)
    powerloss_keep_crashed (b, NULL);
  else if (!crashed) {
    fprintf (stderr, "%s: cannot open: %s\n", what, ni_error ());
    exit (EXIT_FAILURE);
  }
  return d;
}

/* Runs the workload on a fresh copy of the formatted disk with the power
 * failing at I/O call CRASH_AT after opening (0: never).  Returns the disk
 * a reboot finds (NULL if it never failed) and the I/O calls made. */
static uint8_t *
run_workload (const struct disk_setup *ds, struct model *m, uint64_t crash_at,
              uint64_t *ios)
{
  struct backing *b = powerloss_new (ds->formatted, ds->size);
  uint64_t rnd = ds->seed | 1, opened;
  uint8_t *buf = malloc (2 * 96 * ds->sector_size), *image = NULL;
  struct disk *d;

  model_init (m, ds->sector_size, DATA_SECTORS);
  d = open_on (ds, b, "workload");
  opened = powerloss_io_count (b);
  powerloss_crash_after (b, crash_at);
  if (crash_at)
    powerloss_keep_image (b, &image, ds->seed ^ crash_at * 7919);
  for (int i = 0; i < OPS_PER_RUN; i++)
    if (one_op (d, m, &rnd, buf) == -1)
      break;
  free (buf);
  *ios = powerloss_io_count (b) - opened;
  /* After a crash nothing more reaches the disk, so closing only frees. */
  if (disk_close (d) == -1 && crash_at == 0) {
    fprintf (stderr, "seed %" PRIu64 ": close: %s\n", ds->seed, ni_error ());
    exit (EXIT_FAILURE);
  }
  return image;
}

/* Recovers IMAGE with the power failing during recovery at I/O call
 * POINT; returns the disk a second reboot finds. */
static uint8_t *
crash_in_recovery (const struct disk_setup *ds, uint8_t *image, uint64_t point)
{
  struct backing *b = powerloss_new (image, ds->size);
  uint8_t *again = NULL;
  struct disk *d;

  powerloss_keep_image (b, &again, ds->seed + point);
  powerloss_crash_after (b, point);
  d = open_on (ds, b, "recovery");
  if (d)
    disk_close (d);
  free (image);
  return again;
}

/* Full mode: the write cut short by the power failure reads back wholly
 * new or wholly old, if it fit in one journal record. */
static void
check_atomic (const struct disk_setup *ds, const struct model *m,
              struct disk *d, uint64_t point, struct totals *t)
{
  uint64_t newer = 0;
  uint8_t *buf = malloc (m->ss);

  if (ds->mode != DISK_MODE_FULL || m->last_n == 0 ||
      m->last_n > journal_data_sectors_max (disk_superblock (d)))
    return free (buf);
  for (uint64_t i = 0; i < m->last_n; i++)
    newer += disk_read (d, buf, m->ss, (m->last_first + i) * m->ss) == 0 &&
             sector_value (buf, m->ss) == m->last_values[i];
  free (buf);
  t->atomic_checked++;
  if (newer == 0 || newer == m->last_n)
    return;
  t->violations++;
  fprintf (stderr,
           "VIOLATION seed %" PRIu64 " crash point %" PRIu64 " (full mode): "
           "the last write, sectors %" PRIu64 "+%" PRIu64 ", is only in part "
           "(%" PRIu64 " sectors) new\n",
           ds->seed, point, m->last_first, m->last_n, newer);
}

/* Recovers IMAGE and checks every sector against the model. */
static void
check_recovered (const struct disk_setup *ds, const struct model *m,
                 uint8_t *image, uint64_t point, struct totals *t)
{
  struct backing *b = powerloss_new (image, ds->size);
  struct disk *d = open_on (ds, b, "check");
  const struct superblock *sb = disk_superblock (d);
  uint8_t *buf = malloc (ds->sector_size);

  for (uint64_t s = 0; s < m->nr; s++) {
    bool ok = disk_read (d, buf, m->ss, s * m->ss) == 0;
    const uint8_t *data =
        ok ? buf : powerloss_current (b) + sb_data_offset (sb, s);
    bool allowed = history_allows (&m->sectors[s], sector_value (data, m->ss));

    if (ok && allowed)
      continue;
    /* Full mode journals the data: no write can be torn. */
    if (!ok && !allowed && ds->mode != DISK_MODE_FULL) {
      t->torn++; /* neither old nor new: failing it is right */
      continue;
    }
    t->violations++;
    fprintf (
        stderr,
        "  value %016" PRIx64 " zero? %d durable %016" PRIx64
        " since %u overflow %d\n",
        sector_value (data, m->ss),
        sector_value (data, m->ss) == sector_value ((uint8_t[4096]){0}, m->ss),
        m->sectors[s].flushed, m->sectors[s].nr_since, m->sectors[s].overflow);
    fprintf (stderr,
             "VIOLATION seed %" PRIu64 " crash point %" PRIu64 " (%s mode, %s, "
             "%u-byte sectors): sector %" PRIu64 " %s\n",
             ds->seed, point, ds->mode == DISK_MODE_FULL ? "full" : "tags",
             ds->hash, ds->sector_size, s,
             ok ? "reads contents it never had at the last flush or since"
             : allowed ? "holds valid contents but fails verification"
                       : "is torn, in full mode");
  }
  free (buf);
  check_atomic (ds, m, d, point, t);
  disk_close (d);
  free (image);
}

static uint64_t
disk_bytes_for (uint32_t ss, const char *hash)
{
  struct superblock sb = {.sector_size = ss};
  uint64_t size = 64 << 20;

  sb.tag_size = hash_by_name (hash)->tag_size;
  sb_layout (&sb, size, 1 << 20);
  sb.data_sectors = DATA_SECTORS;
  return sb.zones_offset + sb.tag_run_bytes + (uint64_t)DATA_SECTORS * ss;
}

static void
setup_disk (struct disk_setup *ds, uint64_t seed)
{
  struct format_options opts = {.force = true, .journal_size = 1 << 20};
  struct backing *b;

  ds->seed = seed;
  ds->mode =
      getenv ("CRASH_MODE") && strcmp (getenv ("CRASH_MODE"), "full") == 0
          ? DISK_MODE_FULL
      : getenv ("CRASH_MODE") ? DISK_MODE_TAGS
      : seed % 2              ? DISK_MODE_FULL
                              : DISK_MODE_TAGS;
  ds->sector_size = seed % 3 == 0 ? 512 : 4096;
  ds->hash = hashes[seed / 3 % NR_HASHES];
  ds->keyfile = hash_by_name (ds->hash)->keyed ? key_file : NULL;
  ds->size = disk_bytes_for (ds->sector_size, ds->hash);
  opts.hash = ds->hash;
  opts.keyfile = ds->keyfile;
  opts.sector_size = ds->sector_size;
  b = powerloss_new (NULL, ds->size);
  if (format_backing (b, &opts) == -1) {
    fprintf (stderr, "format: %s\n", ni_error ());
    exit (EXIT_FAILURE);
  }
  ds->formatted = malloc (ds->size);
  memcpy (ds->formatted, powerloss_current (b), ds->size);
  backing_close (b);
}

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t
env_u64 (const char *name, uint64_t dflt)
{
  const char *v = getenv (name);

  return v && *v ? strtoull (v, NULL, 0) : dflt;
}

/* Crashes the workload of one seed at each chosen point. */
static void
crash_seed (uint64_t seed, uint64_t max_points, double deadline,
            struct totals *t)
{
  struct disk_setup ds;
  struct model m;
  uint64_t ios, dummy, rnd = seed * 31 + 7;

  setup_disk (&ds, seed);
  run_workload (&ds, &m, 0, &ios);
  model_free (&m);
  for (uint64_t k = 1; k <= ios && now () < deadline; k++) {
    uint8_t *image;

    if (max_points && max_points < ios && rnd_below (&rnd, ios) >= max_points)
      continue;
    image = run_workload (&ds, &m, k, &dummy);
    if (rnd_below (&rnd, 2) && !getenv ("CRASH_ONCE")) {
      image = crash_in_recovery (&ds, image, 1 + rnd_below (&rnd, 48));
      t->recovered_twice++;
    }
    check_recovered (&ds, &m, image, k, t);
    model_free (&m);
    t->points++;
  }
  free (ds.formatted);
  t->seeds++;
}

int
main (void)
{
  double seconds = env_u64 ("CRASH_SECONDS", 20);
  uint64_t seed = env_u64 ("CRASH_SEED", 0);
  uint64_t max_points = env_u64 ("CRASH_POINTS", 0);
  bool one_seed = seed != 0;
  double deadline = now () + seconds;
  struct totals t = {0};

  ni_log_set (quiet_log);
  key_file = make_key_file ();
  if (!one_seed)
    seed = (uint64_t)time (NULL) * 1000003u;
  printf ("crash test: first seed %" PRIu64 ", %.0f s\n", seed, seconds);
  do
    crash_seed (seed++, max_points, one_seed ? 1e300 : deadline, &t);
  while (!one_seed && now () < deadline);
  printf ("crash test: %" PRIu64 " seeds, %" PRIu64 " crash points (%" PRIu64
          " also crashed during recovery), %" PRIu64 " torn sectors "
          "rightly failed, %" PRIu64 " full-mode writes checked atomic, "
          "%" PRIu64 " violations\n",
          t.seeds, t.points, t.recovered_twice, t.torn, t.atomic_checked,
          t.violations);
  printf ("%" PRIu64 " passed, %" PRIu64 " failed\n", t.points - t.violations,
          t.violations);
  return t.violations ? EXIT_FAILURE : EXIT_SUCCESS;
}
