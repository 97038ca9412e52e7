/* The superblock: round trip, every kind of damage, copies and layout. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "le.h"
#include "powerloss.h"
#include "superblock.h"

static void
make_sb (struct superblock *sb, uint32_t ss, const char *hash, uint64_t size)
{
  const struct hash_alg *alg = hash_by_name (hash);

  memset (sb, 0, sizeof *sb);
  sb->version = SB_VERSION;
  for (int i = 0; i < DISK_UUID_SIZE; i++)
    sb->uuid[i] = 0xa0 + i;
  sb->sector_size = ss;
  sb->hash_id = alg->id;
  strcpy (sb->hash_name, alg->name);
  sb->tag_size = alg->tag_size;
  sb->generation = 7;
  sb->journal_tail_seq = 12345;
  sb->format_time = 1700000000;
  ck_assert_int_eq (sb_layout (sb, size, 0), 0);
}

/* Re-seals a block after a field was changed, so only that field is
 * wrong. */
static void
reseal (uint8_t *block)
{
  le32_put (block + SB_BLOCK - 4, crc32c (0, block, SB_BLOCK - 4));
}

START_TEST (round_trip)
{
  static const struct {
    uint32_t ss;
    const char *hash;
    uint64_t size;
  } cases[] = {
      {4096, "crc32c", 64 << 20},
      {512, "sha256", 64 << 20},
      {4096, "hmac-sha256", 1ull << 40},
      {512, "xxh3-128", (1ull << 40) + 12345},
  };
  struct superblock sb, back;
  uint8_t block[SB_BLOCK];

  make_sb (&sb, cases[_i].ss, cases[_i].hash, cases[_i].size);
  ck_assert_uint_le (sb.disk_size, cases[_i].size);
  sb_encode (&sb, block);
  ck_assert_int_eq (sb_decode (block, &back), 0);
  back.copy = sb.copy;
  ck_assert_int_eq (memcmp (&sb, &back, sizeof sb), 0);
}
END_TEST

START_TEST (every_flipped_bit_is_rejected)
{
  struct superblock sb, back;
  uint8_t block[SB_BLOCK];

  make_sb (&sb, 4096, "crc32c", 64 << 20);
  sb_encode (&sb, block);
  for (int bit = 0; bit < SB_BLOCK * 8; bit += 7) {
    block[bit / 8] ^= 1 << bit % 8;
    ck_assert_int_eq (sb_decode (block, &back), -1);
    block[bit / 8] ^= 1 << bit % 8;
  }
}
END_TEST

/* Each damaged field, re-sealed with a good checksum. */
START_TEST (inconsistent_fields_are_rejected)
{
  static const struct {
    int offset, width;
    uint64_t value;
  } damage[] = {
      {8, 4, 2},           /* version */
      {12, 4, 1},          /* unknown feature */
      {32, 4, 1024},       /* sector size */
      {36, 4, 99},         /* hash id */
      {36, 4, 4},          /* id sha256, name still crc32c */
      {72, 4, 32},         /* tag size */
      {76, 4, 5},          /* state */
      {88, 8, 1ull << 40}, /* data sectors beyond the disk size */
      {96, 8, 0},          /* journal over the superblocks */
      {104, 8, 4096},      /* journal too small */
      {112, 8, 4096},      /* zones over the journal */
      {120, 4, 8},         /* zone geometry */
      {124, 4, 0},         /* tag run */
      {128, 8, 1},         /* disk size */
  };
  struct superblock sb, back;
  uint8_t block[SB_BLOCK];

  make_sb (&sb, 4096, "crc32c", 64 << 20);
  sb_encode (&sb, block);
  if (damage[_i].width == 4)
    le32_put (block + damage[_i].offset, damage[_i].value);
  else
    le64_put (block + damage[_i].offset, damage[_i].value);
  reseal (block);
  ck_assert_int_eq (sb_decode (block, &back), -1);
}
END_TEST

START_TEST (copies_ping_pong_and_fall_back)
{
  struct backing *b = powerloss_new (NULL, 64 << 20);
  struct superblock sb, back;

  make_sb (&sb, 4096, "crc32c", 64 << 20);
  sb.copy = 1;
  ck_assert_int_eq (sb_write (b, &sb), 0); /* generation 8 to copy 0 */
  ck_assert_int_eq (sb_write (b, &sb), 0); /* generation 9 to copy 1 */
  ck_assert_int_eq (sb.copy, 1);
  ck_assert_int_eq (sb_read (b, &back), 0);
  ck_assert_uint_eq (back.generation, 9);
  ck_assert_int_eq (back.copy, 1);
  /* Damage the newest copy: the older one is used. */
  ck_assert_int_eq (b->ops->pwrite (b, "junk", 4, SB_BLOCK + 100, 0), 0);
  ck_assert_int_eq (sb_read (b, &back), 0);
  ck_assert_uint_eq (back.generation, 8);
  ck_assert_int_eq (back.copy, 0);
  /* Both damaged: refused. */
  ck_assert_int_eq (b->ops->pwrite (b, "junk", 4, 100, 0), 0);
  ck_assert_int_eq (sb_read (b, &back), -1);
  backing_close (b);
}
END_TEST

START_TEST (layout_regions_do_not_overlap)
{
  struct superblock sb;
  uint64_t z = 0;

  make_sb (&sb, _i ? 512 : 4096, _i ? "sha256" : "crc32c", 100 << 20);
  z = sb.zone_sectors;
  ck_assert_uint_ge (sb.zones_offset, sb.journal_offset + sb.journal_size);
  ck_assert_uint_eq (sb_tag_offset (&sb, 0), sb.zones_offset);
  ck_assert_uint_eq (sb_data_offset (&sb, 0),
                     sb.zones_offset + sb.tag_run_bytes);
  /* The last tag of zone 0 ends before its data begins. */
  ck_assert_uint_le (sb_tag_offset (&sb, z - 1) + sb.tag_size,
                     sb_data_offset (&sb, 0));
  /* Zone 1's tag run starts right after zone 0's last data sector. */
  ck_assert_uint_eq (sb_tag_offset (&sb, z),
                     sb_data_offset (&sb, z - 1) + sb.sector_size);
  ck_assert_uint_eq (sb_data_offset (&sb, z),
                     sb_tag_offset (&sb, z) + sb.tag_run_bytes);
  ck_assert_uint_le (sb_data_offset (&sb, sb.data_sectors - 1) + sb.sector_size,
                     sb.disk_size);
  ck_assert_uint_eq (sb_zone_remaining (&sb, 0), z);
  ck_assert_uint_eq (sb_zone_remaining (&sb, z - 1), 1);
}
END_TEST

START_TEST (too_small_disk_is_refused)
{
  struct superblock sb = {.sector_size = 4096, .tag_size = 4};

  ck_assert_int_eq (sb_layout (&sb, 1 << 20, 0), -1);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("superblock");
  TCase *tc = tcase_create ("superblock");
  SRunner *sr;
  int failed;

  tcase_add_loop_test (tc, round_trip, 0, 4);
  tcase_add_test (tc, every_flipped_bit_is_rejected);
  tcase_add_loop_test (tc, inconsistent_fields_are_rejected, 0, 14);
  tcase_add_test (tc, copies_ping_pong_and_fall_back);
  tcase_add_loop_test (tc, layout_regions_do_not_overlap, 0, 2);
  tcase_add_test (tc, too_small_disk_is_refused);
  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  sr = srunner_create (s);
  srunner_run_all (sr, CK_NORMAL);
  failed = srunner_ntests_failed (sr);
  srunner_free (sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
