/* nbd-integrity-format(5) against the code: the offset/size/field tables
 * of the superblock, the journal header block and the journal record.
 *
 * The layout is written down twice, in the man page and in the SB_OFF_*,
 * JH_* and JR_* names, and only one of them is compiled.  For each table
 * the test parses the man page's rows, matches each to one of the code's
 * fields by how its description begins, and checks that every row is
 * one of the code's fields and every field has a row, that the offsets
 * and sizes are the code's, that the rows tile the structure, and that
 * what sb_write and journal_block_encode put at each documented offset
 * is that field's value, written with field values whose bytes are all
 * distinct and non-zero, so a size that is off shows too.
 *
 * Usage: test-format-doc PATH-OF-nbd-integrity-format.5.pod (meson
 * passes it).
 */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal-format.h"
#include "le.h"
#include "report.h"
#include "superblock.h"
#include "util.h"

#define MAX_ROWS 40
#define POD_MAX (1 << 20)

/* The man page, read by main before the tests fork. */
static char *pod;

/* How a field's bytes are checked. */
enum check {
  VALUE,  /* VALUE, little-endian, in its size */
  BYTES,  /* the LEN bytes at BYTES */
  ZEROES, /* all zero */
  MAC,    /* the MAC of the bytes before it */
  CRC,    /* u32 CRC32C, from CRC_SEED, of the bytes before it */
  OTHER,  /* checked by another table */
};

/* One of the code's fields. */
struct field {
  const char *doc; /* how its row's description begins */
  unsigned off;
  unsigned size; /* 0: runs to the end of the structure */
  enum check check;
  uint64_t value;
  const void *bytes;
  size_t len;
};

/* Fields by type, as the headers' comments give them. */
#define U16(doc, off, v) ((struct field){doc, off, 2, VALUE, v, NULL, 0})
#define U32(doc, off, v) ((struct field){doc, off, 4, VALUE, v, NULL, 0})
#define U64(doc, off, v) ((struct field){doc, off, 8, VALUE, v, NULL, 0})
#define RAW(doc, off, size, p)                                                 \
  ((struct field){doc, off, size, BYTES, 0, p, size})
#define TAIL(doc, off, p, len) ((struct field){doc, off, 0, BYTES, 0, p, len})
#define SPAN(doc, off, size, check)                                            \
  ((struct field){doc, off, size, check, 0, NULL, 0})

/* An encoded structure, and what its MAC and CRC are computed with. */
struct encoded {
  const char *name;
  const uint8_t *bytes;
  unsigned size; /* 0 if its last field's length varies */
  const struct hasher *h;
  const uint8_t *uuid;
  uint64_t mac_domain;
  uint32_t crc_seed;
};

/* A row of a table in the man page. */
struct row {
  unsigned off, size;
  bool sized;
  char text[160];
};

/* A value of 8 bytes, all non-zero and different from those of every
 * other K below 31. */
static uint64_t
distinct (unsigned k)
{
  uint64_t v = 0;

  for (unsigned i = 0; i < 8; i++)
    v |= (uint64_t)(8 * k + i + 1) << (8 * i);
  return v;
}

static char *
read_pod (const char *path)
{
  FILE *f = fopen (path, "r");
  char *text = malloc (POD_MAX);
  size_t len;

  if (f == NULL || text == NULL) {
    perror (path);
    exit (EXIT_FAILURE);
  }
  len = fread (text, 1, POD_MAX - 1, f);
  if (!feof (f)) {
    fprintf (stderr, "%s: not read whole\n", path);
    exit (EXIT_FAILURE);
  }
  text[len] = '\0';
  fclose (f);
  return text;
}

/* The line after the table header that follows the line HEADING. */
static const char *
find_table (const char *heading)
{
  char line[80];
  const char *p, *next;

  snprintf (line, sizeof line, "\n%s\n", heading);
  p = strstr (pod, line);
  ck_assert_msg (p, "the man page has no \"%s\"", heading);
  p += strlen (line);
  next = strstr (p, "\n=head");
  p = strstr (p, "\n offset  size  field\n");
  ck_assert_msg (p && (next == NULL || p < next),
                 "no offset/size/field table under \"%s\"", heading);
  return p + strlen ("\n offset  size  field\n");
}

