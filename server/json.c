/* A JSON writer: see json.h. */
#include <assert.h>
#include <inttypes.h>

#include <glib.h>

#include "json.h"

/* JSON text must be UTF-8: bytes of a file name that are not become
 * U+FFFD rather than making the whole document unreadable. */
static void
write_escaped (FILE *f, const char *str)
{
  g_autofree char *valid = g_utf8_make_valid (str, -1);

  fputc ('"', f);
  for (const char *s = valid; *s; s++) {
    unsigned char c = *s;

    if (c == '"' || c == '\\')
      fprintf (f, "\\%c", c);
    else if (c < 0x20)
      fprintf (f, "\\u%04x", c);
    else
      fputc (c, f);
  }
  fputc ('"', f);
}

/* The separator and key that come before every value. */
static void
next_value (struct json *j, const char *key)
{
  assert (j->depth > 0);
  if (!j->empty[j->depth - 1])
    fputs (", ", j->f);
  j->empty[j->depth - 1] = false;
  if (key) {
    write_escaped (j->f, key);
    fputs (": ", j->f);
  }
}

static void
open_container (struct json *j, const char *key, char bracket)
{
  assert (j->depth < JSON_MAX_DEPTH);
  if (j->depth > 0)
    next_value (j, key);
  fputc (bracket, j->f);
  j->empty[j->depth++] = true;
}

static void
close_container (struct json *j, char bracket)
{
  assert (j->depth > 0);
  j->depth--;
  fputc (bracket, j->f);
}

void
json_begin (struct json *j, FILE *f)
{
  j->f = f;
  j->depth = 0;
  open_container (j, NULL, '{');
}

void
json_end (struct json *j)
{
  close_container (j, '}');
  assert (j->depth == 0);
  fputc ('\n', j->f);
}

void
json_object (struct json *j, const char *key)
{
  open_container (j, key, '{');
}

void
json_object_end (struct json *j)
{
  close_container (j, '}');
}

void
json_array (struct json *j, const char *key)
{
  open_container (j, key, '[');
}

void
json_array_end (struct json *j)
{
  close_container (j, ']');
}

void
json_string (struct json *j, const char *key, const char *value)
{
  next_value (j, key);
  if (value)
    write_escaped (j->f, value);
  else
    fputs ("null", j->f);
}

void
json_u64 (struct json *j, const char *key, uint64_t value)
{
  next_value (j, key);
  fprintf (j->f, "%" PRIu64, value);
}

void
json_bool (struct json *j, const char *key, bool value)
{
  next_value (j, key);
  fputs (value ? "true" : "false", j->f);
}
