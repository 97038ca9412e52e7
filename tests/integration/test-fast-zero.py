#!/usr/bin/python3
"""Write zeroes with NBD_CMD_FLAG_FAST_ZERO: the server advertises fast
zero and keeps serving.  A fast zero of whole sectors on a file system
that punches holes succeeds and reads as zeroes; one that would have to
write zeroes (a partial sector, or a file system that cannot punch) fails
at once with ENOTSUP and changes nothing.  A second client then sees the
same data, and the disk verifies clean.

nbdkit 1.32 aborts (backend.c: assertion `c->can_fast_zero == 1') when a
plugin that does not advertise fast zero is sent the flag anyway, so the
flag is sent with libnbd's strict mode off, as any client may."""

import ctypes
import ctypes.util
import errno
import os
import subprocess

import helpers
from helpers import check, check_same, nbd

REGION = 64  # sectors of random data, zeroed here and there


def file_system_punches(directory):
    """Whether fallocate(PUNCH_HOLE) works on files in DIRECTORY."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64,
                               ctypes.c_int64]
    path = os.path.join(directory, "punch-probe")
    with open(path, "wb") as f:
        f.write(bytes(8192))
        f.flush()
        punch_hole, keep_size = 2, 1
        r = libc.fallocate(f.fileno(), punch_hole | keep_size, 0, 4096)
        err = ctypes.get_errno()
    os.unlink(path)
    check(r == 0 or err == errno.EOPNOTSUPP,
          "fallocate(PUNCH_HOLE) probe: %s" % os.strerror(err))
    return r == 0


def check_alive(server, what):
    check(server.proc is not None and server.proc.poll() is None,
          "%s: nbdkit died (exit %s); log:\n%s"
          % (what, server.proc.poll() if server.proc else None,
             server.log()))


def fast_zero(server, h, model, offset, count, fast, what, flags=0):
    """Sends a fast zero; FAST says whether it must succeed (and zero the
    range) or fail with ENOTSUP (and change nothing)."""
    try:
        h.zero(count, offset, nbd.CMD_FLAG_FAST_ZERO | flags)
        err = 0
    except nbd.Error as e:
        err = e.errnum
    if err not in (0, errno.ENOTSUP):
        try:
            server.proc.wait(5)  # a reply lost to an abort: let it finish
        except subprocess.TimeoutExpired:
            pass
    check_alive(server, what)
    if fast:
        check(err == 0, "%s: expected success, got %s"
              % (what, os.strerror(err)))
        model[offset:offset + count] = bytes(count)
    else:
        check(err == errno.ENOTSUP, "%s: expected ENOTSUP, got %s"
              % (what, os.strerror(err) if err else "success"))
    check_same(h.pread(len(model), 0), model, what)


def one_disk(t, ss, punches):
    extra = ["--sector-size", str(ss)]
    disk = t.format("disk-%d.img" % ss, size="16M", extra=extra)
    server = t.server(disk, name="nbdkit-%d" % ss)
    h = server.start().connect()
    h.set_strict_mode(0)  # send the flag whatever the server advertises
    model = bytearray(t.data(REGION * ss))
    h.pwrite(model, 0)
    h.flush()

    fast_zero(server, h, model, 4 * ss, 8 * ss, punches, "aligned")
    fast_zero(server, h, model, 20 * ss, ss, punches, "aligned with FUA",
              nbd.CMD_FLAG_FUA)
    fast_zero(server, h, model, 30 * ss + 100, 3 * ss, False,
              "partial head and tail")
    fast_zero(server, h, model, 40 * ss, ss + 1, False, "partial tail")
    fast_zero(server, h, model, 50 * ss + 17, 100, False,
              "within one sector")
    check(h.can_fast_zero(), "fast zero is not advertised")
    h.flush()

    # A second client sees the same, and can still write.
    h2 = server.connect()
    check_same(h2.pread(len(model), 0), model, "second client")
    data = t.data(2 * ss)
    h2.pwrite(data, 60 * ss)
    model[60 * ss:62 * ss] = data
    h2.flush()
    check_same(h.pread(len(model), 0), model, "after the second client")
    server.stop()
    t.verify_clean(disk)
    print("%d-byte sectors: ok (fast zero %s)"
          % (ss, "punches" if punches else "ENOTSUP: no hole punching"))


def main(t):
    punches = file_system_punches(t.dir)
    for ss in (4096, 512):
        one_disk(t, ss, punches)


helpers.run(main)
