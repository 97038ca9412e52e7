/* nbd-integrity compare: the copies of a mirror, sector by sector.
 *
 * MD's "check" counts the sectors where a RAID1's legs differ, and its
 * "repair" copies the first leg over the others, whichever is right.  Here
 * each member is opened read-only (a dirty one's journal replayed in
 * memory, as verify does), every sector of each is read and checked
 * against its tag, and a sector is listed when its copies differ or one
 * fails its tag.  Copies are grouped by content (A, B, ...), and when the
 * copies that verify all hold one content, that content is the good one:
 * the others are damaged, and MD heals them when it reads them.  When
 * copies that differ all verify, tags alone cannot say which is right.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "disk.h"
#include "json.h"
#include "progress.h"
#include "report.h"
#include "tool.h"

/* Sectors read from each member at a time: as verify reads. */
#define COMPARE_BYTES (16u << 20)
#define MAX_MEMBERS 8

struct member {
  const char *path;
  struct disk *d;
  uint8_t *buf;
  GArray *bad; /* struct bad_sector of the chunk being compared */
};

/* A listed sector: each member's check and content group. */
struct difference {
  uint64_t sector;
  enum sector_check check[MAX_MEMBERS];
  uint8_t content[MAX_MEMBERS]; /* 0 for A, 1 for B, ... */
  int good; /* the content that every verifying copy holds, or: */
};

enum { NO_COPY_VERIFIES = -1, COPIES_DISAGREE = -2 };

struct comparison {
  struct member m[MAX_MEMBERS];
  int n;
  uint64_t sectors, sector_size;
  GArray *diffs; /* struct difference */
};

static const char *
check_name (enum sector_check c)
{
  switch (c) {
  case SECTOR_OK:
    return "ok";
  case SECTOR_INVALIDATED:
    return "invalidated";
  default:
    return "mismatch";
  }
}

/* Member M's check of SECTOR, from the chunk's list (in sector order),
 * whose next unvisited entry is at *AT. */
static enum sector_check
check_of (const struct member *m, uint64_t sector, guint *at)
{
  const struct bad_sector *b;

  if (*at >= m->bad->len)
    return SECTOR_OK;
  b = &g_array_index (m->bad, struct bad_sector, *at);
  if (b->sector != sector)
    return SECTOR_OK;
  (*at)++;
  return b->why;
}

/* Groups the copies of sector I of the chunk by content, and finds the
 * content every verifying copy holds.  False if there is nothing to list:
 * one content, every copy verifying. */
static bool
judge (const struct comparison *c, uint64_t i, struct difference *diff)
{
  size_t ss = c->sector_size;
  bool all_ok = true;
  int groups = 0;

  diff->good = NO_COPY_VERIFIES;
  for (int k = 0; k < c->n; k++) {
    const uint8_t *data = c->m[k].buf + i * ss;
    int g = 0;

    while (g < k && memcmp (c->m[g].buf + i * ss, data, ss) != 0)
      g++;
    diff->content[k] = g < k ? diff->content[g] : groups++;
    if (diff->check[k] != SECTOR_OK)
      all_ok = false;
    else if (diff->good == NO_COPY_VERIFIES)
      diff->good = diff->content[k];
    else if (diff->good != diff->content[k])
      diff->good = COPIES_DISAGREE;
  }
  return !(all_ok && groups == 1);
}

/* Compares N sectors from SECTOR, read into each member's buffer. */
static void
compare_chunk (struct comparison *c, uint64_t sector, uint64_t n)
{
  guint at[MAX_MEMBERS] = {0};

  for (uint64_t i = 0; i < n; i++) {
    struct difference diff = {.sector = sector + i};

    for (int k = 0; k < c->n; k++)
      diff.check[k] = check_of (&c->m[k], sector + i, &at[k]);
    if (judge (c, i, &diff))
      g_array_append_val (c->diffs, diff);
  }
}

/* Reads and compares every sector.  -1 with the error printed if a
 * member could not be read. */
