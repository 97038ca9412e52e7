#!/usr/bin/python3
"""nbdkit forks into the background unless given -f, after the plugin's
get_ready: the plugin must start its checkpoint thread after the fork.
Serve daemonized, write enough to fill the journal several times, stop
with SIGTERM: nbdkit exits and the disk is left clean and verified.

Every thread of the serving process must be an I/O flusher (as root, who
may be one), so a client on the same host cannot deadlock it under memory
pressure; with lock-memory=true its pages are locked in memory."""

import os
import signal
import subprocess
import sys
import time

import helpers
from helpers import SECTOR, check, check_eq, check_same

PF_MEMALLOC_NOIO = 0x00080000  # include/linux/sched.h
PF_LOCAL_THROTTLE = 0x00100000


def may_be_io_flusher():
    """Whether this process may set PR_SET_IO_FLUSHER (CAP_SYS_RESOURCE);
    tried in a child, as the flag cannot be cleared without it."""
    code = ("import ctypes, sys; "
            "sys.exit(ctypes.CDLL(None).prctl(57, 1, 0, 0, 0) != 0)")
    return subprocess.run([sys.executable, "-c", code]).returncode == 0


def check_io_flusher(pid):
    """Fails unless every thread of PID has the flags PR_SET_IO_FLUSHER
    sets (field 9 of /proc/PID/task/TID/stat)."""
    if not may_be_io_flusher():
        return
    tasks = os.listdir("/proc/%d/task" % pid)
    check(len(tasks) >= 3, "expected main, checkpoint and worker threads")
    for tid in tasks:
        with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
            flags = int(f.read().rsplit(")", 1)[1].split()[6])
        want = PF_MEMALLOC_NOIO | PF_LOCAL_THROTTLE
        check(flags & want == want,
              "thread %s of nbdkit is not an I/O flusher (flags %#x)"
              % (tid, flags))


def status_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise helpers.Failure("no %s in /proc/%d/status" % (field, pid))


def wait_for_pidfile(path, timeout=30):
    """The daemon's pid: nbdkit's parent exits right after the fork, and
    the child writes the file a moment later."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path) and os.path.getsize(path):
            with open(path) as f:
                text = f.read()
            if text.endswith("\n"):
                return int(text)
        time.sleep(0.02)
    raise helpers.Failure("daemonized nbdkit wrote no pid file in %d s"
                          % timeout)


def main(t):
    disk = t.format(size="64M")  # a 1 MiB journal: 256 blocks
    sock, pidfile = t.path("d.sock"), t.path("d.pid")
    subprocess.run(["nbdkit", "-U", sock, "-P", pidfile, t.plugin,
                    "file=" + disk, "lock-memory=true"], check=True,
                   timeout=30)
    pid = wait_for_pidfile(pidfile)
    try:
        h = helpers.nbd.NBD()
        h.connect_unix(sock)
        blocks = {}
        for i in range(1500):  # one journal block per commit at least
            s = t.rng.randrange(0, 15000)
            blocks[s] = t.data(SECTOR)
            h.pwrite(blocks[s], s * SECTOR)
        h.flush()
        for s, data in list(blocks.items())[:50]:
            check_same(h.pread(SECTOR, s * SECTOR), data, "sector %d" % s)
        check_io_flusher(pid)
        if helpers.SANITIZER:
            # Its runtime makes mlockall do nothing, and its shadow
            # memory is resident.
            print("%s: locked memory not checked" % helpers.SANITIZER)
        else:
            check(status_kib(pid, "VmLck") > 0,
                  "lock-memory=true locked nothing")
            rss = status_kib(pid, "VmRSS")  # locked on fault, not at once
            check(rss < 128 * 1024,
                  "%d KiB resident: whole stacks locked?" % rss)
        h.shutdown()
        if not helpers.terminate(pid, lambda: not helpers.alive(pid),
                                 timeout=30):
            raise helpers.Failure("daemonized nbdkit did not exit on SIGTERM")
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    check_eq(t.dump(disk)["state"], "clean", "state after SIGTERM")
    t.verify_clean(disk)


helpers.run(main)
