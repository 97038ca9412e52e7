#!/usr/bin/env bash
# The end-to-end benchmark, in the guest (scripts/bench-e2e boots it): the
# same tar extracted onto XFS on MD RAID5 over three members, each WAY in
# turn on fresh members, the same mkfs, a cold cache.  For each it records
# the seconds from the start of tar to the end of sync and umount, and the
# bytes written to the member disks, from their block statistics; then it
# compares every file with its source, so that a broken stack fails
# instead of being timed.
#
#   tests/e2e/bench.sh KIND MEMBER_MB TAR RETRIES BUSY WAY...
#
# KIND       memory: brd ramdisks of MEMBER_MB, each under a dm-linear
#            device, because brd keeps no statistics; throttled: the
#            guest's virtio disks /dev/vda, vdb and vdc (scripts/guest
#            --disk), which the host throttles to a hard disk's rates.
# TAR        made by scripts/bench-e2e, its checksums in TAR minus .tar
#            plus .sums.
# RETRIES    how many times, in all, a way may run again because other
# BUSY       processes took more than BUSY cores of the host while it
#            was timed (see host_busy).
# WAY        file (nbdkit file), integrity (nbdkit integrity, tags mode,
#            crc32c), integrity-C2 and -C4 (the same with nbd-client -C 2
#            or 4 connections), dm-journal and dm-bitmap (dm-integrity,
#            integritysetup, crc32c, in journal or bitmap mode).
#
# Each way's figures are appended, one JSON object a line, to
# $GUEST_SHARE/KIND.jsonl; the logs go to $GUEST_SHARE/KIND-logs/.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ $# -ge 6 ] || fail "usage: bench.sh KIND MEMBER_MB TAR RETRIES BUSY WAY..."
kind=$1 member_mb=$2 src=$3 retries=$4 busy=$5
shift 5
ways=("$@")
[ -n "${GUEST_SHARE:-}" ] || fail "no GUEST_SHARE: run it with scripts/bench-e2e"
results=$GUEST_SHARE
# Logs and status files on tmpfs, not on the 9p share: writing them must
# cost the stacks nothing.  Copied to the share at the end.
work=$(mktemp -d /run/bench.XXXXXX)
# No udev in the guest: libdevmapper (dmsetup, integritysetup) makes the
# /dev/mapper nodes itself.
export DM_DISABLE_UDEV=1
md=/dev/md0
mnt=$work/mnt

