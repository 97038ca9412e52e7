/* Fuzz target: the superblock (sb_decode, sb_read).
 *
 * The input is the two superblock copies, 4 KiB each; a shorter input is
 * padded with zeroes.  Each copy is decoded as it is, and again with its
 * checksum made right so that mutations reach the checks of its fields;
 * then sb_read reads the two copies, checksums made right, from a disk.
 *
 * A copy that decodes must encode back to the same bytes, and describe a
 * layout in order inside its disk: the journal, then the zones, each a
 * tag run and its data, the last sector ending at disk_size, with no
 * offset wrapping around.  sb_read must succeed if either copy decodes,
 * and take the one with the higher generation (copy 0 on a tie).
 */
#include <stdbool.h>
#include <string.h>

#include "powerloss.h"
#include "fuzz.h"

#define INPUT_BYTES (SB_COPIES * SB_BLOCK)

static void
check_layout (const struct superblock *sb)
{
  uint64_t last = sb->data_sectors - 1;
  uint64_t zone = sb_zone_offset (sb, last / sb->zone_sectors);
  uint64_t tag = sb_tag_offset (sb, last), data = sb_data_offset (sb, last);

  fuzz_assert (sb->journal_offset >= SB_COPIES * SB_BLOCK);
  fuzz_assert (sb->journal_offset + sb->journal_size <= sb->zones_offset);
  fuzz_assert (sb->zones_offset < sb->disk_size);
  fuzz_assert (sb_tag_offset (sb, 0) == sb->zones_offset);
  fuzz_assert (sb->zones_offset <= zone && zone <= tag);
  fuzz_assert (tag < data && tag + sb->tag_size <= zone + sb->tag_run_bytes);
  fuzz_assert (zone + sb->tag_run_bytes <= data && data < sb->disk_size);
  fuzz_assert (sb->disk_size - data == sb->sector_size);
}

/* Decodes COPY; if it is valid, checks it.  Returns whether it was. */
static bool
decode_copy (const uint8_t *copy, struct superblock *sb)
{
  uint8_t again[SB_BLOCK];

  if (sb_decode (copy, sb) == -1)
    return false;
  sb_encode (sb, again);
  fuzz_assert (memcmp (again, copy, SB_BLOCK) == 0);
  check_layout (sb);
  return true;
}

static void
check_read (const uint8_t *image, const struct superblock *copies,
            const bool *ok)
{
  struct backing *b = powerloss_new (image, INPUT_BYTES);
  struct superblock sb;
  int newer;

  fuzz_assert (b != NULL);
  if (sb_read (b, &sb) == -1)
    fuzz_assert (!ok[0] && !ok[1]);
  else {
    fuzz_assert (ok[0] || ok[1]);
    newer =
        ok[0] && ok[1] ? copies[1].generation > copies[0].generation : ok[1];
    fuzz_assert (sb.copy == newer);
    fuzz_assert (sb.generation == copies[newer].generation);
  }
  backing_close (b);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct fuzz_input in = {data, size};
  uint8_t image[INPUT_BYTES];
  struct superblock copies[SB_COPIES];
  bool ok[SB_COPIES];

  fuzz_take (&in, image, INPUT_BYTES);
  for (int i = 0; i < SB_COPIES; i++) {
    uint8_t *copy = image + i * SB_BLOCK;

    decode_copy (copy, &copies[i]);
    fuzz_seal_superblock (copy);
    ok[i] = decode_copy (copy, &copies[i]);
    /* Sealed with the key, a keyed copy must authenticate with it. */
    if (ok[i] && sb_keyed (&copies[i]))
      fuzz_assert (sb_authenticate (&copies[i], fuzz_key_hasher (hash_by_id (
                                                    copies[i].hash_id))) == 0);
  }
  check_read (image, copies, ok);
  return 0;
}
