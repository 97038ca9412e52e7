/* Tag algorithms: see hash.h.
 *
 * Each algorithm comes from the library that does it best: CRC32C from
 * ISA-L, XXH3 from libxxhash, BLAKE2b from libsodium, SHA-256 and HMAC from
 * OpenSSL (SHA-NI).  For SHA-256 and HMAC the hasher holds contexts already
 * initialised (and keyed: HMAC's inner and outer pads absorbed) that each
 * call copies, so no call fetches algorithms or takes a library lock.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/crc.h>
#include <openssl/evp.h>
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

struct hasher {
  const struct hash_alg *alg;
  uint8_t *key; /* sodium_malloc'd */
  size_t key_len;
  EVP_MD *sha256;
  EVP_MD_CTX *inner; /* SHA-256 initialised; for HMAC, ipad absorbed */
  EVP_MD_CTX *outer; /* HMAC only: opad absorbed */
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

/* Absorbs the HMAC pad of KEY (XOR PAD) into a fresh SHA-256 context. */
static EVP_MD_CTX *
sha256_ctx_with_pad (const struct hasher *h, uint8_t pad)
{
  uint8_t block[SHA256_BLOCK] = {0};
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();

  if (ctx == NULL || !EVP_DigestInit_ex2 (ctx, h->sha256, NULL)) {
    EVP_MD_CTX_free (ctx);
    return NULL;
  }
  if (pad) {
    /* Keys are at most 64 bytes, the SHA-256 block, so never hashed. */
    memcpy (block, h->key, h->key_len);
    for (size_t i = 0; i < SHA256_BLOCK; i++)
      block[i] ^= pad;
    if (!EVP_DigestUpdate (ctx, block, sizeof block)) {
      EVP_MD_CTX_free (ctx);
      return NULL;
    }
    sodium_memzero (block, sizeof block);
  }
  return ctx;
}

static int
hasher_init_sha256 (struct hasher *h)
{
  bool hmac = h->alg->id == HASH_HMAC_SHA256;

  h->sha256 = EVP_MD_fetch (NULL, "SHA256", NULL);
  if (h->sha256 == NULL)
    return -1;
  h->inner = sha256_ctx_with_pad (h, hmac ? 0x36 : 0);
  if (h->inner == NULL)
    return -1;
  if (hmac) {
    h->outer = sha256_ctx_with_pad (h, 0x5c);
    if (h->outer == NULL)
      return -1;
  }
  return 0;
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
  if (key_len > 64) {
    ni_error_set ("key too long: %zu bytes (at most 64)", key_len);
    errno = EINVAL;
    return -1;
  }
  h->key = sodium_malloc (key_len);
  if (h->key == NULL)
    return -1;
  memcpy (h->key, key, key_len);
  h->key_len = key_len;
  return 0;
}

struct hasher *
hasher_new (const struct hash_alg *alg, const uint8_t *key, size_t key_len)
{
  struct hasher *h;

  if (sodium_init () < 0) {
    ni_error_set ("libsodium failed to initialise");
    errno = EIO;
    return NULL;
  }
  h = calloc (1, sizeof *h);
  if (h == NULL)
    return NULL;
  h->alg = alg;
  if (hasher_set_key (h, key, key_len) == -1)
    goto err;
  if ((alg->id == HASH_SHA256 || alg->id == HASH_HMAC_SHA256) &&
      hasher_init_sha256 (h) == -1) {
    ni_error_set ("OpenSSL could not set up SHA-256");
    errno = EIO;
    goto err;
  }
  return h;

err:
  hasher_free (h);
  return NULL;
}

void
hasher_free (struct hasher *h)
{
  if (h == NULL)
    return;
  sodium_free (h->key);
  EVP_MD_CTX_free (h->inner);
  EVP_MD_CTX_free (h->outer);
  EVP_MD_free (h->sha256);
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
  crypto_generichash_state state;

  crypto_generichash_init (&state, h->key, h->key_len, 32);
  crypto_generichash_update (&state, prefix, plen);
  crypto_generichash_update (&state, data, len);
  crypto_generichash_final (&state, tag, 32);
  /* Keyed, the state is as good as the key for making tags. */
  if (h->key)
    sodium_memzero (&state, sizeof state);
}

/* SHA-256, or HMAC-SHA256 when the hasher has an outer context.  The
 * contexts are copies of the prepared ones, so this allocates one context
 * per call: cheap next to hashing a sector, and lock-free. */
static void
tag_sha256 (const struct hasher *h, const uint8_t *prefix, size_t plen,
            const void *data, size_t len, uint8_t *tag)
{
  EVP_MD_CTX *ctx = EVP_MD_CTX_new ();
  unsigned out_len;
  bool ok;

  ok = ctx && EVP_MD_CTX_copy_ex (ctx, h->inner) &&
       EVP_DigestUpdate (ctx, prefix, plen) &&
       EVP_DigestUpdate (ctx, data, len) &&
       EVP_DigestFinal_ex (ctx, tag, &out_len);
  if (ok && h->outer)
    ok = EVP_MD_CTX_copy_ex (ctx, h->outer) &&
         EVP_DigestUpdate (ctx, tag, 32) &&
         EVP_DigestFinal_ex (ctx, tag, &out_len);
  EVP_MD_CTX_free (ctx);
  /* OpenSSL fails here only on allocation failure.  A zero tag is then
   * stored, which never verifies data, so nothing wrong is accepted. */
  if (!ok)
    memset (tag, 0, 32);
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
