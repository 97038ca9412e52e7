/* The crash-replay workload's record and data: see record.h. */
#include <inttypes.h>
#include <string.h>

#include "record.h"

int
record_read (FILE *f, struct record_op *op)
{
  char line[256];
  int fua;

  if (!fgets (line, sizeof line, f))
    return ferror (f) ? -1 : 0;
  if (sscanf (line,
              "%c %u %" SCNu64 " %" SCNu64 " %" SCNu64 " %d %" SCNu64
              " %" SCNu64 " %" SCNd64 " %" SCNu64,
              &op->op, &op->thread, &op->seq, &op->offset, &op->length, &fua,
              &op->sent, &op->answered, &op->mark, &op->mark_returned) != 10 ||
      !strchr ("WZTF", op->op))
    return -1;
  op->fua = fua;
  return 1;
}

void
record_write (FILE *f, const struct record_op *op)
{
  fprintf (f,
           "%c %u %" PRIu64 " %" PRIu64 " %" PRIu64 " %d %" PRIu64 " %" PRIu64
           " %" PRId64 " %" PRIu64 "\n",
           op->op, op->thread, op->seq, op->offset, op->length, op->fua,
           op->sent, op->answered, op->mark, op->mark_returned);
}

/* splitmix64's finaliser: a different word for every (seq, word). */
static uint64_t
mix (uint64_t seq, uint64_t word)
{
  uint64_t z = seq * 0x9e3779b97f4a7c15 ^ (word + 0x632be59bd9b4e019);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
  z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
  return z ^ (z >> 31);
}

void
pattern_fill (uint64_t seq, uint64_t offset, uint8_t *buf, uint64_t len)
{
  uint64_t i = 0;

  while (i < len) {
    uint64_t at = offset + i, word = mix (seq, at / 8);
    unsigned skip = at % 8;
    uint64_t n = 8 - skip < len - i ? 8 - skip : len - i;
    uint8_t bytes[8];

    memcpy (bytes, &word, 8);
    memcpy (buf + i, bytes + skip, n);
    i += n;
  }
}
