/* What the crash and damage tests share: their random numbers, a key
 * file for the keyed algorithms, and the oracle of what one sector may
 * read as after a crash.
 *
 * A sector may read as its value (a hash of its contents) at the last
 * flush, or as any value written to it since.  The history of one sector
 * keeps both; past SECTOR_HISTORY_MAX values since the flush it gives up
 * and allows anything.
 */
#ifndef NBD_INTEGRITY_ORACLE_H
#define NBD_INTEGRITY_ORACLE_H

#include <stdbool.h>
#include <stdint.h>

/* xorshift64: S must not start at 0. */
uint64_t rnd_next (uint64_t *s);

/* A number below N. */
uint64_t rnd_below (uint64_t *s, uint64_t n);

/* Fills BUF[0..LEN) with random bytes. */
void rnd_fill (uint64_t *s, uint8_t *buf, uint64_t len);

/* The value a sector's contents are known by. */
uint64_t sector_value (const uint8_t *data, uint32_t sector_size);

#define SECTOR_HISTORY_MAX 64

struct sector_history {
  uint64_t flushed;
  uint64_t since[SECTOR_HISTORY_MAX];
  unsigned nr_since;
  bool overflow;
};

/* Starts with FLUSHED as the value at the last flush. */
void history_init (struct sector_history *h, uint64_t flushed);

/* Value V was written. */
void history_write (struct sector_history *h, uint64_t v);

/* The sector is durable with value V: a flush, or FUA. */
void history_flushed (struct sector_history *h, uint64_t v);

/* Whether the sector may read as V. */
bool history_allows (const struct sector_history *h, uint64_t v);

/* Whether the sector was written since the last flush. */
bool history_written (const struct sector_history *h);

/* A 32-byte key file, owner-only, removed at exit; its path. */
const char *make_key_file (void);

#endif
