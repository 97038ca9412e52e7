/* Deferred writes (writeback.h): what an acknowledged write without FUA
 * promises before and after a flush, the order of overlapping writes, the
 * error a failed deferred write leaves for the flush, a budget too small
 * for the queue, and readers and writers racing on the same sectors. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "disk.h"
#include "faulty.h"
#include "format.h"
#include "powerloss.h"
#include "util.h"

#define SIZE (24 << 20)
#define SS 4096

static uint8_t *formatted;

static void
setup (void)
{
  formatted = formatted_image (SIZE);
}

static void
teardown (void)
{
  free (formatted);
}

static struct disk *
open_on (struct backing *b, size_t budget)
{
  struct disk_options opts = {.path = "wb", .write_buffer_bytes = budget};
  struct disk *d = disk_open_backing (b, &opts);

  ck_assert_ptr_nonnull (d);
  return d;
}

static void
expect_sector (struct disk *d, uint64_t s, uint8_t fill)
{
  uint8_t buf[SS];

  ck_assert_int_eq (disk_read (d, buf, SS, s * SS), 0);
  ck_assert_uint_eq (buf[0], fill);
  ck_assert_uint_eq (buf[SS - 1], fill);
}

/* Acknowledged, a deferred write has touched nothing: the power failing
 * now loses it, as NBD allows.  After a flush it survives a power loss. */
START_TEST (durable_after_flush_only)
{
  struct backing *b = powerloss_new (formatted, SIZE);
  struct disk *d = open_on (b, 0);
  uint8_t buf[4 * SS], *lost = NULL, *kept = NULL;
  uint64_t ios = powerloss_io_count (b);
  struct disk_counters c;

  memset (buf, 'N', sizeof buf);
  ck_assert_int_eq (disk_write (d, buf, sizeof buf, 8 * SS, false), 0);
  ck_assert_uint_eq (powerloss_io_count (b), ios);
  disk_get_counters (d, &c);
  ck_assert_uint_gt (c.deferred_bytes, sizeof buf);
  lost = powerloss_image (b, 1);
  ck_assert_int_eq (disk_flush (d), 0);
  ck_assert_uint_gt (powerloss_io_count (b), ios);
  disk_get_counters (d, &c);
  ck_assert_uint_eq (c.deferred_bytes, 0);
  kept = powerloss_image (b, 2);
  disk_close (d);

  d = open_on (powerloss_new (lost, SIZE), 0);
  expect_sector (d, 8, 0);
  disk_close (d);
  d = open_on (powerloss_new (kept, SIZE), 0);
  for (uint64_t s = 8; s < 12; s++)
    expect_sector (d, s, 'N');
  disk_close (d);
  free (lost);
  free (kept);
}
END_TEST

/* A read of a deferred write's range sees it; overlapping deferred
 * writes land in the order they were made, before and after a reopen. */
START_TEST (reads_and_rewrites_see_the_latest)
{
  struct backing *b = powerloss_new (formatted, SIZE);
  struct disk *d = open_on (b, 0);
  uint8_t buf[8 * SS], *image = NULL;

  powerloss_keep_image (b, &image, 0);
  memset (buf, 'a', sizeof buf);
  ck_assert_int_eq (disk_write (d, buf, 8 * SS, 0, false), 0);
  expect_sector (d, 3, 'a');
  memset (buf, 'b', sizeof buf);
  ck_assert_int_eq (disk_write (d, buf, 2 * SS, 2 * SS, false), 0);
  memset (buf, 'c', sizeof buf);
  ck_assert_int_eq (disk_write (d, buf, 2 * SS, 3 * SS, false), 0);
  expect_sector (d, 2, 'b');
  expect_sector (d, 3, 'c');
  expect_sector (d, 4, 'c');
  expect_sector (d, 5, 'a');
  ck_assert_int_eq (disk_close (d), 0);
  d = open_on (powerloss_new (image, SIZE), 0);
  expect_sector (d, 1, 'a');
  expect_sector (d, 2, 'b');
  expect_sector (d, 4, 'c');
  disk_close (d);
  free (image);
}
END_TEST

/* The commit of a deferred write fails: the write was acknowledged, so
 * the next flush fails with the error, once; the sector keeps its old
 * contents and reads without error. */
