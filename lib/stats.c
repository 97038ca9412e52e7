/* A disk's counters: see stats.h. */
#include <string.h>

#include "stats.h"

void
stats_init (struct disk_stats *s)
{
  memset (s, 0, sizeof *s);
  pthread_mutex_init (&s->mismatch_lock, NULL);
}

void
stats_destroy (struct disk_stats *s)
{
  pthread_mutex_destroy (&s->mismatch_lock);
}

void
stats_count_mismatch (struct disk_stats *s, uint64_t sector)
{
  pthread_mutex_lock (&s->mismatch_lock);
  s->recent[atomic_load (&s->mismatches) % STATS_RECENT_MISMATCHES] = sector;
  atomic_fetch_add (&s->mismatches, 1);
  pthread_mutex_unlock (&s->mismatch_lock);
}

static void
copy_recent (struct disk_stats *s, struct disk_counters *c)
{
  pthread_mutex_lock (&s->mismatch_lock);
  c->mismatches = atomic_load (&s->mismatches);
  c->nr_recent = c->mismatches < STATS_RECENT_MISMATCHES
                     ? c->mismatches
                     : STATS_RECENT_MISMATCHES;
  for (uint64_t i = 0; i < c->nr_recent; i++)
    c->recent_mismatches[i] =
        s->recent[(c->mismatches - 1 - i) % STATS_RECENT_MISMATCHES];
  pthread_mutex_unlock (&s->mismatch_lock);
}

void
stats_copy (struct disk_stats *s, struct disk_counters *c)
{
  memset (c, 0, sizeof *c);
  c->reads = atomic_load (&s->reads);
  c->writes = atomic_load (&s->writes);
  c->trims = atomic_load (&s->trims);
  c->flushes = atomic_load (&s->flushes);
  c->bytes_read = atomic_load (&s->bytes_read);
  c->bytes_written = atomic_load (&s->bytes_written);
  c->sectors_verified = atomic_load (&s->sectors_verified);
  c->io_errors = atomic_load (&s->io_errors);
  copy_recent (s, c);
}
