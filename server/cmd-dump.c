/* nbd-integrity dump and locate: the superblock, read without opening the
 * disk (so they work on a dirty disk, and without its key). */
#include <inttypes.h>
#include <stdlib.h>

#include "backing.h"
#include "report.h"
#include "superblock.h"
#include "tool.h"

static const char *
mode_name (uint32_t mode)
{
  static const char *const names[] = {"tags", "full", "none", "recovery"};

  return mode < G_N_ELEMENTS (names) ? names[mode] : "unknown";
}

static void
format_uuid (const uint8_t *u, char out[37])
{
  char *p = out;

  for (int i = 0; i < DISK_UUID_SIZE; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      *p++ = '-';
    p += sprintf (p, "%02x", u[i]);
  }
}

static void
format_hex (const uint8_t *b, size_t len, char *out)
{
  for (size_t i = 0; i < len; i++)
    sprintf (out + 2 * i, "%02x", b[i]);
}

static bool
read_superblock (const char *cmd, const char *path, struct superblock *sb)
{
  struct backing *b = backing_open_file (path, true);
  bool ok = b && sb_read (b, sb) == 0;

  if (!ok)
    tool_error (cmd, "%s", ni_error ());
  backing_close (b);
  return ok;
}

/* One field: name, number, and in words for people. */
struct field {
  const char *name;
  uint64_t value;
  const char *text; /* if set, shown instead of the number */
};

static void
print_fields (const struct field *f, size_t n, bool json)
{
  for (size_t i = 0; i < n; i++) {
    if (json) {
      printf ("  \"%s\": ", f[i].name);
      if (f[i].text)
        json_string (stdout, f[i].text);
      else
        printf ("%" PRIu64, f[i].value);
      printf (",\n");
    } else if (f[i].text)
      printf ("%-18s %s\n", f[i].name, f[i].text);
    else
      printf ("%-18s %" PRIu64 "\n", f[i].name, f[i].value);
  }
}

int
cmd_dump (int argc, char **argv)
{
  gboolean json = FALSE;
  GOptionEntry entries[] = {
      {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL},
      G_OPTION_ENTRY_NULL,
  };
  const struct hash_alg *alg;
  struct superblock sb;
  char uuid[37], kcv[2 * HASH_KEY_CHECK_SIZE + 1];

  if (!parse_command (&argc, &argv, "DISK",
                      "Prints every field of DISK's superblock.", entries, 0) ||
      !read_superblock ("dump", argv[1], &sb))
    return EXIT_TROUBLE;
  alg = hash_by_id (sb.hash_id);
  format_uuid (sb.uuid, uuid);
  format_hex (sb.key_check, HASH_KEY_CHECK_SIZE, kcv);
  const struct field fields[] = {
      {"magic", 0, SB_MAGIC},
      {"version", sb.version, NULL},
      {"features", sb.features, NULL},
      {"uuid", 0, uuid},
      {"sector_size", sb.sector_size, NULL},
      {"hash", 0, sb.hash_name},
      {"hash_id", sb.hash_id, NULL},
      {"tag_size", sb.tag_size, NULL},
      {"state", 0, sb.state == SB_CLEAN ? "clean" : "dirty"},
      {"mode", 0, mode_name (sb.mode)},
      {"data_sectors", sb.data_sectors, NULL},
      {"data_size", sb.data_sectors * sb.sector_size, NULL},
      {"journal_offset", sb.journal_offset, NULL},
      {"journal_size", sb.journal_size, NULL},
      {"zones_offset", sb.zones_offset, NULL},
      {"zone_sectors", sb.zone_sectors, NULL},
      {"tag_run_bytes", sb.tag_run_bytes, NULL},
      {"zones", sb_zone_count (&sb), NULL},
      {"disk_size", sb.disk_size, NULL},
      {"journal_tail_seq", sb.journal_tail_seq, NULL},
      {"generation", sb.generation, NULL},
      {"format_time", sb.format_time, NULL},
  };
  if (json)
    printf ("{\n  \"disk\": "), json_string (stdout, argv[1]), printf (",\n");
  else
    printf ("%-18s %s\n", "disk", argv[1]);
  print_fields (fields, G_N_ELEMENTS (fields), json);
  if (json)
    printf ("  \"keyed\": %s,\n  \"key_check\": %s%s%s,\n  \"copy\": %d\n}\n",
            alg->keyed ? "true" : "false", alg->keyed ? "\"" : "",
            alg->keyed ? kcv : "null", alg->keyed ? "\"" : "", sb.copy);
  else {
    if (alg->keyed)
      printf ("%-18s %s\n", "key_check", kcv);
    printf ("%-18s %d\n", "copy", sb.copy);
  }
  return EXIT_OK;
}

int
cmd_locate (int argc, char **argv)
{
  gboolean json = FALSE;
  GOptionEntry entries[] = {
      {"json", 0, 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL},
      G_OPTION_ENTRY_NULL,
  };
  struct superblock sb;
  uint64_t sector;
  char *end;

  if (!parse_command (&argc, &argv, "DISK SECTOR",
                      "Prints where SECTOR's data and tag are on DISK.",
                      entries, 1) ||
      !read_superblock ("locate", argv[1], &sb))
    return EXIT_TROUBLE;
  sector = strtoull (argv[2], &end, 0);
  if (*end || sector >= sb.data_sectors) {
    tool_error ("locate",
                "%s: sector '%s' is not a sector of the disk "
                "(0 to %" PRIu64 ")",
                argv[1], argv[2], sb.data_sectors - 1);
    return EXIT_TROUBLE;
  }
  printf (json ? "{\"data_offset\": %" PRIu64 ", \"tag_offset\": %" PRIu64
                 ", \"sector_size\": %u, \"tag_size\": %u}\n"
               : "data_offset=%" PRIu64 " tag_offset=%" PRIu64
                 " sector_size=%u tag_size=%u\n",
          sb_data_offset (&sb, sector), sb_tag_offset (&sb, sector),
          sb.sector_size, sb.tag_size);
  return EXIT_OK;
}
