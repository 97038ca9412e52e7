/* Model-based random test of lib/: a random mix of reads, writes,
 * zeroes, trims, flushes, checkpoints and reopenings against an in-memory
 * copy of what the disk must hold.
 *
 * Every dimension is drawn on its own, so that no two are tied together
 * and the places where they meet are reached: the operation; whether the
 * offset is sector-aligned; the length (within one sector, straddling one
 * sector edge with no whole sector, whole sectors with a partial head or
 * tail or both, exactly whole sectors, and long runs that cross the zone
 * boundary); FUA; and, per disk, the sector size, the algorithm (keyed
 * ones too), the crash mode and write-back or write-through.
 *
 * The model: a write stores its bytes, a zero stores zeroes, a trim
 * zeroes the sectors it covers whole (its partial ones keep their data),
 * and every read, after every reopening too, must return what the model
 * holds.  TEST_MODEL_SEED replays one seed; TEST_MODEL_OPS sets the
 * operations per seed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "disk.h"
#include "format.h"
#include "oracle.h"
#include "report.h"
#include "util.h"

/* Two zones and a little more, with 4096-byte sectors: long requests
 * cross the zone boundary. */
#define DISK_BYTES (40u << 20)
#define MAX_REQUEST (1u << 20)

static const char *const hashes[] = {"crc32c",      "xxh3-128",
                                     "blake2b-256", "sha256",
                                     "hmac-sha256", "blake2b-256-keyed"};
#define NR_HASHES (sizeof hashes / sizeof hashes[0])

static const enum disk_mode modes[] = {DISK_MODE_TAGS, DISK_MODE_FULL,
                                       DISK_MODE_NONE};
static const char *const mode_names[] = {"tags", "full", "none"};

struct run {
  uint64_t seed, rnd;
  struct disk_options opts;
  struct disk *d;
  uint32_t ss;
  uint64_t size, zone_bytes;
  uint8_t *model, *buf;
  const char *what; /* the disk, for failure messages */
};

static uint64_t
below (struct run *r, uint64_t n)
{
  return rnd_next (&r->rnd) % n;
}

/* A place to start a request: near the start, the zone boundary or the
 * end, or anywhere, so that requests overlap. */
static uint64_t
pick_sector (struct run *r)
{
  uint64_t sectors = r->size / r->ss, zone = r->zone_bytes / r->ss;
  uint64_t window = 64;

  switch (below (r, 4)) {
  case 0:
    return below (r, window);
  case 1:
    return zone - window / 2 + below (r, window);
  case 2:
    return sectors - 1 - below (r, window);
  default:
    return below (r, sectors);
  }
}

/* A request length from one of the classes in the notes above, given
 * the offset's place within its sector. */
static uint64_t
pick_length (struct run *r, uint64_t within)
{
  uint64_t ss = r->ss, to_edge = ss - within;

  switch (below (r, 6)) {
  case 0: /* within one sector */
    return 1 + below (r, to_edge);
  case 1: /* over one edge, no whole sector */
    return within ? to_edge + 1 + below (r, ss - 1) : 1 + below (r, ss - 1);
  case 2: /* whole sectors, a partial tail */
    return to_edge + ss * below (r, 8) + 1 + below (r, ss - 1);
  case 3: /* whole sectors, ending on an edge */
    return to_edge + ss * below (r, 8);
  case 4: /* exactly whole sectors from wherever it starts */
    return ss * (1 + below (r, 16));
  default: /* long: across zones, past the chunk and write-back sizes */
    return 1 + below (r, MAX_REQUEST);
  }
}

static void
open_run (struct run *r)
{
  r->d = disk_open (&r->opts);
  ck_assert_msg (r->d, "%s: open: %s", r->what, ni_error ());
  r->size = disk_size (r->d);
  r->zone_bytes = (uint64_t)disk_superblock (r->d)->zone_sectors * r->ss;
}

static void
reopen (struct run *r)
{
  ck_assert_msg (disk_close (r->d) == 0, "%s: close: %s", r->what, ni_error ());
  open_run (r);
}

static void
check_read (struct run *r, uint64_t off, uint64_t len, const char *when)
{
  ck_assert_msg (disk_read (r->d, r->buf, len, off) == 0,
                 "%s: read %" PRIu64 "+%" PRIu64 " %s: %m", r->what, off, len,
                 when);
  if (memcmp (r->buf, r->model + off, len) == 0)
    return;
  for (uint64_t i = 0; i < len; i++)
    ck_assert_msg (r->buf[i] == r->model[off + i],
                   "%s: read %" PRIu64 "+%" PRIu64 " %s: byte %" PRIu64
                   " is %#x, the model says %#x",
                   r->what, off, len, when, off + i, r->buf[i],
                   r->model[off + i]);
}

/* The model of a trim: the sectors it covers whole read as zeroes. */
static void
model_trim (struct run *r, uint64_t off, uint64_t len)
{
  uint64_t first = (off + r->ss - 1) / r->ss, end = (off + len) / r->ss;

  if (first < end)
    memset (r->model + first * r->ss, 0, (end - first) * r->ss);
}

