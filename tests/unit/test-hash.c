/* Tag algorithms: known answers for every algorithm, what a tag binds,
 * keys, and the reserved all-zero tag.
 *
 * A tag is H (uuid (16 bytes) || le64 (sector) || data), stored as: the
 * CRC32C little-endian; XXH3-128 in its canonical (big-endian) form; the
 * digest bytes for BLAKE2b-256 (keyed or not), SHA-256 and HMAC-SHA256.
 *
 * The expected values were computed independently of this code:
 *   - crc32c, blake2b-256, sha256, blake2b-256-keyed, hmac-sha256 with
 *     Debian's /usr/bin/python3 (a bitwise CRC32C, polynomial 0x82f63b78,
 *     init and final xor ~0, packed '<I'; hashlib.blake2b (digest_size=32,
 *     key=...), hashlib.sha256, hmac.new (key, msg, sha256));
 *   - xxh3-128 with `xxhsum -H2 msg.bin` (Debian xxhash 0.8.1), which
 *     prints XXH128 in canonical big-endian hex;
 * over these messages:
 *   1. uuid 00 01 .. 0f, sector 0x0102030405060708, 4096 bytes of
 *      (i * 7 % 251), key 40 41 .. 5f (32 bytes);
 *   2. uuid ff fe .. f0, sector 0, the first 512 of those bytes, key
 *      80 81 .. bf (64 bytes: a whole SHA-256 block, the longest key);
 *   3. uuid 00 01 .. 0f, sector 2^40, 4096 bytes of ff, key 10 11 .. 1f
 *      (16 bytes, the shortest key).
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "report.h"
#include "util.h"

#define NR_ALGS 6
#define NR_SETS 3

static const char *const names[NR_ALGS] = {
    "crc32c", "xxh3-128",          "blake2b-256",
    "sha256", "blake2b-256-keyed", "hmac-sha256",
};

/* The on-disk ids, tag sizes and keyedness that hash.h promises. */
static const struct hash_alg expected[NR_ALGS] = {
    {HASH_CRC32C, "crc32c", 4, false},
    {HASH_XXH3_128, "xxh3-128", 16, false},
    {HASH_BLAKE2B_256, "blake2b-256", 32, false},
    {HASH_SHA256, "sha256", 32, false},
    {HASH_BLAKE2B_256_KEYED, "blake2b-256-keyed", 32, true},
    {HASH_HMAC_SHA256, "hmac-sha256", 32, true},
};

/* vectors[set][alg], algorithms in the order of names[]. */
static const char *const vectors[NR_SETS][NR_ALGS] = {
    {
        "af97573d",
        "b260a30613fff328cab4d5badf5b0543",
        "89d987c12e281f5fc11a0c27b3c6cca0f592909cc39663a0b3b9eb99b8d02517",
        "d2708df0e7c8daae5902fbe0945637c07c81e15236d6d8d93e9f4f08b190293d",
        "7de15db847c495aef83c1356161499269f1023c9cd5754884c4afd1932a74381",
        "8370c91dc823ef38edcebf18517ca0ea6f2f72427d84942eaedb623723fbd897",
    },
    {
        "fa12418b",
        "11a6040bd4607c1516fd67dfb89e9963",
        "e2eb9a46ed158b16e8961b4dfc81ff6089ac38658e3336d149647e41e723442d",
        "c2fe36bfabb98c367ee67b13726310e34c0ee125ec1b1b3b3735877ea8addb34",
        "6c96ba3f5e16c8490b6eb9327ada1b6c0a48cd01bc8dca6cc91f6a326a93e4e2",
        "1055dfbff45cb99b9680aed58d5751502dd880df345bfce9d044d33ba0678841",
    },
    {
        "2bd20cef",
        "22f384105af73c0bf1edf8f37d281883",
        "68b7a37a726a9bb6a21b4bdcb7b69c1bde3daa8b0bb7c7ab0106f906d6b04e0e",
        "9b74ea1e060ddb1e03567175bd8b13ee5173a443f28b8d7a9158497da6ba6f5e",
        "aa5beeff9ef12ca73af92936d309078c4ed456a90a9d358a9357f15e4fd6895b",
        "7777ed984d59fbad542fa3dbb649518212a7f64325b96edc2ffbee3b9cace93c",
    },
};

