/* nbd-integrity recover: replays the journal of a disk that was not
 * closed cleanly, as the plugin would on opening it, reports what it
 * decided for each journaled sector, and leaves the disk clean.
 *
 * Decisions are collected during disk_open and printed once it has
 * succeeded, so that a failure leaves no half-written JSON on stdout.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "disk.h"
#include "json.h"
#include "report.h"
#include "tool.h"

struct decision {
  uint64_t sector;
  enum recovery_decision what;
};

static void
collect_decision (void *opaque, uint64_t sector, enum recovery_decision what)
{
  GArray *decisions = opaque;
  struct decision d = {.sector = sector, .what = what};

  g_array_append_val (decisions, d);
}

static const char *
decision_words (enum recovery_decision what)
{
  switch (what) {
  case RECOVERY_NEW:
    return "kept the journaled (new) tag";
  case RECOVERY_OLD:
    return "kept the old tag";
  case RECOVERY_NEITHER:
    break;
  }
  return "holds none of the versions it may hold (torn by the crash, "
         "damaged, or a flushed write lost): fails verification until "
         "rewritten";
}

/* What recovery found wrong with the disk, in words naming where: the
 * damage it repaired or worked around, and the sectors it had to fail.
 * Each is also logged as it is found. */
static GPtrArray *
problems_of (const struct superblock *sb, const struct recovery_report *r)
{
  GPtrArray *p = g_ptr_array_new_with_free_func (g_free);

  if (sb->invalid_copy >= 0)
    g_ptr_array_add (p, g_strdup_printf ("superblock copy %d was not valid "
                                         "(%s); it has been rewritten",
                                         sb->invalid_copy, sb->invalid_why));
  if (r->newer_tail)
    g_ptr_array_add (
        p, g_strdup_printf ("the superblock named an older journal tail "
                            "than the journal does; recovery began at block "
                            "%" PRIu64,
                            r->tail));
  if (r->repaired)
    g_ptr_array_add (
        p, g_strdup_printf ("%" PRIu64 " damaged journal header blocks, the "
                            "first block %" PRIu64 ", were read from their "
                            "copies: nothing lost",
                            r->repaired, r->first_repaired));
  if (r->unflushed_lost)
    g_ptr_array_add (
        p, g_strdup_printf ("journal block %" PRIu64 " and its copy are "
                            "damaged; the %" PRIu64 " blocks after them, "
                            "never flushed, were not replayed",
                            r->head, r->unflushed_lost));
  if (r->neither)
    g_ptr_array_add (
        p, g_strdup_printf ("%" PRIu64 " %s none of the "
                            "versions it may hold, and fail%s "
                            "verification until rewritten "
                            "(listed above)",
                            r->neither,
                            r->neither == 1 ? "sector holds" : "sectors hold",
                            r->neither == 1 ? "s" : ""));
  return p;
}

static void
print_text (const char *disk, const GArray *decisions,
            const struct recovery_report *r, const GPtrArray *problems)
{
  for (guint i = 0; i < decisions->len; i++) {
    const struct decision *d = &g_array_index (decisions, struct decision, i);
    printf ("%s: sector %" PRIu64 ": %s\n", disk, d->sector,
            decision_words (d->what));
  }
  for (guint i = 0; i < problems->len; i++)
    printf ("%s: %s\n", disk, (const char *)g_ptr_array_index (problems, i));
  printf ("%s: replayed %" PRIu64 " journal blocks, %" PRIu64
          " records, %" PRIu64 " sectors: %" PRIu64 " new, %" PRIu64
          " old, %" PRIu64 " failed; %u problems\n",
          disk, r->blocks, r->records, r->sectors, r->kept_new, r->kept_old,
          r->neither, problems->len);
}

static void
print_json (const char *disk, const GArray *decisions,
            const struct recovery_report *r, const GPtrArray *problems)
{
  struct json j;

  json_begin (&j, stdout);
  json_string (&j, "disk", disk);
  json_array (&j, "problems");
  for (guint i = 0; i < problems->len; i++)
    json_string (&j, NULL, g_ptr_array_index (problems, i));
  json_array_end (&j);
  json_array (&j, "decisions");
  for (guint i = 0; i < decisions->len; i++) {
    const struct decision *d = &g_array_index (decisions, struct decision, i);
    json_object (&j, NULL);
    json_u64 (&j, "sector", d->sector);
    json_string (&j, "decision", recovery_decision_name (d->what));
    json_object_end (&j);
  }
  json_array_end (&j);
  json_u64 (&j, "journal_blocks", r->blocks);
  json_u64 (&j, "records", r->records);
  json_u64 (&j, "sectors", r->sectors);
  json_u64 (&j, "sectors_read", r->read);
  json_u64 (&j, "new", r->kept_new);
  json_u64 (&j, "old", r->kept_old);
  json_u64 (&j, "neither", r->neither);
  json_u64 (&j, "journal_tail", r->tail);
  json_u64 (&j, "journal_head", r->head);
  json_u64 (&j, "flushed_to", r->flushed_to);
  json_u64 (&j, "repaired_journal_blocks", r->repaired);
  json_u64 (&j, "unflushed_journal_blocks_lost", r->unflushed_lost);
  json_end (&j);
}

int
cmd_recover (int argc, char **argv)
{
  g_autofree char *keyfile = NULL;
  gboolean json = FALSE;
  GOptionEntry entries[] = {
      json_option (&json),
      keyfile_option (&keyfile),
      G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GArray) decisions =
      g_array_new (FALSE, FALSE, sizeof (struct decision));
  /* In the mode it was last served in, which opening it records again. */
  struct disk_options opts = {.mode = DISK_MODE_RECORDED,
                              .read_flushed = true,
                              .recovered = collect_decision,
                              .opaque = decisions};
  g_autoptr (GPtrArray) problems = NULL;
  struct disk *d;

  if (!parse_command (&argc, &argv, "DISK", 1,
                      "Replays DISK's journal, reports what it decided for "
                      "each journaled sector, and leaves the disk clean.  "
                      "Exit status: 0 recovered, 1 recovered but damage "
                      "was found or sectors fail, 2 could not recover.",
                      entries))
    return EXIT_TROUBLE;
  opts.path = argv[1];
  opts.keyfile = keyfile;
  if ((d = disk_open (&opts)) == NULL) {
    tool_error ("recover", "%s", ni_error ());
    return EXIT_TROUBLE;
  }
  problems = problems_of (disk_superblock (d), disk_recovery_report (d));
  if (json)
    print_json (opts.path, decisions, disk_recovery_report (d), problems);
  else
    print_text (opts.path, decisions, disk_recovery_report (d), problems);
  if (disk_close (d) == -1) {
    tool_error ("recover",
                "%s: cannot mark the disk clean: %s; it is recovered again "
                "when next opened",
                opts.path, strerror (errno));
    return EXIT_TROUBLE;
  }
  return problems->len ? EXIT_MISMATCH : EXIT_OK;
}
