#!/usr/bin/python3
"""Tampering with a keyed disk by someone who can write the disk but has
not the key.  Each attack is made on a disk with each keyed algorithm,
where it must be detected (a read fails with EIO, or the disk is refused),
and, where the threat model says an unkeyed disk does not stop it, the
same attack on a crc32c disk, where it must succeed: that shows the attack
is well formed, so its detection on the keyed disk is the key's doing.

The threat model (nbdkit-integrity-plugin(1), THREAT MODEL) says what is
detected; the last attack, rolling a sector and its tag back together to
an older version, is not, and the test checks that it is not, so the
manual page stays true."""

import hashlib
import json
import os
import struct

import helpers
from helpers import SECTOR, Failure, check, check_eq, check_in_log, expect_eio

KEYED = ("hmac-sha256", "blake2b-256-keyed")
JOURNAL_BLOCK = 4096
JREC_UNWRITTEN = 2
VICTIM = 100  # the sector under attack
OTHER = 200


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = _TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def uuid_bytes(sb):
    return bytes.fromhex(sb["uuid"].replace("-", ""))


def unkeyed_tag(alg, uuid, sector, data):
    """The tag an attacker without the key can compute: the algorithm's
    unkeyed twin over what the keyed one would cover."""
    msg = uuid + struct.pack("<Q", sector) + data
    if alg == "crc32c":
        return struct.pack("<I", crc32c(msg))
    if alg == "hmac-sha256":
        return hashlib.sha256(msg).digest()
    return hashlib.blake2b(msg, digest_size=32).digest()


class Disk:
    """A formatted disk with sectors VICTIM and OTHER written, cleanly
    closed."""

    def __init__(self, t, alg, key, name=None):
        self.t, self.alg, self.key = t, alg, key
        self.path = t.format(name or "%s.img" % alg, hash=alg, keyfile=key)
        self.params = ["keyfile=" + key] if key else []
        self.model = {VICTIM: t.data(SECTOR), OTHER: t.data(SECTOR)}
        self.write(self.model)
        self.sb = t.dump(self.path)

    def write(self, sectors):
        s = self.t.serve(self.path, *self.params)
        h = s.connect()
        for sector, data in sectors.items():
            h.pwrite(data, sector * SECTOR)
        h.flush()
        s.stop()

    def loc(self, sector):
        return self.t.locate(self.path, sector)

    def raw(self, sector):
        """(data, tag) of SECTOR as they are on the disk."""
        loc = self.loc(sector)
        return (helpers.read_file(self.path, loc["data_offset"], SECTOR),
                helpers.read_file(self.path, loc["tag_offset"],
                                  loc["tag_size"]))

    def put(self, sector, data=None, tag=None):
        loc = self.loc(sector)
        with open(self.path, "r+b") as f:
            if data is not None:
                f.seek(loc["data_offset"])
                f.write(data)
            if tag is not None:
                f.seek(loc["tag_offset"])
                f.write(tag)

    def serve(self):
        return self.t.serve(self.path, *self.params)

    def read(self, sector):
        s = self.serve()
        try:
            return s.connect().pread(SECTOR, sector * SECTOR)
        finally:
            s.stop()

    def expect_eio(self, sector, what):
        s = self.serve()
        expect_eio(lambda: s.connect().pread(SECTOR, sector * SECTOR),
                   "%s %s: read of sector %d" % (self.alg, what, sector))
        s.stop()

    def refused(self, words, what):
        s = self.t.server(self.path, *self.params)
        if s.launch():
            s.stop()
            raise Failure("%s %s: the disk was served" % (self.alg, what))
        check_in_log(s.log(), words, "%s %s" % (self.alg, what))


def forged_data(d):
    """New data, its tag recomputed with the unkeyed twin."""
    uuid = uuid_bytes(d.sb)
    forged = d.t.data(SECTOR)
    d.put(VICTIM, forged, unkeyed_tag(d.alg, uuid, VICTIM, forged))
    if d.key:
        d.expect_eio(VICTIM, "forged data")
    else:
        check(d.read(VICTIM) == forged,
              "crc32c: forged data with its CRC recomputed was not read "
              "back: the forgery is wrong, so the keyed test proves "
              "nothing")