struct message {
  uint8_t uuid[DISK_UUID_SIZE];
  uint64_t sector;
  uint8_t data[4096];
  size_t len;
  uint8_t key[64];
  size_t key_len;
};

static struct message msgs[NR_SETS];
#define BASE (&msgs[0])

static void
setup (void)
{
  for (int i = 0; i < DISK_UUID_SIZE; i++) {
    msgs[0].uuid[i] = msgs[2].uuid[i] = i;
    msgs[1].uuid[i] = 0xff - i;
  }
  msgs[0].sector = 0x0102030405060708ull;
  msgs[1].sector = 0;
  msgs[2].sector = 1ull << 40;
  for (int i = 0; i < 4096; i++)
    msgs[0].data[i] = msgs[1].data[i] = i * 7 % 251;
  memset (msgs[2].data, 0xff, 4096);
  msgs[0].len = msgs[2].len = 4096;
  msgs[1].len = 512;
  for (int i = 0; i < 64; i++) {
    msgs[0].key[i] = 0x40 + i;
    msgs[1].key[i] = 0x80 + i;
    msgs[2].key[i] = 0x10 + i;
  }
  msgs[0].key_len = 32;
  msgs[1].key_len = 64;
  msgs[2].key_len = 16;
}

static struct hasher *
new_hasher (const char *name, const struct message *m)
{
  const struct hash_alg *alg = hash_by_name (name);
  struct hasher *h;

  ck_assert_ptr_nonnull (alg);
  h = hasher_new (alg, alg->keyed ? m->key : NULL, alg->keyed ? m->key_len : 0);
  ck_assert_msg (h != NULL, "hasher_new %s: %s", name, ni_error ());
  return h;
}

static unsigned
tag_size (const struct hasher *h)
{
  return hasher_alg (h)->tag_size;
}

static void
tag_of (const struct hasher *h, const struct message *m, uint8_t *tag)
{
  hasher_tag (h, m->uuid, m->sector, m->data, m->len, tag);
}

static void
hex (const uint8_t *b, size_t n, char *out)
{
  for (size_t i = 0; i < n; i++)
    sprintf (out + 2 * i, "%02x", b[i]);
}

/* A bitwise CRC32C, the textbook definition, to check lib's against. */
static uint32_t
reference_crc32c (uint32_t crc, const uint8_t *p, size_t len)
{
  crc = ~crc;
  while (len--) {
    crc ^= *p++;
    for (int k = 0; k < 8; k++)
      crc = crc >> 1 ^ (crc & 1 ? 0x82f63b78 : 0);
  }
  return ~crc;
}

START_TEST (crc32c_check_value)
{
  static const char digits[] = "123456789";
  uint8_t buf[1000];

  ck_assert_uint_eq (crc32c (0, digits, 9), 0xe3069283);
  ck_assert_uint_eq (reference_crc32c (0, (const uint8_t *)digits, 9),
                     0xe3069283);
  /* Continuing a CRC over a split buffer gives the same result. */
  ck_assert_uint_eq (crc32c (crc32c (0, digits, 4), digits + 4, 5), 0xe3069283);
  ck_assert_uint_eq (crc32c (0, digits, 0), 0);
  ck_assert_uint_eq (crc32c (0x12345678, digits, 0), 0x12345678);
  /* Every length and alignment the fast paths treat differently. */
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = i * 131 + 17;
  for (size_t start = 0; start < 9; start++)
    for (size_t len = 0; len + start <= sizeof buf; len += 1 + len / 8)
      ck_assert_uint_eq (crc32c (0, buf + start, len),
                         reference_crc32c (0, buf + start, len));
}
END_TEST

START_TEST (known_answers)
{
  int set = _i / NR_ALGS, alg = _i % NR_ALGS;
  struct hasher *h = new_hasher (names[alg], &msgs[set]);
  uint8_t tag[HASH_MAX_TAG];
  char got[2 * HASH_MAX_TAG + 1];

  tag_of (h, &msgs[set], tag);
  hex (tag, tag_size (h), got);
  ck_assert_msg (strcmp (got, vectors[set][alg]) == 0,
                 "%s, message %d: got %s, expected %s", names[alg], set + 1,
                 got, vectors[set][alg]);
  hasher_free (h);
}
END_TEST

