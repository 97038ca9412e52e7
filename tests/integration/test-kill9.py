#!/usr/bin/python3
"""SIGKILL nbdkit with many writes in flight, then restart it: recovery
runs and no sector fails verification; each sector holds its old contents
or one of the values written to it, and a write acknowledged and flushed
before the kill is there.  Several rounds, each starting from the state
the last one left."""

import hashlib
import signal

import helpers
from helpers import SECTOR, check, check_same

ROUNDS = 3
REGION = 3072  # sectors under attack: BASE..BASE+REGION-1, across a zone
BASE = 4096 - 1024
FLUSHED_AT = BASE + REGION + 100  # the flushed write goes here, 8 sectors
DEPTH = 32


def digest(block):
    return hashlib.blake2b(block, digest_size=16).digest()


ZERO = digest(bytes(SECTOR))


class Candidates:
    """For each sector of the region, the digests of the contents it may
    hold after the crash."""

    def __init__(self, contents):
        self.sets = [{digest(contents[i:i + SECTOR])}
                     for i in range(0, len(contents), SECTOR)]

    def add(self, sector, data):
        for i in range(0, len(data), SECTOR):
            block = data[i:i + SECTOR]
            self.sets[sector - BASE + i // SECTOR].add(digest(block))

    def add_zero(self, sector, n):
        for s in range(sector, sector + n):
            self.sets[s - BASE].add(ZERO)

    def check(self, contents, what):
        for i in range(0, len(contents), SECTOR):
            if digest(contents[i:i + SECTOR]) not in self.sets[i // SECTOR]:
                raise helpers.Failure(
                    "%s: sector %d holds data that is neither its old "
                    "contents nor any value written to it"
                    % (what, BASE + i // SECTOR))


def random_request(rng):
    n = rng.choice([1, 1, 2, 4, 8, 16, 32, 64])
    sector = BASE + rng.randrange(REGION - n + 1)
    r = rng.random()
    kind = "pwrite" if r < 0.85 else "zero" if r < 0.93 else "trim"
    return kind, sector, n


def check_no_error(op, err):
    check(err == 0, "%s before the kill failed with errno %d" % (op, err))


def wait_for(aio, tag, done):
    """Polls until the request tagged TAG has finished, adding whatever
    finishes meanwhile to DONE."""
    while True:
        finished = aio.poll()
        done += finished
        if any(op == tag for op, _ in finished):
            return


def flushed_write(t, aio, done):
    """Writes at FLUSHED_AT, then flushes, each acknowledged while the
    stream of other writes goes on.  Returns the data."""
    data = t.data(8 * SECTOR)
    aio.submit("flushed write", "pwrite", FLUSHED_AT * SECTOR, data=data)
    wait_for(aio, "flushed write", done)
    aio.submit("flush", "flush", 0)
    wait_for(aio, "flush", done)
    return data


def stream_and_kill(t, server, cands):
    """Keeps DEPTH requests in flight until a random point, then kills
    nbdkit.  Returns the data of the flushed write."""
    h = server.connect()
    aio = helpers.Aio(h, DEPTH)
    total = t.rng.randrange(150, 400)
    flush_after = t.rng.randrange(20, total // 2)
    flushed = None
    done = []
    for i in range(total):
        if i == flush_after:
            flushed = flushed_write(t, aio, done)
        kind, sector, n = random_request(t.rng)
        if kind == "pwrite":
            data = t.data(n * SECTOR)
            cands.add(sector, data)
            aio.submit(kind, kind, sector * SECTOR, data=data)
        else:
            cands.add_zero(sector, n)
            aio.submit(kind, kind, sector * SECTOR, count=n * SECTOR)
        done += aio.collect()
    check(len(aio.inflight) > DEPTH // 2,
          "only %d requests in flight at the kill" % len(aio.inflight))
    server.kill(signal.SIGKILL)
    for op, err in done:
        check_no_error(op, err)
    return flushed


def check_after_crash(t, server, cands, flushed, what):
    h = server.start().connect()
    contents = bytearray()
    for off in range(BASE * SECTOR, (BASE + REGION) * SECTOR, 1 << 20):
        try:
            contents += h.pread(1 << 20, off)
        except helpers.nbd.Error as e:
            log = server.log(since_start=True)
            raise helpers.Failure("%s: read of 1 MiB at %d failed: %s; "
                                  "log:\n%s" % (what, off, e, log))
    cands.check(contents, what)
    check_same(h.pread(8 * SECTOR, FLUSHED_AT * SECTOR), flushed,
               "%s: the write flushed before the kill" % what)
    size = h.get_size()
    rest = helpers.read_all(h, size)
    rest[BASE * SECTOR:(BASE + REGION) * SECTOR] = bytes(REGION * SECTOR)
    rest[FLUSHED_AT * SECTOR:(FLUSHED_AT + 8) * SECTOR] = bytes(8 * SECTOR)
    check(rest.count(0) == len(rest),
          "%s: data outside the written region" % what)
    server.stop()
    return contents


def main(t):
    disk = t.format()
    server = t.serve(disk)
    h = server.connect()
    initial = t.data(REGION * SECTOR)
    h.pwrite(initial, BASE * SECTOR)
    h.flush()
    server.stop()
    contents = initial

    for r in range(ROUNDS):
        what = "round %d" % (r + 1)
        cands = Candidates(contents)
        server.start()
        flushed = stream_and_kill(t, server, cands)
        contents = check_after_crash(t, server, cands, flushed, what)
        t.verify_clean(disk)
        print("%s: ok" % what)


helpers.run(main)
