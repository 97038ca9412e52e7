/* Sorting many pairs by a 64-bit key, stably and in linear time.
 *
 * Recovery sorts one pair for each sector of each journal record, over a
 * million for a full 64 MiB journal; qsort's comparisons and copies of
 * whole entries took a second of it.  A least-significant-digit radix
 * sort makes as many passes over the pairs as the largest key has 11-bit
 * digits (four for any sector of a 16 TiB disk of 512-byte sectors), and
 * each pass keeps equal keys in the order it found them.
 */
#ifndef NBD_INTEGRITY_SORT_H
#define NBD_INTEGRITY_SORT_H

#include <stddef.h>
#include <stdint.h>

struct sort_pair {
  uint64_t key;
  uint64_t value;
};

/* Sorts A[0..N) by key, pairs with equal keys in the order given, using
 * TMP (room for N pairs).  Returns the sorted array: A or TMP. */
struct sort_pair *sort_pairs (struct sort_pair *a, struct sort_pair *tmp,
                              size_t n);

#endif
