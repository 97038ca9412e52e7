/* What the crash and damage tests share: see oracle.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xxhash.h>

#include "oracle.h"

uint64_t
rnd_next (uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

uint64_t
rnd_below (uint64_t *s, uint64_t n)
{
  return rnd_next (s) % n;
}

void
rnd_fill (uint64_t *s, uint8_t *buf, uint64_t len)
{
  for (uint64_t i = 0; i < len; i += 8) {
    uint64_t r = rnd_next (s);
    memcpy (buf + i, &r, len - i < 8 ? len - i : 8);
  }
}

uint64_t
sector_value (const uint8_t *data, uint32_t sector_size)
{
  return XXH3_64bits (data, sector_size);
}

void
history_init (struct sector_history *h, uint64_t flushed)
{
  memset (h, 0, sizeof *h);
  h->flushed = flushed;
}

void
history_write (struct sector_history *h, uint64_t v)
{
  if (h->nr_since == SECTOR_HISTORY_MAX)
    h->overflow = true;
  else
    h->since[h->nr_since++] = v;
}

void
history_flushed (struct sector_history *h, uint64_t v)
{
  history_init (h, v);
}

bool
history_allows (const struct sector_history *h, uint64_t v)
{
  if (h->overflow || v == h->flushed)
    return true;
  for (unsigned i = 0; i < h->nr_since; i++)
    if (h->since[i] == v)
      return true;
  return false;
}

bool
history_written (const struct sector_history *h)
{
  return h->nr_since > 0 || h->overflow;
}

static char key_path[] = "/tmp/crash-key-XXXXXX";

static void
remove_key_file (void)
{
  unlink (key_path);
}

const char *
make_key_file (void)
{
  uint8_t key[32];
  int fd = mkstemp (key_path);

  for (size_t i = 0; i < sizeof key; i++)
    key[i] = i * 37 + 11;
  if (fd == -1 || write (fd, key, sizeof key) != sizeof key) {
    perror (key_path);
    exit (EXIT_FAILURE);
  }
  close (fd);
  atexit (remove_key_file);
  return key_path;
}
