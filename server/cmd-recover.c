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
  return "torn: matches neither tag, fails verification until rewritten";
}

static void
print_text (const char *disk, const GArray *decisions,
            const struct recovery_report *r)
{
  for (guint i = 0; i < decisions->len; i++) {
    const struct decision *d = &g_array_index (decisions, struct decision, i);
    printf ("%s: sector %" PRIu64 ": %s\n", disk, d->sector,
            decision_words (d->what));
  }
  printf ("%s: replayed %" PRIu64 " journal blocks, %" PRIu64
          " records, %" PRIu64 " sectors: %" PRIu64 " new, %" PRIu64
          " old, %" PRIu64 " torn\n",
          disk, r->blocks, r->records, r->sectors, r->kept_new, r->kept_old,
          r->neither);
}

static void
print_json (const char *disk, const GArray *decisions,
            const struct recovery_report *r)
{
  struct json j;

  json_begin (&j, stdout);
  json_string (&j, "disk", disk);
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
  json_u64 (&j, "new", r->kept_new);
  json_u64 (&j, "old", r->kept_old);
  json_u64 (&j, "neither", r->neither);
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
                              .recovered = collect_decision,
                              .opaque = decisions};
  struct disk *d;

  if (!parse_command (&argc, &argv, "DISK", 1,
                      "Replays DISK's journal, reports what it decided for "
                      "each journaled sector, and leaves the disk clean.",
                      entries))
    return EXIT_TROUBLE;
  opts.path = argv[1];
  opts.keyfile = keyfile;
  if ((d = disk_open (&opts)) == NULL) {
    tool_error ("recover", "%s", ni_error ());
    return EXIT_TROUBLE;
  }
  if (json)
    print_json (opts.path, decisions, disk_recovery_report (d));
  else
    print_text (opts.path, decisions, disk_recovery_report (d));
  if (disk_close (d) == -1) {
    tool_error ("recover",
                "%s: cannot mark the disk clean: %s; it is recovered again "
                "when next opened",
                opts.path, strerror (errno));
    return EXIT_TROUBLE;
  }
  return EXIT_OK;
}
