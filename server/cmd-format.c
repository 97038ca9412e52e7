/* nbd-integrity format */
#include <inttypes.h>

#include "format.h"
#include "hash.h"
#include "report.h"
#include "tool.h"

static void
show_progress (void *opaque, uint64_t done, uint64_t total)
{
  progress_update (opaque, done, total);
}

int
cmd_format (int argc, char **argv)
{
  g_autofree char *hash = NULL, *keyfile = NULL, *journal = NULL, *size = NULL;
  gint sector_size = 4096;
  gboolean force = FALSE;
  GOptionEntry entries[] = {
      {"hash", 0, 0, G_OPTION_ARG_STRING, &hash,
       "Tag algorithm: crc32c (default), xxh3-128, blake2b-256, sha256, "
       "blake2b-256-keyed, hmac-sha256",
       "ALG"},
      {"sector-size", 0, 0, G_OPTION_ARG_INT, &sector_size,
       "Logical sector size: 4096 (default) or 512", "N"},
      {"journal-size", 0, 0, G_OPTION_ARG_STRING, &journal,
       "Journal size, 1M to 64M (default: 1/128 of the disk)", "SIZE"},
      {"size", 0, 0, G_OPTION_ARG_STRING, &size,
       "Create the image file (sparse), or grow it, to SIZE", "SIZE"},
      {"keyfile", 0, 0, G_OPTION_ARG_FILENAME, &keyfile,
       "Key for the keyed algorithms (16 to 64 bytes)", "FILE"},
      {"force", 0, 0, G_OPTION_ARG_NONE, &force,
       "Overwrite an existing nbd-integrity format", NULL},
      G_OPTION_ENTRY_NULL,
  };
  struct progress progress;
  struct format_options opts = {.progress = show_progress, .opaque = &progress};

  if (!parse_command (&argc, &argv, "DISK",
                      "Formats DISK (a file or block device).  Only the "
                      "superblocks, journal and tags are written.",
                      entries, 0))
    return EXIT_TROUBLE;
  if ((journal && !parse_size (journal, &opts.journal_size)) ||
      (size && !parse_size (size, &opts.create_size))) {
    tool_error ("format", "cannot parse size '%s'", journal ? journal : size);
    return EXIT_TROUBLE;
  }
  opts.path = argv[1];
  opts.hash = hash;
  opts.keyfile = keyfile;
  opts.sector_size = sector_size;
  opts.force = force;
  progress_init (&progress, "formatting");
  if (format_disk (&opts) == -1) {
    progress_done (&progress);
    tool_error ("format", "%s", ni_error ());
    return EXIT_TROUBLE;
  }
  progress_done (&progress);
  printf ("%s: formatted: %s tags, %d-byte sectors\n", opts.path,
          hash ? hash : "crc32c", sector_size);
  return EXIT_OK;
}
