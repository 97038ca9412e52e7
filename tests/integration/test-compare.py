#!/usr/bin/python3
"""The two legs of a mirror, as MD would leave them: compare lists every
sector whose copies differ or fail their tags, and says which copy is good
where the tags can tell; invalidate makes the stale copies fail their reads
(through nbdkit, as invalidated, not damaged) until they are rewritten.
Run unkeyed and keyed, with the legs given in either order."""

import hashlib
import json

import helpers
from helpers import SECTOR, check, check_eq, check_in_log, expect_eio

SECTORS = 64      # written on both legs
STALE = [10, 11, 12, 40]   # written on leg B alone: A is stale there
DAMAGED_A = 20    # a bit flipped in A's data
DAMAGED_B = 30    # a bit flipped in B's tag
BOTH = 50         # damaged on both legs


def write_legs(t, a, b, params):
    """The same data on both legs, then newer data on B alone."""
    data = t.data(SECTORS * SECTOR)
    for disk in (a, b):
        s = t.serve(disk, *params)
        h = s.connect()
        h.pwrite(data, 0)
        h.flush()
        s.stop()
    s = t.serve(b, *params)
    h = s.connect()
    for sector in STALE:
        h.pwrite(t.data(SECTOR), sector * SECTOR)
    h.flush()
    s.stop()
    return data


def damage(t, disk, sector, where):
    loc = t.locate(disk, sector)
    if where == "data":
        helpers.flip_bit(disk, loc["data_offset"] + 99, 3)
    else:
        tag = helpers.read_file(disk, loc["tag_offset"], loc["tag_size"])
        helpers.flip_bit(disk, loc["tag_offset"], 1 if tag[0] == 1 else 0)


def compare(t, disks, key):
    args = ["compare", "--json"] + (["--keyfile", key] if key else [])
    r = t.run_tool(*(args + disks))
    check_eq(r.returncode, 1, "compare's exit status with differences (%s)"
             % r.stderr.strip())
    report = json.loads(r.stdout)
    check_eq(report["disks"], disks, "compare's disks")
    return {d["sector"]: d for d in report["differences"]}


def copy(diff, disk):
    return next(c for c in diff["copies"] if c["disk"] == disk)


def check_listed(diffs, a, b, invalidated):
    """What compare must say of each sector, A stale at STALE."""
    expected = sorted(STALE + [DAMAGED_A, DAMAGED_B, BOTH])
    check_eq(sorted(diffs), expected, "sectors compare lists")
    for sector in STALE:
        d = diffs[sector]
        ca, cb = copy(d, a), copy(d, b)
        check(ca["content"] != cb["content"],
              "sector %d: the legs' contents differ: %r" % (sector, d))
        check_eq(ca["check"], "invalidated" if invalidated else "ok",
                 "sector %d: leg A's check" % sector)
        check_eq(cb["check"], "ok", "sector %d: leg B's check" % sector)
        check_eq(d["good"], cb["content"] if invalidated
                 else "unknown: copies that differ all verify",
                 "sector %d: the good copy" % sector)
    for sector, bad, good in ((DAMAGED_A, a, b), (DAMAGED_B, b, a)):
        d = diffs[sector]
        check_eq(copy(d, bad)["check"], "mismatch",
                 "sector %d: the damaged copy's check" % sector)
        check_eq(d["good"], copy(d, good)["content"],
                 "sector %d: the good copy" % sector)
    check_eq(diffs[BOTH]["good"], "unknown: no copy verifies",
             "sector %d, damaged on both legs" % BOTH)


def invalidate(t, disk, key, *spans):
    args = ["invalidate"] + (["--keyfile", key] if key else [])
    r = t.tool_ok(*(args + [disk] + [str(s) for s in spans]))
    check("invalidated" in r.stdout, "invalidate says nothing: %r" % r.stdout)