/* Parses the row at LINE, "OFFSET [SIZE] DESCRIPTION". */
static void
parse_row (const char *heading, const char *line, size_t len, struct row *r)
{
  char *end;

  r->off = strtoul (line, &end, 10);
  ck_assert_msg (end > line && *line == ' ', "under \"%s\": row \"%.*s\"",
                 heading, (int)len, line);
  while (*end == ' ')
    end++;
  r->sized = isdigit ((unsigned char)*end);
  r->size = r->sized ? strtoul (end, &end, 10) : 0;
  while (*end == ' ')
    end++;
  snprintf (r->text, sizeof r->text, "%.*s", (int)(line + len - end), end);
}

/* The rows of the table under HEADING, up to the blank line that ends
 * it.  Returns how many. */
static size_t
parse_table (const char *heading, struct row rows[MAX_ROWS])
{
  const char *line = find_table (heading);
  size_t n = 0;

  while (*line != '\n' && *line != '\0') {
    const char *eol = strchrnul (line, '\n');
    ck_assert_msg (n < MAX_ROWS, "too many rows under \"%s\"", heading);
    parse_row (heading, line, eol - line, &rows[n++]);
    line = *eol ? eol + 1 : eol;
  }
  return n;
}

/* Does the description TEXT begin with the words DOC? */
static bool
describes (const char *text, const char *doc)
{
  size_t len = strlen (doc);

  return strncmp (text, doc, len) == 0 && !isalnum ((unsigned char)text[len]);
}

/* The code's field that ROW describes; exactly one must be. */
static const struct field *
match (const struct encoded *e, const struct row *row, const struct field *code,
       size_t n, int used[])
{
  const struct field *found = NULL;
  int count = 0;

  for (size_t i = 0; i < n; i++)
    if (describes (row->text, code[i].doc)) {
      found = &code[i];
      used[i]++;
      count++;
    }
  ck_assert_msg (count == 1,
                 "%s: the man page's row \"%s\" describes %d of the code's "
                 "fields",
                 e->name, row->text, count);
  return found;
}

/* The man page's row and the code's field agree. */
static void
check_place (const struct encoded *e, const struct row *row,
             const struct field *f)
{
  ck_assert_msg (row->off == f->off && row->size == f->size &&
                     row->sized == (f->size != 0),
                 "%s: \"%s\": the man page has offset %u size %u, the code "
                 "offset %u size %u",
                 e->name, f->doc, row->off, row->size, f->off, f->size);
}

/* Each row starts where the one before ends, from 0 to the end. */
static void
check_tiling (const struct encoded *e, const struct row *rows, size_t n)
{
  unsigned next = 0;

  for (size_t i = 0; i < n; i++) {
    ck_assert_msg (rows[i].off == next,
                   "%s: \"%s\" is at %u, but the row before ends at %u",
                   e->name, rows[i].text, rows[i].off, next);
    next = rows[i].off + rows[i].size;
  }
  if (e->size)
    ck_assert_msg (next == e->size, "%s: the rows end at %u, not %u", e->name,
                   next, e->size);
}

/* The bytes at the documented place hold the field. */
static void
check_bytes (const struct encoded *e, const struct row *row,
             const struct field *f)
{
  const uint8_t *p = e->bytes + row->off;
  uint8_t mac[HASH_MAX_TAG];

  switch (f->check) {
  case VALUE:
    for (unsigned i = 0; i < row->size; i++)
      ck_assert_msg (p[i] == (i < 8 ? (uint8_t)(f->value >> (8 * i)) : 0),
                     "%s: \"%s\": byte %u of %u is not the value's", e->name,
                     f->doc, i, row->size);
    break;
  case BYTES:
    ck_assert_msg (memcmp (p, f->bytes, f->len) == 0, "%s: \"%s\" is not there",
                   e->name, f->doc);
    break;
  case ZEROES:
    ck_assert_msg (all_zero (p, row->size), "%s: \"%s\" is not zero", e->name,
                   f->doc);
    break;
  case MAC:
    hasher_tag (e->h, e->uuid, e->mac_domain, e->bytes, row->off, mac);
    ck_assert_msg (memcmp (p, mac, row->size) == 0,
                   "%s: the MAC is not that of bytes 0 to %u", e->name,
                   row->off - 1);
    break;
  case CRC:
    ck_assert_msg (le32_get (p) == crc32c (e->crc_seed, e->bytes, row->off),
                   "%s: the CRC32C is not that of bytes 0 to %u", e->name,
                   row->off - 1);
    break;
  case OTHER:
    break;
  }
}

