/* How fast one core computes tags: for each algorithm, 4096-byte sectors
 * hashed for a while, in MB/s of data.  scripts/bench sets the plugin's
 * throughput with a cryptographic hash against this, times the cores:
 * what the machine could hash if nothing else ran.  The keyed algorithms
 * are timed with a fixed key: their cost does not depend on it.
 *
 *   hash-speed [SECONDS]      prints "NAME MB/s" lines
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hash.h"

#define SECTOR 4096
#define BATCH 256 /* sectors between clock reads: 1 MiB */

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* MB/s of one core hashing sectors of BUF with H for SECONDS. */
static double
speed (const struct hasher *h, const uint8_t *buf, double seconds)
{
  static const uint8_t uuid[DISK_UUID_SIZE];
  uint8_t tag[HASH_MAX_TAG];
  double start = now (), elapsed;
  uint64_t sectors = 0;

  do {
    for (int i = 0; i < BATCH; i++, sectors++)
      hasher_tag (h, uuid, sectors, buf + (size_t)i * SECTOR, SECTOR, tag);
  } while ((elapsed = now () - start) < seconds);
  return sectors * (double)SECTOR / elapsed / 1e6;
}

int
main (int argc, char **argv)
{
  static const char *const names[] = {
      "crc32c", "xxh3-128",          "blake2b-256",
      "sha256", "blake2b-256-keyed", "hmac-sha256"};
  static const uint8_t key[32] = {1};
  double seconds = argc > 1 ? atof (argv[1]) : 1.0;
  uint8_t *buf = malloc ((size_t)BATCH * SECTOR);

  if (buf == NULL)
    return EXIT_FAILURE;
  for (size_t i = 0; i < (size_t)BATCH * SECTOR; i++)
    buf[i] = i * 131 + (i >> 12);
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    const struct hash_alg *alg = hash_by_name (names[i]);
    struct hasher *h =
        hasher_new (alg, alg->keyed ? key : NULL, alg->keyed ? sizeof key : 0);
    if (h == NULL) {
      fprintf (stderr, "hash-speed: %s: cannot make a hasher\n", names[i]);
      return EXIT_FAILURE;
    }
    printf ("%s %.0f\n", names[i], speed (h, buf, seconds));
    hasher_free (h);
  }
  free (buf);
  return EXIT_SUCCESS;
}
