#!/usr/bin/env bash
# Scenario 4: a member whose server dies outright (killed).  The array
# degrades and keeps serving every file, takes new ones, and rebuilds
# onto a fresh export; afterwards every member verifies clean.
#   scripts/e2e 4
set -euo pipefail
source "$(dirname "$0")/lib.sh"
src=$(source_tar 32)

make_array /dev/md0 5 200M d0 d1 d2
mkdir "$work/mnt/a" && tar -C "$work/mnt/a" -xf "$src"
sync

kill -9 "$(cat "$run/d1.pid")"
say "server of member 1 killed"
check_files "$work/mnt/a" "${src%.tar}.sums"
mkdir "$work/mnt/b" && tar -C "$work/mnt/b" -xf "$src"
sync
wait_for "MD to fail member 1" grep -q "nbd1\[1\](F)" /proc/mdstat
state=$(mdadm --detail /dev/md0 | sed -n 's/^ *State : //p')
[[ $state == *degraded* ]] || fail "array state is '$state', not degraded"
check_files "$work/mnt/a" "${src%.tar}.sums"
check_files "$work/mnt/b" "${src%.tar}.sums"
say "degraded ($state), every file still reads back"

detach /dev/nbd1
format d3 200M
serve d3
attach d3 /dev/nbd3
mdadm /dev/md0 --remove /dev/nbd1 >/dev/null 2>&1 || fail "cannot remove nbd1"
mdadm /dev/md0 --add /dev/nbd3 >/dev/null 2>&1 || fail "cannot add nbd3"
wait_md /dev/md0
state=$(mdadm --detail /dev/md0 | sed -n 's/^ *State : //p')
[[ $state == clean* && $state != *degraded* ]] ||
  fail "after the rebuild the array is '$state'"
check_consistent /dev/md0 "after the rebuild"
say "rebuilt onto a fresh export ($state), parity checked"

umount "$work/mnt" && mount /dev/md0 "$work/mnt"
check_files "$work/mnt/a" "${src%.tar}.sums"
check_files "$work/mnt/b" "${src%.tar}.sums"
teardown /dev/md0 d0 d2 d3
say "every file reads back; members 0, 2 and 3 verify clean"
