/* nbd-integrity format: a new format on a disk or image file. */
#include <inttypes.h>
#include <stdlib.h>

#include "format.h"
#include "report.h"
#include "progress.h"
#include "tool.h"

static bool
parse_size_option (const char *option, const char *text, uint64_t *size)
{
  if (text == NULL || parse_size (text, size))
    return true;
  tool_error ("format",
              "%s '%s': give a number of bytes, optionally with a K, M, G "
              "or T suffix (powers of 1024)",
              option, text);
  return false;
}

/* Checked here rather than left to format_disk, which creates the file
 * (--size) before it looks at the sector size. */
static bool
check_sector_size (gint sector_size)
{
  if (sector_size == 0 || sector_size == 512 || sector_size == 4096)
    return true;
  tool_error ("format", "--sector-size %d: it must be 512 or 4096",
              sector_size);
  return false;
}

/* "disk.img: formatted: 9.9 GiB of data (2602510 sectors of 4096 bytes),
 * hash crc32c": what the user asked for, as the disk now has it. */
static int
print_summary (const char *disk)
{
  struct superblock sb;
  struct backing *b = open_superblock ("format", disk, &sb);
  g_autofree char *data_size = NULL;

  if (b == NULL)
    return EXIT_TROUBLE;
  backing_close (b);
  data_size = g_format_size_full (sb.data_sectors * sb.sector_size,
                                  G_FORMAT_SIZE_IEC_UNITS);
  printf ("%s: formatted: %s of data (%" PRIu64 " sectors of %" PRIu32
          " bytes), hash %s\n",
          disk, data_size, sb.data_sectors, sb.sector_size, sb.hash_name);
  return EXIT_OK;
}

int
cmd_format (int argc, char **argv)
{
  g_autofree char *hash = NULL, *keyfile = NULL;
  g_autofree char *journal_size = NULL, *size = NULL;
  gint sector_size = 0;
  gboolean force = FALSE;
  GOptionEntry entries[] = {
      {"hash", 0, 0, G_OPTION_ARG_STRING, &hash,
       "Tag algorithm: crc32c (default), xxh3-128, blake2b-256, sha256, "
       "blake2b-256-keyed or hmac-sha256",
       "ALG"},
      {"sector-size", 0, 0, G_OPTION_ARG_INT, &sector_size,
       "Logical sector size: 512 or 4096 (default)", "512|4096"},
      {"journal-size", 0, 0, G_OPTION_ARG_STRING, &journal_size,
       "Journal size (default: chosen from the disk size)", "SIZE"},
      {"size", 0, 0, G_OPTION_ARG_STRING, &size,
       "Create the image file (sparse), or grow it, to SIZE", "SIZE"},
      {"keyfile", 0, 0, G_OPTION_ARG_FILENAME, &keyfile,
       "Key of a keyed algorithm (a file of 16 to 64 bytes)", "FILE"},
      {"force", 0, 0, G_OPTION_ARG_NONE, &force,
       "Overwrite an existing nbd-integrity format (its data is lost)", NULL},
      G_OPTION_ENTRY_NULL,
  };
  struct progress progress;
  struct format_options opts = {.progress = progress_update,
                                .opaque = &progress};
  int r;

  if (!parse_command (&argc, &argv, "DISK", 1,
                      "Formats DISK, a file or block device.  Only the "
                      "superblocks, the journal and the tags are written.",
                      entries) ||
      !check_sector_size (sector_size) ||
      !parse_size_option ("--journal-size", journal_size, &opts.journal_size) ||
      !parse_size_option ("--size", size, &opts.create_size))
    return EXIT_TROUBLE;
  opts.path = argv[1];
  opts.hash = hash;
  opts.sector_size = sector_size;
  opts.keyfile = keyfile;
  opts.force = force;
  progress_start (&progress, "formatting");
  r = format_disk (&opts);
  progress_end (&progress);
  if (r == -1) {
    tool_error ("format", "%s", ni_error ());
    return EXIT_TROUBLE;
  }
  return print_summary (opts.path);
}
