/* nbd-integrity dump: every field of the superblock.
 *
 * Read straight from the backing rather than through disk_open, so that
 * it works on a disk that is dirty, damaged past opening, or whose key is
 * elsewhere.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "json.h"
#include "report.h"
#include "tool.h"

/* How a field is shown: JSON gets the plain value, text gets it in words
 * too. */
enum field_kind {
  FIELD_NUMBER,
  FIELD_BYTES, /* a size: text adds "(1.5 GiB)" */
  FIELD_TIME,  /* Unix time: text adds the UTC date */
  FIELD_FLAG,  /* JSON bool, text yes/no */
  FIELD_TEXT,  /* NULL: JSON null, left out of the text */
};

struct field {
  const char *name;
  enum field_kind kind;
  uint64_t number;
  const char *text;
};

/* 8-4-4-4-12 hex digits. */
static void
format_uuid (const uint8_t *uuid, char out[37])
{
  char *p = out;

  for (int i = 0; i < DISK_UUID_SIZE; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      *p++ = '-';
    p += sprintf (p, "%02x", uuid[i]);
  }
}

static void
format_hex (const uint8_t *bytes, size_t len, char *out)
{
  for (size_t i = 0; i < len; i++)
    sprintf (out + 2 * i, "%02x", bytes[i]);
}

/* The value in words, for the text output. */
static char *
field_words (const struct field *f)
{
  g_autofree char *words = NULL;
  g_autoptr (GDateTime) time = NULL;

  switch (f->kind) {
  case FIELD_BYTES:
    if (f->number < 1024)
      break;
    words = g_format_size_full (f->number, G_FORMAT_SIZE_IEC_UNITS);
    return g_strdup_printf ("%" PRIu64 " (%s)", f->number, words);
  case FIELD_TIME:
    if (f->number > G_MAXINT64 ||
        (time = g_date_time_new_from_unix_utc (f->number)) == NULL)
      break;
    words = g_date_time_format (time, "%Y-%m-%d %H:%M:%S UTC");
    return g_strdup_printf ("%" PRIu64 " (%s)", f->number, words);
  case FIELD_FLAG:
    return g_strdup (f->number ? "yes" : "no");
  case FIELD_TEXT:
    return g_strdup (f->text);
  case FIELD_NUMBER:
    break;
  }
  return g_strdup_printf ("%" PRIu64, f->number);
}

static void
print_text (const struct field *fields, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    g_autofree char *label = g_strdup_printf ("%s:", fields[i].name);
    g_autofree char *words = NULL;

    if (fields[i].kind == FIELD_TEXT && fields[i].text == NULL)
      continue;
    words = field_words (&fields[i]);
    printf ("%-18s %s\n", label, words);
  }
}

static void
print_json (const struct field *fields, size_t n)
{
  struct json j;

  json_begin (&j, stdout);
  for (size_t i = 0; i < n; i++) {
    const struct field *f = &fields[i];

    if (f->kind == FIELD_TEXT)
      json_string (&j, f->name, f->text);
    else if (f->kind == FIELD_FLAG)
      json_bool (&j, f->name, f->number);
    else
      json_u64 (&j, f->name, f->number);
  }
  json_end (&j);
}

int
cmd_dump (int argc, char **argv)
{
  gboolean json = FALSE;
  GOptionEntry entries[] = {
      json_option (&json),
      G_OPTION_ENTRY_NULL,
  };
  char uuid[37], key_check[2 * HASH_KEY_CHECK_SIZE + 1];
  const struct hash_alg *alg;
  struct superblock sb;
  struct backing *b;

  if (!parse_command (&argc, &argv, "DISK", 1,
                      "Prints every field of DISK's superblock.", entries) ||
      (b = open_superblock ("dump", argv[1], &sb)) == NULL)
    return EXIT_TROUBLE;
  backing_close (b);
  /* sb_read has checked the id: ALG is not NULL. */
  alg = hash_by_id (sb.hash_id);
  format_uuid (sb.uuid, uuid);
  format_hex (sb.key_check, HASH_KEY_CHECK_SIZE, key_check);
  const struct field fields[] = {
      {"magic", FIELD_TEXT, .text = SB_MAGIC},
      {"version", FIELD_NUMBER, .number = sb.version},
      {"features", FIELD_NUMBER, .number = sb.features},
      {"uuid", FIELD_TEXT, .text = uuid},
      {"sector_size", FIELD_NUMBER, .number = sb.sector_size},
      {"hash", FIELD_TEXT, .text = sb.hash_name},
      {"hash_id", FIELD_NUMBER, .number = sb.hash_id},
      {"tag_size", FIELD_NUMBER, .number = sb.tag_size},
      {"keyed", FIELD_FLAG, .number = alg->keyed},
      {"state", FIELD_TEXT, .text = sb.state == SB_CLEAN ? "clean" : "dirty"},
      {"mode", FIELD_TEXT, .text = sb_mode_name (sb.mode)},
      {"data_sectors", FIELD_NUMBER, .number = sb.data_sectors},
      {"data_size", FIELD_BYTES, .number = sb.data_sectors * sb.sector_size},
      {"journal_offset", FIELD_NUMBER, .number = sb.journal_offset},
      {"journal_size", FIELD_BYTES, .number = sb.journal_size},
      {"zones_offset", FIELD_NUMBER, .number = sb.zones_offset},
      {"zone_sectors", FIELD_NUMBER, .number = sb.zone_sectors},
      {"tag_run_bytes", FIELD_BYTES, .number = sb.tag_run_bytes},
      {"zones", FIELD_NUMBER, .number = sb_zone_count (&sb)},
      {"disk_size", FIELD_BYTES, .number = sb.disk_size},
      {"journal_tail_seq", FIELD_NUMBER, .number = sb.journal_tail_seq},
      {"generation", FIELD_NUMBER, .number = sb.generation},
      {"format_time", FIELD_TIME, .number = sb.format_time},
      {"key_check", FIELD_TEXT, .text = alg->keyed ? key_check : NULL},
      {"copy", FIELD_NUMBER, .number = sb.copy},
  };
  if (json)
    print_json (fields, G_N_ELEMENTS (fields));
  else
    print_text (fields, G_N_ELEMENTS (fields));
  return EXIT_OK;
}
