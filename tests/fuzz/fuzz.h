/* Shared by the fuzz targets: small formatted disks, and the checks a
 * target makes of what the code under test returned.
 *
 * Notes on the design.
 *
 * Each fuzz-TARGET.c defines LLVMFuzzerTestOneInput and nothing else
 * public.  Built with -Dfuzz=true (clang) it is a libFuzzer binary, which
 * scripts/fuzz runs; in every build it is also linked with replay.c into
 * a unit test that feeds it each file of corpus/TARGET (small valid
 * inputs, the seeds) and regressions/TARGET (inputs that once crashed it).
 *
 * A target crashes (abort, or a sanitizer report) when the code under
 * test misbehaves: memory errors and undefined behaviour, and also
 * answers that break a promise of its header, checked with
 * fuzz_assert.  Rejecting an input is never a crash.
 *
 * Checksums would stop the fuzzer at the first mutation, so the targets
 * that parse checksummed blocks recompute the checksum over what the
 * fuzzer wrote (unless the input asks for the bytes as they are), and
 * the disks are formatted with a fixed UUID, so that an input means the
 * same thing in every run.
 */
#ifndef NBD_INTEGRITY_FUZZ_H
#define NBD_INTEGRITY_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "superblock.h"

/* Data sectors of every fuzz disk: enough for journal records that
 * overlap and split, few enough for an input to give each its contents. */
#define FUZZ_SECTORS 32

/* The layouts a fuzz disk may have: sector size by hash algorithm, one
 * of them keyed. */
#define FUZZ_LAYOUTS 4

/* A disk of FUZZ_SECTORS data sectors and a 1 MiB journal, just
 * formatted, clean, with a fixed UUID. */
struct fuzz_disk {
  struct superblock sb;
  const struct hasher *h;
  const uint8_t *image;
  uint64_t size; /* bytes of image */
};

/* The disk of layout LAYOUT % FUZZ_LAYOUTS, formatted on first use.  Also
 * silences lib's log.  Exits if it cannot be made. */
const struct fuzz_disk *fuzz_disk (unsigned layout);

/* Makes BLOCK's checksum right for a disk with SB, and its MAC if SB is
 * keyed (sb->auth). */
void fuzz_seal_journal_block (const struct superblock *sb,
                              uint8_t block[SB_BLOCK]);

/* Makes superblock copy BLOCK's checksum right, and its MAC with the
 * fuzz disks' key if the hash id it names is keyed. */
void fuzz_seal_superblock (uint8_t block[SB_BLOCK]);

/* A hasher for keyed algorithm ALG with the fuzz disks' fixed key (the
 * same one on every call); NULL for an unkeyed ALG. */
const struct hasher *fuzz_key_hasher (const struct hash_alg *alg);

/* A key file holding that key (mode 0600), for the disk API; removed at
 * exit. */
const char *fuzz_key_file (void);

/* An input, read from the front. */
struct fuzz_input {
  const uint8_t *data;
  size_t size;
};

/* Copies the next N bytes of IN to OUT, with zeroes for any past its
 * end. */
void fuzz_take (struct fuzz_input *in, void *out, size_t n);

/* The next byte of IN, 0 past its end. */
uint8_t fuzz_byte (struct fuzz_input *in);

/* The entry point libFuzzer calls with each input (defined by each
 * fuzz-TARGET.c).  Returns 0. */
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

/* Aborts, naming COND, if it is false: a promise the code under test
 * broke.  Unlike assert, never compiled out. */
#define fuzz_assert(cond)                                                      \
  ((cond) ? (void)0 : fuzz_fail (#cond, __FILE__, __LINE__))

void fuzz_fail (const char *cond, const char *file, int line)
    __attribute__ ((noreturn));

#endif
