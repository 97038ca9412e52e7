#!/usr/bin/env bash
# Scenario 7: memory pressure on a local stack.  Scenario 1 in a guest of
# 512 MB, with a tar far larger than what the guest can keep dirty, so the
# kernel must write pages through our servers to free memory while they
# serve.  The servers run as the man page says (LOCAL STACKS): as root,
# with lock-memory=true, and every thread an I/O flusher.  The disks are on
# the host's file system (scripts/e2e shares a directory), not in guest
# memory.
#   scripts/e2e 7
set -euo pipefail
source "$(dirname "$0")/lib.sh"
src=$(source_tar 160)
PF_MEMALLOC_NOIO=0x00080000

# check_io_flusher NAME: every thread of the server has PF_MEMALLOC_NOIO.
check_io_flusher() {
  local pid task flags
  pid=$(cat "$run/$1.pid")
  for task in /proc/"$pid"/task/*; do
    flags=$(sed 's/.*) //' "$task/stat" | cut -d' ' -f7)
    ((flags & PF_MEMALLOC_NOIO)) ||
      fail "thread ${task##*/} of server $1 is not an I/O flusher"
  done
}

SERVE_PARAMS=lock-memory=true make_array /dev/md0 5 300M d0 d1 d2
for i in 0 1 2; do check_io_flusher "d$i"; done
rss() { awk '/VmRSS/{print int($2 / 1024)}' "/proc/$(cat "$run/$1.pid")/status"; }
say "$(free -m | awk '/Mem:/{print $2}') MB of memory; extracting $(($(stat -c %s "$src") >> 20)) MB"
tar -C "$work/mnt" -xf "$src"
remount_check /dev/md0 "$src"
say "all $(wc -l <"${src%.tar}.sums") files match after remount; servers' RSS $(rss d0), $(rss d1), $(rss d2) MB"
teardown /dev/md0 d0 d1 d2
say "every member verifies clean"
