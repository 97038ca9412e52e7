#!/usr/bin/python3
"""nbd-integrity serve runs one nbdkit for each export of a configuration
file and supervises them.  Three exports on Unix sockets serve at once;
one that aborts (SIGABRT, as nbdkit 1.32 does when a client trips one of
its assertions) is restarted, the log naming the export, the signal and
the restart, and serves its flushed data again, the others untouched; an export whose disk cannot be served is retried
with a growing delay, its error logged under its name; SIGTERM stops
every nbdkit once its clients have gone, and leaves every disk clean.

A configuration with a mistake is refused with exit status 2 and a
message naming the file and the line.  serve --check prints the nbdkit
commands (an export on a TCP port with --threads=1 unless threads= says
otherwise), and attach and detach --dry-run the nbd-client and mdadm
commands (the machine running the tests has no nbd module).  The example
contrib/exports.conf passes the checks and is shown in nbd-integrity(8)
as it is.  serve --socket-activated, started as systemd starts it (by
systemd-socket-activate), becomes the export's nbdkit on the socket it
is passed, and leaves its disk clean on SIGTERM; without a socket it
refuses to run."""

import errno
import math
import os
import re
import resource
import signal
import subprocess
import time

import helpers
from helpers import SECTOR, check, check_eq, check_same

EXPORTS = ["d0", "d1", "d2"]
WAIT = 20.0  # seconds, for anything the supervisor does


class Supervisor:
    """nbd-integrity serve CONFIG, its output in a log file."""

    def __init__(self, t, config):
        self.t = t
        self.logpath = t.path("serve.log")
        with open(self.logpath, "w") as log:
            # No core files from the nbdkit the test aborts.
            self.proc = subprocess.Popen(
                [t.tool, "serve", config], stdin=subprocess.DEVNULL,
                stdout=log, stderr=log,
                preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_CORE,
                                                      (0, 0)))
        self.started = time.monotonic()

    def log(self):
        with open(self.logpath) as f:
            return f.read()

    def running(self):
        return self.proc.poll() is None

    def kill(self):
        if self.running():
            self.proc.kill()
            self.proc.wait()


