#!/usr/bin/python3
"""A FIFO or a character device where a disk, a key file, a configuration
file or a status file to read belongs is refused at once, with a message naming
the file and what it is: by every tool that reads it, by format and by
nbdkit.  Opening a FIFO for reading waits for a writer, so without care
each of them would hang; every run here has TIMEOUT seconds to exit."""

import os
import subprocess

import helpers
from helpers import check, check_in_log

TIMEOUT = 10  # seconds: a refusal is immediate, a hang is not


def bounded(cmd, what):
    """Runs CMD; returns its exit status and output.  Fails if it has not
    exited within TIMEOUT."""
    try:
        r = subprocess.run([str(a) for a in cmd], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        raise helpers.Failure("%s: still running after %d s (hangs on the "
                              "file?): %s" % (what, TIMEOUT, " ".join(
                                  map(str, cmd))))
    helpers.check_no_sanitizer_report(r.stderr, what)
    return r.returncode, r.stdout + r.stderr


def refused(cmd, path, kind, what):
    """CMD must exit non-zero within TIMEOUT, naming PATH and saying it is
    a KIND."""
    rc, out = bounded(cmd, what)
    check(rc != 0, "%s: exit status 0; it should have refused %s:\n%s"
          % (what, path, out))
    check(path in out, "%s: the message does not name %s:\n%s"
          % (what, path, out))
    check_in_log(out, [kind], what)
    print("%s: refused: %s" % (what, out.strip().splitlines()[-1]))


def tool(t, *args):
    return [t.tool] + list(args)


def nbdkit(t, *params):
    sock = t.path("nbdkit.sock")
    return (["nbdkit", "-f", "--exit-with-parent", "-U", sock, t.plugin] +
            list(params))


def as_disk(t, path, kind):
    """PATH as the disk of every tool, of format and of nbdkit."""
    for args in (["dump", path], ["check", path], ["verify", path],
                 ["locate", path, "0"], ["recover", path],
                 ["format", path], ["format", "--force", path],
                 ["format", "--size", "64M", path]):
        refused(tool(t, *args), path, kind, "%s with %s %s as the disk"
                % (" ".join(a for a in args if a != path), kind, path))
    refused(nbdkit(t, "file=" + path), path, kind,
            "nbdkit with %s %s as the disk" % (kind, path))


def as_key(t, keyed, path, kind):
    """PATH as the key file of format, and of verify, recover and nbdkit
    for KEYED, a keyed disk."""
    new = t.path("new-keyed.img")
    for args in (["format", "--size", "64M", "--hash", "hmac-sha256",
                  "--keyfile", path, new],
                 ["verify", "--keyfile", path, keyed],
                 ["recover", "--keyfile", path, keyed]):
        refused(tool(t, *args), path, kind, "%s with %s %s as the key file"
                % (args[0], kind, path))
    refused(nbdkit(t, "file=" + keyed, "keyfile=" + path), path, kind,
            "nbdkit with %s %s as the key file" % (kind, path))


def as_config(t, path, kind):
    """PATH as the configuration of serve and attach, and as a status
    file to read or to reset."""
    for args in (["serve", "--check", path], ["serve", path],
                 ["attach", "--dry-run", path], ["status", path],
                 ["status", "--reset", path]):
        refused(tool(t, *args), path, kind, "%s with %s %s"
                % (" ".join(args[:-1]), kind, path))


def main(t):
    keyed = t.format("keyed.img", hash="hmac-sha256", keyfile=t.make_key())
    fifo = t.path("fifo")
    os.mkfifo(fifo, 0o600)
    as_disk(t, fifo, "fifo")
    as_key(t, keyed, fifo, "fifo")
    as_config(t, fifo, "fifo")

    as_disk(t, "/dev/null", "character device")
    as_key(t, keyed, "/dev/zero", "character device")
    as_config(t, "/dev/null", "character device")


helpers.run(main)
