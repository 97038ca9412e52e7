#!/usr/bin/python3
"""Reads and writes through nbdkit, many requests in flight, for every
algorithm: what is read back always matches a model of the disk kept here,
across a restart as well, and with a tag cache too small to hold the tags.

Two requests in flight never overlap where either writes, so the model is
exact; requests do overlap earlier ones, and some cross the boundary
between two 16 MiB zones."""

import helpers
from helpers import SECTOR, check, check_eq, check_same

OPS = 160  # requests per algorithm, a quarter more after a restart
DEPTH = 32
ZONE = 16 << 20


def overlaps(a, b):
    return a["off"] < b["off"] + b["len"] and b["off"] < a["off"] + a["len"]


def conflicts(op, inflight):
    return any(overlaps(op, o) and "pwrite" in (op["kind"], o["kind"])
               for o in inflight)


def random_op(rng, size):
    nsec = rng.choice([1, 1, 2, 3, 8, 16, 31, 64, 128, 256])
    length = nsec * SECTOR
    if rng.random() < 0.1:
        start = ZONE - rng.randrange(1, nsec + 1) * SECTOR  # across a zone
    else:
        start = rng.randrange(0, size // SECTOR - nsec + 1) * SECTOR
    kind = "pwrite" if rng.random() < 0.6 else "pread"
    return {"kind": kind, "off": start, "len": length}


def finish(op, err, model):
    check(err == 0, "%s of %d bytes at %d failed with errno %d"
          % (op["kind"], op["len"], op["off"], err))
    if op["kind"] == "pread":
        check_same(op["buf"].to_bytearray(), op["expect"],
                   "aio pread of %d bytes at %d" % (op["len"], op["off"]),
                   op["off"])


def random_io(t, h, model, ops):
    aio = helpers.Aio(h, DEPTH)
    size = len(model)
    for _ in range(ops):
        op = random_op(t.rng, size)
        while conflicts(op, aio.ops_in_flight()):
            for done, err in aio.poll():
                finish(done, err, model)
        end = op["off"] + op["len"]
        if op["kind"] == "pwrite":
            data = t.data(op["len"])
            model[op["off"]:end] = data
            aio.submit(op, "pwrite", op["off"], data=data)
        else:
            op["expect"] = bytes(model[op["off"]:end])
            op["buf"] = aio.submit(op, "pread", op["off"], count=op["len"])
    for done, err in aio.drain():
        finish(done, err, model)
    h.flush()


def unaligned_io(t, h, model):
    for off, length in [(4097, 1000), (SECTOR - 1, 2), (3 * SECTOR + 5, 9000),
                        (ZONE - 100, 300), (len(model) - 700, 700)]:
        data = t.data(length)
        h.pwrite(data, off)
        model[off:off + length] = data
    h.flush()
    for off, length in [(4097, 1000), (4000, 200), (SECTOR - 1, 2), (1, 1),
                        (3 * SECTOR, 4 * SECTOR), (3 * SECTOR + 5, 9000),
                        (ZONE - 4000, 8000), (len(model) - 1000, 1000)]:
        check_same(h.pread(length, off), model[off:off + length],
                   "unaligned pread of %d bytes at %d" % (length, off), off)


def one_algorithm(t, alg):
    key = t.make_key("key-" + alg) if alg in helpers.KEYED else None
    disk = t.format("disk-%s.img" % alg, hash=alg, keyfile=key)
    params = ["hash=" + alg] + (["keyfile=" + key] if key else [])
    server = t.serve(disk, *params, name="nbdkit-" + alg)
    h = server.connect()
    size = h.get_size()
    info = t.dump(disk)
    check_eq(size, info["data_sectors"] * info["sector_size"],
             "%s: export size" % alg)
    model = bytearray(size)
    random_io(t, h, model, OPS)
    unaligned_io(t, h, model)
    helpers.check_reads_as(h, model, "%s: read back" % alg)
    server.stop()

    # Again with a tag cache of 16 tag blocks, which must evict.
    server = t.serve(disk, *params, "tag-cache=64K",
                     name="nbdkit-%s-small-cache" % alg)
    h = server.connect()
    helpers.check_reads_as(h, model, "%s: read back after restart" % alg)
    random_io(t, h, model, OPS // 4)
    helpers.check_reads_as(h, model, "%s: small tag cache" % alg)
    server.stop()
    t.verify_clean(disk, key)
    print("%s: ok" % alg)


def main(t):
    for alg in helpers.ALGORITHMS:
        one_algorithm(t, alg)


helpers.run(main)
