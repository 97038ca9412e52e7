#!/usr/bin/python3
"""status=PATH: the plugin keeps live counters in PATH, and nbd-integrity
status reads them.  A sector damaged under a running server shows in the
file within a second of the failed read, with its sector number; the
tool reports it as a table, --json and --prometheus, and exits 1; the
mismatch logs are rate-limited, but every mismatch is counted; --reset
starts the counters again while the server runs; SIGTERM leaves the file
"closed", kill -9 leaves it stale; a file that cannot be read exits 2, and
one that cannot be written stops the server from starting."""

import json
import os
import re
import subprocess
import time

import helpers
from helpers import SECTOR, check, check_eq, expect_eio

FIRST = 100  # written sectors FIRST..FIRST+COUNT-1
COUNT = 64
BAD = 110  # damaged first, alone
FLOOD = range(120, 150)  # then damaged all at once
PUBLISH_WITHIN = 1.0  # seconds


def read_status(path):
    """The status file as a dict of its [status] group."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if line and not line.startswith(("#", "[")):
                key, _, value = line.partition("=")
                out[key] = value
    return out


def sectors(value):
    return [int(s) for s in value.split(";") if s]


def wait_status(path, what, cond):
    """Polls PATH until COND(status) holds; fails after PUBLISH_WITHIN."""
    deadline = time.monotonic() + PUBLISH_WITHIN
    while True:
        st = read_status(path)
        if cond(st):
            return st
        if time.monotonic() > deadline:
            raise helpers.Failure("%s: not in the status file within %.1f s:"
                                  " %r" % (what, PUBLISH_WITHIN, st))
        time.sleep(0.02)


def status_json(t, *paths, expect_rc, options=()):
    r = t.run_tool("status", "--json", *options, *paths)
    check_eq(r.returncode, expect_rc, "status --json exit (%s)" % r.stderr)
    doc = json.loads(r.stdout)
    check_eq(len(doc["exports"]), len(paths), "exports in status --json")
    return doc["exports"]


def damage(t, disk, sector):
    loc = t.locate(disk, sector)
    helpers.flip_bit(disk, loc["data_offset"] + 7, 3)


PROM_SAMPLE = re.compile(r'^(nbd_integrity_[a-z_]+)\{disk="(.*)"\} (\d+)$')


def parse_prometheus(text):
    """{metric: {disk: value}}, checking every sample's family is declared
    first with # HELP and # TYPE."""
    samples, declared = {}, {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            declared[line.split()[2]] = None
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            check(name in declared, "TYPE before HELP: %r" % line)
            check(kind in ("counter", "gauge"), "metric type: %r" % line)
            declared[name] = kind
        else:
            m = PROM_SAMPLE.match(line)
            check(m, "not a Prometheus sample: %r" % line)
            name, disk, value = m.groups()
            check(declared.get(name), "sample before its TYPE: %r" % line)
            samples.setdefault(name, {})[disk] = int(value)
    return samples, declared


def check_mismatch_reported(t, status, disk):
    exports = status_json(t, status, expect_rc=1)
    e = exports[0]
    check_eq((e["disk"], e["state"], e["stale"], e["mode"], e["hash"]),
             (disk, "serving", False, "tags", "crc32c"), "status --json")
    check_eq(e["mismatches"], 1, "status --json mismatches")
    check_eq(e["last_mismatch_sectors"], [BAD], "status --json sectors")
    check_eq(e["writes"], 1, "status --json writes")
    check(e["reads"] >= 1 and e["sectors_verified"] >= 1,
          "status --json reads: %r" % e)
    check(e["backing_bytes_written"] >= COUNT * SECTOR,
          "backing bytes written < data written: %r" % e)
    check(e["journal_total_blocks"] > 0, "no journal in %r" % e)

    r = t.run_tool("status", "--prometheus", status)
    check_eq(r.returncode, 1, "status --prometheus exit (%s)" % r.stderr)
    samples, declared = parse_prometheus(r.stdout)
    check_eq(declared.get("nbd_integrity_mismatches_total"), "counter",
             "TYPE of nbd_integrity_mismatches_total")
    check_eq(samples["nbd_integrity_mismatches_total"], {disk: 1},
             "nbd_integrity_mismatches_total")
    check_eq(samples["nbd_integrity_last_mismatch_sector"], {disk: BAD},
             "nbd_integrity_last_mismatch_sector")
    check_eq(samples["nbd_integrity_up"], {disk: 1}, "nbd_integrity_up")

    r = t.run_tool("status", status)
    check_eq(r.returncode, 1, "status exit (%s)" % r.stderr)
    row = r.stdout.splitlines()[1].split()
    check_eq((row[0], row[5], row[6]), (disk, "1", str(BAD)),
             "status table: disk, mismatches, last bad sector in %r"
             % r.stdout)


def check_flood(t, server, disk, status, h):
    """Every mismatch counted, the last 8 listed, the log limited."""
    for s in FLOOD:
        damage(t, disk, s)
    for s in FLOOD:
        expect_eio(lambda: h.pread(SECTOR, s * SECTOR), "flooded sector %d" % s)
    total = 1 + len(FLOOD)
    st = wait_status(status, "%d mismatches" % total,
                     lambda st: st["mismatches"] == str(total))
    check_eq(sectors(st["last_mismatch_sectors"]), list(FLOOD)[::-1][:8],
             "the last 8 mismatched sectors, newest first")
    deadline = time.monotonic() + 3
    while True:
        log = server.log(since_start=True)
        logged = len(re.findall(r"data does not match its crc32c tag", log))
        suppressed = sum(int(n) for n in re.findall(
            r"(\d+) more mismatches suppressed", log))
        if logged + suppressed == total or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check_eq(logged + suppressed, total,
             "mismatches logged (%d) and suppressed (%d)"
             % (logged, suppressed))
    check(suppressed > 0 and logged <= 20,
          "%d mismatches in well under 2 s: %d logged, %d suppressed"
          % (total, logged, suppressed))


def check_reset(t, status, disk, h):
    e = status_json(t, status, expect_rc=0, options=["--reset"])[0]
    check_eq((e["state"], e["mismatches"], e["reads"],
              e["last_mismatch_sectors"]), ("serving", 0, 0, []),
             "status --reset --json")
    check(e["journal_total_blocks"] > 0, "a reset zeroes no gauge: %r" % e)
    check(not os.path.exists(status + ".reset"), "reset file left behind")
    h.pread(SECTOR, FIRST * SECTOR)
    expect_eio(lambda: h.pread(SECTOR, BAD * SECTOR), "after reset")
    st = wait_status(status, "one mismatch after the reset",
                     lambda st: st["mismatches"] == "1")
    check_eq((st["reads"], sectors(st["last_mismatch_sectors"])),
             ("2", [BAD]), "reads and sectors since the reset")


def check_closed(t, server, status):
    server.stop()
    check_eq(read_status(status)["state"], "closed", "state after SIGTERM")
    e = status_json(t, status, expect_rc=1)[0]
    check_eq((e["state"], e["stale"], e["mismatches"]), ("closed", False, 1),
             "status --json of a closed server")
    r = t.run_tool("status", "--reset", status)
    check_eq(r.returncode, 2, "status --reset of a closed server")


def check_stale(t, disk):
    status = t.path("stale.status")
    server = t.serve(disk, "status=" + status, name="stale")
    server.connect()  # so the status file is written
    server.kill()
    e = status_json(t, status, expect_rc=0)[0]
    check_eq((e["state"], e["stale"]), ("serving", True),
             "status of a server killed with SIGKILL")
    r = t.run_tool("status", status)
    check("STALE" in r.stdout, "table does not flag it stale:\n" + r.stdout)


def check_unreadable(t, good):
    garbage = t.path("garbage.status")
    with open(garbage, "w") as f:
        f.write("[status]\nversion=1\n")
    for bad in (t.path("missing.status"), garbage):
        r = t.run_tool("status", "--json", good, bad)
        check_eq(r.returncode, 2, "status of %s (%s)" % (bad, r.stderr))
        check(bad in r.stderr, "error does not name %s: %r" % (bad, r.stderr))
        check_eq(len(json.loads(r.stdout)["exports"]), 1,
                 "the readable file is still reported")


def check_unwritable(t, disk):
    """A status file that cannot be written stops the server from
    starting, with a message naming it."""
    status = t.path("no-such-dir/disk.status")
    server = t.server(disk, "status=" + status, name="unwritable")
    # nbdkit writes its pid file before after_fork, where the plugin fails.
    if server.launch():
        try:
            server.returncode = server.proc.wait(helpers.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise helpers.Failure("nbdkit serves with status=%s" % status)
        server.proc = None
    check(server.returncode != 0, "nbdkit exited 0 with status=%s" % status)
    check(status in server.log(), "the error does not name %s:\n%s"
          % (status, server.log()))


def main(t):
    disk = t.format()
    check_unwritable(t, disk)
    status = t.path("disk.status")
    server = t.serve(disk, "status=" + status)
    h = server.connect()  # nbdkit serves once after_fork has published
    st = read_status(status)
    check_eq((st["state"], st["disk"], st["mismatches"], st["pid"]),
             ("serving", disk, "0", open(server.pidfile).read().strip()),
             "status file at start")
    status_json(t, status, expect_rc=0)

    h.pwrite(t.data(COUNT * SECTOR), FIRST * SECTOR)
    h.flush()
    damage(t, disk, BAD)
    expect_eio(lambda: h.pread(SECTOR, BAD * SECTOR), "damaged sector")
    st = wait_status(status, "the mismatch",
                     lambda st: st["mismatches"] == "1")
    check_eq(sectors(st["last_mismatch_sectors"]), [BAD], "mismatch sectors")

    check_mismatch_reported(t, status, disk)
    check_flood(t, server, disk, status, h)
    check_reset(t, status, disk, h)
    check_closed(t, server, status)
    check_stale(t, disk)
    check_unreadable(t, status)


helpers.run(main)
