#!/usr/bin/python3
"""status=PATH replaces the file at PATH, so the plugin refuses a PATH that
holds anything but a status file: the disk, the key file, a link to
either, an unrelated file or a FIFO; each is refused before anything is
served, with a message naming PATH, and left byte for byte as it was.  A
new PATH, an old status file (a restart) and an empty file are taken.
The temporary file the status is written to first (PATH.tmp) is never
written through: a link there to the disk leaves the disk as it was.
nbd-integrity serve --check refuses a configuration whose status file
would be an export's disk."""

import hashlib
import os
import stat

import helpers
from helpers import check, check_in_log


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def snapshot(path):
    """What is at PATH: its type, and the digest of a regular file (a
    FIFO is not opened: that would wait for a writer)."""
    st = os.lstat(path)
    regular = stat.S_ISREG(os.stat(path).st_mode)
    return stat.S_IFMT(st.st_mode), digest(path) if regular else None


def refused(t, disk, params, status, words, what):
    """nbdkit with status=STATUS must not serve, must name STATUS and say
    one of WORDS, and must leave the file at STATUS as it was."""
    before = snapshot(status)
    server = t.server(disk, *(params + ["status=" + status]),
                      name="nbdkit-" + what.replace(" ", "-"))
    if server.launch():
        server.kill()
        raise helpers.Failure("%s: nbdkit served; it should have refused "
                              "status=%s" % (what, status))
    check(server.returncode != 0, "%s: nbdkit exited with status 0" % what)
    log = server.log(since_start=True)
    check(status in log, "%s: the message does not name %s:\n%s"
          % (what, status, log))
    check_in_log(log, words, what)
    check(snapshot(status) == before, "%s: %s was changed" % (what, status))
    print("%s: refused: %s" % (what, log.strip().splitlines()[-1]))


def serves(t, disk, params, status, what):
    """nbdkit serves with status=STATUS, which then holds its status."""
    server = t.serve(disk, *(params + ["status=" + status]),
                     name="nbdkit-" + what.replace(" ", "-"))
    server.connect()  # nbdkit serves once after_fork has published
    server.stop()
    with open(status) as f:
        text = f.read()
    check(text.startswith("# nbd-integrity status") and
          "state=closed\n" in text,
          "%s: %s is not a closed status file:\n%s" % (what, status, text))
    print("%s: served" % what)


def refusals(t):
    key = t.make_key()
    disk = t.format(hash="hmac-sha256", keyfile=key)
    params = ["keyfile=" + key]
    disk_before = digest(disk)
    refused(t, disk, params, disk, ["disk"], "status at the disk")
    refused(t, disk, params, key, ["key file"], "status at the key file")
    link = t.path("disk-link")
    os.symlink(disk, link)
    refused(t, disk, params, link, ["disk"], "status at a symlink to the disk")
    key_link = t.path("key-link")
    os.symlink(key, key_link)
    refused(t, disk, params, key_link, ["key file"],
            "status at a symlink to the key file")
    hard = t.path("disk-hard-link")
    os.link(disk, hard)
    refused(t, disk, params, hard, ["disk"], "status at a hard link to the disk")
    other = t.path("notes.txt")
    with open(other, "w") as f:
        f.write("[status]\nnot ours\n")
    refused(t, disk, params, other, ["not a status file"],
            "status at an unrelated file")
    fifo = t.path("fifo")
    os.mkfifo(fifo)
    refused(t, disk, params, fifo, ["fifo"], "status at a FIFO")
    check(digest(disk) == disk_before, "the disk was changed")
    check(os.path.islink(link) and os.path.islink(key_link),
          "a symlink given as status= was replaced")
    return disk, params


def acceptances(t, disk, params):
    status = t.path("new.status")
    serves(t, disk, params, status, "status at a new path")
    serves(t, disk, params, status, "status at an old status file")
    empty = t.path("empty.status")
    open(empty, "w").close()
    serves(t, disk, params, empty, "status at an empty file")


def tmp_link(t, disk, params):
    """PATH.tmp, a link to the disk: replaced, never written through.
    Serving changes the superblock, so the disk is checked whole rather
    than compared byte for byte."""
    size = os.path.getsize(disk)
    status = t.path("linked.status")
    os.symlink(disk, status + ".tmp")
    serves(t, disk, params, status, "status whose PATH.tmp links to the disk")
    check(os.path.getsize(disk) == size and
          not helpers.read_file(disk, 0, 64).startswith(b"# nbd-integrity"),
          "the disk was written through PATH.tmp")
    t.verify_clean(disk, params[0][len("keyfile="):])


def serve_check(t):
    """serve --check: the export's status file would be its disk."""
    os.mkdir(t.path("run"))
    disk = t.format("run/d0.status")
    config = t.path("exports.conf")
    with open(config, "w") as f:
        f.write("[server]\nstatus-dir = run\n\n[export d0]\n"
                "disk = run/d0.status\nsocket = d0.sock\n")
    before = digest(disk)
    r = t.run_tool("serve", "--check", config)
    check(r.returncode == 2, "serve --check: exit %d, expected 2:\n%s%s"
          % (r.returncode, r.stdout, r.stderr))
    check(config + ":4:" in r.stderr and disk in r.stderr,
          "serve --check: the message does not name %s:4 and %s:\n%s"
          % (config, disk, r.stderr))
    check(digest(disk) == before, "serve --check changed the disk")
    print("serve --check with the status file at the disk: refused: %s"
          % r.stderr.strip())


def main(t):
    disk, params = refusals(t)
    acceptances(t, disk, params)
    tmp_link(t, disk, params)
    serve_check(t)


helpers.run(main)
