/* Byte-level helpers for on-disk structures: little-endian fields, and
 * checks for zeroes. */
#ifndef NBD_INTEGRITY_LE_H
#define NBD_INTEGRITY_LE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline void
le16_put (uint8_t *p, uint16_t v)
{
  p[0] = v;
  p[1] = v >> 8;
}

static inline void
le32_put (uint8_t *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = v >> (8 * i);
}

static inline void
le64_put (uint8_t *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = v >> (8 * i);
}

static inline uint16_t
le16_get (const uint8_t *p)
{
  return p[0] | (uint16_t)p[1] << 8;
}

static inline uint32_t
le32_get (const uint8_t *p)
{
  uint32_t v = 0;
  for (int i = 3; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

static inline uint64_t
le64_get (const uint8_t *p)
{
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

/* True if the LEN bytes at P are all zero. */
static inline bool
all_zero (const uint8_t *p, size_t len)
{
  uint8_t any = 0;

  for (size_t i = 0; i < len; i++)
    any |= p[i];
  return any == 0;
}

#endif
