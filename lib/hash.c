/* Tag algorithms: see hash.h.
 *
 * Each algorithm comes from the library that does it best: CRC32C from
 * ISA-L, XXH3 from libxxhash, BLAKE2b from libsodium, SHA-256 and HMAC from
 * OpenSSL (SHA-NI).
 *
 * Whatever makes tags is as good as the key, and lives only in memory that
 * sodium_malloc gives (locked, marked MADV_DONTDUMP so that no core dump,
 * the kernel's or gcore's, holds it, wiped when freed): the key, and for
 * HMAC the SHA-256 states with the inner and outer pads already absorbed,
 * so that no tag pays for keying.  A tag works on a copy of the state on
 * the stack, wiped when the tag is made; BLAKE2b keys a fresh state per
 * tag, wiped the same way.  OpenSSL's EVP contexts would keep the states
 * in its own heap, which is dumped: HMAC uses its low-level SHA256_CTX
 * (deprecated in OpenSSL 3, still the code under EVP's SHA-256: the same
 * SHA-NI block function), a plain struct that can be put here.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/crc.h>
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_CTX: see above */
#include <openssl/sha.h>
#include <sodium.h>
#define XXH_STATIC_LINKING_ONLY /* XXH3_state_t on the stack */
#include <xxhash.h>

#include "hash.h"
#include "le.h"
#include "report.h"

static const struct hash_alg algs[] = {
    {HASH_CRC32C, "crc32c", 4, false},
    {HASH_XXH3_128, "xxh3-128", 16, false},
    {HASH_BLAKE2B_256, "blake2b-256", 32, false},
    {HASH_SHA256, "sha256", 32, false},
    {HASH_BLAKE2B_256_KEYED, "blake2b-256-keyed", 32, true},
    {HASH_HMAC_SHA256, "hmac-sha256", 32, true},
};

#define NR_ALGS (sizeof algs / sizeof algs[0])
#define SHA256_BLOCK 64
#define MAX_KEY SHA256_BLOCK

/* A keyed hasher's secrets, in one sodium_malloc block. */
struct secrets {
  uint8_t key[MAX_KEY];
  size_t key_len;
  SHA256_CTX inner; /* HMAC only: ipad absorbed */
  SHA256_CTX outer; /* HMAC only: opad absorbed */
};

struct hasher {
  const struct hash_alg *alg;
  struct secrets *secrets; /* NULL for the unkeyed algorithms */
};

const struct hash_alg *
hash_by_name (const char *name)
{
  for (size_t i = 0; i < NR_ALGS; i++)
    if (strcmp (algs[i].name, name) == 0)
      return &algs[i];
  errno = EINVAL;
  return NULL;
}

const struct hash_alg *
hash_by_id (uint32_t id)
{
  for (size_t i = 0; i < NR_ALGS; i++)
    if (algs[i].id == id)
      return &algs[i];
  errno = EINVAL;
  return NULL;
}

const char *
hash_names (void)
{
  return "crc32c, xxh3-128, blake2b-256, sha256, blake2b-256-keyed, "
         "hmac-sha256";
}

uint32_t
crc32c (uint32_t crc, const void *buf, size_t len)
{
  const unsigned char *p = buf;

  crc = ~crc;
  while (len > 0) {
    int chunk = len > (1u << 30) ? 1 << 30 : (int)len;
    crc = crc32_iscsi ((unsigned char *)p, chunk, crc);
    p += chunk;
    len -= chunk;
  }
  return ~crc;
}

/* Zeroes the stack below its caller's frame, where SHA-256 of the pad
 * blocks ran: without SHA-NI, OpenSSL's code leaves there the message
 * schedule plus the round constants, from which the key XOR a pad is
 * read straight back. */
static __attribute__ ((noinline)) void
wipe_stack_below (void)
{
  uint8_t area[4096];

  sodium_memzero (area, sizeof area);
}

/* Sets CTX to SHA-256 with the block KEY XOR PAD absorbed. */
static void
sha256_absorb_pad (SHA256_CTX *ctx, const struct secrets *s, uint8_t pad)
{
  uint8_t block[SHA256_BLOCK] = {0};

  /* Keys are at most 64 bytes, the SHA-256 block, so never hashed. */
  memcpy (block, s->key, s->key_len);
  for (size_t i = 0; i < SHA256_BLOCK; i++)
    block[i] ^= pad;
  SHA256_Init (ctx);
  SHA256_Update (ctx, block, sizeof block);
  sodium_memzero (block, sizeof block);
}