static int
compare_all (struct comparison *c)
{
  uint64_t chunk = COMPARE_BYTES / c->sector_size;
  struct progress progress;
  int r = 0;

  progress_start_bytes (&progress, "comparing");
  for (uint64_t s = 0; r == 0 && s < c->sectors; s += chunk) {
    uint64_t n = MIN (chunk, c->sectors - s);

    for (int k = 0; r == 0 && k < c->n; k++) {
      struct member *m = &c->m[k];
      g_array_set_size (m->bad, 0);
      r = disk_read_checked (m->d, m->buf, s, n, collect_bad_sector, m->bad);
      if (r == -1)
        tool_error ("compare",
                    "%s: cannot read sectors %" PRIu64 "-%" PRIu64
                    ": %s; the rest of the disks were not compared",
                    m->path, s, s + n - 1, ni_error ());
    }
    if (r == 0)
      compare_chunk (c, s, n);
    progress_update (&progress, MIN (s + chunk, c->sectors) * c->sector_size,
                     c->sectors * c->sector_size);
  }
  progress_end (&progress);
  return r;
}

/* Opens every member read-only, with the key file of the same place in
 * KEYFILES, or the only one given for all.  False with the error printed
 * on failure. */
static bool
open_members (struct comparison *c, char **paths, char **keyfiles)
{
  guint nkeys = keyfiles ? g_strv_length (keyfiles) : 0;

  if (nkeys > 1 && nkeys != (guint)c->n) {
    tool_error ("compare",
                "%u key files for %d disks: give one for all, "
                "or one per disk in the same order",
                nkeys, c->n);
    return false;
  }
  for (int k = 0; k < c->n; k++) {
    struct disk_options opts = {
        .mode = DISK_MODE_TAGS,
        .readonly = true,
        .path = paths[k],
        .keyfile = nkeys ? keyfiles[MIN ((guint)k, nkeys - 1)] : NULL};
    c->m[k].path = paths[k];
    c->m[k].bad = g_array_new (FALSE, FALSE, sizeof (struct bad_sector));
    if ((c->m[k].d = disk_open (&opts)) == NULL) {
      tool_error ("compare", "%s", ni_error ());
      return false;
    }
  }
  return true;
}

/* The sector size all members share and the sectors they all have.  False
 * with the error printed if their sectors differ in size. */
static bool
common_geometry (struct comparison *c)
{
  const struct superblock *first = disk_superblock (c->m[0].d);

  c->sector_size = first->sector_size;
  c->sectors = first->data_sectors;
  for (int k = 1; k < c->n; k++) {
    const struct superblock *sb = disk_superblock (c->m[k].d);
    if (sb->sector_size != c->sector_size) {
      tool_error ("compare",
                  "%s has %" PRIu32 "-byte sectors and %s %" PRIu64
                  ": they cannot be copies of one another",
                  c->m[k].path, sb->sector_size, c->m[0].path, c->sector_size);
      return false;
    }
    if (sb->data_sectors != c->sectors)
      fprintf (stderr,
               "nbd-integrity: compare: %s has %" PRIu64 " sectors and %s "
               "%" PRIu64 ": comparing the first %" PRIu64 "\n",
               c->m[k].path, sb->data_sectors, c->m[0].path, c->sectors,
               MIN (sb->data_sectors, c->sectors));
    c->sectors = MIN (sb->data_sectors, c->sectors);
  }
  for (int k = 0; k < c->n; k++)
    if ((c->m[k].buf = g_try_malloc (COMPARE_BYTES)) == NULL) {
      tool_error ("compare", "no memory for a read buffer");
      return false;
    }
  return true;
}

static void
close_members (struct comparison *c)
{
  for (int k = 0; k < c->n; k++) {
    /* Read-only: closing writes nothing and cannot fail. */
    if (c->m[k].d)
      disk_close (c->m[k].d);
    if (c->m[k].bad)
      g_array_free (c->m[k].bad, TRUE);
    g_free (c->m[k].buf);
  }
}

