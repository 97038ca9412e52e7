#!/usr/bin/env bash
# Scenario 8: the commands an administrator runs.  nbd-integrity serve
# serves three disks from a configuration file, nbd-integrity attach
# attaches them and creates (then, after a detach, assembles) the RAID5
# the file names; XFS on it holds a tar.  SIGTERM to serve leaves every
# disk clean.  A block of one member's disk is damaged, served and
# attached again, and read: nbd-integrity status names the sector within
# a second; MD's repair rewrites it, and every file reads back.  Where
# meson install has put this very build in place (CI does), it runs the
# installed tool and plugin, the plugin by its name.
#   scripts/e2e 8
set -euo pipefail
source "$(dirname "$0")/lib.sh"
src=$(source_tar "${1:-32}")
conf=$work/exports.conf

# installed FILE: where meson install puts FILE of the build.
installed() {
  /usr/bin/python3 -c 'import json, sys
print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' \
    "$top/build/meson-info/intro-installed.json" "$1"
}

build_id() { readelf -n "$1" 2>/dev/null | awk '/Build ID/ {print $3}'; }

# same_build BUILT INSTALLED: INSTALLED is BUILT, installed.
same_build() {
  [ -n "$2" ] && [ -e "$2" ] && [ "$(build_id "$1")" = "$(build_id "$2")" ]
}

# The installed commands, if they are this build's: "from a clean install".
use_installed() {
  local itool iplugin
  itool=$(installed "$tool") iplugin=$(installed "$plugin")
  if same_build "$tool" "$itool" && same_build "$plugin" "$iplugin"; then
    tool=$itool plugin=integrity
    say "running the installed $tool and nbdkit's integrity plugin"
  else
    say "this build is not installed: running it from $top/build"
  fi
}

write_config() {
  local n
  {
    printf '[server]\nstatus-dir = %s\ntimeout = 30\n' "$run"
    for n in 0 1 2; do
      printf '\n[export d%s]\ndisk = %s\nsocket = %s\n' \
        "$n" "$work/d$n.img" "$run/d$n.sock"
      printf 'lock-memory = true\ndevice = /dev/nbd%s\n' "$n"
    done
    printf '\n[array md0]\ndevice = /dev/md0\nlevel = 5\n'
    printf 'members = d0, d1, d2\nassume-clean = true\n'
  } >"$conf"
}

# status_names_sector NAME SECTOR: the live counters of export NAME list
# SECTOR among the last mismatches.  (status exits 1 once it counts one.)
status_names_sector() {
  { "$tool" status --json "$run/$1.status" 2>/dev/null || true; } |
    /usr/bin/python3 -c 'import json, sys
e = json.load(sys.stdin)["exports"][0]
sys.exit(int(sys.argv[1]) not in e["last_mismatch_sectors"])' "$2"
}

# start_serving: nbd-integrity serve in the background.
start_serving() {
  NBD_INTEGRITY_PLUGIN=$plugin "$tool" serve "$conf" 2>>"$work/serve.log" &
  serve_pid=$!
}

# stop_serving: SIGTERM to serve, which must leave every disk clean.
stop_serving() {
  local n
  kill "$serve_pid"
  wait "$serve_pid" || fail "serve exited $? on SIGTERM"
  for n in 0 1 2; do
    "$tool" dump --json "$work/d$n.img" | grep -q '"state": *"clean"' ||
      fail "d$n not left clean by serve"
  done
}

use_installed
for n in 0 1 2; do format "d$n" 300M; done
write_config
"$tool" serve --check "$conf" >/dev/null || fail "serve --check"
start_serving
"$tool" attach --assemble --create "$conf" >/dev/null ||
  fail "attach --assemble --create: $(tail -3 "$work/serve.log")"
mkfs.xfs -q /dev/md0
mkdir -p "$work/mnt" && mount /dev/md0 "$work/mnt"
tar -C "$work/mnt" -xf "$src"
umount "$work/mnt"
first=$(data_start /dev/md0 /dev/nbd1)
"$tool" detach "$conf" >/dev/null || fail "detach"
[ ! -e /sys/block/md0/md ] || fail "detach left md0 running"
stop_serving
say "served, attached, created md0, filled it, detached, stopped clean"

# Damage d1, serve and assemble again, and read the damaged block.
damage d1 1 0 "$first"
bad=${damaged%% *}
start_serving
"$tool" attach --assemble "$conf" >/dev/null || fail "attach --assemble"
! dd if=/dev/nbd1 of=/dev/null bs=4096 skip="$bad" count=1 iflag=direct \
  2>/dev/null || fail "sector $bad of d1 read without error"
WAIT_SECONDS=1 wait_for "status to name sector $bad within a second" \
  status_names_sector d1 "$bad"
say "nbd-integrity status names damaged sector $bad of d1"
scrub /dev/md0 repair
check_whole /dev/md0
mount /dev/md0 "$work/mnt"
check_files "$work/mnt" "${src%.tar}.sums"
umount "$work/mnt"
"$tool" detach "$conf" >/dev/null || fail "detach"

stop_serving
for n in 0 1 2; do verify_clean "d$n"; done
say "SIGTERM to serve left every disk clean and verified"
