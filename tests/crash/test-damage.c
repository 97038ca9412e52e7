/* Damage while dirty: a disk killed in the middle of its work, then one
 * of its on-disk structures damaged, then opened again.
 *
 * For every disk (the crash mode, tags or full; unkeyed or keyed; 4096-
 * or 512-byte sectors; write-back or write-through, each drawn on its
 * own, all sixteen combinations), a workload of writes, unaligned
 * writes, FUA writes, trims, zeroes, flushes and checkpoints runs long
 * enough for the journal to wrap, and the process is killed (the disk
 * keeps every write that reached it, clean or not).  Then, one at a time
 * on a copy of that disk, each journal block and each superblock copy is
 * bit-flipped, zeroed, and replaced by an earlier version of itself (as
 * it was at an earlier point of the workload), and each header group of
 * the journal has both its copies zeroed.  The disk is opened (recovered)
 * and every sector read back:
 *
 *   - a sector not written since the last flush reads as its contents at
 *     that flush; one written since reads as those, or as something
 *     written since, or fails.  Nothing else, ever;
 *   - one damaged block costs nothing: the disk opens, and no sector that
 *     was flushed fails;
 *   - both copies of a header damaged may refuse the disk, which is
 *     counted (failing every sector is within the promise).
 *
 * After each recovery from a damaged superblock or header pair, and from
 * every fourth damaged block, a second life: a few more writes and a
 * flush, a kill, and a reopening, checked the same way, so that a
 * recovery leaves nothing a later one replays over newer flushed data.
 *
 * DAMAGE_CONFIG=N[,N...] runs only those disks (config_of); DAMAGE_TRACE=1
 * prints every violation's detail.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "format.h"
#include "journal-format.h"
#include "oracle.h"
#include "powerloss.h"
#include "report.h"
#include "superblock.h"

#define DATA_SECTORS 192
#define OPS 260
#define SNAPSHOT_EVERY 20

static const char *key_file;

struct config {
  enum disk_mode mode;
  const char *hash;
  uint32_t ss;
  bool write_through;
};

struct model {
  uint32_t ss;
  uint8_t *latest; /* contents after every change issued */
  struct sector_history s[DATA_SECTORS]; /* what each may read as */
  /* Failed after a recovery: may fail until rewritten and flushed. */
  bool failing[DATA_SECTORS];
};

/* A disk killed in the middle of its work, and its earlier states. */
struct killed {
  struct config cfg;
  uint64_t size;
  uint8_t *image;
  uint8_t *snapshots[OPS / SNAPSHOT_EVERY + 1];
  size_t nr_snapshots;
  struct superblock sb;
  struct model m;
};

struct totals {
  uint64_t damages, opened, refused, violations, failed_written, lives;
};

static void
quiet (enum ni_log_level level, const char *msg)
{
  (void)level;
  if (getenv ("DAMAGE_TRACE") && level >= NI_LOG_WARNING)
    fprintf (stderr, "  log: %s\n", msg);
}

static void
die (const char *what)
{
  fprintf (stderr, "test-damage: %s: %m (%s)\n", what, ni_error ());
  exit (EXIT_FAILURE);
}

/* ---- the model ---- */

static void
model_init (struct model *m, uint32_t ss)
{
  m->ss = ss;
  m->latest = calloc (DATA_SECTORS, ss);
  if (m->latest == NULL)
    die ("calloc");
  for (int i = 0; i < DATA_SECTORS; i++) {
    history_init (&m->s[i], sector_value (m->latest, ss));
    m->failing[i] = false;
  }
}

static void
model_copy (struct model *to, const struct model *from)
{
  *to = *from;
  to->latest = malloc ((size_t)DATA_SECTORS * from->ss);
  if (to->latest == NULL)
    die ("malloc");
  memcpy (to->latest, from->latest, (size_t)DATA_SECTORS * from->ss);
}

