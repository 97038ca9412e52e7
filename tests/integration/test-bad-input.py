#!/usr/bin/python3
"""nbdkit refuses, with a message that says why, to serve a disk with the
wrong key, no key, the wrong algorithm, both superblocks damaged, a
truncated image or no format at all; it serves a disk with one damaged
superblock copy.  A truncated image is refused by the plugin, verify,
check and recover alike, with a message naming the disk and both sizes,
and none of them changes a byte of it.  The tool refuses to format over a
disk without --force."""

import hashlib
import os

import helpers
from helpers import SECTOR, check, check_eq, check_in_log, check_same


def refused(t, disk, params, words, what):
    """nbdkit must exit non-zero, without serving, and say one of WORDS."""
    server = t.server(disk, *params, name="nbdkit-" + what.replace(" ", "-"))
    if server.launch():
        server.kill()
        raise helpers.Failure("%s: nbdkit served the disk; it should have "
                              "refused" % what)
    check(server.returncode != 0, "%s: nbdkit exited with status 0" % what)
    check_in_log(server.log(), words, what)
    print("%s: refused" % what)
    return server.log()


def serves(t, disk, params, model, what):
    """nbdkit serves DISK and its first sectors read as MODEL."""
    server = t.serve(disk, *params, name="nbdkit-" + what.replace(" ", "-"))
    h = server.connect()
    check_same(h.pread(len(model), 0), model, what)
    new = t.data(SECTOR)
    h.pwrite(new, 0)
    h.flush()
    check_same(h.pread(SECTOR, 0), new, what + ": a new write")
    server.stop()
    t.verify_clean(disk, next((p[8:] for p in params
                               if p.startswith("keyfile=")), None))
    print("%s: served" % what)
    return new + model[SECTOR:]


def write_some(t, disk, params=()):
    name = "nbdkit-fill-" + os.path.basename(disk)
    server = t.serve(disk, *params, name=name)
    h = server.connect()
    data = t.data(8 * SECTOR)
    h.pwrite(data, 0)
    h.flush()
    server.stop()
    return data


def keys(t):
    key_a, key_b = t.make_key("key-a"), t.make_key("key-b")
    short = t.make_key("key-short", 8)
    for alg in ("hmac-sha256", "blake2b-256-keyed"):
        disk = t.format("keyed-%s.img" % alg, hash=alg, keyfile=key_a)
        model = write_some(t, disk, ["keyfile=" + key_a])
        refused(t, disk, ["keyfile=" + key_b], ["key"], alg + " wrong key")
        refused(t, disk, [], ["key"], alg + " no key")
        refused(t, disk, ["keyfile=" + short], ["key"], alg + " short key")
        refused(t, disk, ["keyfile=" + t.path("no-such-key")], ["key"],
                alg + " missing key file")
        serves(t, disk, ["keyfile=" + key_a], model, alg + " right key")
    r = t.run_tool("format", "--size", "64M", "--hash", "hmac-sha256",
                   "--keyfile", short, t.path("short-key.img"))
    check(r.returncode != 0, "format with an 8-byte key succeeded")
    check_in_log(r.stderr, ["key"], "format with an 8-byte key")
    r = t.run_tool("format", "--size", "64M", "--hash", "hmac-sha256",
                   t.path("no-key.img"))
    check(r.returncode != 0, "format of a keyed disk without a key succeeded")
    check_in_log(r.stderr, ["key"], "format of a keyed disk without a key")


def algorithms(t):
    disk = t.format("crc.img")
    log = refused(t, disk, ["hash=sha256"], ["crc32c"], "sha256 on crc32c")
    check_in_log(log, ["sha256"], "sha256 on crc32c")
    refused(t, disk, ["hash=no-such-hash"], ["hash", "algorithm"],
            "unknown hash")
    refused(t, disk, ["keyfile=" + t.make_key()], ["key"],
            "a key for an unkeyed disk")
    serves(t, disk, ["hash=crc32c"], bytes(SECTOR), "hash=crc32c on crc32c")


def overwrite(path, offset, data):
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(data)


def superblocks(t):
    disk = t.format("sb.img")
    model = write_some(t, disk)
    overwrite(disk, 0, os.urandom(SECTOR))
    model = serves(t, disk, [], model, "first superblock copy damaged")
    overwrite(disk, SECTOR, os.urandom(SECTOR))
    model = serves(t, disk, [], model, "second superblock copy damaged")
    overwrite(disk, 0, os.urandom(2 * SECTOR))
    refused(t, disk, [], ["superblock"], "both superblock copies damaged")

    disk = t.format("sb-zero.img")
    overwrite(disk, 0, bytes(2 * SECTOR))
    refused(t, disk, [], ["superblock"], "both superblock copies zeroed")

    disk = t.format("sb-bit.img")
    for copy in range(2):
        helpers.flip_bit(disk, copy * SECTOR + 100)
    refused(t, disk, [], ["superblock"], "a bit flipped in both copies")


def digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return os.path.getsize(path), h.hexdigest()


def check_names(text, words, what):
    """TEXT must contain every one of WORDS."""
    missing = [w for w in words if w not in text]
    check(not missing, "%s: the message does not name %s:\n%s"
          % (what, " or ".join(missing), text))


def truncated(t):
    """Cut short, from one sector short of its format down to part of its
    second superblock copy: refused everywhere, naming the disk and both
    sizes, and left as it was."""
    disk = t.format("truncated.img")
    write_some(t, disk)
    needed = t.dump(disk)["disk_size"]
    for size in (needed - SECTOR, needed // 2, 3 * SECTOR, 6000):
        os.truncate(disk, size)
        before = digest(disk)
        what = "disk truncated to %d of %d bytes" % (size, needed)
        names = [disk, str(size), str(needed)]
        log = refused(t, disk, [], ["truncated"], what)
        check_names(log, names, what + ": nbdkit")
        for cmd, rc in (("verify", 2), ("recover", 2), ("check", 1)):
            r = t.run_tool(cmd, disk)
            check_eq(r.returncode, rc, "%s: %s exit status (%s)"
                     % (what, cmd, r.stderr.strip()))
            check_names(r.stdout + r.stderr, names, what + ": " + cmd)
            check_in_log(r.stdout + r.stderr, ["truncated"], what + ": " + cmd)
        check(digest(disk) == before, what + ": the disk was changed")

    # Too short to hold a superblock: nothing says how long it should be.
    os.truncate(disk, 100)
    before = digest(disk)
    log = refused(t, disk, [], ["superblock"], "disk truncated to 100 bytes")
    check_names(log, [disk, "100 bytes", "too short"],
                "disk truncated to 100 bytes")
    for cmd in ("verify", "recover", "check"):
        r = t.run_tool(cmd, disk)
        check_eq(r.returncode, 2, "100 bytes: %s exit (%s)"
                 % (cmd, r.stderr.strip()))
        check_names(r.stderr, [disk], "100 bytes: " + cmd)
    check(digest(disk) == before, "a 100-byte disk was changed")


def sizes(t):
    truncated(t)

    blank = t.path("blank.img")
    with open(blank, "wb") as f:
        f.truncate(64 << 20)
    refused(t, blank, [], ["superblock", "not an nbd-integrity",
                           "not formatted"], "unformatted file")
    refused(t, t.path("no-such.img"), [], ["no such file", "no-such.img"],
            "missing file")


def reformat(t):
    disk = t.format("re.img")
    uuid = t.dump(disk)["uuid"]
    r = t.run_tool("format", "--size", "64M", disk)
    check(r.returncode != 0, "format over a formatted disk without --force "
          "succeeded")
    check_in_log(r.stderr, ["force", "already"], "format without --force")
    check(t.dump(disk)["uuid"] == uuid,
          "format without --force changed the disk")
    t.tool_ok("format", "--force", "--hash", "sha256", disk)
    info = t.dump(disk)
    check(info["uuid"] != uuid, "format --force kept the old uuid")
    check(info["hash"] == "sha256", "format --force kept the old hash")
    serves(t, disk, ["hash=sha256"], bytes(SECTOR), "reformatted disk")


def format_mistakes(t):
    """A format that is refused for its options creates no file."""
    for args, words in [(["--hash", "md5"], ["md5"]),
                        (["--hash", "hmac-sha256"], ["keyfile"]),
                        (["--sector-size", "1024"], ["512"])]:
        disk = t.path("never.img")
        r = t.run_tool("format", "--size", "64M", *(args + [disk]))
        check(r.returncode == 2, "format %s: exit %d" % (args, r.returncode))
        check_in_log(r.stderr, words, "format %s" % args)
        check(not os.path.exists(disk),
              "format %s was refused but left %s behind" % (args, disk))


def second_writer(t):
    """While a server has the disk, a second server, a format and a
    recovery are refused and change nothing; verify, which only reads,
    may still run.  Once the server is gone, even killed, the disk is
    free again."""
    disk = t.format("locked.img")
    first = t.serve(disk)
    h = first.connect()
    data = t.data(SECTOR)
    h.pwrite(data, 0)
    h.flush()
    refused(t, disk, [], ["in use"], "second server of one disk")
    for args in (["format", "--force", disk], ["recover", disk]):
        r = t.run_tool(*args)
        check(r.returncode != 0, "%s while served succeeded" % args[0])
        check_in_log(r.stderr, ["in use"], "%s while served" % args[0])
    t.run_tool("verify", disk)
    check(h.pread(SECTOR, 0) == data, "the served disk changed")
    first.kill()
    t.serve(disk).stop()


def main(t):
    second_writer(t)
    format_mistakes(t)
    keys(t)
    algorithms(t)
    superblocks(t)
    sizes(t)
    reformat(t)


helpers.run(main)
