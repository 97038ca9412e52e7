/* nbd-integrity check: the superblock copies and the journal, read
 * without opening the disk and without reading any data. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>

#include "journal.h"
#include "json.h"
#include "report.h"
#include "tool.h"

/* Problems are collected, then printed with the summary. */
static void add_problem (GPtrArray *problems, const char *fmt, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
add_problem (GPtrArray *problems, const char *fmt, ...)
{
  va_list ap;

  va_start (ap, fmt);
  g_ptr_array_add (problems, g_strdup_vprintf (fmt, ap));
  va_end (ap);
}

/* sb_read takes the newest valid copy; a damaged older one would go
 * unnoticed until the day it is needed. */
static void
check_copies (struct backing *b, GPtrArray *problems)
{
  for (int i = 0; i < SB_COPIES; i++) {
    static const char repair[] =
        "; the other copy is used, and the next superblock write repairs it";
    uint8_t block[SB_BLOCK];
    struct superblock sb;

    if (backing_pread (b, block, SB_BLOCK, (uint64_t)i * SB_BLOCK) == -1)
      add_problem (problems, "superblock copy %d: read failed: %s%s", i,
                   g_strerror (errno), repair);
    else if (sb_decode (block, &sb) == -1)
      add_problem (problems, "superblock copy %d: %s%s", i, ni_error (),
                   repair);
  }
}

/* What the journal holds, and the problems found. */
struct journal_use {
  uint64_t blocks, capacity, sectors;
  GPtrArray *problems;
};

static int
count_record (void *opaque, uint64_t seq, const struct journal_record *rec)
{
  struct journal_use *use = opaque;

  (void)seq;
  use->sectors += rec->count;
  return 0;
}

static void
note_damage (void *opaque, const char *what)
{
  struct journal_use *use = opaque;

  add_problem (use->problems, "%s", what);
}

/* Reads the journal as recovery would, listing its damage. */
static void
check_journal (struct backing *b, const struct superblock *sb,
               struct journal_use *use)
{
  struct journal_scan js = {
      .record = count_record, .damage = note_damage, .opaque = use};

  if (journal_scan (b, sb, &js) == -1) {
    add_problem (use->problems, "journal: %s", ni_error ());
    return;
  }
  use->blocks = js.head - js.tail;
  if (js.newer_tail)
    add_problem (use->problems,
                 "the newest valid superblock copy (%d) names journal tail "
                 "%" PRIu64 ", but the journal shows a checkpoint to %" PRIu64
                 " was recorded since: the copy that recorded it is damaged "
                 "or was put back; recovery starts from %" PRIu64,
                 sb->copy, sb->journal_tail_seq, js.tail, js.tail);
}

static void
print_text (const char *disk, const struct superblock *sb,
            const struct journal_use *use, const GPtrArray *problems)
{
  for (guint i = 0; i < problems->len; i++)
    printf ("%s: %s\n", disk, (const char *)g_ptr_array_index (problems, i));
  printf ("%s: %s; journal holds %" PRIu64 " of %" PRIu64 " blocks (%" PRIu64
          " journaled sectors%s); %u problems\n",
          disk, sb->state == SB_CLEAN ? "clean" : "not closed cleanly",
          use->blocks, use->capacity, use->sectors,
          use->sectors ? ", replayed when it is next opened" : "",
          problems->len);
  if (sb_keyed (sb))
    printf ("%s: keyed disk: check has no key, so the MACs of the "
            "superblock and the journal were not checked; verify "
            "--keyfile checks them\n",
            disk);
}

static void
print_json (const char *disk, const struct superblock *sb,
            const struct journal_use *use, const GPtrArray *problems)
{
  struct json j;

  json_begin (&j, stdout);
  json_string (&j, "disk", disk);
  json_array (&j, "problems");
  for (guint i = 0; i < problems->len; i++)
    json_string (&j, NULL, g_ptr_array_index (problems, i));
  json_array_end (&j);
  json_string (&j, "state", sb->state == SB_CLEAN ? "clean" : "dirty");
  json_u64 (&j, "journal_blocks", use->blocks);
  json_u64 (&j, "journal_capacity", use->capacity);
  json_u64 (&j, "journaled_sectors", use->sectors);
  /* A keyed disk's MACs are not checked: check takes no key. */
  json_bool (&j, "keyed", sb_keyed (sb));
  json_end (&j);
}

int
cmd_check (int argc, char **argv)
{
  gboolean json = FALSE;
  GOptionEntry entries[] = {
      json_option (&json),
      G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GPtrArray) problems = g_ptr_array_new_with_free_func (g_free);
  struct journal_use use = {.problems = problems};
  struct superblock sb;
  struct backing *b;

  if (!parse_command (&argc, &argv, "DISK", 1,
                      "Checks DISK's superblocks and journal (no data is "
                      "read).  Exit status: 0 consistent, 1 problems found, "
                      "2 could not check.",
                      entries) ||
      (b = open_superblock ("check", argv[1], &sb)) == NULL)
    return EXIT_TROUBLE;
  check_copies (b, problems);
  if (b->size < sb.disk_size)
    add_problem (problems,
                 "the disk has %" PRIu64 " bytes but its format needs %" PRIu64
                 " (truncated)",
                 b->size, sb.disk_size);
  check_journal (b, &sb, &use);
  backing_close (b);
  use.capacity = sb_journal_blocks (&sb);
  if (json)
    print_json (argv[1], &sb, &use, problems);
  else
    print_text (argv[1], &sb, &use, problems);
  return problems->len ? EXIT_MISMATCH : EXIT_OK;
}