START_TEST (failed_commit_fails_the_flush)
{
  struct backing *b = faulty_new (powerloss_new (formatted, SIZE));
  struct disk *d = open_on (b, 0);
  uint8_t buf[SS];

  memset (buf, 'o', SS);
  ck_assert_int_eq (disk_write (d, buf, SS, 5 * SS, true), 0);
  memset (buf, 'n', SS);
  ck_assert_int_eq (disk_write (d, buf, SS, 5 * SS, false), 0);
  faulty_arm (b, 1, ENOSPC, false); /* the journal write of the commit */
  errno = 0;
  ck_assert_int_eq (disk_flush (d), -1);
  ck_assert_int_eq (errno, ENOSPC);
  ck_assert (faulty_hit (b));
  ck_assert_int_eq (disk_flush (d), 0);
  expect_sector (d, 5, 'o');
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

/* With room for only a few writes, the queue commits itself as it fills:
 * writers wait for room, none for ever. */
START_TEST (small_budget_commits_as_it_fills)
{
  struct backing *b = powerloss_new (formatted, SIZE);
  struct disk *d = open_on (b, 8 * SS);
  struct journal_stats js;
  uint8_t buf[SS];

  for (uint64_t s = 0; s < 256; s++) {
    memset (buf, (uint8_t)s, SS);
    ck_assert_int_eq (disk_write (d, buf, SS, s * SS, false), 0);
  }
  disk_journal_stats (d, &js);
  ck_assert_uint_ge (js.commits, 256 / 8);
  ck_assert_uint_ge (js.records, 256 - 8);
  for (uint64_t s = 0; s < 256; s++)
    expect_sector (d, s, (uint8_t)s);
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

/* With room for thousands of writes, the number of entries bounds the
 * queue: it commits itself before a writer would wait for an entry. */
START_TEST (many_small_writes_commit_by_count)
{
  enum { WRITES = 3000 };
  struct backing *b = powerloss_new (formatted, SIZE);
  struct disk *d = open_on (b, 64 << 20);
  struct journal_stats js;
  uint8_t buf[SS];

  for (uint64_t s = 0; s < WRITES; s++) {
    memset (buf, (uint8_t)(s * 7), SS);
    ck_assert_int_eq (disk_write (d, buf, SS, s * SS, false), 0);
  }
  disk_journal_stats (d, &js);
  ck_assert_uint_ge (js.commits, 3);
  for (uint64_t s = 0; s < WRITES; s++)
    expect_sector (d, s, (uint8_t)(s * 7));
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

#define RACERS 4
#define ROUNDS 300
#define SECTORS 8

struct racer {
  struct disk *d;
  int id;
  int bad; /* reads that were torn between writes, or failed */
};

/* Writes whole runs of the shared sectors, filled with its id and round,
 * and reads runs back: each sector must be one write's, whole. */
static void *
race (void *arg)
{
  struct racer *r = arg;
  uint8_t buf[3 * SS];

  for (int i = 0; i < ROUNDS; i++) {
    uint64_t s = (uint64_t)(i * 7 + r->id) % (SECTORS - 2);
    if (i % 3) {
      memset (buf, r->id * 64 + i % 64, sizeof buf);
      if (disk_write (r->d, buf, sizeof buf, s * SS, i % 17 == 0) == -1)
        r->bad++;
      continue;
    }
    if (disk_read (r->d, buf, sizeof buf, s * SS) == -1) {
      r->bad++;
      continue;
    }
    for (int k = 0; k < 3; k++)
      if (memcmp (buf + k * SS, buf + k * SS + 1, SS - 1) != 0)
        r->bad++;
  }
  return NULL;
}

/* With a budget of a few writes or the default, with commits led by the
 * writers or by the background thread. */
START_TEST (readers_and_writers_race)
{
  struct backing *b = powerloss_new (formatted, SIZE);
  struct disk *d = open_on (b, _i & 1 ? 6 * SS : 0);
  struct racer r[RACERS];
  pthread_t th[RACERS];

  if (_i & 2)
    ck_assert_int_eq (disk_start_background (d), 0);
  for (int i = 0; i < RACERS; i++) {
    r[i] = (struct racer){.d = d, .id = i};
    ck_assert_int_eq (pthread_create (&th[i], NULL, race, &r[i]), 0);
  }
  for (int i = 0; i < RACERS; i++) {
    pthread_join (th[i], NULL);
    ck_assert_int_eq (r[i].bad, 0);
  }
  ck_assert_int_eq (disk_flush (d), 0);
  ck_assert_int_eq (disk_close (d), 0);
}
END_TEST

int
main (void)
{
  Suite *s = suite_create ("writeback");
  TCase *tc = tcase_create ("writeback");

  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, durable_after_flush_only);
  tcase_add_test (tc, reads_and_rewrites_see_the_latest);
  tcase_add_test (tc, failed_commit_fails_the_flush);
  tcase_add_test (tc, small_budget_commits_as_it_fills);
  tcase_add_test (tc, many_small_writes_commit_by_count);
  tcase_add_loop_test (tc, readers_and_writers_race, 0, 4);
  tcase_set_timeout (tc, 60);
  suite_add_tcase (s, tc);
  return run_suite (s);
}
