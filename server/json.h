/* A JSON writer for the tool's --json output.
 *
 * Commands write keys and values in order; the writer puts the commas,
 * quotes and escapes, so that no command builds JSON with printf.  KEY is
 * NULL for the members of an array.  Output is one line per document.
 */
#ifndef NBD_INTEGRITY_JSON_H
#define NBD_INTEGRITY_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 8

struct json {
  FILE *f;
  int depth;                  /* open objects and arrays */
  bool empty[JSON_MAX_DEPTH]; /* nothing written yet at this depth */
};

/* Starts a document on F: an object, closed by json_end. */
void json_begin (struct json *j, FILE *f);
/* Closes the document and ends the line. */
void json_end (struct json *j);

void json_object (struct json *j, const char *key);
void json_object_end (struct json *j);
void json_array (struct json *j, const char *key);
void json_array_end (struct json *j);

/* VALUE NULL writes null. */
void json_string (struct json *j, const char *key, const char *value);
void json_u64 (struct json *j, const char *key, uint64_t value);
void json_bool (struct json *j, const char *key, bool value);

#endif
