#!/usr/bin/env bash
# Scenario 9, the recording half of the crash replay (scripts/crash-replay
# runs it, then checks the recordings on the host with replay-check).
#
#   9-crash-replay.sh SECONDS ROUNDS SEED CONFIG...
#   9-crash-replay.sh md-check
#
# For each CONFIG (MODE:HASH:SECTOR-SIZE:SEED), the disk is a ramdisk,
# filled with garbage (a never-written sector of a block device holds
# whatever it held), under a dm-log-writes device that logs every write
# and flush the server makes, in the order they reach the disk.  The real
# plugin serves it in MODE, and tests/replay/workload sends it SECONDS of
# writes, zeroes, trims and flushes from four connections, marking the
# log after every flush and FUA request it was answered.  The log, the
# workload's record and the key go to the shared directory.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
# No udev in the guest: libdevmapper makes the /dev/mapper nodes itself.
export DM_DISABLE_UDEV=1
workload=$top/build/tests/replay/workload
data_mb=${REPLAY_DISK_MB:-32}
log_mb=1536

# fresh_ramdisks: /dev/ram0 for the disk, /dev/ram1 for the log, both
# reading as zeroes.
fresh_ramdisks() {
  rmmod brd 2>/dev/null || true
  modprobe -d "$GUEST_MODULES" brd rd_nr=2 rd_size=$((log_mb * 1024)) ||
    fail "cannot load brd"
}

# record NAME MODE HASH SECTOR-SIZE SEED
record() {
  local name=$1 mode=$2 hash=$3 ss=$4 seed=$5 key=() used pid
  fresh_ramdisks
  "$workload" --fill "$seed" /dev/ram0 $((data_mb << 20))
  dmsetup create "$name" --table \
    "0 $((data_mb * 2048)) log-writes /dev/ram0 /dev/ram1"
  if [[ $hash == *keyed || $hash == hmac* ]]; then
    head -c 32 /dev/urandom >"$run/$name.key"
    chmod 600 "$run/$name.key"
    cp "$run/$name.key" "$work/$name.key"
    key=(--keyfile="$run/$name.key")
  fi
  "$tool" format --hash="$hash" --sector-size="$ss" --journal-size=1M \
    "${key[@]}" "/dev/mapper/$name" >/dev/null
  dmsetup message "$name" 0 mark formatted
  serve_with "$name" "$plugin" file="/dev/mapper/$name" mode="$mode" \
    status="$run/$name.status" ${key:+keyfile="$run/$name.key"}
  "$workload" "$run/$name.sock" "$name" "$work/$name.rec" "$seconds" 4 \
    "$seed" || fail "$name: the workload failed: $(tail -5 "$work/$name.log")"
  stop "$name"
  cp "$run/$name.status" "$work/$name.status"
  used=$(dmsetup status "$name" | awk '{print $5}')
  dmsetup status "$name" | grep -q logging_disabled &&
    fail "$name: the log device filled up"
  dmsetup remove "$name"
  # The used part of the log, and room for what the removal logged.
  dd if=/dev/ram1 of="$work/$name.log" bs=1M status=none \
    count=$((used / 2048 + 64))
  echo "$name $mode $hash $ss $seed $((data_mb << 20))" >>"$work/configs"
  say "$name ($mode, $hash, $ss-byte sectors): $(wc -l <"$work/$name.rec") requests," \
    "$((used / 2048)) MiB logged"
}

