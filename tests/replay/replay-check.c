/* The crash-replay checker: rebuilds a disk as the power could have left
 * it at many points of a dm-log-writes recording of a real server, lets
 * `nbd-integrity recover` replay its journal, reads every sector through
 * lib/, and checks each against what the workload's record allows.
 *
 *   replay-check [OPTIONS] LOG RECORD
 *
 * A point is an entry of the log: the disk holds every write logged up
 * to the last flush before it, every FUA write up to it, and the other
 * writes logged since that flush, or (at half the points) a random subset
 * of them: a disk may have kept any of its cached writes.  Points are the
 * flushes and FUA writes of the log, just before them, and random
 * entries, between the mark "formatted" and the end of the log.
 *
 * The oracle (record.h): a request is durable at point P if it has FUA
 * and its mark is logged by P, or it was answered before a flush was sent
 * whose mark is logged by P.  A request sent after the first mark beyond
 * P returned cannot have reached the disk by P.  So each sector may read
 * as the newest of its versions that is durable, or any later one sent
 * before that bound, and may fail only if there is such a later one.
 * Reading as anything else, or failing otherwise, is a violation.
 *
 * The log is not always an order the disk could have seen.  dm-log-writes
 * logs a write when the first flush mapped after it completes; two
 * flushes from two threads may complete in the other order, so a write
 * made durable by the later-mapped flush is logged after it, and after
 * whatever was written once that flush returned.  The journal shows it:
 * each commit is durable before the next is written (journal.c), yet a
 * commit's header is logged after a later commit's.  A point between the
 * two would be a disk no power failure leaves (seen in a soak: recover
 * rightly called the missing commit damaged), so such points are counted
 * and not checked.  The crash simulator (tests/crash) tests the order
 * itself.
 *
 * --drop-durable checks the checker: it also loses writes that the disk
 * had made durable (one in eight before the last flush, half the FUA
 * ones), which must show as violations.  Exit status: 0 no violation,
 * 1 violations, 2 the check could not run.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "disk.h"
#include "journal-format.h"
#include "le.h"
#include "logwrites.h"
#include "oracle.h"
#include "record.h"
#include "report.h"

struct version {
  uint64_t seq; /* 0: as formatted, reads as zeroes */
  uint64_t hash;
};

struct sector_versions {
  struct version *v;
  uint32_t n, cap;
};

struct check {
  const char *tool, *keyfile, *work, *log_path;
  struct lw_log log;
  uint64_t device_size, garbage_seed, rnd;
  /* A check of the checker: lose writes a disk must keep. */
  bool drop_durable;
  /* --image-at MARK --out FILE [--drop-cached] */
  const char *image_mark, *image_out;
  bool drop_cached;
  /* --only ENTRY: of the points, recover and check only this one, and
   * keep its disk as it was before recovery (to study one point). */
  int64_t only;
  int64_t start, end;
  /* The record, indexed by seq; marks[N] is the seq of the request of mark
   * "mN", mark_at[N] its log entry (-1 if not found). */
  struct record_op *ops;
  uint64_t nr_ops, requests;
  uint64_t *mark_seq;
  int64_t *mark_at;
  uint64_t nr_marks;
  /* Mark numbers in log order. */
  uint64_t *marks_by_position;
  /* The model of the export. */
  uint32_t sector_size;
  uint64_t sectors;
  struct sector_versions *versions;
  struct superblock sb;
  /* The image that holds every entry up to durable_to, and the point's. */
  int durable_fd;
  int64_t durable_to;
  /* The sequence numbers of the journal's header blocks as logged: the
   * highest in entries up to I, the lowest in entries from I on (UINT64_MAX
   * where there is none), to find the points the log orders against the
   * journal. */
  uint64_t *max_seq_to, *min_seq_from;
  /* Results. */
  uint64_t points, flush_points, dropping_points, sectors_checked;
  uint64_t failed_allowed, violations, recover_status[3];
  /* Sectors never flushed, written twice or more since formatting, read
   * as formatted: the false-mismatch window of the first format. */
  uint64_t window_cases;
  uint64_t checkpoints, interleavings, points_in_checkpoint;
  uint64_t misordered_points;
};

