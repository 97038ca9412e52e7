#!/usr/bin/python3
"""Model-based random test through a real nbdkit: a random mix of reads,
writes, zeroes, trims and flushes from a libnbd client, against a copy in
memory of what the disk must hold, across restarts.

Every dimension is drawn on its own, so none is tied to another: the
operation; the offset's place within its sector; the length (within one
sector, across one sector edge with no whole sector, whole sectors with a
partial head or tail, exactly whole sectors, long runs across the zone
boundary); FUA; and, per disk, the sector size, the algorithm (keyed
ones too), the crash mode and the write buffer.  tests/unit/test-model
does the same through lib/.

The model: a write stores its bytes, a zero stores zeroes, a trim
zeroes the sectors it covers whole (its partial ones keep their data).
Every read, after every restart too, must return what the model holds.
TEST_SEED replays a run."""

import helpers
from helpers import ALGORITHMS, KEYED, check, check_same, nbd

DISK_SIZE = "40M"  # two zones of 4096-byte sectors, and a little more
MAX_REQUEST = 1 << 20
DISKS = 4
OPS = 250


def pick_offset(rng, size, ss, zone_bytes):
    """A place to start: near the start, the zone boundary or the end, or
    anywhere, so that requests overlap; then within its sector."""
    window = 64 * ss
    where = rng.randrange(4)
    if where == 0:
        base = rng.randrange(window)
    elif where == 1:
        base = zone_bytes - window // 2 + rng.randrange(window)
    elif where == 2:
        base = size - 1 - rng.randrange(window)
    else:
        base = rng.randrange(size)
    base -= base % ss
    return base + (0 if rng.randrange(2) else 1 + rng.randrange(ss - 1))


def pick_length(rng, within, ss):
    to_edge = ss - within
    kind = rng.randrange(6)
    if kind == 0:  # within one sector
        return 1 + rng.randrange(to_edge)
    if kind == 1:  # over one edge, no whole sector
        return (to_edge + 1 + rng.randrange(ss - 1) if within
                else 1 + rng.randrange(ss - 1))
    if kind == 2:  # whole sectors, a partial tail
        return to_edge + ss * rng.randrange(8) + 1 + rng.randrange(ss - 1)
    if kind == 3:  # whole sectors, ending on an edge
        return to_edge + ss * rng.randrange(8)
    if kind == 4:  # exactly whole sectors from wherever it starts
        return ss * (1 + rng.randrange(16))
    return 1 + rng.randrange(MAX_REQUEST)


class Run:
    def __init__(self, t, n):
        rng = t.rng
        self.t = t
        self.rng = rng
        self.ss = rng.choice([512, 4096])
        self.hash = rng.choice(ALGORITHMS)
        self.mode = rng.choice(["tags", "full", "none"])
        buffer = rng.choice([None, "0", "1M"])
        key = t.make_key("key%d" % n) if self.hash in KEYED else None
        self.disk = t.format(name="model%d.img" % n, size=DISK_SIZE,
                             hash=self.hash, keyfile=key,
                             extra=["--sector-size", str(self.ss)])
        self.params = ["mode=" + self.mode]
        if key:
            self.params.append("keyfile=" + key)
        if buffer:
            self.params.append("write-buffer=" + buffer)
        self.what = "disk %d (%s, %d-byte sectors, mode %s, write-buffer %s)" \
            % (n, self.hash, self.ss, self.mode, buffer or "default")
        self.name = "model%d" % n
        self.zone_bytes = 16 << 20
        self.start()
        self.size = self.h.get_size()
        self.model = bytearray(self.size)

    def start(self):
        self.server = self.t.serve(self.disk, *self.params, name=self.name)
        self.h = self.server.connect()

    def restart(self):
        self.server.stop()
        self.start()

    def trim_model(self, off, count):
        ss = self.ss
        first, end = -(-off // ss), (off + count) // ss
        if first < end:
            self.model[first * ss:end * ss] = bytes((end - first) * ss)

    def one_op(self, i):
        rng, h = self.rng, self.h
        off = pick_offset(rng, self.size, self.ss, self.zone_bytes)
        count = min(pick_length(rng, off % self.ss, self.ss), self.size - off)
        flags = nbd.CMD_FLAG_FUA if rng.randrange(8) == 0 else 0
        kind = rng.randrange(100)
        if kind < 35:
            data = self.t.data(count)
            h.pwrite(data, off, flags)
            self.model[off:off + count] = data
        elif kind < 50:
            h.zero(count, off, flags)
            self.model[off:off + count] = bytes(count)
        elif kind < 60:
            h.trim(count, off, flags)
            self.trim_model(off, count)
        elif kind < 92:
            check_same(h.pread(count, off), self.model[off:off + count],
                       "%s: operation %d: read %d+%d" % (self.what, i, off,
                                                        count), off)
        elif kind < 98:
            h.flush()
        else:
            self.restart()

    def check_all(self, when):
        off = 0
        while off < self.size:
            count = min(1 + self.rng.randrange(MAX_REQUEST), self.size - off)
            check_same(self.h.pread(count, off), self.model[off:off + count],
                       "%s: read %d+%d %s" % (self.what, off, count, when),
                       off)
            off += count


def main(t):
    for n in range(DISKS):
        run = Run(t, n)
        for i in range(OPS):
            run.one_op(i)
        run.check_all("at the end")
        run.restart()
        run.check_all("after a restart")
        run.server.stop()
        t.verify_clean(run.disk, keyfile=next(
            (p[len("keyfile="):] for p in run.params
             if p.startswith("keyfile=")), None))


helpers.run(main)