save_logs() {
  mkdir -p "$results/$kind-logs"
  cp "$work"/*.log "$work"/*.json "$results/$kind-logs/" 2>/dev/null || true
}
trap save_logs EXIT

# ------------------------------------------------------------ members

# fresh_members: $members, three disks that read as zeroes everywhere
# (--assume-clean relies on it) and that no earlier way has written.
fresh_members() {
  case $kind in
    memory) fresh_ramdisks ;;
    throttled) fresh_virtio_disks ;;
    *) fail "unknown kind $kind (memory or throttled)" ;;
  esac
}

# New ramdisks: reloading brd frees the old ones.  Each is wrapped in a
# dm-linear device, which counts the writes that brd does not.
fresh_ramdisks() {
  local i
  for i in 0 1 2; do dmsetup remove "member$i" 2>/dev/null || true; done
  rmmod brd 2>/dev/null || true
  [ ! -e /dev/ram0 ] || fail "cannot unload brd: a ramdisk is still open"
  modprobe -d "$GUEST_MODULES" brd rd_nr=3 rd_size=$((member_mb * 1024)) ||
    fail "cannot load brd from $GUEST_MODULES"
  members=()
  for i in 0 1 2; do
    dmsetup create "member$i" \
      --table "0 $((member_mb * 2048)) linear /dev/ram$i 0" ||
      fail "dmsetup create member$i over /dev/ram$i"
    members+=("/dev/mapper/member$i")
  done
}

# The virtio disks, discarded: qemu punches holes in their files, which
# then read as zeroes, as they did when new.
fresh_virtio_disks() {
  local m
  members=(/dev/vda /dev/vdb /dev/vdc)
  for m in "${members[@]}"; do
    [ -b "$m" ] || fail "no $m: boot the guest with three --disk"
    blkdiscard -f "$m" 2>>"$work/blkdiscard.log" ||
      fail "blkdiscard $m (the drive needs discard=unmap)"
    cmp -s -n $((4 << 20)) "$m" /dev/zero ||
      fail "$m does not read as zeroes after blkdiscard"
  done
}

# write_counts DEVICE...: "SECTORS WRITES FLUSHES", the 512-byte sectors
# written, the write requests and the flush requests the DEVICEs have
# completed, summed, from the block layer's statistics (fields 7, 5 and
# 16 of .../stat).  By device number: without udev, /dev/mapper holds
# nodes, not symlinks.
write_counts() {
  local dev major minor
  for dev in "$@"; do
    read -r major minor < <(stat -L -c '%t %T' "$dev")
    cat "/sys/dev/block/$((16#$major)):$((16#$minor))/stat"
  done | awk '{ s += $7; w += $5; f += $16 } END { print s, w, f }'
}

# ------------------------------------------------------------- stacks

# What start_nbd adds to the plugin's parameters and to format's options.
plugin_args=() format_args=()

# start_way WAY: WAY's three devices over $members, in $uppers.
start_way() {
  uppers=()
  case $1 in
    file) start_nbd file ;;
    integrity) start_nbd integrity ;;
    # Full mode journals the data too: a journal of an eighth of the
    # member (dm-integrity's journal mode takes about 1%, and commits as
    # often), so that checkpoints are not the whole cost.
    integrity-full)
      plugin_args=(mode=full)
      format_args=(--journal-size "$((member_mb / 8))M")
      start_nbd integrity
      plugin_args=() format_args=() ;;
    integrity-C[0-9]*) start_nbd integrity -C "${1#integrity-C}" ;;
    dm-journal) start_dm_integrity ;;
    dm-bitmap) start_dm_integrity --integrity-bitmap-mode ;;
    *) fail "unknown way $1" ;;
  esac
}

# start_nbd SERVER [NBD-CLIENT-OPTIONS...]: a member exported by nbdkit
# SERVER (file, or integrity with its defaults) attached as /dev/nbdN.
start_nbd() {
  local server=$1 i
  shift
  for i in 0 1 2; do
    if [ "$server" = file ]; then
      serve_with "m$i" file file="${members[i]}"
    else
      "$tool" format "${format_args[@]}" "${members[i]}" \
        >>"$work/format.log" 2>&1 ||
        fail "nbd-integrity format ${members[i]}: $(tail -1 "$work/format.log")"
      serve_with "m$i" "$plugin" file="${members[i]}" \
        status="$work/m$i.status" "${plugin_args[@]}"
    fi
    attach "m$i" "/dev/nbd$i" "$@" || fail "nbd-client $* for m$i"
    [ $# -eq 0 ] || check_connections "m$i" "${2:?}"
    uppers+=("/dev/nbd$i")
  done
}

# check_connections NAME N: nbd-client -C N did connect N times to the
# server of NAME (its sockets: one listening, one per connection).
check_connections() {
  local sockets
  sockets=$(find "/proc/$(cat "$run/$1.pid")/fd" -lname 'socket:*' | wc -l)
  [ "$sockets" -ge $(($2 + 1)) ] ||
    fail "nbd-client -C $2: $1's server has $((sockets - 1)) connections"
}

# start_dm_integrity [OPEN-OPTIONS...]: dm-integrity on each member, 4096-
# byte sectors like the nbd stacks, crc32c (its default).  format wipes
# the whole member so that its tags are valid: the three in parallel.
start_dm_integrity() {
  local i pids=()
  for i in 0 1 2; do
    integritysetup format --batch-mode --sector-size 4096 "${members[i]}" \
      >>"$work/dm-format-$i.log" 2>&1 &
    pids+=($!)
  done
  for i in 0 1 2; do
    wait "${pids[i]}" ||
      fail "integritysetup format ${members[i]}: $(tail -1 "$work/dm-format-$i.log")"
  done
  for i in 0 1 2; do
    integritysetup open "$@" "${members[i]}" "bench$i" ||
      fail "integritysetup open $* ${members[i]}"
    uppers+=("/dev/mapper/bench$i")
  done
}

# stop_way WAY: take its devices down, so that everything the stack
# holds back (dm-integrity's journal, the servers' caches) is written.
stop_way() {
  local i
  md_stop "$md" || fail "mdadm --stop $md"
  for i in 0 1 2; do
    case $1 in
      dm-*) integritysetup close "bench$i" || fail "integritysetup close bench$i" ;;
      *) save_status "m$i"; detach "/dev/nbd$i"; stop "m$i" ;;
    esac
  done
  sync
}

# save_status NAME: the integrity server's own counters, for the logs.
save_status() {
  [ -e "$work/$1.status" ] || return 0
  "$tool" status --json "$work/$1.status" >"$work/$way-$1.json" 2>/dev/null || true
}

# verify_members: every sector of each nbd-integrity member matches its
# tag, offline; the three at once.
verify_members() {
  local i pids=()
  for i in 0 1 2; do
    "$tool" verify "${members[i]}" >"$work/verify-$i.log" 2>&1 &
    pids+=($!)
  done
  for i in 0 1 2; do
    wait "${pids[i]}" ||
      fail "$way: verify ${members[i]}: $(tail -3 "$work/verify-$i.log")"
  done
}

# make_fs: RAID5 over $uppers and XFS on it, the same on every way: MD
# uses the same share of each member (the integrity layers take different
# shares), and mkfs neither discards nor guesses the sector size.
make_fs() {
  blockdev --getsize64 "${uppers[@]}" >"$work/$way-sizes.log"
  mdadm --create "$md" --run --level=5 --raid-devices=3 --assume-clean \
    --size="$md_kib" "${uppers[@]}" >>"$work/mdadm.log" 2>&1 ||
    fail "mdadm --create over ${uppers[*]}: $(tail -2 "$work/mdadm.log")"
  mkfs.xfs -q -f -K -s size=4096 "$md" >>"$work/mkfs.log" 2>&1 ||
    fail "mkfs.xfs $md: $(tail -2 "$work/mkfs.log")"
  sync
  settle_journals
  mkdir -p "$mnt"
  mount "$md" "$mnt"
}

# settle_journals: dm-integrity copies its journal to the data area
# later; a suspend makes it do so now, so that what mkfs wrote is not
# counted as the extraction's.
settle_journals() {
  local u
  for u in "${uppers[@]}"; do
    [[ $u == /dev/mapper/* ]] || continue
    dmsetup suspend "${u#/dev/mapper/}" || fail "dmsetup suspend $u"
    dmsetup resume "${u#/dev/mapper/}" || fail "dmsetup resume $u"
  done
}

# --------------------------------------------------------- the runs

# plan_md_size: the KiB of each member that MD uses, the same on every
# way, so that every way makes the same file system: 85%, less than what
# every integrity layer leaves of a member (99% of 256 MiB), with room
# for MD's superblock, on a chunk boundary.
plan_md_size() {
  md_kib=$((member_mb * 1024 * 85 / 100 / 512 * 512))
}

# seconds_since T0: wall time since EPOCHREALTIME T0.
seconds_since() {
  awk -v t0="$1" -v t1="$EPOCHREALTIME" 'BEGIN { printf "%.2f", t1 - t0 }'
}

# run_way WAY: one measured extraction on fresh members; its figures in
# $figures, the fields of a JSON object.
run_way() {
  local way=$1 m0 w0 f0 m1 m2 w2 f2 u0 u1 d0 d1 t0 t_tar t_sync t_all _
  say "$way: fresh members"
  fresh_members
  start_way "$way"
  say "$way: stack up"
  make_fs
  sync
  echo 3 >/proc/sys/vm/drop_caches
  read -r m0 w0 f0 < <(write_counts "${members[@]}")
  read -r u0 _ _ < <(write_counts "${uppers[@]}")
  read -r d0 _ _ < <(write_counts "$md")

  say "$way: extracting"
  t0=$EPOCHREALTIME
  tar -C "$mnt" -xf "$local_tar" || fail "$way: tar failed"
  t_tar=$(seconds_since "$t0")
  sync
  t_sync=$(seconds_since "$t0")
  umount "$mnt"
  t_all=$(seconds_since "$t0")
  read -r m1 _ _ < <(write_counts "${members[@]}")
  read -r u1 _ _ < <(write_counts "${uppers[@]}")
  read -r d1 _ _ < <(write_counts "$md")
  say "$way: ${t_all}s (tar ${t_tar}s, sync to ${t_sync}s)"

  # Read-only, norecovery: a read-only mount of the clean file system
  # still wrote 4 MB (Linux 6.1), which were not the extraction's.
  mount -o ro,norecovery "$md" "$mnt"
  check_tree "$mnt"
  umount "$mnt"
  say "$way: files checked"
  # What the stack still held back is the extraction's too.
  stop_way "$way"
  read -r m2 w2 f2 < <(write_counts "${members[@]}")
  say "$way: stopped"
  case $way in integrity*) verify_members ;; esac
  check_counted "$way" $(((m2 - m0) * 512)) $(((u1 - u0) * 512))
  say "$way: files match; members wrote $(((m2 - m0) / 2048)) MiB"

  figures=$(printf '"kind": "%s", "way": "%s", "seconds": %s, "tar_seconds": %s, "sync_seconds": %s, "member_bytes": %d, "member_bytes_at_umount": %d, "member_writes": %d, "member_flushes": %d, "array_member_bytes": %d, "md_bytes": %d, "file_bytes": %d, "files": %d, "member_mb": %d, "md_member_kib": %d' \
    "$kind" "$way" "$t_all" "$t_tar" "$t_sync" $(((m2 - m0) * 512)) \
    $(((m1 - m0) * 512)) $((w2 - w0)) $((f2 - f0)) $(((u1 - u0) * 512)) \
    $(((d1 - d0) * 512)) "$file_bytes" "$files" "$member_mb" "$md_kib")
}

# host_busy WAY ATTEMPT: the cores that other processes on the host took
# while the ATTEMPTth run of WAY was timed, as scripts/bench-e2e measured
# them ("WAY CORES" lines in $results/$kind.others; it writes one when it
# sees the timing line).  Empty if it has written none within 10 s.
host_busy() {
  local i
  for ((i = 0; i < 100; i++)); do
    awk -v w="$1" -v n="$2" '$1 == w && ++seen == n { print $2; found = 1 }
                             END { exit !found }' "$results/$kind.others" \
      2>/dev/null && return 0
    sleep 0.1
  done
}

# measure WAY: run_way, and again while the host was busier than $busy
# cores and retries are left; appends the last run's figures to
# $results/$kind.jsonl.
measure() {
  local way=$1 attempt=1 cores
  while :; do
    run_way "$way"
    cores=$(host_busy "$way" "$attempt")
    if [ -n "$cores" ] && awk -v c="$cores" -v b="$busy" 'BEGIN { exit !(c > b) }' &&
       [ "$retries" -gt 0 ]; then
      say "$way: other processes took $cores cores of the host meanwhile: again"
      retries=$((retries - 1)) attempt=$((attempt + 1))
      continue
    fi
    echo "{$figures, \"attempts\": $attempt, \"host_busy_cores\": ${cores:-null}}" \
      >>"$results/$kind.jsonl"
    return 0
  done
}

# check_tree MOUNTPOINT: every file's checksum, read from the disks
# after a remount, by several readers at once: one at a time, each read
# waits for its round trip through the stack, and the check would take
# longer than the extraction.
check_tree() {
  local part pids=() failed=0
  : >"$work/check.log"
  for part in "$work"/sums.part.*; do
    (cd "$1" && md5sum -c --quiet "$part") >>"$work/check.log" 2>&1 &
    pids+=($!)
  done
  for part in "${pids[@]}"; do wait "$part" || failed=1; done
  [ "$failed" = 0 ] ||
    fail "$way: files on $1 differ from their source: $(head -3 "$work/check.log")"
}

# check_counted WAY MEMBER_BYTES ARRAY_BYTES: the statistics saw at
# least the file data go by, or they are not counting what we think.
check_counted() {
  [ "$2" -ge "$file_bytes" ] ||
    fail "$1: members wrote $2 bytes, less than the $file_bytes of file data"
  [ "$3" -ge "$file_bytes" ] ||
    fail "$1: MD wrote $3 bytes to its members, less than the file data"
}

# The tar, read from tmpfs so that 9p is not part of what is timed.
local_tar=/tmp/bench-source.tar
sums=${src%.tar}.sums
[ -e "$sums" ] || fail "no $sums: make the tar with scripts/bench-e2e"
cp "$src" "$local_tar" || fail "cannot copy $src to $local_tar"
files=$(wc -l <"$sums")
split -n r/8 "$sums" "$work/sums.part."
file_bytes=$(cat "${src%.tar}.bytes")
plan_md_size
rm -f "$results/$kind.jsonl"
say "$kind members of $member_mb MiB, $files files, $file_bytes bytes of file data"
for way in "${ways[@]}"; do
  measure "$way"
done
say "done"