/* The latest contents of sectors [FIRST, FIRST+N) were issued. */
static void
model_issue (struct model *m, uint64_t first, uint64_t n)
{
  for (uint64_t i = first; i < first + n; i++)
    history_write (&m->s[i], sector_value (m->latest + i * m->ss, m->ss));
}

static void
model_flushed (struct model *m)
{
  for (int i = 0; i < DATA_SECTORS; i++) {
    if (!history_written (&m->s[i]))
      continue; /* unchanged */
    history_flushed (&m->s[i],
                     sector_value (m->latest + (size_t)i * m->ss, m->ss));
    m->failing[i] = false;
  }
}

/* The model of a disk as recovery left it: what each sector reads now,
 * flushed (recovery made it durable), or failing. */
static void
model_read_back (struct model *m, struct disk *d)
{
  for (uint64_t s = 0; s < DATA_SECTORS; s++) {
    uint8_t *data = m->latest + s * m->ss;
    bool ok = disk_read (d, data, m->ss, s * m->ss) == 0;

    history_init (&m->s[s], sector_value (data, m->ss));
    m->failing[s] = !ok;
  }
}

/* ---- the workload ---- */

static struct disk *
open_image (const struct config *cfg, const uint8_t *image, uint64_t size,
            struct backing **bp)
{
  struct disk_options opts = {
      .path = "damaged",
      .mode = cfg->mode,
      .write_through = cfg->write_through,
      .keyfile = hash_by_name (cfg->hash)->keyed ? key_file : NULL};
  struct backing *b = powerloss_new (image, size);

  *bp = b;
  return disk_open_backing (b, &opts);
}

/* The disk as a kill -9 leaves it: every write that reached the backing
 * is kept, and the disk is left as it was (dirty). */
static uint8_t *
kill_disk (struct disk *d, struct backing *b, uint64_t size)
{
  uint8_t *image = malloc (size);

  if (image == NULL)
    die ("malloc");
  memcpy (image, powerloss_current (b), size);
  powerloss_crash_after (b, 1); /* nothing more reaches it */
  disk_close (d);
  return image;
}

/* One random change or flush.  The offset's alignment, the length and
 * the operation are drawn apart. */
static void
one_op (struct disk *d, struct model *m, uint64_t *rnd, uint8_t *buf,
        bool aligned_only)
{
  uint64_t kind = rnd_below (rnd, 100), ss = m->ss;
  uint64_t first = rnd_below (rnd, DATA_SECTORS - 8);
  uint64_t off =
      first * ss + (rnd_below (rnd, 4) ? 0 : 1 + rnd_below (rnd, ss - 1));
  uint64_t len = rnd_below (rnd, 3) ? ss * (1 + rnd_below (rnd, 6))
                                    : 1 + rnd_below (rnd, 3 * ss);

  /* A read-modify-write of a sector that fails fails: after damage, the
   * second life writes whole sectors. */
  if (aligned_only) {
    off -= off % ss;
    len = (len + ss - 1) / ss * ss;
  }
  bool fua = rnd_below (rnd, 8) == 0;
  uint64_t s, n;
  int r;

  s = off / ss;
  n = (off + len + ss - 1) / ss - s;
  if (kind < 60) {
    rnd_fill (rnd, buf, len);
    memcpy (m->latest + off, buf, len);
    model_issue (m, s, n);
    r = disk_write (d, buf, len, off, fua);
  } else if (kind < 68) {
    off = s * ss;
    len = n * ss;
    memset (m->latest + off, 0, len);
    model_issue (m, s, n);
    r = disk_trim (d, len, off, fua);
  } else if (kind < 78) {
    memset (m->latest + off, 0, len);
    model_issue (m, s, n);
    r = disk_zero (d, len, off, fua);
  } else if (kind < 97) {
    r = disk_flush (d);
    fua = true;
  } else if (kind < 98)
    /* Seldom: most checkpoints run when the journal fills, so that the
     * tail an older superblock copy names has been written over. */
    return (void)(disk_checkpoint (d) == -1 ? die ("checkpoint") : 0);
  else
    return (void)(disk_checkpoint_begin (d) == -1 ||
                          disk_checkpoint_end (d) == -1
                      ? die ("checkpoint")
                      : 0);
  if (r == -1)
    die ("operation");
  if (fua)
    model_flushed (m); /* durable, with everything before it */
}

