/* Byte-level helpers for on-disk structures: little-endian fields, and
 * checks for zeroes. */
#ifndef NBD_INTEGRITY_LE_H
#define NBD_INTEGRITY_LE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void
le16_put (uint8_t *p, uint16_t v)
{
  p[0] = v;
  p[1] = v >> 8;
}

/* The N low bytes of V at P, least significant first. */
static inline void
le_put (uint8_t *p, uint64_t v, int n)
{
  for (int i = 0; i < n; i++)
    p[i] = v >> (8 * i);
}

static inline void
le32_put (uint8_t *p, uint32_t v)
{
  le_put (p, v, 4);
}

static inline void
le64_put (uint8_t *p, uint64_t v)
{
  le_put (p, v, 8);
}

static inline uint16_t
le16_get (const uint8_t *p)
{
  return p[0] | (uint16_t)p[1] << 8;
}

/* The N bytes at P, least significant first. */
static inline uint64_t
le_get (const uint8_t *p, int n)
{
  uint64_t v = 0;
  for (int i = n - 1; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

static inline uint32_t
le32_get (const uint8_t *p)
{
  return le_get (p, 4);
}

static inline uint64_t
le64_get (const uint8_t *p)
{
  return le_get (p, 8);
}

/* True if the LEN bytes at P are all zero.  Each byte equal to the next
 * and the first zero: memcmp compares many bytes a step, and stops at the
 * first that differs, where a loop over the bytes took recovery seconds
 * on a full journal. */
static inline bool
all_zero (const uint8_t *p, size_t len)
{
  return len == 0 || (p[0] == 0 && memcmp (p, p + 1, len - 1) == 0);
}

#endif
