# Shared by the end-to-end scenarios, which run inside the guest
# (scripts/guest) as root, with the host's built tree mounted read-only.
# Every export is an nbdkit integrity server on a Unix socket; NAME is the
# export's name, its disk is $work/NAME.img.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
tool=$top/build/server/nbd-integrity
plugin=$top/build/plugin/nbdkit-integrity-plugin.so
# The disks live in the directory the host shares, if it does: it outlives
# the guest.
work=${GUEST_SHARE:-$(mktemp -d)}
# Sockets and pid files: 9p cannot hold a socket.
run=$(mktemp -d /run/e2e.XXXXXX)
scenario=$(basename "$0" .sh)

say() { echo "$scenario: [$(cut -d" " -f1 /proc/uptime)s] $*"; }
fail() { echo "$scenario: FAIL: $*" >&2; exit 1; }

# format NAME SIZE [FORMAT-OPTIONS...]
format() {
  local name=$1 size=$2
  shift 2
  "$tool" format --size "$size" "$@" "$work/$name.img" >/dev/null
}

# serve NAME [PLUGIN-PARAMS...]: nbdkit in the background, its log in
# $work/NAME.log, its counters in $work/NAME.status.
serve() {
  local name=$1
  shift
  serve_with "$name" "$plugin" file="$work/$name.img" \
    status="$work/$name.status" "$@"
}

# serve_with NAME PLUGIN [PARAMS...]: nbdkit PLUGIN (this project's, or
# one of nbdkit's own such as file) as the export NAME, in the background,
# its log in $work/NAME.log.
serve_with() {
  local name=$1
  shift
  rm -f "$run/$name.sock"
  nbdkit -f -U "$run/$name.sock" -P "$run/$name.pid" "$@" \
    2>>"$work/$name.log" &
  wait_for "server $name" test -S "$run/$name.sock"
  wait_for "server $name" test -s "$run/$name.pid"
}

# stop NAME: SIGTERM, and wait until the disk has been left clean.
stop() {
  local pid
  pid=$(cat "$run/$1.pid")
  kill "$pid"
  wait_for "server $1 to exit" not_running "$pid"
}

not_running() { ! kill -0 "$1" 2>/dev/null; }

# attach NAME DEVICE [NBD-CLIENT-OPTIONS...]
attach() {
  local name=$1 dev=$2
  shift 2
  nbd-client -unix "$run/$name.sock" "$dev" -b 4096 -timeout 30 "$@" \
    >/dev/null
}

detach() { nbd-client -d "$1" >/dev/null 2>&1; }

