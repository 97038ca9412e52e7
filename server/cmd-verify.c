/* nbd-integrity verify: every sector against its tag, offline. */
#include <inttypes.h>

#include "disk.h"
#include "report.h"
#include "tool.h"

#define VERIFY_CHUNK 256

struct found {
  const char *disk;
  bool json;
  uint64_t count;
};

static void
report_bad (void *opaque, uint64_t sector)
{
  struct found *f = opaque;

  if (f->json)
    printf ("%s%" PRIu64, f->count ? ", " : "", sector);
  else
    printf ("%s: sector %" PRIu64 ": tag mismatch\n", f->disk, sector);
  f->count++;
}

int
cmd_verify (int argc, char **argv)
{
  g_autofree char *keyfile = NULL;
  gboolean json = FALSE;
  GOptionEntry entries[] = {
      {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL},
      {"keyfile", 0, 0, G_OPTION_ARG_FILENAME, &keyfile,
       "Key file of a keyed disk", "FILE"},
      G_OPTION_ENTRY_NULL,
  };
  struct disk_options opts = {.readonly = true};
  struct found found = {.json = false};
  struct progress progress;
  struct disk *d;
  uint64_t n;
  int r = 0;

  if (!parse_command (&argc, &argv, "DISK",
                      "Reads every sector of DISK and lists those that do "
                      "not match their tags.  Exit status: 0 clean, 1 "
                      "mismatches found, 2 could not check.",
                      entries, 0))
    return EXIT_TROUBLE;
  opts.path = found.disk = argv[1];
  opts.keyfile = keyfile;
  found.json = json;
  d = disk_open (&opts);
  if (d == NULL) {
    tool_error ("verify", "%s", ni_error ());
    return EXIT_TROUBLE;
  }
  n = disk_superblock (d)->data_sectors;
  if (json) {
    printf ("{\"disk\": ");
    json_string (stdout, found.disk);
    printf (", \"hash\": \"%s\", \"bad_sectors\": [",
            disk_superblock (d)->hash_name);
  }
  progress_init (&progress, "verifying");
  for (uint64_t s = 0; r == 0 && s < n; s += VERIFY_CHUNK) {
    r = disk_verify (d, s, MIN (VERIFY_CHUNK, n - s), report_bad, &found);
    progress_update (&progress, MIN (s + VERIFY_CHUNK, n), n);
  }
  progress_done (&progress);
  if (json)
    printf ("], \"sectors\": %" PRIu64 ", \"mismatches\": %" PRIu64
            ", \"complete\": %s}\n",
            n, found.count, r ? "false" : "true");
  else
    printf ("%s: %" PRIu64 " sectors checked, %" PRIu64 " mismatches\n",
            found.disk, n, found.count);
  disk_close (d);
  if (r == -1) {
    tool_error ("verify", "%s: could not read the whole disk: %s", found.disk,
                ni_error ());
    return EXIT_TROUBLE;
  }
  return found.count ? EXIT_MISMATCH : EXIT_OK;
}
