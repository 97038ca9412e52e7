#!/usr/bin/python3
"""Requests a client should not send, sent anyway (libnbd's strict mode
off): past the end of the export, straddling it, and of zero length.  Each
fails with the error NBD gives it (EINVAL, ENOSPC for writes), changes
nothing, and the server goes on serving.  Unaligned requests are served
by read-modify-write: on 4096- and 512-byte sectors, at the first and last
byte, many in flight at once within the same sectors, they lose no byte
around them; one over a damaged sector fails with EIO and leaves it
damaged, for MD to rewrite, rather than hiding the damage."""

import errno

import helpers
from helpers import SECTOR, check, check_eq, check_same, expect_eio, nbd

EDGE = 16  # sectors written at each end of the disk


def expect_error(fn, errnums, what):
    try:
        fn()
    except nbd.Error as e:
        check(e.errnum in errnums, "%s: expected %s, got %s"
              % (what, " or ".join(errno.errorcode[n] for n in errnums), e))
        return
    raise helpers.Failure("%s: succeeded; it should have failed" % what)


def fill(t, h, model, off, n):
    data = t.data(n)
    h.pwrite(data, off)
    model[off:off + n] = data


def check_model(h, model, what):
    """The written ends of the disk, and a read of the whole, match MODEL."""
    size = len(model)
    for off in (0, size - EDGE * SECTOR):
        check_same(h.pread(EDGE * SECTOR, off), model[off:off + EDGE * SECTOR],
                   what, off)
    helpers.check_reads_as(h, model, what)


def past_the_end(t, h, model):
    size = len(model)
    huge = (1 << 64) - SECTOR
    ranges = [(size, 1), (size, SECTOR), (size - 100, 200),
              (size - SECTOR, 2 * SECTOR), (size + SECTOR, SECTOR),
              (huge, SECTOR), (huge + SECTOR - 1, 1)]
    for off, n in ranges:
        where = "%d bytes at %d (export %d)" % (n, off, size)
        expect_error(lambda: h.pread(n, off), [errno.EINVAL],
                     "read of " + where)
        expect_error(lambda: h.pwrite(t.data(n), off),
                     [errno.ENOSPC, errno.EINVAL], "write of " + where)
        expect_error(lambda: h.pwrite(t.data(n), off, nbd.CMD_FLAG_FUA),
                     [errno.ENOSPC, errno.EINVAL], "FUA write of " + where)
        expect_error(lambda: h.zero(n, off), [errno.ENOSPC, errno.EINVAL],
                     "zero of " + where)
        expect_error(lambda: h.trim(n, off), [errno.EINVAL],
                     "trim of " + where)
        expect_error(lambda: h.cache(n, off), [errno.EINVAL],
                     "cache of " + where)
    h.flush()
    check_model(h, model, "after requests past the end")
    print("past the end: refused, nothing changed")


def zero_length(t, h, model):
    """Zero-length requests: the protocol leaves them undefined; here they
    either succeed or fail as invalid (ENOSPC for writes), and change
    nothing."""
    size = len(model)
    invalid, write = [errno.EINVAL], [errno.EINVAL, errno.ENOSPC]
    for off in (0, 100, size - 1, size):
        for name, fn, errnums in [
                ("read", lambda: h.pread(0, off), invalid),
                ("write", lambda: h.pwrite(b"", off), write),
                ("zero", lambda: h.zero(0, off), write),
                ("trim", lambda: h.trim(0, off), invalid)]:
            try:
                fn()
            except nbd.Error as e:
                check(e.errnum in errnums, "zero-length %s at %d: %s"
                      % (name, off, e))
    h.flush()
    check_model(h, model, "after zero-length requests")
    print("zero length: nothing changed")


def unaligned_edges(t, h, model):
    """The first and last bytes, and writes that straddle sectors."""
    size = len(model)
    for off, n in [(0, 1), (size - 1, 1), (size - SECTOR - 1, 2),
                   (SECTOR - 3, 7), (size - 3 * SECTOR + 11, 2 * SECTOR)]:
        fill(t, h, model, off, n)
    h.zero(10, size - 10)
    model[size - 10:] = bytes(10)
    h.flush()
    check_model(h, model, "after unaligned writes at the edges")
    print("unaligned at the edges: ok")


