#!/usr/bin/python3
"""nbdkit forks into the background unless given -f, after the plugin's
get_ready: the plugin must start its checkpoint thread after the fork.
Serve daemonized, write enough to fill the journal several times, stop
with SIGTERM: nbdkit exits and the disk is left clean and verified."""

import os
import signal
import subprocess
import time

import helpers
from helpers import SECTOR, check, check_eq, check_same


def main(t):
    disk = t.format(size="64M")  # a 1 MiB journal: 256 blocks
    sock, pidfile = t.path("d.sock"), t.path("d.pid")
    subprocess.run(["nbdkit", "-U", sock, "-P", pidfile, t.plugin,
                    "file=" + disk], check=True, timeout=30)
    with open(pidfile) as f:
        pid = int(f.read())
    try:
        h = helpers.nbd.NBD()
        h.connect_unix(sock)
        blocks = {}
        for i in range(1500):  # one journal block per commit at least
            s = t.rng.randrange(0, 15000)
            blocks[s] = t.data(SECTOR)
            h.pwrite(blocks[s], s * SECTOR)
        h.flush()
        for s, data in list(blocks.items())[:50]:
            check_same(h.pread(SECTOR, s * SECTOR), data, "sector %d" % s)
        h.shutdown()
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            raise helpers.Failure("daemonized nbdkit did not exit on SIGTERM")
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    check_eq(t.dump(disk)["state"], "clean", "state after SIGTERM")
    t.verify_clean(disk)


helpers.run(main)
