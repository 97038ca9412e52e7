/* The input of fuzz-recovery.c, which make-seeds.c writes too: a dirty
 * fuzz disk (fuzz.h) with its journal, tags and data.  In order (zeroes
 * past its end):
 *
 *   1 byte     options: bits 0-1 the layout, bits 2-3 the crash mode the
 *              superblock records (tags, full, none, tags), bit 4 a
 *              read-only backing, bit 5 forge: on the keyed layout a
 *              damaged block has its MAC broken and its checksum right,
 *              as one written without the key; bit 6 recovery reads
 *              flushed sectors too (read_flushed); bit 7 raw: no fix-ups,
 *              every byte as given
 *   8 bytes    the superblock's journal tail (le64)
 *   32 bytes   one per data sector: its data is that byte, repeated
 *   32 x 32    each sector's tag at home: the first tag_size bytes
 *   the rest   journal groups, placed in the ring one after another from
 *              the tail's position on, until RECOVERY_MAX_BLOCKS blocks
 *              are placed or the input ends; each is
 *                1 byte    group options (GROUP_*)
 *                4 KiB     the header block
 *                4 KiB     its copy, if GROUP_COPY_GIVEN
 *                4 KiB...  its data blocks: as many as the records of the
 *                          header take (journal_record_data_blocks), or of
 *                          the copy if the header does not decode, or
 *                          GROUP_DATA if neither does
 *
 * Fix-ups (none in raw mode), so that mutations reach the scan's choices
 * and every decision of recovery: each block is given the sequence number
 * of its place, unless GROUP_KEEP_SEQ; a header block and a given copy
 * get their checksum and, on the keyed layout, their MAC made right; a
 * copy not given is made from its header as the journal writes it;
 * GROUP_DAMAGE_* then break the checksum of the header or its copy (or
 * the MAC, with OPT_FORGE).
 * Marked tags are replaced, before the checksums are made: a tag that
 * starts with the bytes A5 5A by the tag of the data it would describe (a
 * home tag, or one in a JREC_TAGS record, by that of the sector's data on
 * the disk: the write reached it; one in a JREC_DATA record by that of its
 * data in the journal: the commit was whole); and one that starts with
 * A5 5B by the sector's unwritten tag, which on the keyed layout only the
 * key makes.  In raw mode a copy not given is the header's bytes again.
 */
#ifndef NBD_INTEGRITY_RECOVERY_INPUT_H
#define NBD_INTEGRITY_RECOVERY_INPUT_H

#define RECOVERY_MAX_BLOCKS 32

/* The options byte. */
#define OPT_LAYOUT 0x03
#define OPT_MODE_SHIFT 2
#define OPT_MODE(o) ((o) >> OPT_MODE_SHIFT & 3)
#define OPT_READONLY 0x10
#define OPT_FORGE 0x20
#define OPT_READ_FLUSHED 0x40
#define OPT_RAW 0x80

/* A group's options byte. */
#define GROUP_COPY_GIVEN 0x01    /* else made from the header */
#define GROUP_DAMAGE_HEADER 0x02 /* its checksum broken after sealing */
#define GROUP_DAMAGE_COPY 0x04
#define GROUP_KEEP_SEQ 0x08 /* sequence numbers as given */
#define GROUP_DATA_SHIFT 4
#define GROUP_DATA(o) ((o) >> GROUP_DATA_SHIFT)

/* The bytes before the groups. */
#define RECOVERY_PREFIX (1 + 8 + 32 + 32 * 32)

/* The longest input that means something: as many groups as fit, each
 * with no data block. */
#define RECOVERY_MAX_INPUT                                                     \
  (RECOVERY_PREFIX + RECOVERY_MAX_BLOCKS / 2 * (1 + 2 * 4096))

#endif