def relocated(d):
    """A sector's data and tag copied over another sector's."""
    data, tag = d.raw(OTHER)
    d.put(VICTIM, data, tag)
    d.expect_eio(VICTIM, "data and tag of sector %d copied over it" % OTHER)


def from_another_disk(d, key):
    """The same sector, data and tag, from another disk with the same key."""
    other = Disk(d.t, d.alg, key, name="other-%s.img" % d.alg)
    data, tag = other.raw(VICTIM)
    d.put(VICTIM, data, tag)
    d.expect_eio(VICTIM, "sector copied from another disk with the key")


def zeroed_tag(d):
    """A tag zeroed: on an unkeyed disk the "unwritten" tag, which reads
    as zeroes; on a keyed disk the unwritten tag is a MAC, so a zeroed tag
    is just a wrong one."""
    d.put(VICTIM, tag=bytes(d.loc(VICTIM)["tag_size"]))
    if d.key:
        d.expect_eio(VICTIM, "zeroed tag")
    else:
        check(d.read(VICTIM) == bytes(SECTOR),
              "crc32c: a zeroed tag did not read as zeroes")


def edit_superblock(path, offset, data):
    """Edits both copies at OFFSET, recomputing their CRCs as an attacker
    can."""
    with open(path, "r+b") as f:
        for copy in range(2):
            base = copy * 4096
            f.seek(base)
            block = bytearray(f.read(4096))
            block[offset:offset + len(data)] = data
            block[4092:4096] = struct.pack("<I", crc32c(bytes(block[:4092])))
            f.seek(base)
            f.write(block)


def weaker_algorithm(d):
    """The superblock says crc32c, its MAC zeroed, as an unkeyed disk's
    is: a server given the key refuses it."""
    name = b"crc32c".ljust(32, b"\0")
    edit_superblock(d.path, 36, struct.pack("<I", 1))
    edit_superblock(d.path, 40, name)
    edit_superblock(d.path, 72, struct.pack("<I", 4))
    edit_superblock(d.path, 192, bytes(32))
    d.refused(["superblock", "changed"], "superblock downgraded to crc32c")


def moved_journal(d):
    """The superblock's journal tail moved: refused."""
    tail = d.sb["journal_tail_seq"]
    edit_superblock(d.path, 136, struct.pack("<Q", tail + 3))
    d.refused(["authentication"], "journal tail moved")


def journal_block(d, seq, records, copy=0):
    """A header block as the plugin writes one (nbd-integrity-format(5)),
    without a MAC: copy COPY of a group that is a whole commit of two
    blocks, its tail at the superblock's."""
    payload = b"".join(struct.pack("<QIHH", sector, count, kind, 0)
                       for sector, count, kind in records)
    block = bytearray(JOURNAL_BLOCK)
    tail = d.sb["journal_tail_seq"]
    struct.pack_into("<IIQIIQIIII", block, 0, 0x324A494E, len(records),
                     seq + copy, len(payload), copy, 1, seq + copy - tail,
                     copy, 2, 0)
    block[48:48 + len(payload)] = payload
    crc = crc32c(bytes(block[:4092]), crc32c(uuid_bytes(d.sb)))
    block[4092:] = struct.pack("<I", crc)
    return bytes(block)


def write_journal_block(d, seq, block):
    sb = d.sb
    blocks = sb["journal_size"] // JOURNAL_BLOCK
    with open(d.path, "r+b") as f:
        f.seek(sb["journal_offset"] + seq % blocks * JOURNAL_BLOCK)
        f.write(block)


