#!/usr/bin/python3
"""Clients that hang up with requests in flight: each queues reads and
writes, and closes its socket at once, its replies still pending.

nbdkit 1.32 aborts on that when more than one thread serves a connection
(connections.c:402: raw_send_socket: Assertion `sock >= 0' failed),
whatever the plugin; nbdkit 1.34 fixed it.  With --threads=1, as
nbd-integrity serve runs an export on a TCP port, the server must live
through every hang-up: afterwards it still runs, a new client reads back
what was written and flushed before, and the disk verifies clean.

With nbdkit's default of 16 threads a connection the test only reports
whether nbdkit 1.32 aborted, as it usually does within a few dozen
hang-ups: that is the bug the first part works around.  From nbdkit 1.34
on, the default must live through them too."""

import re
import subprocess

import time

import helpers
from helpers import SECTOR, check, check_same, nbd

HANGUPS = 200
REQUESTS = 32  # in flight at each hang-up
REQUEST = 64 << 10
SCRATCH = 32 << 20  # the hang-ups' reads and writes go from here


def nbdkit_version():
    out = subprocess.run(["nbdkit", "--version"], capture_output=True,
                         text=True).stdout
    m = re.search(r"(\d+)\.(\d+)", out)
    check(m, "nbdkit --version: %r" % out)
    return int(m.group(1)), int(m.group(2))


def hang_up(sock):
    """One client: REQUESTS reads and writes sent, then its socket closed
    with their replies pending."""
    h = nbd.NBD()
    h.connect_unix(sock)
    buf = nbd.Buffer(REQUEST)
    for i in range(REQUESTS):
        offset = SCRATCH + (i * REQUEST) % (16 << 20)
        (h.aio_pwrite if i % 2 else h.aio_pread)(buf, offset)
    for _ in range(20):  # out onto the socket, no reply awaited
        if h.aio_in_flight() == 0:
            break
        h.poll(0)
    del h  # libnbd closes the socket: no NBD_CMD_DISC


def hang_ups(server):
    """Returns how many hang-ups the server lived through (HANGUPS if it
    is still running)."""
    for i in range(HANGUPS):
        try:
            hang_up(server.sock)
        except nbd.Error:
            pass  # refused or cut by a dying server: seen below
        if server.proc.poll() is not None:
            return i
    # The replies of the last hang-up may still be on their way to the
    # closed socket (seconds, under a sanitizer): an abort comes then.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            return HANGUPS - 1
        time.sleep(0.1)
    return HANGUPS


def serve_and_hang_up(t, disk, name, nbdkit_args):
    server = t.server(disk, name=name, nbdkit_args=nbdkit_args).start()
    h = server.connect()
    data = t.data(64 * SECTOR)
    h.pwrite(data, 0)
    h.flush()
    lived = hang_ups(server)
    if lived < HANGUPS:
        server.kill()
        return lived, server.log()
    check_same(server.connect().pread(len(data), 0), data,
               "%s: a new client after the hang-ups" % name)
    server.stop()
    t.verify_clean(disk)
    return lived, server.log()


def main(t):
    disk = t.format()
    lived, log = serve_and_hang_up(t, disk, "one-thread", ["--threads=1"])
    check(lived == HANGUPS, "--threads=1: nbdkit died after %d hang-ups; "
          "log:\n%s" % (lived, log))
    print("--threads=1: lived through %d hang-ups" % HANGUPS)

    fixed = nbdkit_version() >= (1, 34)
    lived, log = serve_and_hang_up(t, disk, "default", [])
    if lived < HANGUPS:
        check(not fixed, "nbdkit %d.%d died after %d hang-ups with its "
              "default threads; log:\n%s" % (nbdkit_version() + (lived, log)))
        check("Assertion" in log, "nbdkit died, but not of the known "
              "assertion; log:\n%s" % log)
        print("default threads: nbdkit %d.%d aborted after %d hang-ups, the "
              "known bug" % (nbdkit_version() + (lived,)))
    else:
        print("default threads: lived through %d hang-ups" % HANGUPS)


helpers.run(main)
