#!/usr/bin/env bash
# Scenario 1: three exports served by nbdkit integrity, attached with
# nbd-client -b 4096, MD RAID5 over them, XFS on top.  A tar of real files
# is extracted, the file system remounted and every file compared with its
# source; then every member is verified offline.  The README's RAID5
# recipe is these commands.
#   scripts/e2e 1
set -euo pipefail
source "$(dirname "$0")/lib.sh"
src=$(source_tar "${1:-32}")

make_array /dev/md0 5 300M d0 d1 d2
tar -C "$work/mnt" -xf "$src"
remount_check /dev/md0 "$src"
say "all $(wc -l <"${src%.tar}.sums") files match after remount"
teardown /dev/md0 d0 d1 d2
say "every member verifies clean"