def wait_for(what, cond, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise helpers.Failure("timed out after %.0f s waiting for %s"
                                  % (timeout, what))
        time.sleep(0.05)


def read_status(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                key, sep, value = line.rstrip("\n").partition("=")
                if sep:
                    out[key] = value
    except FileNotFoundError:
        pass
    return out


def serving_pid(t, name, not_pid=None):
    """The pid of export NAME's nbdkit once it serves (and is not
    NOT_PID), from its status file; None until then."""
    st = read_status(t.path("status/%s.status" % name))
    if st.get("state") != "serving":
        return None
    pid = int(st["pid"])
    return pid if pid != not_pid and helpers.alive(pid) else None


def connect(t, name):
    h = helpers.nbd.NBD()
    h.connect_unix(t.path(name + ".sock"))
    return h


def write_serve_config(t, disks, blank):
    text = ["[server]", "status-dir = status", "restart-delay = 1", ""]
    for name, disk in zip(EXPORTS, disks):
        text += ["[export %s]" % name, "disk = " + disk,
                 "socket = %s.sock" % name, ""]
    # Relative paths are taken from the file's directory.
    text += ["[export broken]", "disk = " + os.path.basename(blank),
             "socket = broken.sock", ""]
    path = t.path("serve.conf")
    with open(path, "w") as f:
        f.write("\n".join(text))
    return path


def check_commands(t, config, disks):
    r = t.run_tool("serve", "--check", config)
    check_eq(r.returncode, 0, "serve --check exit (%s)" % r.stderr)
    lines = r.stdout.splitlines()
    check_eq(len(lines), 4, "serve --check lines: %r" % r.stdout)
    want = ("nbdkit -f --exit-with-parent -U %s %s file=%s status=%s"
            % (t.path("d0.sock"), t.plugin, disks[0],
               t.path("status/d0.status")))
    check_eq(lines[0], want, "serve --check, first export")
    check("file=" + t.path("blank.img") in lines[3],
          "a relative disk= is not taken from the file's directory: %r"
          % lines[3])


def write_and_check(t, handles):
    """Writes different data to each export, flushed; returns it."""
    written = {}
    for name, h in handles.items():
        data = t.data(16 * SECTOR)
        h.pwrite(data, 64 * SECTOR)
        h.flush()
        check_same(h.pread(len(data), 64 * SECTOR), data, name)
        written[name] = data
    return written


def check_restart(t, sup, handles, written, pids):
    """Abort d1's nbdkit: it is restarted and serves its data; the
    others keep their processes."""
    os.kill(pids["d1"], signal.SIGABRT)
    del handles["d1"]  # its server is gone
    new = wait_for("d1 to be restarted",
                   lambda: serving_pid(t, "d1", not_pid=pids["d1"]))
    h = wait_for("d1 to serve again", lambda: try_connect(t, "d1"))
    handles["d1"] = h
    check_same(h.pread(16 * SECTOR, 64 * SECTOR), written["d1"],
               "d1 after its restart")
    for name in ("d0", "d2"):
        check_eq(serving_pid(t, name), pids[name], name + "'s nbdkit")
    log = sup.log()
    check(re.search(r"d1: nbdkit \(pid %d\) was killed by SIGABRT \(Aborted\)"
                    r" after [0-9.]+ s \(a failed assertion: .*\); "
                    r"restarting in 1 s\n" % pids["d1"], log),
          "the log does not report d1's abort:\n" + log)
    check(re.search(r"d1: restarted nbdkit \(pid %d\): the last one "
                    r"\(pid %d\) was killed by SIGABRT" % (new, pids["d1"]),
                    log),
          "the log does not report d1's restart:\n" + log)
    pids["d1"] = new


def try_connect(t, name):
    try:
        return connect(t, name)
    except helpers.nbd.Error:
        return None


def check_backoff(sup):
    """The export that cannot start is retried, each time after twice
    the delay: at 0, 1, 3, 7... seconds."""
    def count_starts():
        return len(re.findall(r"broken: (re)?started nbdkit", sup.log()))
    wait_for("broken to be retried", lambda: count_starts() >= 3)
    log = sup.log()
    starts = count_starts()
    elapsed = time.monotonic() - sup.started
    check(starts <= math.log2(elapsed + 1) + 2,
          "broken started %d times in %.1f s: no backoff?\n%s"
          % (starts, elapsed, log))
    check(re.search(r"broken: nbdkit: .*error: .*blank\.img", log),
          "the broken export's error is not logged under its name:\n" + log)
    check("restarting in 2 s" in log, "no backoff in the log:\n" + log)


def check_stop(t, sup, handles, pids, disks):
    """SIGTERM: every nbdkit stops once its client has gone; the disks
    are left clean."""
    h0 = handles.pop("d0")
    for h in handles.values():
        h.shutdown()
    handles.clear()
    # serve passes SIGTERM on to every nbdkit.
    check(helpers.terminate(sup.proc.pid,
                            lambda: not helpers.alive(pids["d1"])
                            and not helpers.alive(pids["d2"]), WAIT),
          "d1 and d2 did not stop after SIGTERM")
    time.sleep(1)
    check(sup.running() and helpers.alive(pids["d0"]),
          "d0's nbdkit stopped under a connected client")
    # Meanwhile nbdkit answers its requests with ESHUTDOWN.
    try:
        h0.pread(SECTOR, 0)
        raise helpers.Failure("d0 served a read after SIGTERM")
    except helpers.nbd.Error as e:
        check_eq(e.errnum, errno.ESHUTDOWN, "d0's read after SIGTERM")
    h0.shutdown()
    try:
        rc = sup.proc.wait(WAIT)
    except subprocess.TimeoutExpired:
        raise helpers.Failure("serve did not exit after SIGTERM:\n"
                              + sup.log())
    check_eq(rc, 0, "serve's exit status after SIGTERM")
    for name, disk in zip(EXPORTS, disks):
        check(not helpers.alive(pids[name]),
              "%s's nbdkit outlived serve" % name)
        check_eq(read_status(t.path("status/%s.status" % name))["state"],
                 "closed", name + "'s status file")
        check_eq(t.dump(disk)["state"], "clean", name + "'s disk")
        check(not os.path.exists(t.path(name + ".sock")),
              name + "'s socket is left behind")
        t.verify_clean(disk)
    check("every export has stopped" in sup.log(), "serve's last words")


def check_serve(t):
    disks = [t.format("disk%d.img" % i) for i in range(3)]
    blank = t.path("blank.img")  # no format: the plugin refuses it
    with open(blank, "wb") as f:
        f.truncate(16 << 20)
    config = write_serve_config(t, disks, blank)
    check_commands(t, config, disks)

    sup = Supervisor(t, config)
    try:
        pids = {name: wait_for(name + " to serve",
                               lambda n=name: serving_pid(t, n))
                for name in EXPORTS}
        handles = {name: wait_for(name + " to connect",
                                  lambda n=name: try_connect(t, n))
                   for name in EXPORTS}
        written = write_and_check(t, handles)
        check_restart(t, sup, handles, written, pids)
        check_backoff(sup)
        check_stop(t, sup, handles, pids, disks)
        print("serve: three exports served, one restarted, all stopped clean")
    except Exception:
        print("--- serve's log\n" + sup.log())
        raise
    finally:
        sup.kill()


# Configuration errors: (what, text, line, a word of the message).
BAD_CONFIGS = [
    ("unknown key",
     "[server]\nstatus-dir = s\n\n[export d0]\ndisk = a.img\n"
     "socket = a.sock\ncolour = blue\n",
     7, "colour"),
    ("missing disk",
     "[export d0]\ndisk = a.img\nsocket = a.sock\n\n"
     "[export d1]\nsocket = b.sock\n",
     5, "disk"),
    ("duplicate socket",
     "[export d0]\ndisk = a.img\nsocket = a.sock\n[export d1]\n"
     "disk = b.img\n# the same socket\nsocket = a.sock\n",
     7, "socket"),
    ("socket and port",
     "[export d0]\ndisk = a.img\nsocket = a.sock\nport = 10809\n",
     4, "port"),
    ("port out of range",
     "[export d0]\ndisk = a.img\nport = 65536\n",
     3, "65536"),
    ("bad mode",
     "[export d0]\ndisk = a.img\nsocket = a.sock\n\nmode = fast\n",
     5, "mode"),
    ("duplicate port",
     "[export d0]\ndisk = a.img\nport = 10809\n\n[export d1]\n"
     "disk = b.img\naddress = 127.0.0.1\nport = 10809\n",
     8, "port"),
    ("repeated key",
     "[export d0]\ndisk = a.img\nsocket = a.sock\ndisk = b.img\n",
     4, "twice"),
    ("syntax error",
     "[export d0]\ndisk = a.img\nsocket a.sock\n",
     3, "socket a.sock"),
    ("threads out of range",
     "[export d0]\ndisk = a.img\nsocket = a.sock\nthreads = 0\n",
     4, "threads"),
    ("unknown group",
     "[export d0]\ndisk = a.img\nsocket = a.sock\n[exprot d1]\n",
     4, "exprot"),
]


def check_config_errors(t):
    for i, (what, text, line, word) in enumerate(BAD_CONFIGS):
        path = t.path("bad%d.conf" % i)
        with open(path, "w") as f:
            f.write(text)
        for cmd in (["serve"], ["serve", "--check"], ["attach", "-n"]):
            if cmd[0] == "attach" and what == "missing disk":
                continue  # a client need not know the disks
            r = t.run_tool(*(cmd + [path]))
            check_eq(r.returncode, 2, "%s: %s exit" % (what, " ".join(cmd)))
            check("%s:%d: " % (path, line) in r.stderr and word in r.stderr,
                  "%s: %s: expected %s:%d: and %r in the message, got %r"
                  % (what, " ".join(cmd), path, line, word, r.stderr))
            check_eq(r.stdout, "", "%s: output" % what)
        print("%s: refused at line %d" % (what, line))


CLIENT_CONFIG = """\
[server]
timeout = 45

[export d0]
socket = /run/nbd-integrity/d0.sock
device = /dev/nbd0
[export d1]
socket = /run/nbd-integrity/d1.sock
device = /dev/nbd1
timeout = 10
[export d2]
host = server.example
port = 10811
tls = require
tls-cacertfile = /etc/pki/ca-cert.pem
tls-certfile = /etc/pki/client-cert.pem
tls-keyfile = /etc/pki/client-key.pem
device = /dev/nbd2

[array md0]
device = /dev/md0
level = 5
members = d0, d1, d2
"""


THREADS_CONFIG = """\
[export unix]
disk = a.img
socket = a.sock
[export tcp]
disk = b.img
port = 10999
[export tcp16]
disk = c.img
port = 11000
threads = 16
[export unix1]
disk = d.img
socket = d.sock
threads = 1
"""


def check_threads(t):
    """An export on a TCP port gets nbdkit --threads=1 unless threads=
    says otherwise; one on a Unix socket nbdkit's default."""
    path = t.path("threads.conf")
    with open(path, "w") as f:
        f.write(THREADS_CONFIG)
    lines = t.tool_ok("serve", "--check", path).stdout.splitlines()
    check_eq([re.findall(r"--threads=\d+", line) for line in lines],
             [[], ["--threads=1"], ["--threads=16"], ["--threads=1"]],
             "--threads of unix, tcp, tcp16, unix1 in %r" % lines)
    print("threads: 1 on a TCP port, nbdkit's default on a Unix socket")


def check_attach(t):
    path = t.path("client.conf")
    with open(path, "w") as f:
        f.write(CLIENT_CONFIG)
    r = t.tool_ok("attach", "--dry-run", "--assemble", path)
    check_eq(r.stdout.splitlines(), [
        "nbd-client -unix /run/nbd-integrity/d0.sock /dev/nbd0 -b 4096 "
        "-timeout 45 -N d0",
        "nbd-client -unix /run/nbd-integrity/d1.sock /dev/nbd1 -b 4096 "
        "-timeout 10 -N d1",
        "nbd-client server.example 10811 /dev/nbd2 -b 4096 -timeout 45 "
        "-N d2 -enable-tls -certfile /etc/pki/client-cert.pem "
        "-keyfile /etc/pki/client-key.pem -cacertfile /etc/pki/ca-cert.pem",
        "mdadm --assemble /dev/md0 /dev/nbd0 /dev/nbd1 /dev/nbd2",
    ], "attach --dry-run --assemble")

    r = t.tool_ok("attach", "--dry-run", "--assemble", "--create", path)
    check("mdadm --create /dev/md0 --run --level=5 --raid-devices=3 "
          "/dev/nbd0 /dev/nbd1 /dev/nbd2" in r.stdout,
          "attach --create: %r" % r.stdout)

    r = t.tool_ok("attach", "--dry-run", "--assemble", path, "d1")
    check_eq(r.stdout.splitlines(), [
        "nbd-client -unix /run/nbd-integrity/d1.sock /dev/nbd1 -b 4096 "
        "-timeout 10 -N d1"], "attach of one member assembles nothing")

    r = t.tool_ok("detach", "--dry-run", path)
    check_eq(r.stdout.splitlines(), [
        "mdadm --stop /dev/md0", "nbd-client -d /dev/nbd0",
        "nbd-client -d /dev/nbd1", "nbd-client -d /dev/nbd2"],
        "detach --dry-run")

    for args, word in ((["attach", "-n", path, "d9"], "d9"),
                       (["attach", "-n", "--create", path], "--assemble"),
                       (["detach", "-n", t.path("serve.conf")], "device=")):
        r = t.run_tool(*args)
        check_eq(r.returncode, 2, "%s: exit" % " ".join(args))
        check(word in r.stderr, "%s: %r" % (" ".join(args), r.stderr))
    print("attach and detach --dry-run: the expected commands")


SOURCE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


def check_example(t):
    """contrib/exports.conf is a right configuration, and the man page
    shows it as it is."""
    example = os.path.join(SOURCE, "contrib", "exports.conf")
    r = t.tool_ok("serve", "--check", example)
    check_eq(len(r.stdout.splitlines()), 4, "serve --check of the example")
    r = t.tool_ok("attach", "--dry-run", "--assemble", example)
    check("mdadm --assemble /dev/md0 /dev/nbd0 /dev/nbd1 /dev/nbd2"
          in r.stdout, "attach --dry-run of the example: %r" % r.stdout)
    with open(example) as f:
        shown = "".join((" " + line) if line != "\n" else line for line in f)
    with open(os.path.join(SOURCE, "man", "nbd-integrity.8.pod")) as f:
        check(shown in f.read(), "nbd-integrity(8) does not show "
              "contrib/exports.conf as it is")
    print("contrib/exports.conf: a right configuration, shown in the man page")


def check_socket_activated(t):
    disk = t.format(name="sa.img")
    config = t.path("sa.conf")
    with open(config, "w") as f:
        # systemd-socket-activate passes no environment: name the plugin.
        f.write("[export sa]\ndisk = sa.img\nsocket = sa.sock\n"
                "[server]\nstatus-dir = status\nplugin = %s\n" % t.plugin)
    r = t.run_tool("serve", "--socket-activated", "sa", config)
    check_eq(r.returncode, 2, "serve --socket-activated without a socket")
    check("LISTEN_FDS" in r.stderr, "no socket: %r" % r.stderr)
    log = open(t.path("sa.log"), "w")
    passed = ["-E%s=%s" % kv for kv in helpers.passed_env().items()]
    proc = subprocess.Popen(["systemd-socket-activate", "-l",
                             t.path("sa.sock")] + passed +
                            [t.tool, "serve", "--socket-activated", "sa",
                             config],
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        wait_for("the activation socket",
                 lambda: os.path.exists(t.path("sa.sock")))
        try:
            h = connect(t, "sa")
        except helpers.nbd.Error as e:
            with open(t.path("sa.log")) as f:
                raise helpers.Failure("%s; log:\n%s" % (e, f.read()))
        data = t.data(SECTOR)
        h.pwrite(data, 7 * SECTOR)
        h.flush()
        check_same(h.pread(SECTOR, 7 * SECTOR), data, "socket-activated")
        h.shutdown()
        check(helpers.terminate(proc.pid, lambda: proc.poll() is not None,
                                WAIT), "socket-activated nbdkit did not exit")
        check_eq(proc.returncode, 0, "socket-activated exit status")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
    check_eq(t.dump(disk)["state"], "clean", "state after SIGTERM")
    t.verify_clean(disk)


def main(t):
    check_config_errors(t)
    check_serve(t)
    check_threads(t)
    check_attach(t)
    check_example(t)
    check_socket_activated(t)


helpers.run(main)
