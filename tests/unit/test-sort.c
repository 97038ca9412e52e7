/* sort_pairs (sort.h) against qsort: sorted by key, pairs with equal
 * keys in the order given, for keys of every width, many equal keys,
 * and the smallest arrays. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sort.h"
#include "util.h"

static uint64_t
next_random (uint64_t *state)
{
  *state ^= *state << 13;
  *state ^= *state >> 7;
  *state ^= *state << 17;
  return *state;
}

/* By key, then by value: the values are the pairs' places as given, so
 * this is the stable order. */
static int
by_key_then_value (const void *a, const void *b)
{
  const struct sort_pair *x = a, *y = b;

  if (x->key != y->key)
    return x->key < y->key ? -1 : 1;
  return x->value < y->value ? -1 : x->value > y->value;
}

/* Sorts N pairs with random keys below 2^BITS (every key if BITS is 64)
 * and checks the result against qsort's. */
static void
check_sorted (size_t n, unsigned bits, uint64_t seed)
{
  struct sort_pair *a = malloc ((n + 1) * sizeof *a);
  struct sort_pair *tmp = malloc ((n + 1) * sizeof *tmp);
  struct sort_pair *want = malloc ((n + 1) * sizeof *want);
  struct sort_pair *got;
  uint64_t mask = bits == 64 ? UINT64_MAX : (1ull << bits) - 1;

  ck_assert (a && tmp && want);
  for (size_t i = 0; i < n; i++)
    a[i] = (struct sort_pair){next_random (&seed) & mask, i};
  memcpy (want, a, n * sizeof *a);
  qsort (want, n, sizeof *want, by_key_then_value);
  got = sort_pairs (a, tmp, n);
  ck_assert (got == a || got == tmp);
  for (size_t i = 0; i < n; i++)
    ck_assert_msg (got[i].key == want[i].key && got[i].value == want[i].value,
                   "n %zu, bits %u: pair %zu is (%llu, %llu), not (%llu, "
                   "%llu)",
                   n, bits, i, (unsigned long long)got[i].key,
                   (unsigned long long)got[i].value,
                   (unsigned long long)want[i].key,
                   (unsigned long long)want[i].value);
  free (a);
  free (tmp);
  free (want);
}

static const unsigned widths[] = {0, 1, 4, 11, 12, 22, 23, 35, 44, 63, 64};

START_TEST (sorts_stably_at_every_width)
{
  for (size_t n = 0; n < 4; n++)
    check_sorted (n, widths[_i], _i + 1);
  check_sorted (1000, widths[_i], _i + 7);
  check_sorted (100000, widths[_i], _i + 11);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("sort");
  TCase *tc = tcase_create ("sort");

  tcase_add_loop_test (tc, sorts_stably_at_every_width, 0,
                       sizeof widths / sizeof widths[0]);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