static void die (const char *fmt, ...)
    __attribute__ ((noreturn, format (printf, 1, 2)));

static void
die (const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  fputs ("replay-check: ", stderr);
  vfprintf (stderr, fmt, ap);
  fputc ('\n', stderr);
  va_end (ap);
  exit (2);
}

static void
read_record (struct check *c, const char *path)
{
  FILE *f = fopen (path, "r");
  struct record_op op;
  int r;

  if (f == NULL)
    die ("%s: %s", path, strerror (errno));
  while ((r = record_read (f, &op)) == 1) {
    if (op.seq >= c->nr_ops) {
      uint64_t n = op.seq * 2 + 16;
      c->ops = realloc (c->ops, n * sizeof *c->ops);
      memset (c->ops + c->nr_ops, 0, (n - c->nr_ops) * sizeof *c->ops);
      c->nr_ops = n;
    }
    c->ops[op.seq] = op;
    c->requests++;
    if (op.mark >= 0 && (uint64_t)op.mark + 1 > c->nr_marks)
      c->nr_marks = op.mark + 1;
  }
  if (r == -1)
    die ("%s: a line is not a request", path);
  fclose (f);
  c->mark_seq = calloc (c->nr_marks + 1, sizeof *c->mark_seq);
  c->mark_at = malloc ((c->nr_marks + 1) * sizeof *c->mark_at);
  for (uint64_t m = 0; m < c->nr_marks; m++)
    c->mark_at[m] = -1;
  for (uint64_t s = 1; s < c->nr_ops; s++)
    if (c->ops[s].op && c->ops[s].mark >= 0)
      c->mark_seq[c->ops[s].mark] = s;
}

static void
index_marks (struct check *c)
{
  uint64_t n = 0;

  c->marks_by_position = malloc ((c->nr_marks + 1) * sizeof (uint64_t));
  for (uint64_t i = 0; i < c->log.nr_entries; i++) {
    const struct lw_entry *e = &c->log.entries[i];
    uint64_t m;
    char end;

    if ((e->flags & LW_MARK) &&
        sscanf (e->mark, "m%" SCNu64 "%c", &m, &end) == 1 && m < c->nr_marks &&
        c->mark_at[m] == -1) {
      c->mark_at[m] = i;
      c->marks_by_position[n++] = m;
    }
  }
  if (n != c->nr_marks)
    die ("%s: %" PRIu64 " of the record's %" PRIu64 " marks are logged",
         c->log_path, n, c->nr_marks);
  c->start = lw_find_mark (&c->log, "formatted");
  c->end = c->log.nr_entries - 1;
  if (c->start < 0)
    die ("%s: no mark \"formatted\"", c->log_path);
}

