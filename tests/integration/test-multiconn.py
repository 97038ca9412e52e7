#!/usr/bin/python3
"""Two connections at once: nbdkit advertises multi-conn, both write
different regions with requests in flight together, and after a flush on
one connection each sees the other's writes."""

import helpers
from helpers import SECTOR, check, check_same

REGION = 2048  # sectors per connection
DEPTH = 16


def plan(t, base):
    """Writes covering sectors BASE..BASE+REGION-1 in random sizes."""
    writes, sector = [], base
    while sector < base + REGION:
        n = min(t.rng.choice([1, 4, 16, 64, 256]), base + REGION - sector)
        writes.append((sector * SECTOR, t.data(n * SECTOR)))
        sector += n
    t.rng.shuffle(writes)
    return writes


def write_together(handles, plans):
    """Keeps both connections' writes in flight at the same time."""
    aios = [helpers.Aio(h, DEPTH) for h in handles]
    while any(plans) or any(a.inflight for a in aios):
        for aio, writes in zip(aios, plans):
            if writes and len(aio.inflight) < DEPTH:
                offset, data = writes.pop()
                aio.submit((offset, len(data)), "pwrite", offset, data=data)
            elif aio.inflight:
                for op, err in aio.poll():
                    check(err == 0, "write of %d bytes at %d failed: errno %d"
                          % (op[1], op[0], err))


def apply(model, writes):
    for offset, data in writes:
        model[offset:offset + len(data)] = data


def main(t):
    disk = t.format()
    server = t.serve(disk)
    a, b = server.connect(), server.connect()
    for name, h in (("first", a), ("second", b)):
        check(h.can_multi_conn(), "%s connection: no multi-conn" % name)
    size = a.get_size()
    model = bytearray(size)
    plans = [plan(t, 0), plan(t, 4096 - REGION // 2)]  # one across a zone
    for p in plans:
        apply(model, p)
    write_together([a, b], [list(p) for p in plans])
    a.flush()
    for name, h in (("first", a), ("second", b)):
        helpers.check_reads_as(h, model, "read on the %s connection" % name)

    data = t.data(4 * SECTOR)
    b.pwrite(data, 100 * SECTOR)
    model[100 * SECTOR:104 * SECTOR] = data
    b.flush()
    check_same(a.pread(4 * SECTOR, 100 * SECTOR), data,
               "first connection reading the second's flushed write")
    server.stop()

    h = server.start().connect()
    helpers.check_reads_as(h, model, "after restart")
    server.stop()
    t.verify_clean(disk)


helpers.run(main)