static uint64_t
image_bytes (const struct config *cfg)
{
  struct superblock sb = {.sector_size = cfg->ss};

  sb.tag_size = hash_by_name (cfg->hash)->tag_size;
  sb_layout (&sb, 64 << 20, 1 << 20);
  sb.data_sectors = DATA_SECTORS;
  return sb.zones_offset + sb.tag_run_bytes + (uint64_t)DATA_SECTORS * cfg->ss;
}

static void
run_workload (struct killed *k, uint64_t seed)
{
  struct format_options fo = {.force = true,
                              .journal_size = 1 << 20,
                              .hash = k->cfg.hash,
                              .sector_size = k->cfg.ss};
  struct backing *b;
  uint64_t rnd = seed | 1;
  uint8_t *buf = malloc (3 * 4096 * 2);
  uint8_t *formatted;
  struct disk *d;

  k->size = image_bytes (&k->cfg);
  if (hash_by_name (k->cfg.hash)->keyed)
    fo.keyfile = key_file;
  b = powerloss_new (NULL, k->size);
  if (buf == NULL || format_backing (b, &fo) == -1)
    die ("format");
  formatted = malloc (k->size);
  memcpy (formatted, powerloss_current (b), k->size);
  backing_close (b);
  model_init (&k->m, k->cfg.ss);
  d = open_image (&k->cfg, formatted, k->size, &b);
  if (d == NULL)
    die ("open");
  k->nr_snapshots = 0;
  k->snapshots[k->nr_snapshots++] = formatted;
  for (int i = 0; i < OPS; i++) {
    one_op (d, &k->m, &rnd, buf, false);
    if (i % SNAPSHOT_EVERY == SNAPSHOT_EVERY - 1) {
      uint8_t *snap = malloc (k->size);
      memcpy (snap, powerloss_current (b), k->size);
      k->snapshots[k->nr_snapshots++] = snap;
    }
  }
  k->sb = *disk_superblock (d);
  k->sb.auth = NULL; /* the disk's hasher goes with it: decode unkeyed */
  k->image = kill_disk (d, b, k->size);
  free (buf);
}

/* ---- damage ---- */

enum damage { FLIP, ZERO, EARLIER, NR_DAMAGES };
static const char *const damage_names[] = {"bit-flipped", "zeroed",
                                           "an earlier version"};

/* Damages the 4 KiB block at OFF of IMAGE.  False if there is no earlier
 * version of it to put back. */
static bool
damage_block (const struct killed *k, uint8_t *image, uint64_t off,
              enum damage how, uint64_t *rnd)
{
  switch (how) {
  case FLIP:
    image[off + rnd_below (rnd, SB_BLOCK)] ^= 1 << rnd_below (rnd, 8);
    return true;
  case ZERO:
    memset (image + off, 0, SB_BLOCK);
    return true;
  case EARLIER:
    /* The newest earlier state of the block that differs from now. */
    for (size_t i = k->nr_snapshots; i-- > 0;)
      if (memcmp (k->snapshots[i] + off, image + off, SB_BLOCK) != 0) {
        memcpy (image + off, k->snapshots[i] + off, SB_BLOCK);
        return true;
      }
    return false;
  case NR_DAMAGES:
    break;
  }
  return false;
}

/* Checks every sector of D against M.  STRICT: no sector that was
 * flushed may fail.  Returns the violations. */
