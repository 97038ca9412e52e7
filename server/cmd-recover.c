/* nbd-integrity recover and check: the journal, offline. */
#include <inttypes.h>
#include <stdlib.h>

#include "backing.h"
#include "disk.h"
#include "journal.h"
#include "report.h"
#include "superblock.h"
#include "tool.h"

struct decisions {
  bool json;
  const char *disk;
  uint64_t count;
};

static void
print_decision (void *opaque, uint64_t sector, enum recovery_decision d)
{
  struct decisions *ds = opaque;

  if (ds->json)
    printf ("%s{\"sector\": %" PRIu64 ", \"decision\": \"%s\"}",
            ds->count ? ", " : "", sector, recovery_decision_name (d));
  else
    printf ("%s: sector %" PRIu64 ": %s\n", ds->disk, sector,
            d == RECOVERY_NEW   ? "kept the journaled (new) tag"
            : d == RECOVERY_OLD ? "kept the old tag"
                                : "torn: matches neither tag, fails "
                                  "verification until rewritten");
  ds->count++;
}

static void
print_summary (const struct decisions *ds, const struct recovery_report *r)
{
  if (ds->json)
    printf ("], \"journal_blocks\": %" PRIu64 ", \"records\": %" PRIu64
            ", \"sectors\": %" PRIu64 ", \"new\": %" PRIu64
            ", \"old\": %" PRIu64 ", \"neither\": %" PRIu64 "}\n",
            r->blocks, r->records, r->sectors, r->kept_new, r->kept_old,
            r->neither);
  else
    printf ("%s: replayed %" PRIu64 " journal blocks, %" PRIu64
            " records, %" PRIu64 " sectors: %" PRIu64 " new, %" PRIu64
            " old, %" PRIu64 " torn\n",
            ds->disk, r->blocks, r->records, r->sectors, r->kept_new,
            r->kept_old, r->neither);
}

int
cmd_recover (int argc, char **argv)
{
  g_autofree char *keyfile = NULL;
  gboolean json = FALSE;
  GOptionEntry entries[] = {
      {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL},
      {"keyfile", 0, 0, G_OPTION_ARG_FILENAME, &keyfile,
       "Key file of a keyed disk", "FILE"},
      G_OPTION_ENTRY_NULL,
  };
  struct decisions ds = {.json = false};
  struct disk_options opts = {.recovered = print_decision, .opaque = &ds};
  struct disk *d;

  if (!parse_command (&argc, &argv, "DISK",
                      "Replays DISK's journal, reports what it decided for "
                      "each journaled sector, and leaves the disk clean.",
                      entries, 0))
    return EXIT_TROUBLE;
  opts.path = ds.disk = argv[1];
  opts.keyfile = keyfile;
  ds.json = json;
  if (json) {
    printf ("{\"disk\": ");
    json_string (stdout, ds.disk);
    printf (", \"decisions\": [");
  }
  d = disk_open (&opts);
  if (d == NULL) {
    if (json)
      printf ("]}\n");
    tool_error ("recover", "%s", ni_error ());
    return EXIT_TROUBLE;
  }
  print_summary (&ds, disk_recovery_report (d));
  if (disk_close (d) == -1) {
    tool_error ("recover", "%s: %s", ds.disk, ni_error ());
    return EXIT_TROUBLE;
  }
  return EXIT_OK;
}

/* ---- check ---- */

struct problems {
  const char *disk;
  bool json;
  int count;
};

static void
problem (struct problems *p, const char *fmt, const char *detail)
{
  if (p->json) {
    g_autofree char *msg = g_strdup_printf (fmt, detail);
    printf ("%s", p->count ? ", " : "");
    json_string (stdout, msg);
  } else {
    printf ("%s: ", p->disk);
    printf (fmt, detail);
    printf ("\n");
  }
  p->count++;
}

static void
check_copies (struct backing *b, struct problems *p)
{
  for (int i = 0; i < SB_COPIES; i++) {
    uint8_t block[SB_BLOCK];
    struct superblock sb;
    g_autofree char *what = NULL;

    if (backing_pread (b, block, SB_BLOCK, (uint64_t)i * SB_BLOCK) == -1)
      what =
          g_strdup_printf ("copy %d: read failed: %s", i, g_strerror (errno));
    else if (sb_decode (block, &sb) == -1)
      what = g_strdup_printf ("copy %d: %s", i, ni_error ());
    if (what)
      problem (p,
               "superblock %s; the other copy is used, and the next "
               "superblock write repairs it",
               what);
  }
}

static int
count_record (void *opaque, uint64_t seq, const struct journal_record *rec)
{
  uint64_t *sectors = opaque;

  (void)seq;
  *sectors += rec->count;
  return 0;
}

int
cmd_check (int argc, char **argv)
{
  gboolean json = FALSE;
  GOptionEntry entries[] = {
      {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL},
      G_OPTION_ENTRY_NULL,
  };
  struct problems p = {.json = false};
  struct superblock sb;
  struct backing *b;
  uint64_t head = 0, sectors = 0;
  int r;

  if (!parse_command (&argc, &argv, "DISK",
                      "Checks DISK's superblocks and journal (no data is "
                      "read).  Exit status: 0 consistent, 1 problems found, "
                      "2 could not check.",
                      entries, 0))
    return EXIT_TROUBLE;
  p.disk = argv[1];
  p.json = json;
  b = backing_open_file (p.disk, true);
  if (b == NULL || sb_read (b, &sb) == -1) {
    tool_error ("check", "%s", ni_error ());
    backing_close (b);
    return EXIT_TROUBLE;
  }
  if (json) {
    printf ("{\"disk\": ");
    json_string (stdout, p.disk);
    printf (", \"problems\": [");
  }
  check_copies (b, &p);
  if (b->size < sb.disk_size)
    problem (&p, "%s",
             "the disk is smaller than its format needs "
             "(truncated)");
  r = journal_scan (b, &sb, count_record, &sectors, &head);
  if (r == -1)
    problem (&p, "journal: %s", ni_error ());
  if (json)
    printf ("], \"state\": \"%s\", \"journal_blocks\": %" PRIu64
            ", \"journal_capacity\": %" PRIu64
            ", \"journaled_sectors\": %" PRIu64 "}\n",
            sb.state == SB_CLEAN ? "clean" : "dirty",
            head - sb.journal_tail_seq, sb_journal_blocks (&sb), sectors);
  else
    printf ("%s: %s; journal holds %" PRIu64 " of %" PRIu64 " blocks (%" PRIu64
            " journaled sectors%s); %d problems\n",
            p.disk, sb.state == SB_CLEAN ? "clean" : "not closed cleanly",
            head - sb.journal_tail_seq, sb_journal_blocks (&sb), sectors,
            sectors ? ", replayed when it is next opened" : "", p.count);
  backing_close (b);
  return p.count ? EXIT_MISMATCH : EXIT_OK;
}
