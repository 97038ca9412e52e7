/* nbd-integrity locate: where one sector's data and tag are on the
 * backing disk, so that tests (and the curious) can damage exactly one
 * sector on purpose.  Like dump, it reads only the superblock. */
#include <inttypes.h>
#include <stdlib.h>

#include "json.h"
#include "tool.h"

static bool
parse_sector (const char *disk, const char *text, const struct superblock *sb,
              uint64_t *sector)
{
  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT64, sector, NULL)) {
    tool_error ("locate", "'%s' is not a sector number", text);
    return false;
  }
  if (*sector >= sb->data_sectors) {
    tool_error ("locate",
                "%s: sector %" PRIu64 " is past the end of the disk, "
                "which has sectors 0 to %" PRIu64,
                disk, *sector, sb->data_sectors - 1);
    return false;
  }
  return true;
}

int
cmd_locate (int argc, char **argv)
{
  gboolean json = FALSE;
  GOptionEntry entries[] = {
      json_option (&json),
      G_OPTION_ENTRY_NULL,
  };
  struct superblock sb;
  struct backing *b;
  uint64_t sector;
  struct json j;

  if (!parse_command (&argc, &argv, "DISK SECTOR", 2,
                      "Prints the byte offsets of data sector SECTOR and of "
                      "its tag on DISK.",
                      entries) ||
      (b = open_superblock ("locate", argv[1], &sb)) == NULL)
    return EXIT_TROUBLE;
  backing_close (b);
  if (!parse_sector (argv[1], argv[2], &sb, &sector))
    return EXIT_TROUBLE;
  if (json) {
    json_begin (&j, stdout);
    json_u64 (&j, "data_offset", sb_data_offset (&sb, sector));
    json_u64 (&j, "tag_offset", sb_tag_offset (&sb, sector));
    json_u64 (&j, "sector_size", sb.sector_size);
    json_u64 (&j, "tag_size", sb.tag_size);
    json_end (&j);
  } else
    printf ("data_offset=%" PRIu64 " tag_offset=%" PRIu64
            " sector_size=%" PRIu32 " tag_size=%" PRIu32 "\n",
            sb_data_offset (&sb, sector), sb_tag_offset (&sb, sector),
            sb.sector_size, sb.tag_size);
  return EXIT_OK;
}