START_TEST (tag_binds_sector_uuid_and_data)
{
  struct hasher *h = new_hasher (names[_i], BASE);
  unsigned ts = tag_size (h);
  uint8_t base[HASH_MAX_TAG], other[HASH_MAX_TAG];
  struct message m = *BASE;

  tag_of (h, &m, base);
  tag_of (h, &m, other);
  ck_assert (hasher_tag_equal (h, base, other)); /* deterministic */
  m.sector ^= 1;
  tag_of (h, &m, other);
  ck_assert (!hasher_tag_equal (h, base, other));
  m.sector = BASE->sector ^ 1ull << 63;
  tag_of (h, &m, other);
  ck_assert (!hasher_tag_equal (h, base, other));
  m.sector = BASE->sector;
  for (int i = 0; i < DISK_UUID_SIZE; i++) {
    m.uuid[i] ^= 0x80;
    tag_of (h, &m, other);
    ck_assert_msg (!hasher_tag_equal (h, base, other), "uuid byte %d", i);
    m.uuid[i] ^= 0x80;
  }
  for (int bit = 0; bit < 4096 * 8; bit += 61) {
    m.data[bit / 8] ^= 1 << bit % 8;
    tag_of (h, &m, other);
    m.data[bit / 8] ^= 1 << bit % 8;
    ck_assert_msg (memcmp (base, other, ts) != 0, "data bit %d", bit);
    ck_assert (!hasher_tag_equal (h, base, other));
  }
  /* Nor does a shorter read of the same bytes verify. */
  m.len = 512;
  tag_of (h, &m, other);
  ck_assert (!hasher_tag_equal (h, base, other));
  hasher_free (h);
}
END_TEST

START_TEST (computed_tags_are_never_unwritten)
{
  struct hasher *h = new_hasher (names[_i], BASE);
  uint8_t tag[HASH_MAX_TAG];
  struct message m = *BASE;

  for (uint64_t s = 0; s < 4096; s++) {
    m.sector = s;
    m.data[s % 4096] = s;
    tag_of (h, &m, tag);
    ck_assert_msg (!tag_is_unwritten (tag, tag_size (h)), "sector %lu",
                   (unsigned long)s);
  }
  memset (m.data, 0, sizeof m.data);
  tag_of (h, &m, tag);
  ck_assert (!tag_is_unwritten (tag, tag_size (h)));
  hasher_free (h);
}
END_TEST

/* The inverse of one bit step of the reflected CRC register. */
static uint32_t
crc_unstep (uint32_t r)
{
  uint32_t low = r >> 31; /* the bit shifted out; it decided the xor */

  return (low ? r ^ 0x82f63b78 : r) << 1 | low;
}

/* A CRC32C that comes out as zero: the last 4 data bytes are chosen so
 * that the register ends at ~0 (each 4-byte step is the register xor the
 * bytes, then 32 invertible bit steps).  hash.h says such a tag is stored
 * with its first byte set to 1. */
START_TEST (zero_crc_is_stored_as_one)
{
  struct hasher *h = new_hasher ("crc32c", BASE);
  struct message m = *BASE;
  uint8_t prefix[DISK_UUID_SIZE + 8], tag[4];
  uint32_t reg, want = ~0u, x;

  memcpy (prefix, m.uuid, DISK_UUID_SIZE);
  for (int i = 0; i < 8; i++)
    prefix[DISK_UUID_SIZE + i] = m.sector >> 8 * i;
  reg = ~reference_crc32c (reference_crc32c (0, prefix, sizeof prefix), m.data,
                           m.len - 4);
  for (int k = 0; k < 32; k++)
    want = crc_unstep (want);
  x = reg ^ want;
  for (int i = 0; i < 4; i++)
    m.data[m.len - 4 + i] = x >> 8 * i;
  ck_assert_uint_eq (
      reference_crc32c (reference_crc32c (0, prefix, sizeof prefix), m.data,
                        m.len),
      0);
  tag_of (h, &m, tag);
  ck_assert_uint_eq (tag[0], 1);
  ck_assert_uint_eq (tag[1] | tag[2] | tag[3], 0);
  hasher_free (h);
}
END_TEST

