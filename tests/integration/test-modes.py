#!/usr/bin/python3
"""The crash modes other than the default: mode=recovery serves a damaged
disk read-only and returns the damaged sector with a warning instead of
EIO; mode=full is recorded in the superblock while open and its data
survives SIGKILL; mode=none keeps flushed data and warns after an
unclean stop; an unknown mode is refused."""

import helpers
from helpers import SECTOR, check, check_eq, check_in_log, check_same

BAD = 300


def recovery_mode(t):
    disk = t.format(name="recovery.img")
    server = t.serve(disk)
    h = server.connect()
    data = t.data(4 * SECTOR)
    h.pwrite(data, BAD * SECTOR)
    h.flush()
    server.stop()
    helpers.flip_bit(disk, t.locate(disk, BAD)["data_offset"] + 7)
    damaged = bytearray(data[:SECTOR])
    damaged[7] ^= 1

    server = t.serve(disk, "mode=recovery", name="nbdkit-recovery")
    h = server.connect()
    check(h.is_read_only(), "mode=recovery: the export is writable")
    check_same(h.pread(SECTOR, BAD * SECTOR), damaged,
               "mode=recovery: the damaged sector")
    check_same(h.pread(3 * SECTOR, (BAD + 1) * SECTOR), data[SECTOR:],
               "mode=recovery: its neighbours")
    check_in_log(server.log(True), ["sector %d" % BAD], "mode=recovery log")
    check_in_log(server.log(True), ["unverified"], "mode=recovery log")
    server.stop()


def full_mode(t):
    disk = t.format(name="full.img")
    server = t.serve(disk, "mode=full", name="nbdkit-full")
    h = server.connect()
    check_eq(t.dump(disk)["mode"], "full", "dump of a disk open in full mode")
    data = t.data(64 * SECTOR)
    h.pwrite(data, 0)
    h.flush()
    server.kill()
    # recover replays it in the mode it was served in, and keeps that mode.
    t.tool_ok("recover", disk)
    check_eq(t.dump(disk)["mode"], "full", "dump after recover")
    server = t.serve(disk, "mode=full", name="nbdkit-full-again")
    check_same(server.connect().pread(len(data), 0), data,
               "mode=full after SIGKILL")
    server.stop()
    t.verify_clean(disk)


def none_mode(t):
    disk = t.format(name="none.img")
    server = t.serve(disk, "mode=none", name="nbdkit-none")
    h = server.connect()
    data = t.data(16 * SECTOR)
    h.pwrite(data, 0)
    h.flush()
    server.kill()
    check_eq(t.dump(disk)["mode"], "none", "dump after mode=none")
    server = t.serve(disk, name="nbdkit-after-none")
    check_in_log(server.log(True), ["mode=none"], "warning after mode=none")
    check_same(server.connect().pread(len(data), 0), data,
               "flushed data after mode=none and SIGKILL")
    server.stop()


def unknown_mode(t):
    disk = t.format(name="unknown.img")
    server = t.server(disk, "mode=fast", name="nbdkit-unknown-mode")
    check(not server.launch(), "mode=fast was accepted")
    check_in_log(server.log(), ["mode"], "unknown mode")


def main(t):
    recovery_mode(t)
    full_mode(t)
    none_mode(t)
    unknown_mode(t)


helpers.run(main)
