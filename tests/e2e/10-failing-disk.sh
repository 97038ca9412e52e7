#!/usr/bin/env bash
# Scenario 10: a failing disk under MD.  Member 1's integrity disk is a
# block device some of whose blocks fail every read until they are
# written, as a disk with bad sectors does.  With the array running, 40
# of its blocks that hold MD data (8 scattered, a run of 32) go bad; every
# file reads back correct and MD's check reads the rest, because the
# server fails each read of a bad block with EIO, and MD rebuilds the
# block from the others and writes it back, which mends it.  The server
# counted I/O errors, not mismatches, and logged the disk and sectors;
# MD corrected every block and failed no member; afterwards the bad
# blocks read again and every member verifies clean.
#
# The failing disk is not dm-dust, which does exactly this, because
# Debian 12's kernel is built without it (CONFIG_DM_DUST is not set).
# It is /dev/nbd4, attached with nbd-client to an nbdkit serving
# tests/e2e/dust-plugin.c over a file: the same kind of block device
# as the members, failing the same way dm-dust does.
#   scripts/e2e 10
set -euo pipefail
source "$(dirname "$0")/lib.sh"
src=$(source_tar 32)
dust=$top/build/tests/e2e/nbdkit-dust-plugin.so
failing=/dev/nbd4
badlist=$work/dust.bad

# counter NAME FIELD: a counter of the server of NAME.  Status exits 1
# once a server has counted mismatches or I/O errors.
counter() {
  local json
  json=$("$tool" status --json "$work/$1.status") || [ $? = 1 ] ||
    fail "status of $1"
  /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["exports"][0][sys.argv[1]])' \
    "$2" <<<"$json"
}

# reads_block DEVICE BLOCK: the 4096-byte block reads, bypassing the
# page cache.
reads_block() {
  dd if="$1" of=/dev/null bs=4096 skip="$2" count=1 iflag=direct \
    status=none 2>/dev/null
}

# make_bad BLOCK...: the dust server's bad blocks become these.
make_bad() {
  printf '%s\n' "$@" >"$badlist.new"
  mv "$badlist.new" "$badlist"
}

# Member 1's server, d1, serves the failing disk; d0 and d2 are images.
[ -e "$dust" ] || fail "no $dust: build the tree (ninja -C build)"
truncate -s 200M "$work/dust.img"
serve_with dust "$dust" file="$work/dust.img" badblocks="$badlist"
attach dust "$failing"
"$tool" format "$failing" >/dev/null || fail "format $failing"
serve_with d1 "$plugin" file="$failing" status="$work/d1.status"
attach d1 /dev/nbd1
for name in d0 d2; do
  format "$name" 200M
  serve "$name"
  attach "$name" "/dev/nbd${name#d}"
done
md_create /dev/md0 5 /dev/nbd0 /dev/nbd1 /dev/nbd2
mkfs.xfs -q /dev/md0
mkdir -p "$work/mnt" && mount /dev/md0 "$work/mnt"
tar -C "$work/mnt" -xf "$src"
umount "$work/mnt"
sync
say "RAID5 over d0, d1 (on the failing disk $failing) and d2; files written"

first=$(data_start /dev/md0 /dev/nbd1)
sectors=$(/usr/bin/python3 "$top/tests/e2e/sectors.py" pick "$failing" 8 32 "$first")
blocks=()
# shellcheck disable=SC2086
for off in $(/usr/bin/python3 "$top/tests/e2e/sectors.py" offsets "$failing" $sectors); do
  [ $((off % 4096)) = 0 ] || fail "sector data at byte $off: not a whole block"
  blocks+=($((off / 4096)))
done
make_bad "${blocks[@]}"
echo 3 >/proc/sys/vm/drop_caches
for b in "${blocks[@]}"; do
  ! reads_block "$failing" "$b" || fail "bad block $b of $failing reads"
