/* Known answers for every tag algorithm, and what a tag binds.
 *
 * The expected values were computed independently of this code, with
 * Debian's Python (hashlib.blake2b, hashlib.sha256, hmac, and a bitwise
 * CRC32C) and with xxhsum -H2 (XXH128), over the message
 * uuid 00..0f || le64 0x0102030405060708 || 4096 bytes (i * 7 % 251),
 * with the key 40..5f for the keyed algorithms.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

static const uint8_t uuid[DISK_UUID_SIZE] = {0, 1, 2,  3,  4,  5,  6,  7,
                                             8, 9, 10, 11, 12, 13, 14, 15};
static const uint64_t sector = 0x0102030405060708ull;
static uint8_t data[4096], key[32];

static const struct {
  const char *name, *hex;
} vectors[] = {
    {"crc32c", "af97573d"},
    {"xxh3-128", "b260a30613fff328cab4d5badf5b0543"},
    {"blake2b-256",
     "89d987c12e281f5fc11a0c27b3c6cca0f592909cc39663a0b3b9eb99b8d02517"},
    {"sha256",
     "d2708df0e7c8daae5902fbe0945637c07c81e15236d6d8d93e9f4f08b190293d"},
    {"blake2b-256-keyed",
     "7de15db847c495aef83c1356161499269f1023c9cd5754884c4afd1932a74381"},
    {"hmac-sha256",
     "8370c91dc823ef38edcebf18517ca0ea6f2f72427d84942eaedb623723fbd897"},
};

static void
setup (void)
{
  for (int i = 0; i < 4096; i++)
    data[i] = i * 7 % 251;
  for (int i = 0; i < 32; i++)
    key[i] = 0x40 + i;
}

static struct hasher *
new_hasher (const char *name)
{
  const struct hash_alg *alg = hash_by_name (name);

  ck_assert_ptr_nonnull (alg);
  return hasher_new (alg, alg->keyed ? key : NULL, alg->keyed ? 32 : 0);
}

static void
hex (const uint8_t *b, size_t n, char *out)
{
  for (size_t i = 0; i < n; i++)
    sprintf (out + 2 * i, "%02x", b[i]);
}

START_TEST (crc32c_check_value)
{
  ck_assert_uint_eq (crc32c (0, "123456789", 9), 0xe3069283);
  /* Continuing a CRC over a split buffer gives the same result. */
  ck_assert_uint_eq (crc32c (crc32c (0, "1234", 4), "56789", 5), 0xe3069283);
}
END_TEST

START_TEST (known_answers)
{
  struct hasher *h = new_hasher (vectors[_i].name);
  uint8_t tag[HASH_MAX_TAG];
  char got[2 * HASH_MAX_TAG + 1];

  ck_assert_ptr_nonnull (h);
  hasher_tag (h, uuid, sector, data, sizeof data, tag);
  hex (tag, hasher_alg (h)->tag_size, got);
  ck_assert_str_eq (got, vectors[_i].hex);
  hasher_free (h);
}
END_TEST

START_TEST (tag_binds_sector_uuid_and_data)
{
  struct hasher *h = new_hasher (vectors[_i].name);
  unsigned ts = hasher_alg (h)->tag_size;
  uint8_t base[HASH_MAX_TAG], other[HASH_MAX_TAG], uuid2[DISK_UUID_SIZE];

  hasher_tag (h, uuid, sector, data, sizeof data, base);
  hasher_tag (h, uuid, sector + 1, data, sizeof data, other);
  ck_assert (memcmp (base, other, ts) != 0);
  memcpy (uuid2, uuid, sizeof uuid2);
  uuid2[15] ^= 1;
  hasher_tag (h, uuid2, sector, data, sizeof data, other);
  ck_assert (memcmp (base, other, ts) != 0);
  for (int bit = 0; bit < 4096 * 8; bit += 4093) {
    data[bit / 8] ^= 1 << bit % 8;
    hasher_tag (h, uuid, sector, data, sizeof data, other);
    data[bit / 8] ^= 1 << bit % 8;
    ck_assert (!hasher_tag_equal (h, base, other));
    ck_assert (!tag_is_unwritten (other, ts));
  }
  hasher_free (h);
}
END_TEST

START_TEST (names_and_ids)
{
  ck_assert_ptr_null (hash_by_name ("md5"));
  ck_assert_ptr_null (hash_by_id (0));
  ck_assert_ptr_null (hash_by_id (7));
  for (size_t i = 0; i < 6; i++) {
    const struct hash_alg *a = hash_by_name (vectors[i].name);
    ck_assert_ptr_eq (hash_by_id (a->id), a);
    ck_assert_ptr_nonnull (strstr (hash_names (), a->name));
  }
}
END_TEST

START_TEST (keys_required_and_checked)
{
  const struct hash_alg *keyed = hash_by_name ("hmac-sha256");
  const struct hash_alg *plain = hash_by_name ("sha256");
  uint8_t kcv1[HASH_KEY_CHECK_SIZE], kcv2[HASH_KEY_CHECK_SIZE];
  struct hasher *h;

  ck_assert_ptr_null (hasher_new (keyed, NULL, 0));
  ck_assert_ptr_null (hasher_new (plain, key, 32));
  h = hasher_new (keyed, key, 32);
  hasher_key_check (h, uuid, kcv1);
  hasher_free (h);
  key[0] ^= 1;
  h = hasher_new (keyed, key, 32);
  hasher_key_check (h, uuid, kcv2);
  hasher_free (h);
  key[0] ^= 1;
  ck_assert (memcmp (kcv1, kcv2, sizeof kcv1) != 0);
  ck_assert (!tag_is_unwritten (kcv1, 32));
}
END_TEST

START_TEST (unwritten_tag)
{
  uint8_t tag[HASH_MAX_TAG] = {0};

  ck_assert (tag_is_unwritten (tag, 32));
  tag[31] = 1;
  ck_assert (!tag_is_unwritten (tag, 32));
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("hash");
  TCase *tc = tcase_create ("hash");
  SRunner *sr;
  int failed;

  tcase_add_checked_fixture (tc, setup, NULL);
  tcase_add_test (tc, crc32c_check_value);
  tcase_add_loop_test (tc, known_answers, 0, 6);
  tcase_add_loop_test (tc, tag_binds_sector_uuid_and_data, 0, 6);
  tcase_add_test (tc, names_and_ids);
  tcase_add_test (tc, keys_required_and_checked);
  tcase_add_test (tc, unwritten_tag);
  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
