#!/usr/bin/env bash
# Scenario 3: self-healing on RAID1, where "which copy is good" is
# starkest.  Sectors of the first mirror are damaged (8 scattered, a run
# of 64).  MD's repair takes the first mirror that reads as the good copy
# and overwrites the others with it: on plain disks it would copy the
# damage onto the healthy mirror.  Here the damaged sectors fail their
# tags, so MD reads the second mirror and rewrites the first.
#
# Then where MD's limit on read errors per member (max_read_errors, 20)
# starts to matter.  Linux 6.1's RAID1 does not apply it (later kernels
# do); its RAID10 does, so the same two disks become a RAID10 of two
# mirrors.  40 scattered damaged blocks, read: MD fails the member after
# 20, though every other block of it is good.  What the user should do:
# raise the limit, re-add the member (the rebuild rewrites it), and the
# next 40 damaged blocks are all corrected with the member kept.
#   scripts/e2e 3
set -euo pipefail
source "$(dirname "$0")/lib.sh"
src=$(source_tar 32)

make_array /dev/md0 1 320M d0 d1 # XFS needs 300 MB
tar -C "$work/mnt" -xf "$src"
umount "$work/mnt"
first=$(data_start /dev/md0 /dev/nbd0)
md_stop /dev/md0

damage d0 8 64 "$first"
say "damaged 72 sectors of the first mirror: 8 scattered, a run of 64"

mdadm --assemble /dev/md0 /dev/nbd0 /dev/nbd1 >/dev/null 2>&1 ||
  fail "mdadm --assemble"
mount /dev/md0 "$work/mnt"
check_files "$work/mnt" "${src%.tar}.sums"
umount "$work/mnt"
say "every file reads back correct"

scrub /dev/md0 repair
check_whole /dev/md0
# shellcheck disable=SC2086
check_detected d0 $damaged
[ "$(mismatches d1)" = 0 ] || fail "the healthy mirror reported mismatches"
check_consistent /dev/md0 "after the repair"
say "MD repair rewrote the first mirror from the second ($(mismatches d0) mismatches detected); the mirrors agree"

mount /dev/md0 "$work/mnt"
check_files "$work/mnt" "${src%.tar}.sums"
teardown /dev/md0 d0 d1
say "every file reads back; both mirrors verify clean"

# read_all MD: every block, past the page cache.
read_all() { dd if="$1" of=/dev/null bs=1M iflag=direct status=none || true; }

damage_first_mirror() { damage d0 40 0 "$(data_start /dev/md1 /dev/nbd0)"; }

for i in 0 1; do
  serve "d$i"
  attach "d$i" "/dev/nbd$i"
done
mdadm --create /dev/md1 --run --level=10 --layout=n2 --raid-devices=2 \
  --assume-clean /dev/nbd0 /dev/nbd1 >/dev/null 2>&1 || fail "mdadm --create RAID10"
limit=$(cat /sys/block/md1/md/max_read_errors)
# RAID10 reads from a non-rotational mirror when it has one: so every read
# goes to the damaged mirror first, as it would to the faster of two disks.
echo 0 >/sys/block/nbd0/queue/rotational
echo 1 >/sys/block/nbd1/queue/rotational
# A read that the other mirror served finds no error; MD forgets errors
# only hourly, so a few rounds add up to its limit whatever it read from.
for round in 1 2 3 4; do
  damage_first_mirror
  read_all /dev/md1
  grep -q "nbd0\[0\](F)" /proc/mdstat && break
done
grep -q "nbd0\[0\](F)" /proc/mdstat ||
  fail "RAID10 kept a member through 4 rounds of 40 read errors"
md_said=$(dmesg | grep -o "exceeded read_error threshold.*" | tail -1)
say "RAID10, 40 damaged blocks a round on one mirror: MD failed it in round $round ($md_said; max_read_errors $limit); its server had detected $(mismatches d0) mismatches"

echo 1000 >/sys/block/md1/md/max_read_errors
mdadm /dev/md1 --remove /dev/nbd0 >/dev/null 2>&1 || fail "cannot remove nbd0"
mdadm /dev/md1 --add /dev/nbd0 >/dev/null 2>&1 || fail "cannot add nbd0 back"
wait_md /dev/md1
damage_first_mirror
read_all /dev/md1
scrub /dev/md1 repair # what no read reached
check_whole /dev/md1
# shellcheck disable=SC2086
check_detected d0 $damaged
check_consistent /dev/md1 "after the repair"
teardown /dev/md1 d0 d1
say "max_read_errors raised and the member re-added: 40 more damaged blocks corrected, member kept; both verify clean"
