/* Sorting: see sort.h. */
#include "sort.h"

#define DIGIT_BITS 11
#define DIGITS (1u << DIGIT_BITS)

static uint64_t
largest_key (const struct sort_pair *a, size_t n)
{
  uint64_t max = 0;

  for (size_t i = 0; i < n; i++)
    if (a[i].key > max)
      max = a[i].key;
  return max;
}

/* One pass: FROM's pairs into TO by their digit at SHIFT, stably. */
static void
sort_digit (const struct sort_pair *from, struct sort_pair *to, size_t n,
            unsigned shift)
{
  size_t start[DIGITS] = {0}, sum = 0;

  for (size_t i = 0; i < n; i++)
    start[from[i].key >> shift & (DIGITS - 1)]++;
  for (unsigned d = 0; d < DIGITS; d++) {
    size_t count = start[d];
    start[d] = sum;
    sum += count;
  }
  for (size_t i = 0; i < n; i++)
    to[start[from[i].key >> shift & (DIGITS - 1)]++] = from[i];
}

struct sort_pair *
sort_pairs (struct sort_pair *a, struct sort_pair *tmp, size_t n)
{
  uint64_t max = largest_key (a, n);

  for (unsigned shift = 0; shift < 64 && max >> shift; shift += DIGIT_BITS) {
    struct sort_pair *t = a;

    sort_digit (a, tmp, n, shift);
    a = tmp;
    tmp = t;
  }
  return a;
}