/* Which copy is good, in words. */
static const char *
verdict (const struct difference *d, char letter[2])
{
  if (d->good == NO_COPY_VERIFIES)
    return "unknown: no copy verifies";
  if (d->good == COPIES_DISAGREE)
    return "unknown: copies that differ all verify";
  letter[0] = 'A' + d->good;
  letter[1] = 0;
  return letter;
}

static void
print_text (const struct comparison *c)
{
  char letter[2];

  for (guint i = 0; i < c->diffs->len; i++) {
    const struct difference *d =
        &g_array_index (c->diffs, struct difference, i);

    printf ("sector %" PRIu64 ":", d->sector);
    for (int k = 0; k < c->n; k++)
      printf (" %s %c %s;", c->m[k].path, 'A' + d->content[k],
              check_name (d->check[k]));
    printf (" good: %s\n", verdict (d, letter));
  }
  printf ("%" PRIu64 " sectors compared, %u listed\n", c->sectors,
          c->diffs->len);
}

static void
print_json (const struct comparison *c)
{
  char letter[2];
  struct json j;

  json_begin (&j, stdout);
  json_array (&j, "disks");
  for (int k = 0; k < c->n; k++)
    json_string (&j, NULL, c->m[k].path);
  json_array_end (&j);
  json_u64 (&j, "sectors", c->sectors);
  json_u64 (&j, "listed", c->diffs->len);
  json_array (&j, "differences");
  for (guint i = 0; i < c->diffs->len; i++) {
    const struct difference *d =
        &g_array_index (c->diffs, struct difference, i);

    json_object (&j, NULL);
    json_u64 (&j, "sector", d->sector);
    json_array (&j, "copies");
    for (int k = 0; k < c->n; k++) {
      json_object (&j, NULL);
      json_string (&j, "disk", c->m[k].path);
      json_string (&j, "content", (char[]){'A' + d->content[k], 0});
      json_string (&j, "check", check_name (d->check[k]));
      json_object_end (&j);
    }
    json_array_end (&j);
    json_string (&j, "good", verdict (d, letter));
    json_object_end (&j);
  }
  json_array_end (&j);
  json_end (&j);
}

int
cmd_compare (int argc, char **argv)
{
  g_auto (GStrv) keyfiles = NULL;
  gboolean json = FALSE;
  GOptionEntry entries[] = {
      json_option (&json),
      {.long_name = "keyfile",
       .arg = G_OPTION_ARG_FILENAME_ARRAY,
       .arg_data = &keyfiles,
       .description = "Key file of keyed disks: once for all, or once per "
                      "disk in order",
       .arg_description = "FILE"},
      G_OPTION_ENTRY_NULL,
  };
  struct comparison c = {0};
  int r = EXIT_TROUBLE;

  if (!parse_command_list (&argc, &argv, "DISK DISK...",
                           "Reads every sector of each DISK, copies of one "
                           "another (the legs of an MD RAID1), and lists "
                           "those whose copies differ or fail their tags, "
                           "with the copy that is good where the tags can "
                           "tell.  Exit status: 0 all copies agree and "
                           "verify, 1 sectors listed, 2 could not compare.",
                           entries))
    return EXIT_TROUBLE;
  c.n = argc - 1;
  if (c.n < 2 || c.n > MAX_MEMBERS) {
    tool_error ("compare", "expected 2 to %d disks, got %d", MAX_MEMBERS, c.n);
    return EXIT_TROUBLE;
  }
  c.diffs = g_array_new (FALSE, FALSE, sizeof (struct difference));
  if (open_members (&c, argv + 1, keyfiles) && common_geometry (&c) &&
      compare_all (&c) == 0) {
    if (json)
      print_json (&c);
    else
      print_text (&c);
    r = c.diffs->len ? EXIT_MISMATCH : EXIT_OK;
  }
  close_members (&c);
  g_array_free (c.diffs, TRUE);
  return r;
}