/* Checks the man page's table under HEADING against the N fields of
 * CODE, and the encoded structure E. */
static void
check_table (const char *heading, const struct field *code, size_t n,
             const struct encoded *e)
{
  struct row rows[MAX_ROWS];
  size_t nrows = parse_table (heading, rows);
  int used[MAX_ROWS] = {0};
  const struct field *fields[MAX_ROWS];

  ck_assert_uint_le (n, MAX_ROWS);
  for (size_t i = 0; i < nrows; i++)
    fields[i] = match (e, &rows[i], code, n, used);
  for (size_t i = 0; i < n; i++)
    ck_assert_msg (used[i] == 1, "%s: the code's field \"%s\" has %d rows",
                   e->name, code[i].doc, used[i]);
  for (size_t i = 0; i < nrows; i++)
    check_place (e, &rows[i], fields[i]);
  check_tiling (e, rows, nrows);
  for (size_t i = 0; i < nrows; i++)
    check_bytes (e, &rows[i], fields[i]);
}

static struct hasher *
keyed_hasher (void)
{
  static const uint8_t key[32] = "the format test's key, 32 bytes";
  struct hasher *h = hasher_new (hash_by_name ("hmac-sha256"), key, 32);

  ck_assert_msg (h, "hasher_new: %s", ni_error ());
  return h;
}

/* A keyed superblock whose fields all differ, as sb_write writes it,
 * into BLOCK. */
static void
write_superblock (struct superblock *sb, const struct hasher *h,
                  uint8_t block[SB_BLOCK])
{
  const struct hash_alg *alg = hasher_alg (h);
  const char *path = scratch_path ("sb");
  struct backing *b;
  uint64_t v[17];

  for (unsigned k = 0; k < 17; k++)
    v[k] = distinct (k);
  *sb = (struct superblock){
      .version = v[0],
      .features = v[1],
      .sector_size = v[2],
      .hash_id = alg->id,
      .tag_size = v[3],
      .state = v[4],
      .mode = v[5],
      .data_sectors = v[6],
      .journal_offset = v[7],
      .journal_size = v[8],
      .zones_offset = v[9],
      .zone_sectors = v[10],
      .tag_run_bytes = v[11],
      .disk_size = v[12],
      .journal_tail_seq = v[13],
      .generation = v[14],
      .format_time = v[15],
      .auth = h,
  };
  memcpy (sb->uuid, &v[16], 8);
  memcpy (sb->uuid + 8, "UUID-ish", 8);
  memset (sb->hash_name, 'n', SB_HASH_NAME_SIZE - 1);
  memset (sb->key_check, 0xd5, HASH_KEY_CHECK_SIZE);
  ck_assert_int_eq (backing_create_file (path, SB_COPIES * SB_BLOCK), 0);
  b = backing_open_file (path, false);
  ck_assert_ptr_nonnull (b);
  ck_assert_msg (sb_write (b, sb) == 0, "sb_write: %s", ni_error ());
  backing_close (b);
  file_read (path, block, SB_BLOCK, (uint64_t)sb->copy * SB_BLOCK);
}

