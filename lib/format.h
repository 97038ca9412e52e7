/* Formatting a disk. */
#ifndef NBD_INTEGRITY_FORMAT_H
#define NBD_INTEGRITY_FORMAT_H

#include <stdbool.h>
#include <stdint.h>

struct format_options {
  const char *path;
  const char *hash;      /* algorithm name; NULL for crc32c */
  uint32_t sector_size;  /* 0 for 4096 */
  uint64_t journal_size; /* 0 for the default */
  uint64_t create_size;  /* create or grow a file to this size; 0 no */
  const char *keyfile;   /* for keyed algorithms */
  bool force;            /* overwrite an existing format */
  /* Called as the tag runs are zeroed; may be NULL. */
  void (*progress) (void *opaque, uint64_t done, uint64_t total);
  void *opaque;
};

/* Writes a new format.  Only the superblocks, the journal and the tag runs
 * are written; data sectors read as zeroes because their tags say
 * unwritten.  -1 with ni_error() on failure. */
int format_disk (const struct format_options *opts);

/* The same on an open backing (opts->path and create_size unused). */
struct backing;
int format_backing (struct backing *b, const struct format_options *opts);

#endif