# wait_for WHAT COMMAND...: up to WAIT_SECONDS (60) for COMMAND to succeed.
wait_for() {
  local what=$1 i
  shift
  for ((i = 0; i < ${WAIT_SECONDS:-60} * 10; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  fail "timed out waiting for $what"
}

# source_tar LARGE_MB: the tar of real files that scripts/e2e made on the
# host (C headers: thousands of small files, and two large random ones,
# LARGE_MB in all); its checksums are in the same name ending .sums.
source_tar() {
  local tar=$top/build/e2e/source-$1.tar
  [ -e "$tar" ] || fail "no $tar: run the scenarios with scripts/e2e"
  echo "$tar"
}

# check_files MOUNTPOINT SUMS: every file's checksum, read from the disk.
check_files() {
  sync
  echo 3 >/proc/sys/vm/drop_caches
  (cd "$1" && md5sum -c --quiet "$2") ||
    fail "files on $1 differ from their source"
}

# wait_md MD: until its resync, recovery or check has finished.
wait_md() {
  local md=${1#/dev/}
  WAIT_SECONDS=600 wait_for "$md to be idle" md_idle "$md"
}

md_idle() {
  [ "$(cat "/sys/block/$1/md/sync_action")" = idle ] &&
    ! grep -q -E "resync|recovery|check|repair" /proc/mdstat
}


# verify_clean NAME: every sector of the (stopped) disk matches its tag.
verify_clean() {
  "$tool" verify "$work/$1.img" >"$work/$1.verify" 2>&1 ||
    fail "verify $1: $(tail -3 "$work/$1.verify")"
}

# md_create MD LEVEL DEVICES...
md_create() {
  local md=$1 level=$2
  shift 2
  mdadm --create "$md" --run --level="$level" --raid-devices=$# \
    --assume-clean "$@" >/dev/null 2>&1 || fail "mdadm --create $md"
}

md_stop() { mdadm --stop "$1" >/dev/null 2>&1; }

# make_array MD LEVEL SIZE NAME...: a new disk of SIZE for each export
# NAME (dN is attached as /dev/nbdN), MD of LEVEL over them, and XFS on it
# mounted on $work/mnt.  SERVE_PARAMS: more plugin parameters.
make_array() {
  local md=$1 level=$2 size=$3 name devs=()
  shift 3
  for name in "$@"; do
    format "$name" "$size"
    # shellcheck disable=SC2086
    serve "$name" ${SERVE_PARAMS:-}
    attach "$name" "/dev/nbd${name#d}"
    devs+=("/dev/nbd${name#d}")
  done
  md_create "$md" "$level" "${devs[@]}"
  mkfs.xfs -q "$md"
  mkdir -p "$work/mnt" && mount "$md" "$work/mnt"
}

# remount_check MD SOURCE-TAR: remount MD on $work/mnt and compare every
# file with the source's checksums.
remount_check() {
  umount "$work/mnt"
  mount "$1" "$work/mnt"
  check_files "$work/mnt" "${2%.tar}.sums"
}

# teardown MD NAME...: stop the array, detach each export (dN is on
# /dev/nbdN), stop its server, and verify its disk offline.
teardown() {
  local md=$1 name
  shift
  umount "$work/mnt" 2>/dev/null || true
  md_stop "$md"
  for name in "$@"; do
    detach "/dev/nbd${name#d}"
    stop "$name"
    verify_clean "$name"
  done
}

# scrub MD ACTION: MD's check or repair of every block, to its end.
scrub() {
  echo "$2" >"/sys/block/${1#/dev/}/md/sync_action"
  wait_md "$1"
}

# check_consistent MD WHEN: a check finds every copy and parity of MD
# agreeing; fails naming WHEN otherwise.
check_consistent() {
  local mismatched
  scrub "$1" check
  mismatched=$(cat "/sys/block/${1#/dev/}/md/mismatch_cnt")
  [ "$mismatched" = 0 ] || fail "$1: $mismatched sectors mismatch $2"
}

# check_whole MD: MD has failed no member.
check_whole() {
  [ "$(cat "/sys/block/${1#/dev/}/md/degraded")" = 0 ] ||
    fail "MD failed a member of $1: $(grep -A1 "${1#/dev/}" /proc/mdstat)"
}

# damage NAME N RUN FIRST: overwrite part of N scattered written sectors
# and of a run of RUN, none before FIRST, in NAME's disk; the sectors
# are left in $damaged.
damage() {
  damaged=$(/usr/bin/python3 "$top/tests/e2e/sectors.py" pick "$work/$1.img" \
    "$2" "$3" "$4")
  # shellcheck disable=SC2086
  /usr/bin/python3 "$top/tests/e2e/sectors.py" corrupt "$work/$1.img" $damaged
}

# data_start MD DEVICE: the first 4096-byte sector of DEVICE that holds
# MD's data; MD reads nothing before it, so damage there is never found.
data_start() {
  echo $(($(cat "/sys/block/${1#/dev/}/md/dev-${2#/dev/}/offset") / 8))
}

# check_detected NAME DAMAGED...: the server of NAME counted at least one
# mismatch for each damaged sector, and the last ones it names are among
# them (nbd-integrity status --json).
check_detected() {
  local name=$1
  shift
  "$tool" status --json "$work/$name.status" >"$work/$name.json" || true
  /usr/bin/python3 - "$work/$name.json" "$@" <<'PY' || fail "$name: $(cat "$work/$name.json")"
import json, sys
e = json.load(open(sys.argv[1]))["exports"][0]
damaged = {int(s) for s in sys.argv[2:]}
assert e["mismatches"] >= len(damaged), "fewer mismatches than damaged"
assert e["last_mismatch_sectors"], "no mismatched sector named"
assert set(e["last_mismatch_sectors"]) <= damaged, "an undamaged sector named"
PY
}

# mismatches NAME: the mismatches the server of NAME has counted.
mismatches() {
  "$tool" status --json "$work/$1.status" |
    /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["exports"][0]["mismatches"])'
}
