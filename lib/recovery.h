/* Recovery: decides, after an unclean shutdown, what each journaled
 * sector holds.
 *
 * Notes on the design.  The journal (journal-format.h) gives the records
 * written since the last checkpoint, in order, and F: every record in a
 * block below F was durable in place when the newest flush mark was
 * written.  Such a record is "flushed".  A sector must read as its last
 * flushed contents or as something written since, or fail; nothing else.
 *
 * A sector whose newest record is flushed holds that record: its tag is
 * kept without reading its data (READ_FLUSHED reads it, to report damage
 * done since, as nbd-integrity recover does), and damaged since, it fails
 * when read, as a sector of the last checkpoint does.  A server makes a
 * flush mark at least every JOURNAL_FLUSH_SECTORS sectors (journal.h), so
 * a crash leaves recovery about that many sectors to read, not the
 * million a full 64 MiB journal names: 74 s became 4 s.
 *
 * In "tags" mode a journaled sector's data is its old data, the data of
 * one of its records, or (torn by the crash) neither.  Its candidates are
 * its records from the newest flushed one on, newest first: a record's
 * tag accepts the data it hashes, and a trim's or zero's unwritten tag
 * accepts all-zero data.  The first that accepts is kept ("new").  When
 * none does:
 *
 *   - a record is flushed: a flushed trim or zero reads as zeroes, as it
 *     did before the crash; a flushed write has been lost (its data
 *     damaged since, or dropped by a disk that acknowledged it), and the
 *     sector fails, whatever else the data matches;
 *   - none is: its last flushed contents are those at home, and the home
 *     tag is kept ("old") if it accepts the data.  The unwritten tag at
 *     home accepts any data, since a never-written sector of a block
 *     device holds whatever it held: it reads as zeroes, as it did.
 *     Otherwise the write was torn, and the sector fails.
 *
 * This closes the false-mismatch window of the first journal format: on
 * a device whose never-written sectors hold garbage, a sector written
 * twice since the checkpoint, neither write reaching the disk, failed
 * instead of reading as zeroes, since no flush mark said that neither
 * had been flushed.  The crash replays of tests/replay, on such a device
 * under a real server, count these sectors: they read as before, and no
 * flushed sector fails at any point.
 *
 * A sector that fails ("neither") is given a tag its data cannot match, so
 * it fails verification until rewritten, and is reported and counted.
 * Recovery only sets tags, so running it twice decides the same.
 *
 * In "full" mode the journal holds the data too.  A record not flushed
 * counts only if the journal holds its data whole (a commit the crash cut
 * short, never acknowledged, or one damaged since, is skipped whole, so
 * every write of one record is atomic), and is then written home as the
 * scan meets it, in journal order.  A flushed record counts, and its data
 * is in place already.  Each journaled sector then holds what its newest
 * record that counts gave it: if it does not (a flushed write damaged or
 * lost since), the journal's copy of that write is written home if it is
 * whole, and otherwise the sector fails.  With no record that counts, the
 * sector is as it was, as in tags mode with nothing flushed.  The mode is
 * the one the journal's headers record, whatever the superblock says.
 */
#ifndef NBD_INTEGRITY_RECOVERY_H
#define NBD_INTEGRITY_RECOVERY_H

#include <stdbool.h>
#include <stdint.h>

#include "backing.h"
#include "hash.h"
#include "superblock.h"
#include "tagstore.h"

enum recovery_decision {
  RECOVERY_NEW,     /* data matches a journaled tag: that tag kept */
  RECOVERY_OLD,     /* data matches the tag at home */
  RECOVERY_NEITHER, /* data matches no candidate (torn write) */
};

const char *recovery_decision_name (enum recovery_decision d);

struct recovery_report {
  uint64_t blocks; /* valid journal blocks read */
  uint64_t records;
  uint64_t sectors; /* distinct journaled sectors */
  uint64_t read;    /* of them, those whose data was read */
  uint64_t kept_new, kept_old, neither;
  uint64_t tail;           /* where the live journal began */
  uint64_t head;           /* sequence after its last valid block */
  uint64_t next_seq;       /* where a new journal may begin */
  uint64_t flushed_to;     /* the newest flush mark's */
  bool newer_tail;         /* the superblock's tail was stale */
  uint64_t repaired;       /* damaged journal blocks whose copy was used */
  uint64_t first_repaired; /* the first of them */
  uint64_t unflushed_lost; /* journal blocks lost, none of them flushed */
};

/* Called for each journaled sector with what was decided. */
typedef void (*recovery_sector_fn) (void *opaque, uint64_t sector,
                                    enum recovery_decision d);

/* Replays the journal of the disk into TS.  READ_FLUSHED: read the
 * sectors of flushed records too (tags mode), to report those damaged
 * since.  FN may be NULL.  -1 with errno and ni_error() on failure. */
int recovery_run (struct backing *b, const struct superblock *sb,
                  const struct hasher *h, struct tagstore *ts,
                  bool read_flushed, struct recovery_report *report,
                  recovery_sector_fn fn, void *opaque);

#endif