done
nbad=${#blocks[@]}
say "$nbad blocks of $failing under member 1's sectors went bad (8 scattered, a run of 32); each fails a direct read"

mount -o ro /dev/md0 "$work/mnt"
check_files "$work/mnt" "${src%.tar}.sums"
umount "$work/mnt"
say "every file reads back correct; member 1's server counted $(counter d1 io_errors) I/O errors, $(counter d1 mismatches) mismatches; MD corrected $(($(cat /sys/block/md0/md/dev-nbd1/errors) / 8)) blocks"

scrub /dev/md0 check
check_whole /dev/md0
md=/sys/block/md0/md
corrected=$(($(cat "$md/dev-nbd1/errors") / 8))
state=$(cat "$md/dev-nbd1/state")
io_errors=$(counter d1 io_errors)
[ "$io_errors" -gt 0 ] || fail "member 1's server counted no I/O errors"
status=0
"$tool" status "$work/d1.status" >"$work/d1.table" || status=$?
[ "$status" = 1 ] || fail "status of member 1 exited $status, not 1 (errors counted)"
cat "$work/d1.table"
[ "$(counter d1 mismatches)" = 0 ] || fail "member 1's server counted read errors as mismatches"
for i in 0 2; do
  [ "$(counter "d$i" io_errors) $(counter "d$i" mismatches)" = "0 0" ] ||
    fail "member $i's server counted I/O errors or mismatches"
done
[ "$corrected" = "$nbad" ] || fail "MD corrected $corrected blocks of nbd1, not $nbad"
[ "$state" = in_sync ] || fail "nbd1's state in MD: $state"
dmesg >"$work/dmesg"
! grep -E "md/raid:md0: (read error not correctable|Disk failure|Too many read errors)" "$work/dmesg" ||
  fail "MD gave up on a read error"
grep -q "md/raid:md0: read error corrected (8 sectors at [0-9]* on nbd1)" "$work/dmesg" ||
  fail "MD said nothing of corrected read errors"
say "MD check: $corrected blocks corrected on nbd1 (errors $(cat "$md/dev-nbd1/errors"), max_read_errors $(cat "$md/max_read_errors")), state $state; MD failed no member"
say "MD said: $(grep -m1 "read error corrected" "$work/dmesg" | sed 's/^\[[^]]*\] //'), $(grep -c "read error corrected" "$work/dmesg") such lines"
say "member 1's server: $io_errors I/O errors, 0 mismatches; the dust server failed $(grep -c "is bad" "$work/dust.log") reads"

# The server named the disk and the sectors of what it could not read.
# shellcheck disable=SC2086
/usr/bin/python3 - "$work/d1.log" "$failing" $sectors <<'PY' || fail "member 1's server logged no read error of a bad sector"
import re, sys
log, disk, bad = sys.argv[1], sys.argv[2], {int(s) for s in sys.argv[3:]}
pat = re.compile(re.escape(disk) + r": read of sectors (\d+)-(\d+) \(byte \d+ of the backing disk\): Input/output error")
named = [m for m in map(pat.search, open(log)) if m]
assert any(bad & set(range(int(m[1]), int(m[2]) + 1)) for m in named)
PY
say "member 1's server logged: $(grep -m1 "$failing: read of sectors" "$work/d1.log")"
check_consistent /dev/md0 "after the check that corrected them"

md_stop /dev/md0
for name in d0 d2; do
  detach "/dev/nbd${name#d}"
  stop "$name"
  verify_clean "$name"
done
detach /dev/nbd1
stop d1
for b in "${blocks[@]}"; do
  reads_block "$failing" "$b" || fail "block $b of $failing is still bad"
done
"$tool" verify "$failing" >"$work/d1.verify" 2>&1 ||
  fail "verify d1: $(tail -3 "$work/d1.verify")"
detach "$failing"
stop dust
say "MD rewrote every bad block: each reads again, and every member verifies clean"
