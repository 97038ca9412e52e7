/* Shared by the unit tests: running a suite, scratch files, and the
 * file-level damage the tests do to disk images.
 *
 * Every test program runs in a scratch directory of its own, made by
 * run_suite before the tests and removed with everything in it after, so
 * a test that fails (in Check's forked child) leaves nothing behind.
 * Helpers that cannot fail in a sane test environment assert instead of
 * returning errors.
 */
#ifndef NBD_INTEGRITY_TEST_UTIL_H
#define NBD_INTEGRITY_TEST_UTIL_H

#include <check.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

/* Runs S with CK_NORMAL output in a fresh scratch directory, with lib's
 * log silenced.  Returns EXIT_FAILURE if any test failed. */
int run_suite (Suite *s);

/* NAME in the scratch directory (malloc'd; never freed). */
const char *scratch_path (const char *name);

/* Formats a new image of SIZE bytes at scratch NAME with HASH (NULL for
 * the default) and SECTOR_SIZE (0 for the default).  Returns its path. */
const char *scratch_disk (const char *name, uint64_t size, const char *hash,
                          uint32_t sector_size);

/* The same with a key file, for the keyed algorithms (NULL otherwise). */
const char *scratch_disk_keyed (const char *name, uint64_t size,
                                const char *hash, uint32_t sector_size,
                                const char *keyfile);

/* A key file of 32 bytes in the scratch directory, made on first use,
 * for the keyed algorithms. */
const char *scratch_key (void);

/* A disk of SIZE bytes just formatted with the defaults, in memory (for
 * powerloss_new).  malloc'd. */
uint8_t *formatted_image (uint64_t size);

/* Opens the disk at PATH in the default mode (recovering it), with
 * WRITE_THROUGH as given: every write commits before it returns, as the
 * journal and recovery tests need; open_disk has it. */
struct disk;
struct disk *open_disk_with (const char *path, bool write_through);
struct disk *open_disk (const char *path);

/* What the fault tests do to the four sectors from FIRST of a disk of
 * 4096-byte sectors; writes write 'B'. */
enum disk_op {
  OP_WRITE, /* deferred, then a flush: its errors come with the flush */
  OP_WRITE_FUA,
  OP_UNALIGNED, /* three sectors' worth from byte 100 of FIRST */
  OP_TRIM,
  OP_ZERO,
  OP_FLUSH,
  OP_READ,
  OP_CHECKPOINT,
  NR_DISK_OPS
};

/* Runs OP on D: 0, or -1 with errno. */
int run_disk_op (struct disk *d, enum disk_op op, uint64_t first);

/* Changes IMAGE, the contents of such a disk from sector 0, as OP run by
 * run_disk_op on FIRST changes what the disk reads once it succeeds. */
void apply_disk_op (uint8_t *image, enum disk_op op, uint64_t first);

/* Copies FROM to TO as a reader of FROM sees it now (page cache
 * included), keeping holes: the "power failed here" copy of an image. */
void copy_file (const char *from, const char *to);

/* Raw access to a file, past lib: damage as a bad disk would do it. */
void file_write (const char *path, const void *buf, size_t len, uint64_t off);
/* Creates PATH, owner-only, holding BUF (a key file, say). */
void file_write_new (const char *path, const void *buf, size_t len);
void file_read (const char *path, void *buf, size_t len, uint64_t off);

/* Flips bit BIT of the byte at OFF. */
void file_flip_bit (const char *path, uint64_t off, int bit);

#endif
