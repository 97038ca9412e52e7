#!/usr/bin/python3
"""A bit flipped in the backing file, in a sector's data or in its tag,
fails reads of that sector with EIO and only of that sector; nbdkit logs
the sector, verify reports exactly it, and rewriting the sector heals it."""

import re

import helpers
from helpers import SECTOR, check, check_eq, check_same, expect_eio

FIRST = 4090  # written sectors FIRST..FIRST+COUNT-1, across a zone boundary
COUNT = 16
DATA_BAD = 4095  # last sector of zone 0
TAG_BAD = 4100


def write_region(t, server):
    h = server.connect()
    data = t.data(COUNT * SECTOR)
    h.pwrite(data, FIRST * SECTOR)
    h.flush()
    server.stop()
    return bytearray(data)


def block(model, sector):
    i = (sector - FIRST) * SECTOR
    return model[i:i + SECTOR]


def check_sector_fails(h, sector, what):
    expect_eio(lambda: h.pread(SECTOR, sector * SECTOR),
               "%s: read of sector %d" % (what, sector))


def check_sector_reads(h, model, sector, what):
    check_same(h.pread(SECTOR, sector * SECTOR), block(model, sector),
               "%s: sector %d" % (what, sector), sector * SECTOR)


def check_log_names(server, sector):
    log = server.log(since_start=True)
    pattern = re.compile(r"sector\D{0,3}%d\b" % sector, re.IGNORECASE)
    check(pattern.search(log),
          "nbdkit's log does not name sector %d:\n%s" % (sector, log))


def check_verify_reports(t, disk, key, bad):
    rc, report, r = t.verify(disk, key)
    check_eq(rc, 1, "verify exit status with sectors %s damaged (%s)"
             % (bad, r.stderr.strip()))
    check_eq(sorted(report["bad_sectors"]), bad, "verify's bad_sectors")
    check_eq(report["mismatches"], len(bad), "verify's mismatches")


def corrupt_data(t, disk, key, server, model):
    loc = t.locate(disk, DATA_BAD)
    check_eq(loc["sector_size"], SECTOR, "locate sector_size")
    before = helpers.read_file(disk, loc["data_offset"], SECTOR)
    check_same(before, block(model, DATA_BAD),
               "backing file at locate's data_offset of sector %d" % DATA_BAD)
    helpers.flip_bit(disk, loc["data_offset"] + 1234, 5)

    h = server.start().connect()
    check_sector_fails(h, DATA_BAD, "flipped data bit")
    for s in (DATA_BAD - 1, DATA_BAD + 1):
        check_sector_reads(h, model, s, "neighbour of a damaged sector")
    expect_eio(lambda: h.pread(4 * SECTOR, (DATA_BAD - 2) * SECTOR),
               "read of 4 sectors spanning damaged sector %d" % DATA_BAD)
    expect_eio(lambda: h.pread(100, DATA_BAD * SECTOR + 1200),
               "unaligned read within damaged sector %d" % DATA_BAD)
    check_log_names(server, DATA_BAD)
    server.stop()
    check_verify_reports(t, disk, key, [DATA_BAD])


def heal(t, disk, server, model, sector):
    h = server.start().connect()
    new = t.data(SECTOR)
    h.pwrite(new, sector * SECTOR)
    i = (sector - FIRST) * SECTOR
    model[i:i + SECTOR] = new
    check_sector_reads(h, model, sector, "rewritten sector")
    h.flush()
    server.stop()


def tag_bit_to_flip(disk, loc):
    """A bit of the tag whose flip cannot make it the all-zero tag (which
    would mean: unwritten, reads as zeroes)."""
    tag = helpers.read_file(disk, loc["tag_offset"], loc["tag_size"])
    check(any(tag), "the tag of a written sector is all zeroes")
    return 1 if tag[0] == 1 else 0


def corrupt_tag(t, disk, key, server, model):
    loc = t.locate(disk, TAG_BAD)
    helpers.flip_bit(disk, loc["tag_offset"], tag_bit_to_flip(disk, loc))
    h = server.start().connect()
    check_sector_fails(h, TAG_BAD, "flipped tag bit")
    for s in (TAG_BAD - 1, TAG_BAD + 1):
        check_sector_reads(h, model, s, "neighbour of a sector with a bad tag")
    check_log_names(server, TAG_BAD)
    server.stop()
    check_verify_reports(t, disk, key, [TAG_BAD])


def one_algorithm(t, alg):
    key = t.make_key("key-" + alg) if alg in helpers.KEYED else None
    disk = t.format("disk-%s.img" % alg, hash=alg, keyfile=key)
    server = t.server(disk, *(["keyfile=" + key] if key else []),
                      name="nbdkit-" + alg)
    model = write_region(t, server.start())

    corrupt_data(t, disk, key, server, model)
    heal(t, disk, server, model, DATA_BAD)
    t.verify_clean(disk, key)

    corrupt_tag(t, disk, key, server, model)
    heal(t, disk, server, model, TAG_BAD)
    t.verify_clean(disk, key)

    h = server.start().connect()
    check_same(h.pread(COUNT * SECTOR, FIRST * SECTOR), model,
               "%s: the whole region after healing" % alg, FIRST * SECTOR)
    server.stop()
    print("%s: ok" % alg)


def main(t):
    for alg in ("crc32c", "hmac-sha256"):
        one_algorithm(t, alg)


helpers.run(main)