START_TEST (superblock_table)
{
  struct hasher *h = keyed_hasher ();
  struct superblock sb;
  uint8_t block[SB_BLOCK];

  write_superblock (&sb, h, block);
  const struct field code[] = {
      RAW ("magic", SB_OFF_MAGIC, SB_MAGIC_SIZE, SB_MAGIC),
      U32 ("format version", SB_OFF_VERSION, sb.version),
      U32 ("incompatible features", SB_OFF_FEATURES, sb.features),
      RAW ("disk UUID", SB_OFF_UUID, DISK_UUID_SIZE, sb.uuid),
      U32 ("sector size", SB_OFF_SECTOR_SIZE, sb.sector_size),
      U32 ("hash algorithm id", SB_OFF_HASH_ID, sb.hash_id),
      RAW ("hash algorithm name", SB_OFF_HASH_NAME, SB_HASH_NAME_SIZE,
           sb.hash_name), /* and its NUL */
      U32 ("tag size", SB_OFF_TAG_SIZE, sb.tag_size),
      U32 ("state", SB_OFF_STATE, sb.state),
      U32 ("crash mode", SB_OFF_MODE, sb.mode),
      SPAN ("reserved", SB_OFF_RESERVED, 4, ZEROES),
      U64 ("data sectors", SB_OFF_DATA_SECTORS, sb.data_sectors),
      U64 ("journal offset", SB_OFF_JOURNAL_OFFSET, sb.journal_offset),
      U64 ("journal size", SB_OFF_JOURNAL_SIZE, sb.journal_size),
      U64 ("zones_offset", SB_OFF_ZONES_OFFSET, sb.zones_offset),
      U32 ("zone_sectors", SB_OFF_ZONE_SECTORS, sb.zone_sectors),
      U32 ("tag_run_bytes", SB_OFF_TAG_RUN_BYTES, sb.tag_run_bytes),
      U64 ("disk size", SB_OFF_DISK_SIZE, sb.disk_size),
      U64 ("journal tail", SB_OFF_JOURNAL_TAIL_SEQ, sb.journal_tail_seq),
      U64 ("generation", SB_OFF_GENERATION, sb.generation),
      U64 ("format time", SB_OFF_FORMAT_TIME, sb.format_time),
      RAW ("key check value", SB_OFF_KEY_CHECK, HASH_KEY_CHECK_SIZE,
           sb.key_check),
      SPAN ("superblock MAC", SB_OFF_MAC, SB_MAC_SIZE, MAC),
      SPAN ("zeroes", SB_OFF_ZERO, SB_OFF_CRC - SB_OFF_ZERO, ZEROES),
      SPAN ("CRC32C", SB_OFF_CRC, 4, CRC),
  };
  const struct encoded e = {.name = "superblock",
                            .bytes = block,
                            .size = SB_BLOCK,
                            .h = h,
                            .uuid = sb.uuid,
                            .mac_domain = HASH_DOMAIN_SUPERBLOCK};

  check_table ("=head1 SUPERBLOCK", code, sizeof code / sizeof code[0], &e);
  hasher_free (h);
}
END_TEST

/* What the journal tests encode: a keyed header block whose fields all
 * differ, holding a tags record and a flush mark. */
struct journal_block {
  struct superblock sb;
  struct journal_block_info info;
  struct journal_record first; /* as it was before encoding */
  uint8_t tags[2 * 32];
  uint8_t block[SB_BLOCK];
  uint32_t payload;
};

static void
encode_journal_block (struct journal_block *j, const struct hasher *h)
{
  struct journal_record recs[2] = {
      {.sector = distinct (1), .count = 2, .kind = JREC_TAGS, .tags = j->tags},
      {.sector = distinct (2), .kind = JREC_FLUSH},
  };
  size_t done = 0;

  memset (j, 0, sizeof *j);
  j->sb.tag_size = hasher_alg (h)->tag_size;
  j->sb.sector_size = 4096;
  j->sb.auth = h;
  memset (j->sb.uuid, 0x5a, DISK_UUID_SIZE);
  for (size_t i = 0; i < sizeof j->tags; i++)
    j->tags[i] = 0x80 + i;
  j->info = (struct journal_block_info){
      .seq = distinct (3),
      .copy = distinct (4),
      .attempt = distinct (5),
      .tail = distinct (3) - (uint32_t)distinct (6),
      .commit = distinct (3) - (uint32_t)distinct (7),
      .commit_blocks = distinct (8),
      .mode = distinct (9),
  };
  j->first = recs[0];
  ck_assert_uint_eq (j->sb.tag_size * 2, sizeof j->tags);
  journal_block_encode (&j->sb, &j->info, recs, 2, &done, j->block);
  ck_assert_uint_eq (done, 2);
  j->payload = 2 * JOURNAL_RECORD_HEADER + sizeof j->tags;
}

