#!/usr/bin/env bash
# Scenario 6: pulling the plug.  Run twice by scripts/e2e, with the disks
# in a directory that outlives the guest (shared with the host):
#
#   crash    RAID5 and XFS as in scenario 1; one copy of the files is
#            written and synced, then a second is being extracted when
#            the host kills the guest.
#   recover  the next boot: recovery of each disk reports which journaled
#            sectors it kept new, kept old, or found torn; verify must
#            report no sector bad that recovery did not find torn (nothing
#            was damaged on purpose).  Then the servers start, MD
#            resyncs, XFS replays its log, the synced copy reads back
#            whole, parity checks, and every member verifies clean.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
src=$(source_tar 32)
phase=$1

crash() {
  make_array /dev/md0 5 200M d0 d1 d2
  mkdir "$work/mnt/a" && tar -C "$work/mnt/a" -xf "$src"
  sync
  say "first copy synced; pulling the plug during the second"
  while true; do
    rm -rf "$work/mnt/b" && mkdir "$work/mnt/b"
    tar -C "$work/mnt/b" -xf "$src"
  done
}

# check_recovery I: recover disk I offline; every sector verify then finds
# bad must be one that recovery found torn.
check_recovery() {
  local i=$1
  "$tool" check "$work/d$i.img" >"$work/d$i.check" 2>&1 || true
  "$tool" recover --json "$work/d$i.img" >"$work/d$i.recover" ||
    fail "recover d$i: $(cat "$work/d$i.recover")"
  "$tool" verify --json "$work/d$i.img" >"$work/d$i.verify" || true
  /usr/bin/python3 - "$work/d$i.recover" "$work/d$i.verify" "$scenario" <<'PY' ||
import json, sys
rec = json.load(open(sys.argv[1]))
ver = json.load(open(sys.argv[2]))
torn = {d["sector"] for d in rec["decisions"] if d["decision"] == "torn"}
bad = set(ver["bad_sectors"])
print("%s: %s: %d journaled sectors (%d new, %d old, %d torn); verify: %d bad"
      % (sys.argv[3], rec["disk"].rsplit("/", 1)[-1], rec["sectors"], rec["new"],
         rec["old"], rec["neither"], len(bad)))
sys.exit(0 if bad <= torn else "reported bad but not torn: %s"
         % sorted(bad - torn)[:20])
PY
    fail "d$i: a sector is reported bad that the crash did not tear"
}

recover() {
  local dirty=0
  for i in 0 1 2; do
    grep -q -i dirty "$work/d$i.check" 2>/dev/null && dirty=1
    check_recovery "$i"
  done
  for i in 0 1 2; do
    serve "d$i"
    attach "d$i" "/dev/nbd$i"
  done
  mdadm --assemble /dev/md0 /dev/nbd0 /dev/nbd1 /dev/nbd2 >/dev/null 2>&1 ||
    fail "mdadm --assemble after the crash"
  wait_md /dev/md0
  mkdir -p "$work/mnt" && mount /dev/md0 "$work/mnt"
  check_files "$work/mnt/a" "${src%.tar}.sums"
  umount "$work/mnt"
  xfs_repair -n /dev/md0 >"$work/xfs_repair" 2>&1 ||
    fail "xfs_repair -n: $(tail -5 "$work/xfs_repair")"
  check_consistent /dev/md0 "after the resync"
  say "MD resynced, XFS replayed its log and is consistent, the synced copy reads back"
  teardown /dev/md0 d0 d1 d2
  say "every member verifies clean"
}

"$phase"
