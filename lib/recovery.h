/* Recovery: decides, after an unclean shutdown, which tag each journaled
 * sector keeps.
 *
 * Notes on the design.  In "tags" mode the journal holds the new tags of
 * every write made since the last checkpoint, durable before the data was
 * written in place.  After a crash a journaled sector holds its old data,
 * its new data, or (torn) neither.  Its candidates are its journaled tags,
 * newest first, then the tag at home; the first candidate that its data
 * matches wins.  The unwritten tag matches all-zero data; at home it also
 * matches any data when the sector was journaled once only (that one
 * write did not reach the disk whole, and the sector still reads as the
 * zeroes it held).  With more writes since the checkpoint, an earlier one
 * may have been flushed, so data matching nothing is a torn write.  The
 * price: on a block device whose never-written sectors hold garbage, a
 * sector written twice since the checkpoint, neither write reaching the
 * disk, fails verification instead of reading as zeroes.  Flush marks in
 * the journal would tell the two apart.  A
 * sector that matches no candidate is given a tag its data cannot match,
 * so it fails verification until rewritten, and is reported.  Recovery
 * only sets tags, so running it twice decides the same.
 *
 * In "full" mode the journal holds the data too: every record whose data
 * matches all its tags is written home in journal order, and a record that
 * does not (a commit cut short, never acknowledged) is skipped whole.
 */
#ifndef NBD_INTEGRITY_RECOVERY_H
#define NBD_INTEGRITY_RECOVERY_H

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
  uint64_t kept_new, kept_old, neither;
  uint64_t head; /* sequence after the last valid block */
};

/* Called for each journaled sector with what was decided. */
typedef void (*recovery_sector_fn) (void *opaque, uint64_t sector,
                                    enum recovery_decision d);

/* Replays the journal of the disk into TS.  FN may be NULL. */
int recovery_run (struct backing *b, const struct superblock *sb,
                  const struct hasher *h, struct tagstore *ts,
                  struct recovery_report *report, recovery_sector_fn fn,
                  void *opaque);

#endif
