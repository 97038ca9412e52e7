/* A disk's counters: counted on the I/O paths, copied out for reports.
 *
 * Notes on the design.
 *
 * The I/O paths only add to atomic counters, so a good read costs a few
 * atomic additions and takes no lock.  A mismatch, which is rare, also
 * records its sector in a ring of the last STATS_RECENT_MISMATCHES under
 * a small lock, which also covers the count of mismatches: the ring's
 * newest entry is at (mismatches - 1) mod the ring's size, so a copy
 * taken under the lock always pairs the count with its own sectors.
 *
 * struct disk_counters is a plain copy of everything a report shows
 * (these counters, the backing's and the journal's), made of uint64_t
 * only, without padding, so two copies compare with memcmp.
 */
#ifndef NBD_INTEGRITY_STATS_H
#define NBD_INTEGRITY_STATS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "journal.h"

#define STATS_RECENT_MISMATCHES 8

struct disk_stats {
  atomic_uint_fast64_t reads, writes, trims, flushes;
  atomic_uint_fast64_t bytes_read, bytes_written;
  atomic_uint_fast64_t sectors_verified;
  atomic_uint_fast64_t mismatches; /* changed under mismatch_lock */
  atomic_uint_fast64_t io_errors;
  pthread_mutex_t mismatch_lock; /* protects mismatches' updates, recent */
  uint64_t recent[STATS_RECENT_MISMATCHES]; /* ring: see above */
};

struct disk_counters {
  uint64_t reads, writes, trims, flushes;
  uint64_t bytes_read, bytes_written; /* by clients */
  uint64_t sectors_verified, mismatches, io_errors;
  uint64_t backing_bytes_written; /* data, journal, tags and superblock */
  uint64_t deferred_bytes;        /* acknowledged, not yet written */
  /* What recovery at the opening found: sectors it had to fail, and
   * damaged journal blocks it read from their copies. */
  uint64_t recovery_failed_sectors, recovery_repaired_blocks;
  struct journal_stats journal; /* zeroes without a journal */
  uint64_t nr_recent;           /* entries in recent_mismatches */
  uint64_t recent_mismatches[STATS_RECENT_MISMATCHES]; /* newest first */
};

void stats_init (struct disk_stats *s);
void stats_destroy (struct disk_stats *s);

/* Counts a mismatch of SECTOR and remembers it among the recent ones. */
void stats_count_mismatch (struct disk_stats *s, uint64_t sector);

/* Copies S into C's counters and recent mismatches; the rest of C (the
 * backing's and the journal's counters) is zeroed for the caller. */
void stats_copy (struct disk_stats *s, struct disk_counters *c);

#endif