# md_record ROUNDS SEED: RAID5 and XFS over three exports, each disk on
# its own dm-log-writes device.  Each round writes a directory of files
# and syncs it, while another writer keeps writing files it never syncs;
# then the three logs are marked "cN" together, the devices suspended
# meanwhile so that no write completes on one between the marks of
# another (the cut is a moment a power failure could have chosen).
md_record() {
  local rounds=$1 seed=$2 i r bg
  rmmod brd 2>/dev/null || true
  modprobe -d "$GUEST_MODULES" brd rd_nr=6 rd_size=$((512 * 1024)) ||
    fail "cannot load brd"
  for i in 0 1 2; do
    "$workload" --fill $((seed + i)) "/dev/ram$i" $((md_mb << 20))
    dmsetup create "m$i" --table \
      "0 $((md_mb * 2048)) log-writes /dev/ram$i /dev/ram$((i + 3))"
    "$tool" format --journal-size=1M "/dev/mapper/m$i" >/dev/null
    dmsetup message "m$i" 0 mark formatted
    serve_with "m$i" "$plugin" file="/dev/mapper/m$i"
    attach "m$i" "/dev/nbd$i"
  done
  md_create /dev/md0 5 /dev/nbd0 /dev/nbd1 /dev/nbd2
  mkfs.xfs -q /dev/md0
  mkdir -p "$run/mnt" "$work/md" && mount /dev/md0 "$run/mnt"
  : >"$work/md/sums"
  mkdir "$run/mnt/bg"
  (while :; do
     head -c $((RANDOM * 8)) /dev/urandom >"$run/mnt/bg/f$((RANDOM % 64))"
   done) 2>/dev/null &
  bg=$!
  for ((r = 1; r <= rounds; r++)); do
    mkdir "$run/mnt/r$r"
    for i in $(seq 20); do
      head -c $((RANDOM * 4)) /dev/urandom >"$run/mnt/r$r/f$i"
    done
    sync -f "$run/mnt"
    (cd "$run/mnt" && md5sum r$r/*) | sed "s/^/$r /" >>"$work/md/sums"
    dmsetup suspend m0 m1 m2
    for i in 0 1 2; do dmsetup message "m$i" 0 mark "c$r"; done
    dmsetup resume m0 m1 m2
  done
  kill "$bg"; wait "$bg" 2>/dev/null || true
  umount "$run/mnt"
  md_stop /dev/md0
  for i in 0 1 2; do
    detach "/dev/nbd$i"
    stop "m$i"
    used=$(dmsetup status "m$i" | awk '{print $5}')
    dmsetup status "m$i" | grep -q logging_disabled &&
      fail "m$i: the log device filled up"
    dmsetup remove "m$i"
    dd if="/dev/ram$((i + 3))" of="$work/md/m$i.log" bs=1M status=none \
      count=$((used / 2048 + 64))
  done
  echo "$rounds $seed $((md_mb << 20))" >"$work/md/config"
  say "md: $rounds rounds of synced files on RAID5 and XFS recorded"
}

# md_check: each directory $work/md/pN holds the three disks as a power
# failure at the cut N could have left them (scripts/crash-replay built
# them): recovered, served and assembled, XFS replays its log, every file
# synced by round N reads back whole, and xfs_repair -n finds nothing.
md_check() {
  local dir n i
  for dir in "$work"/md/p*; do
    n=${dir##*/p}
    for i in 0 1 2; do
      "$tool" recover "$dir/m$i.img" >"$dir/m$i.recover" 2>&1 ||
        fail "cut $n: recover m$i: $(tail -3 "$dir/m$i.recover")"
      serve_with "m$i" "$plugin" file="$dir/m$i.img"
      attach "m$i" "/dev/nbd$i"
    done
    mdadm --assemble --run /dev/md0 /dev/nbd0 /dev/nbd1 /dev/nbd2 \
      >/dev/null 2>&1 || fail "cut $n: mdadm --assemble"
    mkdir -p "$run/mnt" && mount /dev/md0 "$run/mnt" ||
      fail "cut $n: XFS does not mount"
    awk -v n="$n" '$1 <= n {print $2 "  " $3}' "$work/md/sums" \
      >"$dir/expected"
    (cd "$run/mnt" && md5sum -c --quiet "$dir/expected") >"$dir/md5" 2>&1 ||
      fail "cut $n: synced files differ: $(head -5 "$dir/md5")"
    umount "$run/mnt"
    xfs_repair -n /dev/md0 >"$dir/xfs_repair" 2>&1 ||
      fail "cut $n: xfs_repair -n: $(tail -5 "$dir/xfs_repair")"
    md_stop /dev/md0
    for i in 0 1 2; do
      detach "/dev/nbd$i"
      stop "m$i"
    done
    say "md cut $n: recovered, $(wc -l <"$dir/expected") synced files read back whole, xfs_repair -n clean"
  done
}

md_mb=200 # XFS wants 300 MB at least: two data members
case $1 in
  md-check) md_check ;;
  *)
    seconds=$1 rounds=$2 md_seed=$3
    shift 3
    : >"$work/configs"
    n=0
    for config in "$@"; do
      IFS=: read -r mode hash ss seed <<<"$config"
      record "c$n-$mode" "$mode" "$hash" "$ss" "$seed"
      n=$((n + 1))
    done
    say "recorded $n configurations"
    md_record "$rounds" "$md_seed"
    ;;
esac
