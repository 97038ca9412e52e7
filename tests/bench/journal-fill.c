/* Leaves a disk as a crash does with its journal as full as it gets: the
 * worst case for recovery's time, which scripts/bench --scale measures.
 *
 *   journal-fill DISK REGION SEED [unflushed]
 *
 * Writes 4 KiB (one sector's worth) at random sector-aligned places in
 * the first REGION bytes of DISK (K, M, G or T suffixes) until one more
 * commit could fill the journal, then ends the process without closing
 * the disk: the disk is dirty, and its journal holds every record since
 * it was opened.  It flushes as a server's background thread does
 * however seldom its client flushes (journal.h): once JOURNAL_FLUSH_SECTORS
 * sectors are written since the last flush and JOURNAL_FLUSH_INTERVAL_MS
 * have passed, so recovery reads the sectors of that long's writes; with
 * "unflushed" it never does, as no server would let happen, and
 * recovery must read every sector the journal names.  No background
 * thread runs, so no checkpoint frees the journal on the way, and the
 * tag cache holds the region's tags, so none is needed to bound it.
 *
 * Prints the writes made and the journal's blocks used, of its total.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "deadline.h"
#include "disk.h"
#include "report.h"

#define WRITE_BYTES 4096
/* Blocks one commit may take at the most, and a little over: journal.c's
 * MAX_BATCH_BLOCKS and the header groups around them. */
#define COMMIT_BLOCKS_MAX 1100

static uint64_t
next_random (uint64_t *state)
{
  *state ^= *state << 13;
  *state ^= *state >> 7;
  *state ^= *state << 17;
  return *state;
}

static uint64_t
parse_size (const char *s)
{
  char *end;
  uint64_t n = strtoull (s, &end, 10);
  const char *units = "KMGT";
  const char *u = *end ? strchr (units, *end) : NULL;

  return u ? n << (10 * (u - units + 1)) : n;
}

static bool
journal_nearly_full (struct disk *d)
{
  struct journal_stats js;

  disk_journal_stats (d, &js);
  return js.used_blocks + COMMIT_BLOCKS_MAX >= js.total_blocks;
}

int
main (int argc, char **argv)
{
  struct disk_options opts = {.mode = DISK_MODE_TAGS};
  uint8_t buf[WRITE_BYTES];
  uint64_t region, places, seed, writes = 0, flush_every, unflushed = 0;
  struct timespec flushed;
  bool flushes;
  struct journal_stats js;
  struct disk *d;

  if (argc < 4 || argc > 5 || (argc == 5 && strcmp (argv[4], "unflushed"))) {
    fprintf (stderr, "usage: journal-fill DISK REGION SEED [unflushed]\n");
    return 2;
  }
  flushes = argc == 4;
  region = parse_size (argv[2]);
  seed = strtoull (argv[3], NULL, 10) | 1;
  places = region / WRITE_BYTES;
  /* Every tag of the region fits in half the cache, whatever the tag. */
  opts.tag_cache_bytes = places * 64 * 2 + (64u << 20);
  opts.path = argv[1];
  d = disk_open (&opts);
  if (d == NULL || places == 0 || region > disk_size (d)) {
    fprintf (stderr, "journal-fill: %s\n",
             d ? "REGION must be within the disk" : ni_error ());
    return EXIT_FAILURE;
  }
  /* Writes of JOURNAL_FLUSH_SECTORS sectors, as the server counts them. */
  flush_every =
      JOURNAL_FLUSH_SECTORS * disk_superblock (d)->sector_size / WRITE_BYTES;
  clock_gettime (CLOCK_MONOTONIC, &flushed);
  while (!journal_nearly_full (d)) {
    uint64_t at = next_random (&seed) % places * WRITE_BYTES;
    memset (buf, (int)(at >> 12), sizeof buf);
    memcpy (buf, &at, sizeof at);
    if (disk_write (d, buf, sizeof buf, at, false) == -1) {
      fprintf (stderr, "journal-fill: %s\n", ni_error ());
      return EXIT_FAILURE;
    }
    writes++;
    if (!flushes || ++unflushed < flush_every ||
        ms_since (&flushed) < JOURNAL_FLUSH_INTERVAL_MS)
      continue;
    if (disk_flush (d) == -1) {
      fprintf (stderr, "journal-fill: %s\n", ni_error ());
      return EXIT_FAILURE;
    }
    unflushed = 0;
    clock_gettime (CLOCK_MONOTONIC, &flushed);
  }
  disk_journal_stats (d, &js);
  printf ("%" PRIu64 " writes, journal %" PRIu64 " of %" PRIu64 " blocks\n",
          writes, js.used_blocks, js.total_blocks);
  fflush (stdout);
  _exit (0); /* the crash: nothing closed, nothing flushed */
}
