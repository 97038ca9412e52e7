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

for i in 0 1 2; do
  format "d$i" 300M
  serve "d$i"
  attach "d$i" "/dev/nbd$i"
done
md_create /dev/md0 5 /dev/nbd0 /dev/nbd1 /dev/nbd2
say "array made"
mkfs.xfs -q /dev/md0
mkdir "$work/mnt"
mount /dev/md0 "$work/mnt"
tar -C "$work/mnt" -xf "$src"
say "extracted"
umount "$work/mnt"
mount /dev/md0 "$work/mnt"
check_files "$work/mnt" "${src%.tar}.sums"
say "all $(wc -l <"${src%.tar}.sums") files match after remount"
umount "$work/mnt"
md_stop /dev/md0
for i in 0 1 2; do
  detach "/dev/nbd$i"
  stop "d$i"
  verify_clean "d$i"
done
say "every member verifies clean"
