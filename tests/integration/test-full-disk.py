#!/usr/bin/python3
"""A sparse image on a file system that fills up (a small tmpfs; skipped
where this process may not mount one): writes that need space fail with
ENOSPC, a FUA write at once and a deferred one at the next flush; nbdkit
logs the error naming the disk and counts it; data written before reads
back intact and the server goes on serving reads.  Once space is freed,
writes work again, the server stops cleanly and verify finds the disk
clean."""

import errno
import json
import os
import subprocess
import time

import helpers
from helpers import SECTOR, check, check_eq, check_in_log, check_same, nbd

FS_SIZE = "12M"
WRITTEN = 4 << 20  # bytes written at the start before the disk fills
PUBLISH_WITHIN = 2.0  # seconds for the status file to show an error


def mount_tmpfs(t):
    mnt = t.path("fs")
    os.mkdir(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=" + FS_SIZE,
                        "nbd-integrity-test", mnt],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise helpers.Skip("cannot mount a tmpfs to fill up: %s"
                           % r.stderr.strip())
    return mnt


def fill_up(path):
    """Writes PATH until the file system has no room left."""
    with open(path, "wb", buffering=0) as f:
        for chunk in (1 << 20, SECTOR):
            block = bytes(chunk)
            try:
                while True:
                    f.write(block)
            except OSError as e:
                check_eq(e.errno, errno.ENOSPC, "filling the file system")


def expect_enospc(fn, what):
    try:
        fn()
    except nbd.Error as e:
        check(e.errnum == errno.ENOSPC, "%s: expected ENOSPC, got %s"
              % (what, e))
        return
    raise helpers.Failure("%s: succeeded on a full file system" % what)


def io_errors(t, status):
    r = t.run_tool("status", "--json", status)
    return json.loads(r.stdout)["exports"][0]["io_errors"]


def wait_io_errors(t, status, at_least):
    deadline = time.monotonic() + PUBLISH_WITHIN
    while io_errors(t, status) < at_least:
        check(time.monotonic() < deadline,
              "status: io_errors stayed below %d" % at_least)
        time.sleep(0.05)


def full(t, mnt):
    disk = t.format(os.path.join(mnt, "disk.img"), size="64M")
    status = t.path("status")
    server = t.serve(disk, "status=" + status, name="nbdkit-full")
    h = server.connect()
    model = t.data(WRITTEN)
    h.pwrite(model, 0)
    h.flush()

    filler = os.path.join(mnt, "filler")
    fill_up(filler)
    far = 32 << 20  # never written: its data would need new space
    expect_enospc(lambda: h.pwrite(t.data(64 * SECTOR), far,
                                   nbd.CMD_FLAG_FUA), "FUA write")
    h.pwrite(t.data(64 * SECTOR), far + (1 << 20))  # deferred: accepted
    expect_enospc(h.flush, "flush after a deferred write")
    log = server.log(since_start=True)
    check_in_log(log, [disk], "the log of a failed write")
    check_in_log(log, [os.strerror(errno.ENOSPC).lower()],
                 "the log of a failed write")
    wait_io_errors(t, status, 2)

    # Reads go on: what was written is intact, the failed writes read as
    # they were (zeroes), on this connection and a new one.
    check_same(h.pread(WRITTEN, 0), model, "data written before it filled")
    check_same(h.pread(128 * SECTOR, far), bytes(128 * SECTOR),
               "failed writes")
    check_same(server.connect().pread(SECTOR, 0), model[:SECTOR],
               "a new connection")
    print("full: writes fail with ENOSPC, reads go on")

    os.unlink(filler)
    new = t.data(64 * SECTOR)
    h.pwrite(new, far, nbd.CMD_FLAG_FUA)
    h.flush()
    check_same(h.pread(len(new), far), new, "a write once space is freed")
    check_same(h.pread(WRITTEN, 0), model, "data written before it filled")
    server.stop()
    t.verify_clean(disk)
    print("space freed: writes work, the disk closes clean")


def main(t):
    if os.geteuid() != 0:
        raise helpers.Skip("not root: cannot mount a tmpfs to fill up")
    mnt = mount_tmpfs(t)
    try:
        full(t, mnt)
    finally:
        for s in t.servers:
            s.kill()
        subprocess.run(["umount", "-l", mnt])


helpers.run(main)
