#!/usr/bin/python3
"""Trim and zero: the ranges they cover read as zeroes, everything else
keeps its data, before and after a restart, and verify finds the disk
clean."""

import helpers
from helpers import SECTOR, check, check_same, nbd

REGION = 1024  # sectors written with random data first, across a zone
ZONE_SECTORS = 4096
BASE = ZONE_SECTORS - REGION // 2


def at(sector, byte=0):
    return (BASE + sector) * SECTOR + byte


def zero_ops():
    """(operation, byte offset, byte count, flags) of every trim and zero."""
    return [
        ("trim", at(16), 16 * SECTOR, 0),
        ("trim", at(500), 40 * SECTOR, 0),  # across the zone boundary
        ("zero", at(100), 10 * SECTOR, 0),
        ("zero", at(200, 1000), 3 * SECTOR, 0),  # partial head and tail
        ("zero", at(300, 17), 100, 0),  # within one sector
        ("zero", at(400), 8 * SECTOR, nbd.CMD_FLAG_NO_HOLE),
        ("zero", at(700), 4 * SECTOR, nbd.CMD_FLAG_FUA),
        ("trim", at(900), 4 * SECTOR, nbd.CMD_FLAG_FUA),
    ]


# An unaligned trim: whole sectors inside it read as zeroes; the bytes
# outside it keep their data; the partly covered sectors' bytes inside it
# may hold either.
PARTIAL_TRIM = (at(800, 512), 2 * SECTOR)


def apply(h, model, op, offset, count, flags):
    if op == "trim":
        h.trim(count, offset, flags)
    else:
        h.zero(count, offset, flags)
    model[offset:offset + count] = bytes(count)


def trim_partial(h, model):
    offset, count = PARTIAL_TRIM
    h.trim(count, offset)
    first = -(-offset // SECTOR) * SECTOR
    end = (offset + count) // SECTOR * SECTOR
    model[first:end] = bytes(end - first)


def check_partial_trim(h, model, what):
    """The partly trimmed sectors hold their old bytes or zeroes there, and
    their old bytes outside the trimmed range."""
    offset, count = PARTIAL_TRIM
    for sector in (offset // SECTOR, (offset + count) // SECTOR):
        got = h.pread(SECTOR, sector * SECTOR)
        for i in range(SECTOR):
            byte = sector * SECTOR + i
            inside = offset <= byte < offset + count
            if got[i] != model[byte] and not (inside and got[i] == 0):
                raise helpers.Failure(
                    "%s: partly trimmed sector %d byte %d is %d, expected %d"
                    % (what, sector, i, got[i], model[byte]))


def check_all(h, model, what):
    offset, count = PARTIAL_TRIM
    got = bytearray(helpers.read_all(h, len(model)))
    first = offset // SECTOR * SECTOR
    last = (offset + count) // SECTOR * SECTOR
    for start in (first, last):
        got[start:start + SECTOR] = model[start:start + SECTOR]
    check_same(got, model, what)
    check_partial_trim(h, model, what)


def main(t):
    disk = t.format()
    server = t.serve(disk)
    h = server.connect()
    model = bytearray(h.get_size())
    data = t.data(REGION * SECTOR)
    h.pwrite(data, at(0))
    model[at(0):at(REGION)] = data
    h.flush()

    for op, offset, count, flags in zero_ops():
        apply(h, model, op, offset, count, flags)
    trim_partial(h, model)
    check(any(model[at(0):at(REGION)]), "everything zeroed: bad test")
    check_all(h, model, "after trim and zero")
    h.flush()
    check_all(h, model, "after flush")
    server.stop()

    t.verify_clean(disk)
    h = server.start().connect()
    check_all(h, model, "after restart")

    # Write over trimmed and zeroed sectors: they take new data again.
    data = t.data(20 * SECTOR)
    h.pwrite(data, at(95))
    model[at(95):at(115)] = data
    check_all(h, model, "after rewriting zeroed sectors")
    server.stop()
    t.verify_clean(disk)


helpers.run(main)
