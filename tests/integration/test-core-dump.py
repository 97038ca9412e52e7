#!/usr/bin/python3
"""A core dump of a server of a keyed disk holds nothing that makes tags:
not the key, and not a state keyed with it.

For each keyed algorithm, a disk is formatted with a key, served by a
real nbdkit (with core-dumps=true, so that a non-root gcore may attach),
written and read through libnbd, and dumped with gcore, which leaves out
what the kernel does (memory marked MADV_DONTDUMP).  The core must not
hold, in either byte order:

  - the key, or the key XOR HMAC's pads (what SHA-256 hashes to key it);
  - for hmac-sha256, the SHA-256 states after HMAC's inner and outer pad
    blocks (key ^ 0x36.., key ^ 0x5c..): with them, and no key, anyone
    can finish an HMAC;
  - for blake2b-256-keyed, the BLAKE2b state after the key block, which
    every tag starts from.

The states are computed here by a plain SHA-256 and BLAKE2b compression
function, checked against hashlib first.  The disk's UUID, which the
server holds in ordinary memory, must be found: the core is searched,
not empty.

Without core-dumps=true a server of a keyed disk is not dumpable; a
non-root test sees that as /proc/PID/environ owned by root.
"""

import hashlib
import mmap
import os
import shutil
import struct
import subprocess

import helpers
from helpers import SECTOR, Failure, Skip, check, check_eq

KEYED = ("hmac-sha256", "blake2b-256-keyed")
GCORE_TIMEOUT = 120

MASK32 = (1 << 32) - 1
MASK64 = (1 << 64) - 1

SHA256_IV = (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
             0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)
SHA256_K = (
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2)


def rotr32(x, n):
    return (x >> n | x << (32 - n)) & MASK32


def sha256_compress(state, block):
    """SHA-256's state after one 64-byte BLOCK from STATE."""
    w = list(struct.unpack(">16I", block))
    for i in range(16, 64):
        s0 = rotr32(w[i - 15], 7) ^ rotr32(w[i - 15], 18) ^ w[i - 15] >> 3
        s1 = rotr32(w[i - 2], 17) ^ rotr32(w[i - 2], 19) ^ w[i - 2] >> 10
        w.append((w[i - 16] + s0 + w[i - 7] + s1) & MASK32)
    a, b, c, d, e, f, g, h = state
    for i in range(64):
        t1 = (h + (rotr32(e, 6) ^ rotr32(e, 11) ^ rotr32(e, 25)) +
              (e & f ^ ~e & g) + SHA256_K[i] + w[i]) & MASK32
        t2 = ((rotr32(a, 2) ^ rotr32(a, 13) ^ rotr32(a, 22)) +
              (a & b ^ a & c ^ b & c)) & MASK32
        a, b, c, d, e, f, g, h = (t1 + t2) & MASK32, a, b, c, \
            (d + t1) & MASK32, e, f, g
    return tuple((x + y) & MASK32 for x, y in zip(state, (a, b, c, d, e, f,
                                                           g, h)))


def hmac_pad_states(key):
    """The SHA-256 states after HMAC-SHA256's inner and outer pad blocks."""
    block = key.ljust(64, b"\0")
    return [sha256_compress(SHA256_IV, bytes(b ^ pad for b in block))
            for pad in (0x36, 0x5c)]


BLAKE2B_IV = (0x6a09e667f3bcc908, 0xbb67ae8584caa73b, 0x3c6ef372fe94f82b,
              0xa54ff53a5f1d36f1, 0x510e527fade682d1, 0x9b05688c2b3e6c1f,
              0x1f83d9abfb41bd6b, 0x5be0cd19137e2179)
BLAKE2B_SIGMA = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
    (14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3),
    (11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4),
    (7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8),
    (9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13),
    (2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9),
    (12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11),
    (13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10),
    (6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5),
    (10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0))


def rotr64(x, n):
    return (x >> n | x << (64 - n)) & MASK64


def blake2b_compress(h, block, counter, last):
    """BLAKE2b's state after one 128-byte BLOCK, COUNTER bytes in."""
    m = struct.unpack("<16Q", block)
    v = list(h) + list(BLAKE2B_IV)
    v[12] ^= counter & MASK64
    v[13] ^= counter >> 64
    if last:
        v[14] ^= MASK64

    def g(a, b, c, d, x, y):
        v[a] = (v[a] + v[b] + x) & MASK64
        v[d] = rotr64(v[d] ^ v[a], 32)
        v[c] = (v[c] + v[d]) & MASK64
        v[b] = rotr64(v[b] ^ v[c], 24)
        v[a] = (v[a] + v[b] + y) & MASK64
        v[d] = rotr64(v[d] ^ v[a], 16)
        v[c] = (v[c] + v[d]) & MASK64
        v[b] = rotr64(v[b] ^ v[c], 63)

    for r in range(12):
        s = BLAKE2B_SIGMA[r % 10]
        for i, (a, b, c, d) in enumerate(((0, 4, 8, 12), (1, 5, 9, 13),
                                          (2, 6, 10, 14), (3, 7, 11, 15),
                                          (0, 5, 10, 15), (1, 6, 11, 12),
                                          (2, 7, 8, 13), (3, 4, 9, 14))):
            g(a, b, c, d, m[s[2 * i]], m[s[2 * i + 1]])
    return tuple(h[i] ^ v[i] ^ v[i + 8] for i in range(8))