static void
hmac_prepare (struct secrets *s)
{
  sha256_absorb_pad (&s->inner, s, 0x36);
  sha256_absorb_pad (&s->outer, s, 0x5c);
  wipe_stack_below ();
}

static int
hasher_set_key (struct hasher *h, const uint8_t *key, size_t key_len)
{
  if (h->alg->keyed && (key == NULL || key_len == 0)) {
    ni_error_set ("%s needs a key file", h->alg->name);
    errno = EINVAL;
    return -1;
  }
  if (!h->alg->keyed && key != NULL) {
    ni_error_set ("%s takes no key", h->alg->name);
    errno = EINVAL;
    return -1;
  }
  if (key == NULL)
    return 0;
  if (key_len > MAX_KEY) {
    ni_error_set ("key too long: %zu bytes (at most %d)", key_len, MAX_KEY);
    errno = EINVAL;
    return -1;
  }
  h->secrets = sodium_malloc (sizeof *h->secrets);
  if (h->secrets == NULL) {
    ni_error_set ("%s: cannot allocate locked memory for the key: %m",
                  h->alg->name);
    return -1;
  }
  memcpy (h->secrets->key, key, key_len);
  h->secrets->key_len = key_len;
  if (h->alg->id == HASH_HMAC_SHA256)
    hmac_prepare (h->secrets);
  return 0;
}

int
hash_init_sodium (void)
{
  if (sodium_init () >= 0)
    return 0;
  ni_error_set ("libsodium failed to initialise");
  errno = EIO;
  return -1;
}

struct hasher *
hasher_new (const struct hash_alg *alg, const uint8_t *key, size_t key_len)
{
  struct hasher *h;

  if (hash_init_sodium () == -1)
    return NULL;
  h = calloc (1, sizeof *h);
  if (h == NULL) {
    ni_error_set ("%s: cannot allocate a hasher: %m", alg->name);
    return NULL;
  }
  h->alg = alg;
  if (hasher_set_key (h, key, key_len) == -1) {
    hasher_free (h);
    return NULL;
  }
  return h;
}

void
hasher_free (struct hasher *h)
{
  if (h == NULL)
    return;
  sodium_free (h->secrets);
  free (h);
}

const struct hash_alg *
hasher_alg (const struct hasher *h)
{
  return h->alg;
}

static void
tag_crc32c (const uint8_t *prefix, size_t plen, const void *data, size_t len,
            uint8_t *tag)
{
  uint32_t crc = crc32c (0, prefix, plen);

  le32_put (tag, crc32c (crc, data, len));
}

static void
tag_xxh3 (const uint8_t *prefix, size_t plen, const void *data, size_t len,
          uint8_t *tag)
{
  XXH3_state_t state;
  XXH128_canonical_t canon;

  XXH3_INITSTATE (&state);
  XXH3_128bits_reset (&state);
  XXH3_128bits_update (&state, prefix, plen);
  XXH3_128bits_update (&state, data, len);
  XXH128_canonicalFromHash (&canon, XXH3_128bits_digest (&state));
  memcpy (tag, canon.digest, 16);
}

static void
tag_blake2b (const struct hasher *h, const uint8_t *prefix, size_t plen,
             const void *data, size_t len, uint8_t *tag)
{
  const struct secrets *s = h->secrets;
  crypto_generichash_state state;

  crypto_generichash_init (&state, s ? s->key : NULL, s ? s->key_len : 0, 32);
  crypto_generichash_update (&state, prefix, plen);
  crypto_generichash_update (&state, data, len);
  crypto_generichash_final (&state, tag, 32);
  /* Keyed, the state is as good as the key for making tags. */
  if (s)
    sodium_memzero (&state, sizeof state);
}

/* SHA-256, or HMAC-SHA256 from the prepared pad states. */
static void
tag_sha256 (const struct hasher *h, const uint8_t *prefix, size_t plen,
            const void *data, size_t len, uint8_t *tag)
{
  const struct secrets *s = h->secrets;
  SHA256_CTX ctx;

  if (s)
    ctx = s->inner;
  else
    SHA256_Init (&ctx);
  SHA256_Update (&ctx, prefix, plen);
  SHA256_Update (&ctx, data, len);
  SHA256_Final (tag, &ctx);
  if (s) {
    ctx = s->outer;
    SHA256_Update (&ctx, tag, 32);
    SHA256_Final (tag, &ctx);
    sodium_memzero (&ctx, sizeof ctx);
  }
}