START_TEST (names_and_ids)
{
  const struct hash_alg *a = hash_by_name (names[_i]);

  ck_assert_ptr_nonnull (a);
  ck_assert_str_eq (a->name, expected[_i].name);
  ck_assert_int_eq (a->id, expected[_i].id);
  ck_assert_uint_eq (a->tag_size, expected[_i].tag_size);
  ck_assert_int_eq (a->keyed, expected[_i].keyed);
  ck_assert_uint_le (a->tag_size, HASH_MAX_TAG);
  ck_assert_ptr_eq (hash_by_id (a->id), a);
  ck_assert_ptr_nonnull (strstr (hash_names (), a->name));
}
END_TEST

START_TEST (unknown_names_and_ids)
{
  static const char *const unknown[] = {
      "md5", "", "crc32", "sha256 ", "blake2b", "hmac-sha256-keyed"};

  for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
    errno = 0;
    ck_assert_ptr_null (hash_by_name (unknown[i]));
    ck_assert_int_eq (errno, EINVAL);
  }
  for (uint32_t id = 0; id < 1000; id++)
    if (id < 1 || id > NR_ALGS) {
      errno = 0;
      ck_assert_ptr_null (hash_by_id (id));
      ck_assert_int_eq (errno, EINVAL);
    }
  ck_assert_ptr_null (hash_by_id (UINT32_MAX));
}
END_TEST

START_TEST (keyed_need_a_key_unkeyed_refuse_one)
{
  const struct hash_alg *a = hash_by_name (names[_i]);
  uint8_t key[32] = {1, 2, 3};

  ni_error_set ("%s", "");
  if (a->keyed) {
    ck_assert_ptr_null (hasher_new (a, NULL, 0));
    ck_assert_str_ne (ni_error (), "");
    ck_assert_ptr_null (hasher_new (a, NULL, 32));
    ck_assert_ptr_null (hasher_new (a, key, 0));
  } else {
    ck_assert_ptr_null (hasher_new (a, key, sizeof key));
    ck_assert_str_ne (ni_error (), "");
  }
}
END_TEST

static void
key_check_of (const char *name, const uint8_t *key, size_t key_len,
              const uint8_t *uuid, uint8_t out[HASH_KEY_CHECK_SIZE])
{
  const struct hash_alg *a = hash_by_name (name);
  struct hasher *h = hasher_new (a, key, key_len);

  ck_assert_ptr_nonnull (h);
  hasher_key_check (h, uuid, out);
  hasher_free (h);
}

START_TEST (key_check_tells_keys_apart)
{
  const char *name = _i ? "hmac-sha256" : "blake2b-256-keyed";
  uint8_t key[32], uuid[DISK_UUID_SIZE];
  uint8_t kcv[HASH_KEY_CHECK_SIZE], again[HASH_KEY_CHECK_SIZE];
  uint8_t other[HASH_KEY_CHECK_SIZE];

  memcpy (key, BASE->key, sizeof key);
  memcpy (uuid, BASE->uuid, sizeof uuid);
  key_check_of (name, key, sizeof key, uuid, kcv);
  key_check_of (name, key, sizeof key, uuid, again);
  ck_assert_int_eq (memcmp (kcv, again, sizeof kcv), 0);
  ck_assert (!tag_is_unwritten (kcv, HASH_KEY_CHECK_SIZE));
  for (size_t i = 0; i < sizeof key; i += 7) {
    key[i] ^= 1;
    key_check_of (name, key, sizeof key, uuid, other);
    key[i] ^= 1;
    ck_assert_msg (memcmp (kcv, other, sizeof kcv) != 0, "key byte %zu", i);
  }
  key_check_of (name, key, 16, uuid, other); /* a prefix of the key */
  ck_assert (memcmp (kcv, other, sizeof kcv) != 0);
  uuid[0] ^= 1;
  key_check_of (name, key, sizeof key, uuid, other);
  ck_assert (memcmp (kcv, other, sizeof kcv) != 0);
  /* The value is not the key itself. */
  ck_assert (memcmp (kcv, key, sizeof key) != 0);
}
END_TEST

