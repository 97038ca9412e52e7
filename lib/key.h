/* Key files for the keyed algorithms: the file's bytes are the key. */
#ifndef NBD_INTEGRITY_KEY_H
#define NBD_INTEGRITY_KEY_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"

#define KEY_MIN_SIZE 16
#define KEY_MAX_SIZE 64

struct key {
  uint8_t *bytes; /* in locked memory, wiped when freed */
  size_t len;
};

/* Reads the key in PATH (16 to 64 bytes).  Returns NULL with errno set
 * and ni_error() naming the file on failure. */
struct key *key_load (const char *path);

void key_free (struct key *key);

/* A hasher for ALG with the key in KEYFILE, which keyed algorithms need
 * and the others refuse.  NULL with errno and ni_error() on failure. */
struct hasher *hasher_with_keyfile (const struct hash_alg *alg,
                                    const char *keyfile);

#endif