static void
one_op (struct run *r, int i)
{
  uint64_t within = below (r, 2) ? 0 : 1 + below (r, r->ss - 1);
  uint64_t off = pick_sector (r) * r->ss + within;
  uint64_t len = pick_length (r, within % r->ss);
  bool fua = below (r, 8) == 0;
  uint64_t kind = below (r, 100);
  int ret = 0;

  if (off >= r->size)
    off = r->size - 1;
  if (len > r->size - off)
    len = r->size - off;
  if (getenv ("TEST_MODEL_TRACE"))
    fprintf (stderr, "%d: kind %" PRIu64 " %" PRIu64 "+%" PRIu64 " fua %d\n", i,
             kind, off, len, fua);
  if (kind < 35) {
    for (uint64_t k = 0; k < len; k++)
      r->buf[k] = rnd_next (&r->rnd);
    memcpy (r->model + off, r->buf, len);
    ret = disk_write (r->d, r->buf, len, off, fua);
  } else if (kind < 50) {
    memset (r->model + off, 0, len);
    ret = disk_zero (r->d, len, off, fua);
  } else if (kind < 60) {
    model_trim (r, off, len);
    ret = disk_trim (r->d, len, off, fua);
  } else if (kind < 90) {
    check_read (r, off, len, "");
  } else if (kind < 95) {
    ret = disk_flush (r->d);
  } else if (kind < 98) {
    ret = disk_checkpoint (r->d);
  } else
    reopen (r);
  ck_assert_msg (ret == 0,
                 "%s: operation %d (kind %" PRIu64 ") at %" PRIu64 "+%" PRIu64
                 ": %m",
                 r->what, i, kind, off, len);
}

/* Reads the whole disk back, in requests of mixed sizes. */
static void
check_all (struct run *r, const char *when)
{
  for (uint64_t off = 0; off < r->size;) {
    uint64_t len = 1 + below (r, MAX_REQUEST);
    if (len > r->size - off)
      len = r->size - off;
    check_read (r, off, len, when);
    off += len;
  }
}

static void
run_seed (uint64_t seed, int ops)
{
  struct run r = {.seed = seed, .rnd = seed * 2654435761u | 1};
  const char *hash = hashes[below (&r, NR_HASHES)];
  bool keyed = hash_by_name (hash)->keyed;
  char name[64], what[256];

  r.ss = below (&r, 2) ? 4096 : 512;
  snprintf (name, sizeof name, "model-%" PRIu64, seed);
  r.opts.mode = modes[below (&r, 3)];
  r.opts.write_through = below (&r, 4) == 0;
  r.opts.keyfile = keyed ? scratch_key () : NULL;
  r.opts.path =
      scratch_disk_keyed (name, DISK_BYTES, hash, r.ss, r.opts.keyfile);
  snprintf (what, sizeof what,
            "seed %" PRIu64 " (%s, %u-byte sectors, mode %s, %s)", seed, hash,
            r.ss, mode_names[r.opts.mode],
            r.opts.write_through ? "write-through" : "write-back");
  r.what = what;
  open_run (&r);
  r.model = calloc (r.size, 1);
  r.buf = malloc (MAX_REQUEST);
  ck_assert (r.model && r.buf);
  for (int i = 0; i < ops; i++)
    one_op (&r, i);
  check_all (&r, "at the end");
  reopen (&r);
  check_all (&r, "after reopening");
  ck_assert_int_eq (disk_close (r.d), 0);
  unlink (r.opts.path);
  free (r.model);
  free (r.buf);
}

static int
env_int (const char *name, int dflt)
{
  const char *v = getenv (name);

  return v && *v ? atoi (v) : dflt;
}

/* Every seed draws its own disk: sector size, algorithm, mode. */
START_TEST (random_operations_match_the_model)
{
  uint64_t seed = env_int ("TEST_MODEL_SEED", 0);

  if (seed)
    run_seed (seed, env_int ("TEST_MODEL_OPS", 400));
  else
    run_seed (1000 + _i, env_int ("TEST_MODEL_OPS", 400));
}
END_TEST

/* The zero that read past a 4096-byte buffer: two partial sectors and no
 * whole one between them. */
START_TEST (zero_over_two_partial_sectors)
{
  const char *path = scratch_disk ("two-partial", 8 << 20, NULL, 4096);
  struct disk *d = open_disk_with (path, _i == 1);
  uint8_t ones[16384], back[16384], expect[16384];

  memset (ones, 0xff, sizeof ones);
  ck_assert_int_eq (disk_write (d, ones, sizeof ones, 0, false), 0);
  ck_assert_int_eq (disk_flush (d), 0);
  ck_assert_int_eq (disk_zero (d, 8190, 1, false), 0);
  ck_assert_int_eq (disk_flush (d), 0);
  ck_assert_int_eq (disk_read (d, back, sizeof back, 0), 0);
  memcpy (expect, ones, sizeof expect);
  memset (expect + 1, 0, 8190);
  ck_assert_mem_eq (back, expect, sizeof back);
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("model");
  TCase *tc = tcase_create ("model");

  tcase_add_loop_test (tc, zero_over_two_partial_sectors, 0, 2);
  tcase_add_loop_test (tc, random_operations_match_the_model, 0,
                       env_int ("TEST_MODEL_SEEDS", 24));
  tcase_set_timeout (tc, 120);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