static uint64_t
check_sectors (struct disk *d, const struct model *m, bool strict,
               const char *what, struct totals *t)
{
  uint64_t violations = 0;
  uint8_t *buf = malloc (m->ss);

  for (uint64_t s = 0; s < DATA_SECTORS; s++) {
    const struct sector_history *sm = &m->s[s];
    bool ok = disk_read (d, buf, m->ss, s * m->ss) == 0;
    bool written = history_written (sm);

    if (ok && history_allows (sm, sector_value (buf, m->ss)))
      continue;
    if (!ok && m->failing[s])
      continue;
    if (!ok && (written || !strict)) {
      t->failed_written += written;
      continue;
    }
    violations++;
    if (getenv ("DAMAGE_TRACE") || violations == 1)
      fprintf (stderr, "VIOLATION %s: sector %" PRIu64 " %s\n", what, s,
               ok ? "reads contents it never held at the last flush or "
                    "since"
                  : "was flushed, and fails");
  }
  free (buf);
  return violations;
}

/* The second life of a recovered disk: more writes, a flush, a kill, a
 * reopening. */
static uint64_t
second_life (const struct killed *k, struct disk *d, struct backing *b,
             struct model *m, uint64_t seed, const char *what, struct totals *t)
{
  uint64_t rnd = seed | 1, v;
  uint8_t *buf = malloc (3 * 4096 * 2), *image;
  struct backing *b2;
  char what2[256];

  for (int i = 0; i < 12; i++)
    one_op (d, m, &rnd, buf, true);
  if (disk_flush (d) == -1)
    die ("flush");
  model_flushed (m);
  image = kill_disk (d, b, k->size);
  d = open_image (&k->cfg, image, k->size, &b2);
  snprintf (what2, sizeof what2, "%s, in its second life", what);
  if (d == NULL) {
    fprintf (stderr, "VIOLATION %s: refused: %s\n", what2, ni_error ());
    free (image);
    free (buf);
    return 1;
  }
  v = check_sectors (d, m, true, what2, t);
  disk_close (d);
  free (image);
  free (buf);
  t->lives++;
  return v;
}

/* Opens IMAGE, damaged as WHAT says, and checks it.  SINGLE: one block
 * was damaged, and must cost nothing.  LIVE: a second life follows. */
static void
check_damaged (const struct killed *k, uint8_t *image, bool single, bool live,
               const char *what, uint64_t seed, struct totals *t)
{
  struct backing *b;
  struct disk *d = open_image (&k->cfg, image, k->size, &b);
  struct model m;
  uint64_t v;

  t->damages++;
  if (d == NULL) {
    t->refused++;
    if (single) {
      t->violations++;
      fprintf (stderr,
               "VIOLATION %s: one damaged block, and the disk is "
               "refused: %s\n",
               what, ni_error ());
    }
    return;
  }
  t->opened++;
  v = check_sectors (d, &k->m, single, what, t);
  if (live) {
    model_copy (&m, &k->m);
    model_read_back (&m, d);
    v += second_life (k, d, b, &m, seed, what, t);
    free (m.latest);
  } else
    disk_close (d);
  t->violations += v;
}

static void
describe (const struct killed *k, char *out, size_t len, const char *fmt,
          uint64_t a, const char *how)
{
  int n = snprintf (out, len, "%s %s %u-byte %s: ",
                    k->cfg.mode == DISK_MODE_FULL ? "full" : "tags",
                    k->cfg.hash, k->cfg.ss,
                    k->cfg.write_through ? "write-through" : "write-back");
  snprintf (out + n, len - n, fmt, a, how);
}