def unaligned_in_flight(t, h, model, base):
    """Many small unaligned writes in flight at once into the same few
    sectors, at disjoint bytes, with aligned writes around them: every
    byte of every write lands, none is lost to another's read-modify-
    write."""
    aio = helpers.Aio(h, 64)
    offs = list(range(base + 7, base + 3 * SECTOR, 97))
    t.rng.shuffle(offs)
    for i, off in enumerate(offs):
        data = bytearray(t.data(50))
        model[off:off + 50] = data
        aio.submit(None, "pwrite", off, data=data)
        if i % 8 == 0 and i // 8 < 4:  # sectors 4..7, once each
            s = base + (4 + i // 8) * SECTOR
            data = bytearray(t.data(SECTOR))
            model[s:s + SECTOR] = data
            aio.submit(None, "pwrite", s, data=data)
    for _, err in aio.drain():
        check_eq(err, 0, "an unaligned write in flight")
    check_same(h.pread(8 * SECTOR, base), model[base:base + 8 * SECTOR],
               "sectors written by unaligned writes in flight", base)


def unaligned_over_damage(t, server, disk, model, sector):
    """An unaligned write or zero into a damaged sector fails with EIO and
    leaves it damaged, and its neighbours as they were; an unaligned write
    over the whole sector heals it."""
    loc = t.locate(disk, sector)
    ss = loc["sector_size"]
    helpers.flip_bit(disk, loc["data_offset"] + ss // 2, 1)
    h = server.start().connect()
    h.set_strict_mode(0)
    at = sector * ss
    for what, fn in [
            ("write inside", lambda: h.pwrite(t.data(100), at + 10)),
            ("write ending inside", lambda: h.pwrite(t.data(200), at - 100)),
            ("write starting inside",
             lambda: h.pwrite(t.data(200), at + ss - 100)),
            ("FUA write inside",
             lambda: h.pwrite(t.data(1), at, nbd.CMD_FLAG_FUA)),
            ("zero inside", lambda: h.zero(100, at + 10))]:
        expect_eio(fn, "%s damaged sector %d" % (what, sector))
    expect_eio(lambda: h.pread(ss, at),
               "read of damaged sector %d after unaligned writes" % sector)
    for s in (sector - 1, sector + 1):
        check_same(h.pread(ss, s * ss), model[s * ss:(s + 1) * ss],
                   "neighbour of damaged sector %d" % sector, s * ss)
    h.flush()
    server.stop()
    rc, report, r = t.verify(disk)
    check_eq(rc, 1, "verify after unaligned writes into a damaged sector "
             "(%s)" % r.stderr.strip())
    check_eq(report["bad_sectors"], [sector], "verify's bad sectors")

    h = server.start().connect()
    fill(t, h, model, at - 100, ss + 200)
    h.flush()
    check_model(h, model, "after healing sector %d" % sector)
    server.stop()
    t.verify_clean(disk)
    print("unaligned over damage: EIO, the damage kept for MD to repair")


def one_disk(t, sector_size):
    extra = ["--sector-size", str(sector_size)]
    disk = t.format("disk-%d.img" % sector_size, size="40M", extra=extra)
    server = t.server(disk, name="nbdkit-%d" % sector_size)
    h = server.start().connect()
    h.set_strict_mode(0)
    size = h.get_size()
    model = bytearray(size)
    fill(t, h, model, 0, EDGE * SECTOR)
    fill(t, h, model, size - EDGE * SECTOR, EDGE * SECTOR)
    h.flush()

    past_the_end(t, h, model)
    zero_length(t, h, model)
    unaligned_edges(t, h, model)
    unaligned_in_flight(t, h, model, 4096 * SECTOR - 2 * SECTOR)
    # The server still serves this connection and new ones.
    fill(t, h, model, 20 * SECTOR + 1, 3 * SECTOR)
    h.flush()
    check_model(server.connect(), model, "on a new connection")
    server.stop()
    t.verify_clean(disk)

    unaligned_over_damage(t, server, disk, model, 7)
    print("%d-byte sectors: ok" % sector_size)


def main(t):
    for sector_size in (4096, 512):
        one_disk(t, sector_size)


helpers.run(main)
