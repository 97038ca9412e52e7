/* Tag algorithms.
 *
 * A tag binds a sector's data to the disk and to the sector's place on it:
 *
 *   tag = H (disk UUID (16 bytes) || sector number (le64) || data)
 *
 * computed with the disk's algorithm (keyed for the MACs).  The all-zero
 * tag is reserved to mean "never written, reads as zeroes"; a computed tag
 * that happens to be all zeroes is stored with its first byte set to 1.
 */
#ifndef NBD_INTEGRITY_HASH_H
#define NBD_INTEGRITY_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HASH_MAX_TAG 32
#define HASH_KEY_CHECK_SIZE 32
#define DISK_UUID_SIZE 16

enum hash_id {
  HASH_CRC32C = 1,
  HASH_XXH3_128 = 2,
  HASH_BLAKE2B_256 = 3,
  HASH_SHA256 = 4,
  HASH_BLAKE2B_256_KEYED = 5,
  HASH_HMAC_SHA256 = 6,
};

struct hash_alg {
  enum hash_id id;
  const char *name;
  unsigned tag_size;
  bool keyed;
};

/* The algorithm called NAME, or NULL (errno EINVAL) if there is none. */
const struct hash_alg *hash_by_name (const char *name);

/* The algorithm with on-disk id ID, or NULL (errno EINVAL). */
const struct hash_alg *hash_by_id (uint32_t id);

/* All algorithm names, comma separated, for help and error messages. */
const char *hash_names (void);

struct hasher;

/* Initialises libsodium, which holds keys (hasher_new and key files).
 * -1 with errno EIO and ni_error() if it cannot. */
int hash_init_sodium (void);

/* A hasher for ALG.  Keyed algorithms need KEY; others must have none.
 * Returns NULL with errno set and ni_error() on failure. */
struct hasher *hasher_new (const struct hash_alg *alg, const uint8_t *key,
                           size_t key_len);

void hasher_free (struct hasher *h);

const struct hash_alg *hasher_alg (const struct hasher *h);

/* Computes the tag of one sector's DATA into TAG (alg->tag_size bytes).
 * Safe to call from many threads at once. */
void hasher_tag (const struct hasher *h, const uint8_t uuid[DISK_UUID_SIZE],
                 uint64_t sector, const void *data, size_t len, uint8_t *tag);

/* True if the tags A and B (tag_size bytes) are equal; constant time for
 * keyed algorithms. */
bool hasher_tag_equal (const struct hasher *h, const uint8_t *a,
                       const uint8_t *b);

/* The key check value stored in the superblock of a keyed disk: a MAC of
 * the disk UUID under a fixed label.  It tells a wrong key from a right
 * one and reveals nothing of the key.  Zeroes for unkeyed algorithms. */
void hasher_key_check (const struct hasher *h,
                       const uint8_t uuid[DISK_UUID_SIZE],
                       uint8_t out[HASH_KEY_CHECK_SIZE]);

/* True if TAG (tag_size bytes) is all zeroes: the unwritten tag of the
 * unkeyed algorithms.  Code that may see a keyed disk asks
 * hasher_tag_is_unwritten. */
bool tag_is_unwritten (const uint8_t *tag, unsigned tag_size);

/* The tag that marks SECTOR as never written (or trimmed): it reads as
 * zeroes whatever its data.  Unkeyed algorithms use the all-zero tag,
 * which hasher_tag never returns.  Keyed ones use a MAC of the sector's
 * place under a label, so that only the key's holder can mark a sector
 * unwritten: zeroing a keyed disk's tag makes its sector fail, not read
 * as zeroes. */
void hasher_unwritten_tag (const struct hasher *h,
                           const uint8_t uuid[DISK_UUID_SIZE], uint64_t sector,
                           uint8_t *tag);

/* The unwritten tags of sectors [SECTOR, SECTOR+N) into TAGS, one after
 * another, as a tag run holds them. */
void hasher_unwritten_tags (const struct hasher *h,
                            const uint8_t uuid[DISK_UUID_SIZE], uint64_t sector,
                            uint64_t n, uint8_t *tags);

/* True if TAG is SECTOR's unwritten tag.  Free for unkeyed algorithms,
 * a short MAC for keyed ones. */
bool hasher_tag_is_unwritten (const struct hasher *h,
                              const uint8_t uuid[DISK_UUID_SIZE],
                              uint64_t sector, const uint8_t *tag);

/* The tag that makes a sector fail its reads until it is rewritten
 * (nbd-integrity invalidate), from TAG, the tag of the data it holds: the
 * complement of TAG, never an unwritten tag.  Data cannot match it, as it
 * differs from the data's own tag, and on a keyed disk only the key's
 * holder can compute it, as only they can compute TAG. */
void hasher_invalid_tag (const struct hasher *h, const uint8_t *tag,
                         uint8_t *invalid);

/* True if TAG is the invalid tag of data whose tag is COMPUTED: the
 * sector was invalidated, not damaged. */
bool hasher_tag_is_invalid (const struct hasher *h, const uint8_t *tag,
                            const uint8_t *computed);

/* MACs that authenticate a keyed disk's metadata (the superblock, journal
 * blocks) are tags of the metadata under a "sector" number no real sector
 * has, one per kind of metadata. */
#define HASH_DOMAIN_KEY_CHECK UINT64_MAX
#define HASH_DOMAIN_SUPERBLOCK (UINT64_MAX - 1)
#define HASH_DOMAIN_JOURNAL (UINT64_MAX - 2)

/* Standard CRC32C (Castagnoli) of BUF, continuing from CRC (0 to start). */
uint32_t crc32c (uint32_t crc, const void *buf, size_t len);

#endif