/* The unwritten tag: all zeroes without a key; with one, a MAC that
 * differs by sector, disk and key, is never all zeroes, and is never the
 * tag of a sector's data. */
START_TEST (unwritten_tag_is_keyed)
{
  struct hasher *h = new_hasher (names[_i], BASE);
  unsigned ts = tag_size (h);
  bool keyed = hasher_alg (h)->keyed;
  uint8_t a[HASH_MAX_TAG], b[HASH_MAX_TAG], zero[HASH_MAX_TAG] = {0};
  uint8_t uuid[DISK_UUID_SIZE], data[4096] = {0};

  memcpy (uuid, BASE->uuid, sizeof uuid);
  hasher_unwritten_tag (h, uuid, 7, a);
  ck_assert (hasher_tag_is_unwritten (h, uuid, 7, a));
  ck_assert (hasher_tag_is_unwritten (h, uuid, 7, zero) == !keyed);
  ck_assert (tag_is_unwritten (a, ts) == !keyed);
  hasher_unwritten_tag (h, uuid, 8, b);
  ck_assert ((memcmp (a, b, ts) == 0) == !keyed);
  ck_assert (hasher_tag_is_unwritten (h, uuid, 8, a) == !keyed);
  uuid[3] ^= 1;
  hasher_unwritten_tag (h, uuid, 7, b);
  ck_assert ((memcmp (a, b, ts) == 0) == !keyed);
  uuid[3] ^= 1;
  hasher_tag (h, uuid, 7, data, sizeof data, b);
  ck_assert (!hasher_tag_is_unwritten (h, uuid, 7, b));
  if (keyed) {
    struct message m = *BASE;
    struct hasher *other;

    m.key[0] ^= 1;
    other = new_hasher (names[_i], &m);
    hasher_unwritten_tag (other, uuid, 7, b);
    ck_assert (memcmp (a, b, ts) != 0);
    hasher_free (other);
  }
  hasher_free (h);
}
END_TEST

START_TEST (key_check_is_zero_unkeyed)
{
  struct hasher *h = new_hasher (names[_i], BASE);
  uint8_t kcv[HASH_KEY_CHECK_SIZE];

  memset (kcv, 0xaa, sizeof kcv);
  hasher_key_check (h, BASE->uuid, kcv);
  ck_assert (tag_is_unwritten (kcv, HASH_KEY_CHECK_SIZE));
  hasher_free (h);
}
END_TEST

START_TEST (unwritten_is_all_zeroes_only)
{
  static const unsigned sizes[] = {4, 16, 32};
  uint8_t tag[HASH_MAX_TAG + 1];

  for (size_t k = 0; k < 3; k++) {
    unsigned ts = sizes[k];
    memset (tag, 0, sizeof tag);
    ck_assert (tag_is_unwritten (tag, ts));
    for (unsigned i = 0; i < ts; i++)
      for (int bit = 0; bit < 8; bit++) {
        tag[i] = 1 << bit;
        ck_assert_msg (!tag_is_unwritten (tag, ts), "size %u byte %u bit %d",
                       ts, i, bit);
        tag[i] = 0;
      }
    /* Only the tag's own bytes count. */
    tag[ts] = 0xff;
    ck_assert (tag_is_unwritten (tag, ts));
    tag[ts] = 0;
  }
}
END_TEST

/* An invalid tag is never the data's own tag nor an unwritten tag, even
 * for the tags whose complement is all zeroes, and it is told apart from
 * any other tag that differs. */
