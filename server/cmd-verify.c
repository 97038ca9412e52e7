/* nbd-integrity verify: every sector against its tag, offline.
 *
 * The disk is opened read-only: a dirty disk's journal is replayed in
 * memory, so the tags checked are those the plugin would use, and nothing
 * is written.  Bad sectors are collected and printed at the end, so that
 * the list does not tangle with the progress bar.
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "disk.h"
#include "json.h"
#include "progress.h"
#include "report.h"
#include "tool.h"

/* Bytes per disk_verify call: large enough that the calls cost nothing
 * beside the reads (each takes the range lock and a buffer), small
 * enough for a smooth progress bar. */
#define VERIFY_BYTES (16u << 20)

/* Verifies every sector of D into BAD.  -1 with errno if a read failed,
 * *FAILED_AT then being the first sector of the chunk that failed. */
static int
verify_all (struct disk *d, GArray *bad, uint64_t *failed_at)
{
  uint64_t n = disk_superblock (d)->data_sectors;
  uint64_t ss = disk_superblock (d)->sector_size, chunk = VERIFY_BYTES / ss;
  struct progress progress;
  int r = 0, saved_errno;

  progress_start_bytes (&progress, "verifying");
  for (uint64_t s = 0; r == 0 && s < n; s += chunk) {
    *failed_at = s;
    r = disk_verify (d, s, MIN (chunk, n - s), collect_bad_sector, bad);
    if (r == 0)
      progress_update (&progress, MIN (s + chunk, n) * ss, n * ss);
  }
  saved_errno = errno;
  progress_end (&progress);
  errno = saved_errno;
  return r;
}

static void
print_text (const char *disk, uint64_t sectors, const GArray *bad)
{
  for (guint i = 0; i < bad->len; i++) {
    const struct bad_sector *b = &g_array_index (bad, struct bad_sector, i);
    printf ("%s: sector %" PRIu64 ": %s\n", disk, b->sector,
            b->why == SECTOR_INVALIDATED ? "invalidated" : "tag mismatch");
  }
  printf ("%s: %" PRIu64 " sectors checked, %u mismatches\n", disk, sectors,
          bad->len);
}

/* The sectors of BAD, or only those invalidated, as a JSON array. */
static void
json_sectors (struct json *j, const char *key, const GArray *bad,
              bool only_invalidated)
{
  json_array (j, key);
  for (guint i = 0; i < bad->len; i++) {
    const struct bad_sector *b = &g_array_index (bad, struct bad_sector, i);
    if (!only_invalidated || b->why == SECTOR_INVALIDATED)
      json_u64 (j, NULL, b->sector);
  }
  json_array_end (j);
}

static void
print_json (const char *disk, const char *hash, uint64_t sectors,
            const GArray *bad)
{
  struct json j;

  json_begin (&j, stdout);
  json_string (&j, "disk", disk);
  json_string (&j, "hash", hash);
  json_u64 (&j, "sectors", sectors);
  json_u64 (&j, "mismatches", bad->len);
  json_sectors (&j, "bad_sectors", bad, false);
  json_sectors (&j, "invalidated_sectors", bad, true);
  json_end (&j);
}

int
cmd_verify (int argc, char **argv)
{
  g_autofree char *keyfile = NULL;
  gboolean json = FALSE;
  GOptionEntry entries[] = {
      json_option (&json),
      keyfile_option (&keyfile),
      G_OPTION_ENTRY_NULL,
  };
  g_autoptr (GArray) bad =
      g_array_new (FALSE, FALSE, sizeof (struct bad_sector));
  struct disk_options opts = {.mode = DISK_MODE_TAGS, .readonly = true};
  const struct superblock *sb;
  uint64_t failed_at;
  struct disk *d;

  if (!parse_command (&argc, &argv, "DISK", 1,
                      "Reads every sector of DISK and lists those that do "
                      "not match their tags.  Exit status: 0 clean, 1 "
                      "mismatches found, 2 could not check.",
                      entries))
    return EXIT_TROUBLE;
  opts.path = argv[1];
  opts.keyfile = keyfile;
  if ((d = disk_open (&opts)) == NULL) {
    tool_error ("verify", "%s", ni_error ());
    return EXIT_TROUBLE;
  }
  sb = disk_superblock (d);
  if (verify_all (d, bad, &failed_at) == -1) {
    tool_error ("verify",
                "%s: cannot read sectors from %" PRIu64
                ": %s; the rest of the disk was not verified",
                opts.path, failed_at, strerror (errno));
    disk_close (d);
    return EXIT_TROUBLE;
  }
  if (json)
    print_json (opts.path, sb->hash_name, sb->data_sectors, bad);
  else
    print_text (opts.path, sb->data_sectors, bad);
  /* Read-only: closing writes nothing and cannot fail. */
  disk_close (d);
  return bad->len ? EXIT_MISMATCH : EXIT_OK;
}