static void
tag_avoid_unwritten (uint8_t *tag, unsigned tag_size)
{
  if (tag_is_unwritten (tag, tag_size))
    tag[0] = 1;
}

void
hasher_tag (const struct hasher *h, const uint8_t uuid[DISK_UUID_SIZE],
            uint64_t sector, const void *data, size_t len, uint8_t *tag)
{
  uint8_t prefix[DISK_UUID_SIZE + 8];

  memcpy (prefix, uuid, DISK_UUID_SIZE);
  le64_put (prefix + DISK_UUID_SIZE, sector);

  switch (h->alg->id) {
  case HASH_CRC32C:
    tag_crc32c (prefix, sizeof prefix, data, len, tag);
    break;
  case HASH_XXH3_128:
    tag_xxh3 (prefix, sizeof prefix, data, len, tag);
    break;
  case HASH_BLAKE2B_256:
  case HASH_BLAKE2B_256_KEYED:
    tag_blake2b (h, prefix, sizeof prefix, data, len, tag);
    break;
  case HASH_SHA256:
  case HASH_HMAC_SHA256:
    tag_sha256 (h, prefix, sizeof prefix, data, len, tag);
    break;
  }
  tag_avoid_unwritten (tag, h->alg->tag_size);
}

bool
hasher_tag_equal (const struct hasher *h, const uint8_t *a, const uint8_t *b)
{
  if (h->alg->keyed)
    return sodium_memcmp (a, b, h->alg->tag_size) == 0;
  return memcmp (a, b, h->alg->tag_size) == 0;
}

void
hasher_key_check (const struct hasher *h, const uint8_t uuid[DISK_UUID_SIZE],
                  uint8_t out[HASH_KEY_CHECK_SIZE])
{
  static const char label[] = "nbd-integrity key check";
  uint8_t msg[sizeof label + DISK_UUID_SIZE];

  memset (out, 0, HASH_KEY_CHECK_SIZE);
  if (!h->alg->keyed)
    return;
  memcpy (msg, label, sizeof label);
  memcpy (msg + sizeof label, uuid, DISK_UUID_SIZE);
  hasher_tag (h, uuid, HASH_DOMAIN_KEY_CHECK, msg, sizeof msg, out);
}

bool
tag_is_unwritten (const uint8_t *tag, unsigned tag_size)
{
  return all_zero (tag, tag_size);
}

void
hasher_unwritten_tag (const struct hasher *h,
                      const uint8_t uuid[DISK_UUID_SIZE], uint64_t sector,
                      uint8_t *tag)
{
  /* Shorter than any sector, so never the MAC of a sector's data. */
  static const char label[] = "nbd-integrity unwritten";

  if (h->alg->keyed)
    hasher_tag (h, uuid, sector, label, sizeof label, tag);
  else
    memset (tag, 0, h->alg->tag_size);
}

void
hasher_unwritten_tags (const struct hasher *h,
                       const uint8_t uuid[DISK_UUID_SIZE], uint64_t sector,
                       uint64_t n, uint8_t *tags)
{
  for (uint64_t i = 0; i < n; i++)
    hasher_unwritten_tag (h, uuid, sector + i, tags + i * h->alg->tag_size);
}

void
hasher_invalid_tag (const struct hasher *h, const uint8_t *tag,
                    uint8_t *invalid)
{
  unsigned n = h->alg->tag_size;

  for (unsigned i = 0; i < n; i++)
    invalid[i] = ~tag[i];
  /* The complement of an all-ones tag would be the unwritten tag of the
   * unkeyed algorithms, which reads as zeroes: change another bit. */
  if (tag_is_unwritten (invalid, n))
    invalid[0] = 1;
}

bool
hasher_tag_is_invalid (const struct hasher *h, const uint8_t *tag,
                       const uint8_t *computed)
{
  uint8_t invalid[HASH_MAX_TAG];

  hasher_invalid_tag (h, computed, invalid);
  return hasher_tag_equal (h, tag, invalid);
}

bool
hasher_tag_is_unwritten (const struct hasher *h,
                         const uint8_t uuid[DISK_UUID_SIZE], uint64_t sector,
                         const uint8_t *tag)
{
  uint8_t unwritten[HASH_MAX_TAG];

  if (!h->alg->keyed)
    return tag_is_unwritten (tag, h->alg->tag_size);
  hasher_unwritten_tag (h, uuid, sector, unwritten);
  return hasher_tag_equal (h, tag, unwritten);
}