/* The image at PATH, filled as the device was before the recording. */
static int
make_image (struct check *c, const char *path)
{
  uint8_t *buf = malloc (1 << 20);
  int fd = open (path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

  if (fd == -1 || buf == NULL)
    die ("%s: %s", path, strerror (errno));
  for (uint64_t off = 0; off < c->device_size; off += 1 << 20) {
    uint64_t n =
        c->device_size - off < (1 << 20) ? c->device_size - off : 1 << 20;
    pattern_fill (pattern_garbage_seq (c->garbage_seed), off, buf, n);
    if (pwrite (fd, buf, n, off) != (ssize_t)n)
      die ("%s: %s", path, strerror (errno));
  }
  free (buf);
  return fd;
}

static void
advance_durable (struct check *c, int64_t to)
{
  for (int64_t i = c->durable_to + 1; i <= to; i++) {
    if (c->drop_durable && i > c->start && rnd_below (&c->rnd, 8) == 0)
      continue;
    if (lw_apply (&c->log, i, c->durable_fd, &c->rnd) == -1)
      exit (2);
  }
  if (to > c->durable_to)
    c->durable_to = to;
}

static char *
work_path (struct check *c, const char *name)
{
  static char path[4096];

  snprintf (path, sizeof path, "%s/%s", c->work, name);
  return path;
}

static int
copy_image (struct check *c, int from, const char *name)
{
  int fd =
      open (work_path (c, name), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  loff_t in = 0, out = 0;

  if (fd == -1)
    die ("%s: %s", work_path (c, name), strerror (errno));
  while ((uint64_t)in < c->device_size)
    if (copy_file_range (from, &in, fd, &out, c->device_size - in, 0) <= 0)
      die ("copying the image: %s", strerror (errno));
  return fd;
}

/* The superblock of the formatted disk: the layout, and the export. */
static void
read_layout (struct check *c)
{
  struct disk_options o = {.mode = DISK_MODE_TAGS, .readonly = true};
  struct disk *d;

  advance_durable (c, c->start);
  o.path = work_path (c, "durable.img");
  o.keyfile = c->keyfile;
  if ((d = disk_open (&o)) == NULL)
    die ("the formatted disk: %s", ni_error ());
  c->sb = *disk_superblock (d);
  c->sb.auth = NULL;
  c->sector_size = c->sb.sector_size;
  c->sectors = c->sb.data_sectors;
  disk_close (d);
}

static void
add_version (struct check *c, uint64_t s, uint64_t seq, const uint8_t *data)
{
  struct sector_versions *sv = &c->versions[s];

  if (sv->n == sv->cap) {
    sv->cap = sv->cap ? sv->cap * 2 : 4;
    sv->v = realloc (sv->v, sv->cap * sizeof *sv->v);
  }
  sv->v[sv->n++] = (struct version){seq, sector_value (data, c->sector_size)};
}

/* The model: every request applied in order (each thread has its own
 * sectors, so their order among threads does not matter), and the
 * versions of each sector it touched. */
static void
build_model (struct check *c)
{
  uint64_t size = c->sectors * c->sector_size, ss = c->sector_size;
  uint8_t *disk = calloc (1, size), zero[4096] = {0};
  unsigned *owner = calloc (c->sectors, sizeof *owner);

  c->versions = calloc (c->sectors, sizeof *c->versions);
  for (uint64_t s = 0; s < c->sectors; s++)
    add_version (c, s, 0, zero);
  for (uint64_t seq = 1; seq < c->nr_ops; seq++) {
    const struct record_op *op = &c->ops[seq];
    uint64_t first, last;

    if (!op->op || op->op == 'F' || op->length == 0)
      continue;
    if (op->offset + op->length > size)
      die ("request %" PRIu64 " is beyond the export", seq);
    first = op->offset / ss;
    last = (op->offset + op->length - 1) / ss;
    if (op->op == 'W')
      pattern_fill (seq, op->offset, disk + op->offset, op->length);
    else if (op->op == 'Z')
      memset (disk + op->offset, 0, op->length);
    else {
      /* A trim makes the sectors it covers whole read as zeroes. */
      first = (op->offset + ss - 1) / ss;
      last = (op->offset + op->length) / ss;
      if (last-- <= first)
        continue;
      memset (disk + first * ss, 0, (last - first + 1) * ss);
    }
    for (uint64_t s = first; s <= last; s++) {
      if (owner[s] && owner[s] != op->thread + 1)
        die ("sector %" PRIu64 " is written by two threads", s);
      owner[s] = op->thread + 1;
      add_version (c, s, seq, disk + s * ss);
    }
  }
  free (owner);
  free (disk);
}

/* What the record allows at point P: requests answered before DURABLE_NS
 * are durable, as are the FUA ones whose mark is logged by P; requests
 * sent after BOUND_NS had not reached the disk. */
struct oracle_point {
  int64_t at;
  uint64_t durable_ns, bound_ns;
};

static struct oracle_point
oracle_at (struct check *c, int64_t at)
{
  struct oracle_point o = {.at = at, .bound_ns = UINT64_MAX};

  for (uint64_t k = 0; k < c->nr_marks; k++) {
    uint64_t m = c->marks_by_position[k];
    const struct record_op *op = &c->ops[c->mark_seq[m]];

    if (c->mark_at[m] > at) {
      o.bound_ns = op->mark_returned;
      break;
    }
    if (op->op == 'F' && op->sent > o.durable_ns)
      o.durable_ns = op->sent;
  }
  return o;
}

static bool
durable (struct check *c, const struct oracle_point *o, uint64_t seq)
{
  const struct record_op *op = &c->ops[seq];

  if (seq == 0 || op->answered < o->durable_ns)
    return true;
  return op->fua && op->mark >= 0 && c->mark_at[op->mark] <= o->at;
}

static void
report_violation (struct check *c, const struct oracle_point *o, uint64_t s,
                  const char *what)
{
  if (c->violations++ < 20)
    fprintf (stderr,
             "replay-check: VIOLATION at log entry %" PRId64 ": sector %" PRIu64
             " %s\n",
             o->at, s, what);
}

/* Sector S read as HASH (or failed): is it allowed at O? */
static void
check_sector (struct check *c, const struct oracle_point *o, uint64_t s,
              bool failed, uint64_t hash)
{
  const struct sector_versions *sv = &c->versions[s];
  uint32_t newest_durable = 0, newest_sent = 0;

  for (uint32_t j = 0; j < sv->n; j++) {
    if (durable (c, o, sv->v[j].seq))
      newest_durable = j;
    if (sv->v[j].seq == 0 || c->ops[sv->v[j].seq].sent < o->bound_ns)
      newest_sent = j;
  }
  c->sectors_checked++;
  if (failed) {
    if (newest_sent > newest_durable)
      c->failed_allowed++;
    else
      report_violation (c, o, s, "fails, but its flushed contents are known");
    return;
  }
  for (uint32_t j = newest_durable; j <= newest_sent; j++)
    if (sv->v[j].hash == hash) {
      /* The first journal format failed these over garbage. */
      c->window_cases += newest_durable == 0 && newest_sent >= 2 && j == 0;
      return;
    }
  for (uint32_t j = 0; j < newest_durable; j++)
    if (sv->v[j].hash == hash) {
      report_violation (c, o, s,
                        "reads as a version older than the flushed one");
      return;
    }
  report_violation (c, o, s, "reads as something never written to it");
}

static void
check_disk (struct check *c, const struct oracle_point *o, const char *path)
{
  struct disk_options opts = {.mode = DISK_MODE_TAGS, .readonly = true};
  uint32_t ss = c->sector_size, chunk = 256;
  uint8_t *buf = malloc ((size_t)chunk * ss);
  struct disk *d;

  opts.path = path;
  opts.keyfile = c->keyfile;
  if ((d = disk_open (&opts)) == NULL) {
    report_violation (c, o, 0, ni_error ());
    free (buf);
    return;
  }
  for (uint64_t s = 0; s < c->sectors; s += chunk) {
    uint32_t n = c->sectors - s < chunk ? c->sectors - s : chunk;
    bool whole = disk_read (d, buf, n * ss, s * ss) == 0;

    for (uint32_t i = 0; i < n; i++) {
      bool failed =
          !whole && disk_read (d, buf + i * ss, ss, (s + i) * ss) == -1;
      check_sector (c, o, s + i, failed,
                    failed ? 0 : sector_value (buf + i * ss, ss));
    }
  }
  disk_close (d);
  free (buf);
}

/* nbd-integrity recover on the image: 0, 1 (recovered, some sectors fail)
 * or 2 (could not recover). */
static int
run_recover (struct check *c, const char *path)
{
  char *argv[] = {(char *)c->tool,
                  "recover",
                  "--json",
                  (char *)path,
                  c->keyfile ? "--keyfile" : NULL,
                  (char *)c->keyfile,
                  NULL};
  char *out_path = strdup (work_path (c, "recover.out"));
  int status, out;
  pid_t pid;

  if ((pid = fork ()) == 0) {
    out = open (out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    dup2 (out, 1);
    dup2 (out, 2);
    execv (c->tool, argv);
    _exit (127);
  }
  if (pid == -1 || waitpid (pid, &status, 0) == -1)
    die ("cannot run %s: %s", c->tool, strerror (errno));
  if (!WIFEXITED (status) || WEXITSTATUS (status) > 2)
    die ("%s recover %s did not finish (status %d): see %s", c->tool, path,
         status, out_path);
  free (out_path);
  return WEXITSTATUS (status);
}

/* Keeps what recover said of the point at AT in the work directory. */
static void
keep_recover_output (struct check *c, int64_t at)
{
  char name[64], *from = strdup (work_path (c, "recover.out"));

  snprintf (name, sizeof name, "recover-%" PRId64 ".out", at);
  if (rename (from, work_path (c, name)) == -1)
    die ("%s: %s", from, strerror (errno));
  free (from);
}

/* Keeps a copy of the image at PATH, the disk at point AT. */
static void
keep_image (struct check *c, const char *path, int64_t at)
{
  char name[64];
  int from = open (path, O_RDONLY | O_CLOEXEC);

  if (from == -1)
    die ("%s: %s", path, strerror (errno));
  snprintf (name, sizeof name, "point-%" PRId64 ".img", at);
  close (copy_image (c, from, name));
  close (from);
  fprintf (stderr,
           "replay-check: the disk at log entry %" PRId64
           " before recovery: %s\n",
           at, work_path (c, name));
}

/* Builds the disk at point AT into the work directory's NAME, DROPPING
 * or not some of the cached writes. */
static void
build_point (struct check *c, int64_t at, bool dropping, const char *name)
{
  int64_t last_flush = c->durable_to;
  int fd;

  for (int64_t i = c->durable_to + 1; i <= at; i++)
    if (c->log.entries[i].flags & LW_FLUSH)
      last_flush = i;
  advance_durable (c, last_flush);
  fd = copy_image (c, c->durable_fd, name);
  for (int64_t i = last_flush + 1; i <= at; i++) {
    const struct lw_entry *e = &c->log.entries[i];

    if (dropping && !(e->flags & LW_FUA) && rnd_below (&c->rnd, 2))
      continue;
    if (c->drop_durable && (e->flags & LW_FUA) && rnd_below (&c->rnd, 2))
      continue;
    if (lw_apply (&c->log, i, fd, &c->rnd) == -1)
      exit (2);
  }
  close (fd);
}

/* The disk at point AT, DROPPING or not some cached writes, recovered and
 * checked. */
static void
check_point (struct check *c, int64_t at, bool dropping)
{
  struct oracle_point o = oracle_at (c, at);
  char *path;
  int status;

  build_point (c, at, dropping, "point.img");
  if (c->only >= 0 && at != c->only)
    return;
  path = strdup (work_path (c, "point.img"));
  if (c->only >= 0)
    keep_image (c, path, at);
  status = run_recover (c, path);
  c->recover_status[status]++;
  if (status != 0)
    keep_recover_output (c, at);
  if (status == 2)
    report_violation (c, &o, 0, "recover could not recover the disk");
  else
    check_disk (c, &o, path);
  free (path);
  c->points++;
  c->dropping_points += dropping;
}

/* --image-at: only the disk at the mark MARK into OUT, dropping some
 * cached writes if DROPPING: for replays checked by other means (MD and
 * XFS in a guest). */
static int
image_at (struct check *c, const char *mark, const char *out, bool dropping)
{
  int64_t at = lw_find_mark (&c->log, mark);

  if (at < 0)
    die ("%s: no mark \"%s\"", c->log_path, mark);
  c->durable_fd = make_image (c, work_path (c, "durable.img"));
  build_point (c, at, dropping, "point.img");
  if (rename (work_path (c, "point.img"), out) == -1)
    die ("%s: %s", out, strerror (errno));
  unlink (work_path (c, "durable.img"));
  return 0;
}

/* What part of the disk an entry writes: S superblock, J journal, T tags,
 * D data; F a flush. */
static char
entry_kind (const struct check *c, const struct lw_entry *e)
{
  uint64_t off = e->sector * c->log.sector_size;
  uint64_t stride =
      c->sb.tag_run_bytes + (uint64_t)c->sb.zone_sectors * c->sb.sector_size;

  if (!lw_is_write (e))
    return e->flags & LW_FLUSH ? 'F' : 0;
  if (off < c->sb.journal_offset)
    return 'S';
  if (off < c->sb.journal_offset + c->sb.journal_size)
    return 'J';
  if (off >= c->sb.zones_offset &&
      (off - c->sb.zones_offset) % stride < c->sb.tag_run_bytes)
    return 'T';
  return 'D';
}

/* The checkpoints of the recording (a run of tag writes home, up to the
 * superblock write that moves the journal's tail), and how many distinct
 * sequences of what else the disk wrote and flushed in between: the
 * interleavings of checkpoints with writers that the points cover.
 * IN_CHECKPOINT[i] says whether entry i is inside one. */
static void
count_interleavings (struct check *c, bool *in_checkpoint)
{
  enum { SIG_MAX = 40 };
  char (*seen)[SIG_MAX + 1] = NULL, sig[SIG_MAX + 1];
  uint64_t nr_seen = 0, len = 0;
  bool inside = false, journaled = false;

  for (int64_t i = c->start + 1; i <= c->end; i++) {
    char k = entry_kind (c, &c->log.entries[i]);

    in_checkpoint[i] = inside;
    journaled |= k == 'J';
    if (!k || (!inside && k != 'T'))
      continue;
    if (!inside) {
      inside = true;
      len = 0;
    }
    if (len < SIG_MAX && (len == 0 || sig[len - 1] != k))
      sig[len++] = k;
    if (k != 'S')
      continue;
    sig[len] = 0;
    inside = false;
    c->checkpoints++;
    uint64_t j = 0;
    while (j < nr_seen && strcmp (seen[j], sig) != 0)
      j++;
    if (j == nr_seen) {
      seen = realloc (seen, (nr_seen + 1) * sizeof *seen);
      memcpy (seen[nr_seen++], sig, sizeof sig);
    }
  }
  c->interleavings = nr_seen;
  free (seen);
  if (!journaled) {
    /* Mode "none": no journal, tags written home at every flush. */
    c->checkpoints = c->interleavings = 0;
    memset (in_checkpoint, 0, c->log.nr_entries * sizeof *in_checkpoint);
  }
}

/* The lowest and highest sequence numbers of the journal header blocks
 * entry E writes, or false if it writes none. */
static bool
entry_header_seqs (struct check *c, const struct lw_entry *e, uint64_t *lo,
                   uint64_t *hi)
{
  uint64_t off = e->sector * c->log.sector_size;
  uint64_t len = e->nr_sectors * c->log.sector_size;
  uint64_t first = (off - c->sb.journal_offset + SB_BLOCK - 1) / SB_BLOCK;
  bool any = false;

  *lo = UINT64_MAX;
  *hi = 0;
  for (uint64_t b = first;; b++) {
    uint64_t at = c->sb.journal_offset + b * SB_BLOCK;
    uint8_t h[JOURNAL_HEADER];

    if (at + SB_BLOCK > off + len)
      break;
    if (pread (c->log.fd, h, sizeof h, e->data + (at - off)) != sizeof h)
      die ("%s: %s", c->log_path, strerror (errno));
    if (le32_get (h + JH_MAGIC) != JOURNAL_MAGIC)
      continue;
    uint64_t seq = le64_get (h + JH_SEQ);
    *lo = seq < *lo ? seq : *lo;
    *hi = seq > *hi ? seq : *hi;
    any = true;
  }
  return any;
}

static void
index_journal_order (struct check *c)
{
  uint64_t n = c->log.nr_entries, hi = 0, lo = UINT64_MAX;
  uint64_t *entry_lo = malloc (n * sizeof *entry_lo);

  c->max_seq_to = malloc (n * sizeof *c->max_seq_to);
  c->min_seq_from = malloc ((n + 1) * sizeof *c->min_seq_from);
  for (uint64_t i = 0; i < n; i++) {
    const struct lw_entry *e = &c->log.entries[i];
    uint64_t elo = UINT64_MAX, ehi = 0;

    if ((int64_t)i > c->start && entry_kind (c, e) == 'J')
      entry_header_seqs (c, e, &elo, &ehi);
    hi = ehi > hi ? ehi : hi;
    c->max_seq_to[i] = hi;
    entry_lo[i] = elo;
  }
  c->min_seq_from[n] = UINT64_MAX;
  for (uint64_t i = n; i-- > 0;) {
    lo = entry_lo[i] < lo ? entry_lo[i] : lo;
    c->min_seq_from[i] = lo;
  }
  free (entry_lo);
}

/* Does the log put, after AT, a journal header older than one it put by
 * AT?  Then the disk at AT is one the log misorders (see the top). */
static bool
misordered (const struct check *c, int64_t at)
{
  return c->min_seq_from[at + 1] < c->max_seq_to[at];
}

static int
compare_i64 (const void *a, const void *b)
{
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

  return (x > y) - (x < y);
}

/* Takes up to MAX of the N candidates CAND, at random, into POINTS. */
static uint64_t
sample (struct check *c, int64_t *cand, uint64_t n, uint64_t max,
        int64_t *points)
{
  uint64_t k = 0;

  for (uint64_t j = 0; j < n && k < max; j++) {
    uint64_t r = j + rnd_below (&c->rnd, n - j);
    int64_t t = cand[j];

    cand[j] = cand[r];
    cand[r] = t;
    points[k++] = cand[j];
  }
  return k;
}

/* Up to N points: a third at flushes and FUA writes (or just before
 * them), a third inside checkpoints, the rest anywhere, and the end. */
static uint64_t
choose_points (struct check *c, uint64_t n, const bool *in_checkpoint,
               int64_t *points)
{
  uint64_t k = 0, nr_sync = 0, nr_ckpt = 0;
  int64_t *sync = malloc ((c->end - c->start + 1) * 2 * sizeof *sync);
  int64_t *ckpt = malloc ((c->end - c->start + 1) * sizeof *ckpt);

  for (int64_t i = c->start + 1; i <= c->end; i++) {
    if (c->log.entries[i].flags & (LW_FLUSH | LW_FUA)) {
      sync[nr_sync++] = i;
      sync[nr_sync++] = i - 1;
    }
    if (in_checkpoint[i])
      ckpt[nr_ckpt++] = i;
  }
  k = c->flush_points = sample (c, sync, nr_sync, n / 3, points);
  k += sample (c, ckpt, nr_ckpt, n / 3, points + k);
  while (k < n - 1)
    points[k++] = c->start + 1 + rnd_below (&c->rnd, c->end - c->start);
  points[k++] = c->end;
  qsort (points, k, sizeof *points, compare_i64);
  free (sync);
  free (ckpt);
  return k;
}

static void
usage (void)
{
  fprintf (stderr,
           "usage: replay-check --tool NBD-INTEGRITY --work DIR --device-size "
           "BYTES --garbage SEED\n"
           "                    [--keyfile FILE] [--points N] [--seed N] "
           "[--drop-durable] [--only ENTRY] LOG RECORD\n"
           "       replay-check --image-at MARK --out FILE --work DIR "
           "--device-size BYTES\n"
           "                    --garbage SEED [--drop-cached] [--seed N] "
           "LOG\n");
  exit (2);
}

static void
parse_args (struct check *c, int argc, char **argv, uint64_t *nr_points)
{
  static const struct option options[] = {
      {"tool", required_argument, NULL, 't'},
      {"work", required_argument, NULL, 'w'},
      {"device-size", required_argument, NULL, 'd'},
      {"garbage", required_argument, NULL, 'g'},
      {"keyfile", required_argument, NULL, 'k'},
      {"points", required_argument, NULL, 'p'},
      {"seed", required_argument, NULL, 's'},
      {"drop-durable", no_argument, NULL, 'D'},
      {"image-at", required_argument, NULL, 'i'},
      {"out", required_argument, NULL, 'o'},
      {"drop-cached", no_argument, NULL, 'C'},
      {"only", required_argument, NULL, 'O'},
      {0},
  };
  int opt;

  while ((opt = getopt_long (argc, argv, "", options, NULL)) != -1)
    switch (opt) {
    case 't':
      c->tool = optarg;
      break;
    case 'w':
      c->work = optarg;
      break;
    case 'd':
      c->device_size = strtoull (optarg, NULL, 0);
      break;
    case 'g':
      c->garbage_seed = strtoull (optarg, NULL, 0);
      break;
    case 'k':
      c->keyfile = optarg;
      break;
    case 'p':
      *nr_points = strtoull (optarg, NULL, 0);
      break;
    case 's':
      c->rnd = strtoull (optarg, NULL, 0) | 1;
      break;
    case 'D':
      c->drop_durable = true;
      break;
    case 'i':
      c->image_mark = optarg;
      break;
    case 'o':
      c->image_out = optarg;
      break;
    case 'C':
      c->drop_cached = true;
      break;
    case 'O':
      c->only = strtoll (optarg, NULL, 0);
      break;
    default:
      usage ();
    }
  if (c->image_mark) {
    if (optind + 1 != argc || !c->image_out || !c->work || !c->device_size)
      usage ();
  } else if (optind + 2 != argc || !c->tool || !c->work || !c->device_size ||
             *nr_points < 2)
    usage ();
  c->log_path = argv[optind];
}

static void
quiet_log (enum ni_log_level level, const char *msg)
{
  (void)level;
  (void)msg;
}

int
main (int argc, char **argv)
{
  struct check c = {.rnd = 1, .durable_to = -1, .only = -1};
  uint64_t nr_points = 200, n;
  int64_t *points;
  bool *in_checkpoint;

  parse_args (&c, argc, argv, &nr_points);
  ni_log_set (quiet_log);
  if (lw_open (&c.log, c.log_path) == -1)
    return 2;
  if (c.image_mark)
    return image_at (&c, c.image_mark, c.image_out, c.drop_cached);
  read_record (&c, argv[optind + 1]);
  index_marks (&c);
  c.durable_fd = make_image (&c, work_path (&c, "durable.img"));
  read_layout (&c);
  build_model (&c);
  in_checkpoint = calloc (c.log.nr_entries, sizeof *in_checkpoint);
  count_interleavings (&c, in_checkpoint);
  points = malloc (nr_points * sizeof *points);
  n = choose_points (&c, nr_points, in_checkpoint, points);
  index_journal_order (&c);
  for (uint64_t i = 0; i < n; i++) {
    if (misordered (&c, points[i])) {
      c.misordered_points++;
      continue;
    }
    check_point (&c, points[i], rnd_below (&c.rnd, 2));
    c.points_in_checkpoint += in_checkpoint[points[i]];
  }
  printf ("replay-check: %s: %" PRIu64 " log entries, %" PRIu64
          " requests; %" PRIu64 " points (%" PRIu64
          " at flushes and FUA, %" PRIu64 " dropping cached writes, %" PRIu64
          " inside a checkpoint); %" PRIu64 " sectors checked, %" PRIu64
          " failed where allowed, %" PRIu64
          " written twice unflushed read as before; recover exit "
          "0/1/2: %" PRIu64 "/%" PRIu64 "/%" PRIu64 "; %" PRIu64
          " checkpoints, %" PRIu64 " distinct interleavings; %" PRIu64
          " points not checked, where the log orders journal blocks "
          "against their commits; %" PRIu64 " violations\n",
          c.log_path, c.log.nr_entries, c.requests, c.points, c.flush_points,
          c.dropping_points, c.points_in_checkpoint, c.sectors_checked,
          c.failed_allowed, c.window_cases, c.recover_status[0],
          c.recover_status[1], c.recover_status[2], c.checkpoints,
          c.interleavings, c.misordered_points, c.violations);
  return c.violations ? 1 : 0;
}