def blake2b_key_state(key, last=False):
    """BLAKE2b-256's state after the block of KEY, as every keyed tag
    starts (LAST: as a MAC of the empty message ends)."""
    param = 32 | len(key) << 8 | 1 << 16 | 1 << 24
    h = (BLAKE2B_IV[0] ^ param,) + BLAKE2B_IV[1:]
    return blake2b_compress(h, key.ljust(128, b"\0"), 128, last)


def self_check():
    """The compression functions agree with hashlib."""
    msg = b"nbd-integrity"
    block = (msg + b"\x80").ljust(56, b"\0") + struct.pack(">Q", 8 * len(msg))
    check_eq(struct.pack(">8I", *sha256_compress(SHA256_IV, block)),
             hashlib.sha256(msg).digest(), "SHA-256 of one block")
    key = bytes(range(32))
    check_eq(struct.pack("<4Q", *blake2b_key_state(key, last=True)[:4]),
             hashlib.blake2b(b"", key=key, digest_size=32).digest(),
             "keyed BLAKE2b-256 of the empty message")


def byte_orders(value, word):
    """VALUE as it is and with each WORD-byte word reversed: a state or a
    message block in memory, whichever order the code keeps it in."""
    swapped = b"".join(value[i:i + word][::-1]
                       for i in range(0, len(value), word))
    return [("", value), (" (words byte-swapped)", swapped)]


def secrets(alg, key):
    """(what, bytes) pairs the core must not hold."""
    if alg == "hmac-sha256":
        inner, outer = hmac_pad_states(key)
        word = 4
        values = [("the key", key),
                  ("the key ^ ipad", bytes(b ^ 0x36 for b in key)),
                  ("the key ^ opad", bytes(b ^ 0x5c for b in key)),
                  ("the HMAC inner state", struct.pack(">8I", *inner)),
                  ("the HMAC outer state", struct.pack(">8I", *outer))]
    else:
        word = 8
        values = [("the key", key),
                  ("the BLAKE2b keyed state",
                   struct.pack("<8Q", *blake2b_key_state(key)))]
    return [(what + order, b) for what, value in values
            for order, b in byte_orders(value, word)]


def gcore(t, pid, name):
    """A core of PID made by gcore; returns its path."""
    prefix = t.path(name)
    r = subprocess.run(["gcore", "-o", prefix, str(pid)],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=GCORE_TIMEOUT)
    core = "%s.%d" % (prefix, pid)
    if r.returncode != 0 or not os.path.exists(core):
        if "ptrace" in r.stdout + r.stderr and os.getuid() != 0:
            raise Skip("gcore may not attach to nbdkit (ptrace): %s"
                       % r.stderr.strip())
        raise Failure("gcore %d: exit %d\n%s%s"
                      % (pid, r.returncode, r.stdout, r.stderr))
    return core


def check_core(alg, core, key, uuid):
    # Mapped, not read: a core can be larger than the memory at hand.
    with open(core, "rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    check(data.find(uuid) != -1,
          "%s: the disk's UUID is not in the core: gcore left out too "
          "much for the search to mean anything" % alg)
    found = [what for what, secret in secrets(alg, key)
             if data.find(secret) != -1]
    check(not found, "%s: the core of the server holds %s"
          % (alg, ", ".join(found)))


def check_not_dumpable(t, disk, key):
    """A non-root process's /proc/PID files are root's once it is not
    dumpable; as root the test cannot tell."""
    if os.getuid() == 0:
        print("running as root: the server's dumpability is not checked")
        return
    for params, owner in (([], 0), (["core-dumps=true"], os.getuid())):
        s = t.serve(disk, "keyfile=" + key, *params)
        check_eq(os.stat("/proc/%d/environ" % s.proc.pid).st_uid, owner,
                 "owner of the server's /proc/PID/environ with %r" % params)
        s.stop()


def main(t):
    if shutil.which("gcore") is None or shutil.which("gdb") is None:
        raise Skip("gdb's gcore is not installed")
    if helpers.SANITIZER:
        # A sanitizer's shadow memory makes a core of minutes and gigabytes
        # (gcore timed out under ASan on a busy machine, and ran out of
        # memory under TSan) that says nothing of ours: the plain run, in
        # scripts/test, takes this test.
        raise Skip("not under a sanitizer (%s)" % helpers.SANITIZER)
    self_check()
    key = t.make_key()
    with open(key, "rb") as f:
        key_bytes = f.read()
    for alg in KEYED:
        disk = t.format("%s.img" % alg, hash=alg, keyfile=key)
        uuid = bytes.fromhex(t.dump(disk)["uuid"].replace("-", ""))
        s = t.serve(disk, "keyfile=" + key, "core-dumps=true",
                    "tag-cache=1M", "write-buffer=64K")
        h = s.connect()
        data = t.data(8 * SECTOR)
        h.pwrite(data, 0)
        h.flush()
        check_eq(h.pread(len(data), 0), data, "%s: data read back" % alg)
        core = gcore(t, s.proc.pid, alg)
        s.stop()
        check_core(alg, core, key_bytes, uuid)
        os.unlink(core)
    check_not_dumpable(t, disk, key)


if __name__ == "__main__":
    helpers.run(main)
