/* A power-loss simulating backing, after SQLite's crash-test VFS.
 *
 * It keeps the disk in memory as two images: what reads see, and what is
 * durable.  Every write and punch since the last sync is remembered in
 * order; a BACKING_DSYNC write is durable when it returns.  At the chosen
 * I/O call the power fails: that call and every later one fail with EIO
 * (a write cut short may still reach the disk in part), and
 * powerloss_image then makes the disk a reboot would find: the durable
 * image with each pending write applied, dropped, or torn at 512-byte
 * boundaries, at random.
 */
#ifndef NBD_INTEGRITY_POWERLOSS_H
#define NBD_INTEGRITY_POWERLOSS_H

#include <stdbool.h>
#include <stdint.h>

#include "backing.h"

/* A backing of SIZE bytes holding IMAGE (NULL for zeroes), all durable. */
struct backing *powerloss_new (const uint8_t *image, uint64_t size);

/* Fails the power at the start of I/O call number N (1 is the next call
 * from now); 0 never. */
void powerloss_crash_after (struct backing *b, uint64_t n);

bool powerloss_crashed (struct backing *b);

/* When B is closed, stores in *OUT whether the power had failed: for code
 * under test that closes B when it fails.  NULL forgets OUT. */
void powerloss_keep_crashed (struct backing *b, bool *out);

/* I/O calls made so far. */
uint64_t powerloss_io_count (struct backing *b);

/* The disk after the power failure (or now, if it has not failed), with
 * pending writes decided by SEED.  malloc'd, powerloss size bytes. */
uint8_t *powerloss_image (struct backing *b, uint64_t seed);

/* When B is closed, stores in *OUT the image powerloss_image (B, SEED)
 * would give: for tests whose backing is closed by the code under test. */
void powerloss_keep_image (struct backing *b, uint8_t **out, uint64_t seed);

/* The image reads see. */
const uint8_t *powerloss_current (struct backing *b);

#endif