static void
damage_everything (const struct killed *k, uint64_t seed, struct totals *t)
{
  const struct superblock *sb = &k->sb;
  uint64_t blocks = sb_journal_blocks (sb), rnd = seed * 7 + 3;
  uint8_t *image = malloc (k->size);
  char what[256];

  for (int how = 0; how < NR_DAMAGES; how++) {
    for (int copy = 0; copy < SB_COPIES; copy++) {
      memcpy (image, k->image, k->size);
      if (!damage_block (k, image, (uint64_t)copy * SB_BLOCK, how, &rnd))
        continue;
      describe (k, what, sizeof what, "superblock copy %" PRIu64 " %s", copy,
                damage_names[how]);
      check_damaged (k, image, true, true, what, seed + copy, t);
    }
    for (uint64_t pos = 0; pos < blocks; pos++) {
      memcpy (image, k->image, k->size);
      if (!damage_block (k, image, sb->journal_offset + pos * SB_BLOCK, how,
                         &rnd))
        continue;
      describe (k, what, sizeof what,
                "journal block at ring position %" PRIu64 " %s", pos,
                damage_names[how]);
      /* A second life for every fourth block: each ends differently. */
      check_damaged (k, image, true, (pos + how) % 4 == 0, what, seed + pos, t);
    }
  }
  /* Both copies of each header: the first of a pair is a header that
   * decodes as its group's first copy. */
  for (uint64_t pos = 0; pos + 1 < blocks; pos++) {
    const uint8_t *block = k->image + sb->journal_offset + pos * SB_BLOCK;
    struct journal_block_info info;
    uint64_t seq;

    memcpy (&seq, block + JH_SEQ, sizeof seq);
    if (journal_block_decode (sb, seq, block, &info, NULL, NULL) != 1 ||
        info.copy != 0)
      continue;
    memcpy (image, k->image, k->size);
    memset (image + sb->journal_offset + pos * SB_BLOCK, 0, 2 * SB_BLOCK);
    describe (k, what, sizeof what,
              "journal blocks at ring positions %" PRIu64 " and after %s", pos,
              "zeroed");
    check_damaged (k, image, false, true, what, seed + pos, t);
  }
  free (image);
}

static void
free_killed (struct killed *k)
{
  free (k->image);
  for (size_t i = 0; i < k->nr_snapshots; i++)
    free (k->snapshots[i]);
  free (k->m.latest);
}

/* The sixteen disks: each dimension drawn apart from the others. */
static struct config
config_of (int i)
{
  return (struct config){
      .mode = i & 1 ? DISK_MODE_FULL : DISK_MODE_TAGS,
      .hash = i & 2 ? "blake2b-256-keyed" : "crc32c",
      .ss = i & 4 ? 512 : 4096,
      .write_through = i & 8,
  };
}

/* Which of the sixteen disks DAMAGE_CONFIG names: a bit each.  Exits on
 * a list that is not numbers from 0 to 15. */
static unsigned
chosen_configs (void)
{
  const char *env = getenv ("DAMAGE_CONFIG"), *list = env;
  unsigned chosen = 0;
  char *end;

  if (env == NULL)
    return 0xffff;
  do {
    long i = strtol (list, &end, 10);
    if (end == list || i < 0 || i > 15 || (*end != ',' && *end != '\0')) {
      fprintf (stderr,
               "DAMAGE_CONFIG=%s: give numbers from 0 to 15, "
               "separated by commas\n",
               env);
      exit (EXIT_FAILURE);
    }
    chosen |= 1u << i;
    list = end + 1;
  } while (*end == ',');
  return chosen;
}

int
main (void)
{
  unsigned chosen = chosen_configs ();
  struct totals t = {0};

  ni_log_set (quiet);
  key_file = make_key_file ();
  for (int i = 0; i < 16; i++) {
    if (!(chosen & 1u << i))
      continue;
    struct killed k = {.cfg = config_of (i)};
    uint64_t seed = 1000003 * (i + 1);

    run_workload (&k, seed);
    damage_everything (&k, seed, &t);
    free_killed (&k);
  }
  printf ("damage test: %" PRIu64 " damaged disks: %" PRIu64 " opened, %" PRIu64
          " refused (both copies of a header "
          "damaged), %" PRIu64 " second lives; %" PRIu64
          " sectors written since the last flush failed (allowed); "
          "%" PRIu64 " violations\n",
          t.damages, t.opened, t.refused, t.lives, t.failed_written,
          t.violations);
  return t.violations ? EXIT_FAILURE : EXIT_SUCCESS;
}