START_TEST (journal_header_table)
{
  struct hasher *h = keyed_hasher ();
  struct journal_block *j = malloc (sizeof *j);
  const struct journal_block_info *in = &j->info;

  encode_journal_block (j, h);
  const struct field code[] = {
      U32 ("magic", JH_MAGIC, JOURNAL_MAGIC),
      U32 ("number of records", JH_RECORDS, 2),
      U64 ("sequence number", JH_SEQ, in->seq),
      U32 ("payload bytes", JH_PAYLOAD_BYTES, j->payload),
      U32 ("copy", JH_COPY, in->copy),
      U64 ("commit attempt", JH_ATTEMPT, in->attempt),
      U32 ("blocks since the tail", JH_FROM_TAIL, in->seq - in->tail),
      U32 ("blocks since the start of its commit", JH_FROM_COMMIT,
           in->seq - in->commit),
      U32 ("blocks of its commit", JH_COMMIT_BLOCKS, in->commit_blocks),
      U32 ("crash mode of the writer", JH_MODE, in->mode),
      SPAN ("records", JOURNAL_HEADER, JOURNAL_PAYLOAD, OTHER),
      SPAN ("block MAC", JOURNAL_MAC_OFFSET, JOURNAL_MAC_SIZE, MAC),
      SPAN ("CRC32C", JOURNAL_CRC_OFFSET, 4, CRC),
  };
  const struct encoded e = {.name = "journal header block",
                            .bytes = j->block,
                            .size = SB_BLOCK,
                            .h = h,
                            .uuid = j->sb.uuid,
                            .mac_domain = HASH_DOMAIN_JOURNAL,
                            .crc_seed = crc32c (0, j->sb.uuid, DISK_UUID_SIZE)};

  check_table ("=head2 Header block", code, sizeof code / sizeof code[0], &e);
  free (j);
  hasher_free (h);
}
END_TEST

/* The first record of the block, at JOURNAL_HEADER, which the header
 * block's table has checked. */
START_TEST (journal_record_table)
{
  struct hasher *h = keyed_hasher ();
  struct journal_block *j = malloc (sizeof *j);

  encode_journal_block (j, h);
  const struct field code[] = {
      U64 ("first sector", JR_SECTOR, j->first.sector),
      U32 ("sector count", JR_COUNT, j->first.count),
      U16 ("kind", JR_KIND, j->first.kind),
      SPAN ("reserved", JR_RESERVED, 2, ZEROES),
      TAIL ("kinds 1 and 3", JOURNAL_RECORD_HEADER, j->tags, sizeof j->tags),
  };
  const struct encoded e = {.name = "journal record",
                            .bytes = j->block + JOURNAL_HEADER};

  check_table ("=head2 Record", code, sizeof code / sizeof code[0], &e);
  free (j);
  hasher_free (h);
}
END_TEST

int
main (int argc, char **argv)
{
  Suite *s = suite_create ("format-doc");
  TCase *tc = tcase_create ("format-doc");
  int r;

  if (argc != 2) {
    fprintf (stderr, "usage: %s nbd-integrity-format.5.pod\n", argv[0]);
    return EXIT_FAILURE;
  }
  pod = read_pod (argv[1]);
  tcase_add_test (tc, superblock_table);
  tcase_add_test (tc, journal_header_table);
  tcase_add_test (tc, journal_record_table);
  suite_add_tcase (s, tc);
  r = run_suite (s);
  free (pod);
  return r;
}