def forged_trim(d):
    """The sector zeroed and a journal record that trims it forged at the
    journal's tail, where the next start replays from: recovery takes a
    journaled trim for a sector that reads as zeroes, and would give it
    the unwritten tag."""
    tail = d.sb["journal_tail_seq"]
    d.put(VICTIM, bytes(SECTOR))
    for copy in (0, 1):
        write_journal_block(d, tail + copy,
                            journal_block(d, tail,
                                          [(VICTIM, 1, JREC_UNWRITTEN)], copy))
    if d.key:
        d.expect_eio(VICTIM, "forged trim record")
        check_in_log(d.t.servers[-1].log(), ["journal", "authentication"],
                     "%s: forged journal block" % d.alg)
        return
    check(d.read(VICTIM) == bytes(SECTOR),
          "crc32c: the forged trim record was not applied: the forgery is "
          "wrong, so the keyed test proves nothing")


def replayed_journal_block(d):
    """A real journal block, written with the key, replayed later at the
    tail with its sequence number and CRC changed: the MAC covers them."""
    sb = d.sb
    blocks = sb["journal_size"] // JOURNAL_BLOCK
    tail = sb["journal_tail_seq"]
    with open(d.path, "rb") as f:
        f.seek(sb["journal_offset"] + (tail - 1) % blocks * JOURNAL_BLOCK)
        block = bytearray(f.read(JOURNAL_BLOCK))
    check(block[:4] == b"NIJ2", "%s: no journal block before the tail" % d.alg)
    struct.pack_into("<Q", block, 8, tail)
    crc = crc32c(bytes(block[:4092]), crc32c(uuid_bytes(sb)))
    block[4092:] = struct.pack("<I", crc)
    write_journal_block(d, tail, bytes(block))
    check(d.read(OTHER) == d.model[OTHER],
          "%s: sector %d changed after a replayed journal block"
          % (d.alg, OTHER))
    check_in_log(d.t.servers[-1].log(), ["journal", "authentication"],
                 "%s: replayed journal block" % d.alg)


def rolled_back(d):
    """Not detected: a sector and its tag put back as they were before
    its last write.  Both are valid under the key, for this sector of
    this disk; only state kept off the disk could tell."""
    old_data, old_tag = d.raw(VICTIM)
    d.write({VICTIM: d.t.data(SECTOR)})
    d.put(VICTIM, old_data, old_tag)
    check(d.read(VICTIM) == old_data,
          "%s: a rollback was detected: update the threat model" % d.alg)


ATTACKS = [forged_data, relocated, zeroed_tag, weaker_algorithm,
           moved_journal, forged_trim, replayed_journal_block, rolled_back]
UNKEYED_SUCCEEDS = [forged_data, zeroed_tag, forged_trim]


def main(t):
    key = t.make_key()
    for alg in KEYED:
        for attack in ATTACKS:
            attack(Disk(t, alg, key, name="%s-%s.img" % (alg, attack.__name__)))
        from_another_disk(Disk(t, alg, key), key)
    for attack in UNKEYED_SUCCEEDS:
        attack(Disk(t, "crc32c", None, name="crc32c-%s.img" % attack.__name__))

    # check has no key: it says the MACs went unchecked.
    d = Disk(t, "hmac-sha256", key, name="check.img")
    r = t.tool_ok("check", d.path)
    check_in_log(r.stdout, ["not checked", "verify --keyfile"],
                 "check of a keyed disk")
    check_eq(json.loads(t.tool_ok("check", "--json", d.path).stdout)["keyed"],
             True, "check --json of a keyed disk: keyed")

    # The key file must be the owner's alone.
    os.chmod(key, 0o644)
    r = t.run_tool("format", "--size", "64M", "--hash", "hmac-sha256",
                   "--keyfile", key, t.path("open-key.img"))
    check(r.returncode != 0, "format with a world-readable key succeeded")
    check_in_log(r.stderr, ["chmod 600"], "format with a world-readable key")
    check_eq(os.path.exists(t.path("open-key.img")), False,
             "format with a world-readable key left a file")


if __name__ == "__main__":
    helpers.run(main)
