#!/usr/bin/python3
"""nbd-integrity check and recover on a disk left dirty by SIGKILL: check
sees the journal without reading data, recover reports a decision for
exactly the journaled sectors (torn for the one damaged on purpose) and
leaves the disk clean; check flags a damaged superblock copy."""

import json

import helpers
from helpers import SECTOR, check, check_eq

WRITTEN = list(range(100, 110)) + list(range(5000, 5004))
TORN = 5001


def leave_dirty(t, disk):
    server = t.serve(disk)
    h = server.connect()
    for s in WRITTEN:
        h.pwrite(t.data(SECTOR), s * SECTOR)
    # Written twice: garbage in it can no longer pass for the zeroes of a
    # sector whose only write never reached the disk.
    h.pwrite(t.data(SECTOR), TORN * SECTOR)
    h.flush()  # deferred writes reach the journal
    server.kill()


def tool_json(t, *args, expect=0):
    r = t.run_tool(*args)
    check_eq(r.returncode, expect, "nbd-integrity %s exit status (%s)"
             % (" ".join(args), r.stderr.strip()))
    return json.loads(r.stdout)


def main(t):
    disk = t.format(size="64M")
    leave_dirty(t, disk)

    before = tool_json(t, "check", "--json", disk)
    check_eq(before["state"], "dirty", "check: state after SIGKILL")
    check(before["journal_blocks"] > 0, "check: the journal is empty")
    check_eq(before["journaled_sectors"], len(WRITTEN) + 1,
             "check: journaled sectors")
    check_eq(before["problems"], [], "check: problems")

    # Tear one journaled sector: its data is now neither old nor new.
    loc = t.locate(disk, TORN)
    with open(disk, "r+b") as f:
        f.seek(loc["data_offset"] + SECTOR // 2)
        f.write(b"\xa5" * 512)

    # A sector that fails until rewritten is a problem: exit status 1.
    report = tool_json(t, "recover", "--json", disk, expect=1)
    decided = {d["sector"]: d["decision"] for d in report["decisions"]}
    check_eq(sorted(decided), WRITTEN, "recover: sectors decided")
    check_eq(decided[TORN], "neither", "recover: the torn sector")
    for s in WRITTEN:
        if s != TORN:
            check_eq(decided[s], "new", "recover: sector %d" % s)
    check_eq((report["new"], report["neither"]), (len(WRITTEN) - 1, 1),
             "recover: counts")
    check(len(report["problems"]) == 1 and "1 sector holds" in
          report["problems"][0], "recover: problems %r" % report["problems"])

    after = tool_json(t, "check", "--json", disk)
    check_eq((after["state"], after["journal_blocks"]), ("clean", 0),
             "check after recover")
    rc, verified, _ = t.verify(disk)
    check_eq((rc, verified["bad_sectors"]), (1, [TORN]),
             "verify after recover")

    # A damaged superblock copy is a problem check reports (exit 1).
    with open(disk, "r+b") as f:
        f.seek(100)
        f.write(b"junk")
    damaged = tool_json(t, "check", "--json", disk, expect=1)
    check(len(damaged["problems"]) == 1 and "copy 0" in damaged["problems"][0],
          "check: damaged copy 0 not reported: %r" % damaged["problems"])


helpers.run(main)
