#!/usr/bin/env bash
# Scenario 2: self-healing on RAID5.  With the array stopped, data sectors
# of one member's backing disk are damaged directly (8 scattered, then a
# run of 64); reassembled, every file reads back correct, because each
# damaged sector fails its tag and MD rebuilds it from the others and
# writes it back; MD's check finds and rewrites the rest; the member's
# server counted what it detected; afterwards every member verifies clean.
#   scripts/e2e 2
set -euo pipefail
source "$(dirname "$0")/lib.sh"
src=$(source_tar 32)

make_array /dev/md0 5 200M d0 d1 d2
tar -C "$work/mnt" -xf "$src"
umount "$work/mnt"
first=$(data_start /dev/md0 /dev/nbd1)
md_stop /dev/md0

damage d1 8 64 "$first"
say "damaged 72 sectors of member 1: 8 scattered, a run of 64"

mdadm --assemble /dev/md0 /dev/nbd0 /dev/nbd1 /dev/nbd2 >/dev/null 2>&1 ||
  fail "mdadm --assemble"
mount /dev/md0 "$work/mnt"
check_files "$work/mnt" "${src%.tar}.sums"
umount "$work/mnt"
say "every file reads back correct; member 1's server counted $(mismatches d1) mismatches"

scrub /dev/md0 check
check_whole /dev/md0
# shellcheck disable=SC2086
check_detected d1 $damaged
for i in 0 2; do
  [ "$(mismatches "d$i")" = 0 ] || fail "member $i reported mismatches"
done
say "MD check: $(($(cat /sys/block/md0/md/dev-nbd1/errors) / 8)) blocks corrected on nbd1 in all; MD failed no member"
check_consistent /dev/md0 "after the check that corrected them"

teardown /dev/md0 d0 d1 d2
say "every damaged sector was rewritten: every member verifies clean"