START_TEST (invalid_tags_fail_and_are_recognised)
{
  struct hasher *h = new_hasher (names[_i], BASE);
  unsigned ts = tag_size (h);
  uint8_t tags[3][HASH_MAX_TAG], invalid[HASH_MAX_TAG], other[HASH_MAX_TAG];

  tag_of (h, BASE, tags[0]);
  memset (tags[1], 0xff, ts); /* complement: the unkeyed unwritten tag */
  memset (tags[2], 0xfe, ts);
  tags[2][0] = 0xff;
  for (int k = 0; k < 3; k++) {
    hasher_invalid_tag (h, tags[k], invalid);
    ck_assert (!hasher_tag_equal (h, invalid, tags[k]));
    ck_assert (!tag_is_unwritten (invalid, ts));
    ck_assert (!hasher_tag_is_unwritten (h, BASE->uuid, BASE->sector, invalid));
    ck_assert (hasher_tag_is_invalid (h, invalid, tags[k]));
    ck_assert (!hasher_tag_is_invalid (h, tags[k], tags[k]));
    memcpy (other, invalid, ts);
    other[ts - 1] ^= 1;
    ck_assert (!hasher_tag_is_invalid (h, other, tags[k]));
  }
  hasher_free (h);
}
END_TEST

START_TEST (tag_equal_compares_every_byte)
{
  struct hasher *h = new_hasher (names[_i], BASE);
  unsigned ts = tag_size (h);
  uint8_t a[HASH_MAX_TAG], b[HASH_MAX_TAG];

  tag_of (h, BASE, a);
  memcpy (b, a, sizeof b);
  ck_assert (hasher_tag_equal (h, a, b));
  for (unsigned i = 0; i < ts; i++) {
    b[i] ^= 0x10;
    ck_assert_msg (!hasher_tag_equal (h, a, b), "byte %u", i);
    b[i] ^= 0x10;
  }
  hasher_free (h);
}
END_TEST

/* ---- one hasher, many threads ---- */

#define THREADS 8
#define ROUNDS 200

struct worker {
  const struct hasher *h;
  uint8_t want[HASH_MAX_TAG];
  bool ok;
};

static void *
hash_many (void *arg)
{
  struct worker *w = arg;
  uint8_t tag[HASH_MAX_TAG];

  w->ok = true;
  for (int i = 0; i < ROUNDS; i++) {
    tag_of (w->h, BASE, tag);
    if (memcmp (tag, w->want, tag_size (w->h)) != 0)
      w->ok = false;
  }
  return NULL;
}

START_TEST (safe_from_many_threads)
{
  struct hasher *h = new_hasher (names[_i], BASE);
  struct worker w[THREADS];
  pthread_t th[THREADS];

  for (int t = 0; t < THREADS; t++) {
    w[t].h = h;
    tag_of (h, BASE, w[t].want);
    ck_assert_int_eq (pthread_create (&th[t], NULL, hash_many, &w[t]), 0);
  }
  for (int t = 0; t < THREADS; t++) {
    pthread_join (th[t], NULL);
    ck_assert (w[t].ok);
  }
  hasher_free (h);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("hash");
  TCase *tc = tcase_create ("hash");

  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_add_test (tc, crc32c_check_value);
  tcase_add_loop_test (tc, known_answers, 0, NR_SETS * NR_ALGS);
  tcase_add_loop_test (tc, tag_binds_sector_uuid_and_data, 0, NR_ALGS);
  tcase_add_loop_test (tc, computed_tags_are_never_unwritten, 0, NR_ALGS);
  tcase_add_test (tc, zero_crc_is_stored_as_one);
  tcase_add_loop_test (tc, names_and_ids, 0, NR_ALGS);
  tcase_add_test (tc, unknown_names_and_ids);
  tcase_add_loop_test (tc, keyed_need_a_key_unkeyed_refuse_one, 0, NR_ALGS);
  tcase_add_loop_test (tc, key_check_tells_keys_apart, 0, 2);
  tcase_add_loop_test (tc, key_check_is_zero_unkeyed, 0, 4);
  tcase_add_test (tc, unwritten_is_all_zeroes_only);
  tcase_add_loop_test (tc, unwritten_tag_is_keyed, 0, NR_ALGS);
  tcase_add_loop_test (tc, tag_equal_compares_every_byte, 0, NR_ALGS);
  tcase_add_loop_test (tc, invalid_tags_fail_and_are_recognised, 0, NR_ALGS);
  tcase_add_loop_test (tc, safe_from_many_threads, 0, NR_ALGS);
  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
