#!/usr/bin/python3
"""Sectors of an integrity disk, for the end-to-end scenarios.

  sectors.py written DISK        every written sector, one a line
  sectors.py pick DISK N RUN FIRST
                                 N scattered written sectors, then RUN
                                 consecutive ones (none if 0), none before
                                 FIRST (MD's data offset: MD reads nothing
                                 before it)
  sectors.py corrupt DISK S...   overwrite 16 bytes of each sector's data
  sectors.py offsets DISK S...   each sector's byte offset on DISK, one a
                                 line

Offsets come from nbd-integrity dump and locate, so this follows the
format that nbd-integrity-format(5) describes, not a copy of it."""

import json
import os
import subprocess
import sys

TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                    "../../build/server/nbd-integrity")


def tool_json(*args):
    out = subprocess.run([TOOL, *args, "--json"], check=True,
                         stdout=subprocess.PIPE).stdout
    return json.loads(out)


class Layout:
    """Where a sector's data and tag are: locate's answer for the first
    sector of its zone, plus its place in the zone."""

    def __init__(self, disk):
        self.disk = disk
        self.sb = tool_json("dump", disk)
        self.zones = {}

    def zone(self, sector):
        first = sector - sector % self.sb["zone_sectors"]
        if first not in self.zones:
            self.zones[first] = tool_json("locate", self.disk, str(first))
        return first, self.zones[first]

    def data_offset(self, sector):
        first, z = self.zone(sector)
        return z["data_offset"] + (sector - first) * z["sector_size"]

    def tag_offset(self, sector):
        first, z = self.zone(sector)
        return z["tag_offset"] + (sector - first) * z["tag_size"]


def written_list(disk):
    """Sectors with a tag at home, or whose data is not zeroes: a served
    disk's newest tags may still be in its journal (a checkpoint writes
    them home), but once flushed its data is in place, and a disk is
    formatted as zeroes."""
    layout = Layout(disk)
    sb = layout.sb
    ts, zs, ss = sb["tag_size"], sb["zone_sectors"], sb["sector_size"]
    unwritten, zeroes = bytes(ts), bytes(ss)
    found = []
    with open(disk, "rb") as f:
        for sector in range(0, sb["data_sectors"], zs):
            n = min(zs, sb["data_sectors"] - sector)
            f.seek(layout.tag_offset(sector))
            tags = f.read(n * ts)
            f.seek(layout.data_offset(sector))
            data = f.read(n * ss)
            found += [sector + i for i in range(n)
                      if tags[i * ts:(i + 1) * ts] != unwritten or
                      data[i * ss:(i + 1) * ss] != zeroes]
    return found


def pick(disk, n, run, first):
    """N written sectors spread over the disk, then the first RUN
    consecutive written ones that are none of those, all from FIRST on."""
    w = [s for s in written_list(disk) if s >= first]
    scattered = [w[i * len(w) // n] for i in range(n)]
    if run == 0:
        return scattered
    start = length = 0
    for i, s in enumerate(w):
        if i and s == w[i - 1] + 1:
            length += 1
        else:
            start, length = s, 1
        if length == run and not set(range(start, s + 1)) & set(scattered):
            return scattered + list(range(start, s + 1))
    sys.exit("no run of %d written sectors on %s" % (run, disk))


def corrupt(disk, sectors):
    layout = Layout(disk)
    with open(disk, "r+b") as f:
        for s in sectors:
            # Random bytes, not flipped ones: damaging a sector twice
            # must not restore it.
            f.seek(layout.data_offset(int(s)) + 100)
            f.write(os.urandom(16))


if __name__ == "__main__":
    if sys.argv[1] == "written":
        print("\n".join(map(str, written_list(sys.argv[2]))))
    elif sys.argv[1] == "pick":
        print(" ".join(map(str, pick(sys.argv[2], *map(int, sys.argv[3:6])))))
    elif sys.argv[1] == "offsets":
        layout = Layout(sys.argv[2])
        print("\n".join(str(layout.data_offset(int(s))) for s in sys.argv[3:]))
    else:
        corrupt(sys.argv[2], sys.argv[3:])