def check_invalidated_reads(t, a, params, data):
    """Through nbdkit: the invalidated sectors fail, named as such in the
    log, the rest read; a rewrite and a trim undo it."""
    s = t.serve(a, *params)
    h = s.connect()
    for sector in STALE:
        expect_eio(lambda: h.pread(SECTOR, sector * SECTOR),
                   "read of invalidated sector %d" % sector)
    check_eq(h.pread(SECTOR, 13 * SECTOR), data[13 * SECTOR:14 * SECTOR],
             "sector 13, next to invalidated ones")
    check_in_log(s.log(since_start=True),
                 ["sector 10: invalidated (nbd-integrity invalidate)"],
                 "nbdkit's log of an invalidated sector")
    new = t.data(SECTOR)
    h.pwrite(new, 10 * SECTOR)
    h.trim(SECTOR, 11 * SECTOR)
    h.flush()
    check_eq(h.pread(SECTOR, 10 * SECTOR), new, "a rewritten sector")
    check_eq(h.pread(SECTOR, 11 * SECTOR), bytes(SECTOR), "a trimmed sector")
    s.stop()


def bad_arguments(t, a, key):
    k = ["--keyfile", key] if key else []
    before = hashlib.sha256(helpers.read_file(a, 0, 1 << 20)).hexdigest()
    for spans in (["5", "x"], ["7-3"], ["5", "99999999"], ["1-"]):
        r = t.run_tool(*(["invalidate"] + k + [a] + spans))
        check_eq(r.returncode, 2, "invalidate %s: exit status" % spans)
        check("nbd-integrity: invalidate:" in r.stderr,
              "invalidate %s: error message: %r" % (spans, r.stderr))
    after = hashlib.sha256(helpers.read_file(a, 0, 1 << 20)).hexdigest()
    check_eq(after, before,
             "the disk after refused invalidations")
    if key:
        r = t.run_tool("invalidate", a, "5")
        check_eq(r.returncode, 2, "invalidate of a keyed disk with no key")


def one_algorithm(t, alg):
    key = t.make_key("key-" + alg) if alg in helpers.KEYED else None
    params = ["keyfile=" + key] if key else []
    a = t.format("a-%s.img" % alg, hash=alg, keyfile=key)
    b = t.format("b-%s.img" % alg, hash=alg, keyfile=key)
    data = write_legs(t, a, b, params)
    damage(t, a, DAMAGED_A, "data")
    damage(t, b, DAMAGED_B, "tag")
    damage(t, a, BOTH, "data")
    damage(t, b, BOTH, "data")

    check_listed(compare(t, [a, b], key), a, b, False)
    check_listed(compare(t, [b, a], key), a, b, False)
    bad_arguments(t, a, key)
    invalidate(t, a, key, "10-12", 40)
    rc, report, r = t.verify(a, key)
    check_eq(sorted(report["invalidated_sectors"]), STALE,
             "verify's invalidated sectors")
    check_eq(sorted(report["bad_sectors"]), sorted(STALE + [DAMAGED_A, BOTH]),
             "verify's bad sectors")
    check_listed(compare(t, [a, b], key), a, b, True)
    check_invalidated_reads(t, a, params, data)
    print("%s: ok" % alg)


def geometry(t):
    """Legs that cannot be copies are refused; legs of different sizes
    are compared over the sectors they share."""
    small = t.format("small.img", size="32M")
    big = t.format("big.img", size="64M")
    r = t.run_tool("compare", small, big)
    check_eq(r.returncode, 0, "compare of two fresh disks of different sizes "
             "(%s)" % r.stderr.strip())
    check("comparing the first" in r.stderr, "no note of the sizes: %r"
          % r.stderr)
    odd = t.format("512.img", extra=["--sector-size", "512"])
    r = t.run_tool("compare", big, odd)
    check_eq(r.returncode, 2, "compare of disks of different sector sizes")
    check("cannot be copies" in r.stderr, "message: %r" % r.stderr)
    r = t.run_tool("compare", big)
    check_eq(r.returncode, 2, "compare of one disk")


def main(t):
    geometry(t)
    for alg in ("crc32c", "hmac-sha256"):
        one_algorithm(t, alg)


helpers.run(main)
