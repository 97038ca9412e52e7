"""Shared helpers for the integration tests: a real nbdkit process serving
the integrity plugin, libnbd clients, and the nbd-integrity tool.

Every test script calls run(main).  It makes a temporary directory, runs
main(t) with a Test object, and exits 0 on success, 1 on failure (with the
traceback and the tail of every nbdkit log) or 77 when a prerequisite is
missing.  Every nbdkit started is killed when the script exits, however it
exits: the Test's cleanup, an atexit hook, a SIGTERM handler (meson's
timeout) and nbdkit's own --exit-with-parent all see to it.
"""

import atexit
import errno
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

try:
    import nbd
except ImportError:
    nbd = None

SECTOR = 4096
START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0

ALGORITHMS = ["crc32c", "xxh3-128", "blake2b-256", "sha256",
              "blake2b-256-keyed", "hmac-sha256"]
KEYED = {"blake2b-256-keyed", "hmac-sha256"}

_servers = []  # every Server started, so exit can kill the survivors


class Skip(Exception):
    """A prerequisite is missing: the test exits 77."""


class Failure(Exception):
    """An assertion failed."""


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def check_eq(got, expected, what):
    if got != expected:
        raise Failure("%s: expected %r, got %r" % (what, expected, got))


def check_in_log(log, words, what):
    """Fails unless the lowercased LOG contains one of WORDS."""
    low = log.lower()
    if not any(w in low for w in words):
        raise Failure("%s: expected a message mentioning %s; the log was:\n%s"
                      % (what, " or ".join(repr(w) for w in words), log))


def _kill_all():
    for s in _servers:
        s.kill()


def _on_sigterm(signum, frame):
    raise SystemExit("killed by signal %d" % signum)


atexit.register(_kill_all)

# scripts/sanitize builds the plugin and the tool with a sanitizer (named
# here) and puts first on PATH an nbdkit that preloads its runtime.
SANITIZER = os.environ.get("NBD_INTEGRITY_SANITIZER")


def alive(pid):
    """Whether process PID runs (a zombie has exited: its parent has not
    reaped it yet)."""
    try:
        os.kill(pid, 0)
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


# gcc 12's ThreadSanitizer runtime now and then loses a signal that
# reaches nbdkit while its main thread is inside the runtime: nbdkit's
# handler never runs (its quit pipe stays empty, TSan holds nothing
# pending) and nbdkit serves on.  Seen in about 1 of 300 starts and
# stops of nbdkit with the plugin under TSan, in none of 2,100 without
# it.  A second SIGTERM has stopped every one.  Under TSan only,
# terminate sends SIGTERM again, as an administrator would.
TSAN_RESEND_SECONDS = 5.0


def terminate(pid, exited, timeout=STOP_TIMEOUT):
    """Sends SIGTERM to PID and waits up to TIMEOUT s for EXITED() to
    be true (under TSan sending it again every TSAN_RESEND_SECONDS);
    returns whether it came true."""
    os.kill(pid, signal.SIGTERM)
    start = time.monotonic()
    resend = start + TSAN_RESEND_SECONDS
    while time.monotonic() - start < timeout:
        if exited():
            return True
        if SANITIZER == "tsan" and time.monotonic() >= resend:
            print("pid %d still running %.0f s after SIGTERM: sent again "
                  "(ThreadSanitizer loses one now and then)"
                  % (pid, time.monotonic() - start), file=sys.stderr)
            os.kill(pid, signal.SIGTERM)
            resend += TSAN_RESEND_SECONDS
        time.sleep(0.02)
    return exited()


def passed_env():
    """What a launcher that passes no environment on (systemd-socket-
    activate) must pass: PATH, to find that nbdkit, and the options of
    the sanitizers."""
    names = ("PATH", "ASAN_OPTIONS", "LSAN_OPTIONS", "UBSAN_OPTIONS",
             "TSAN_OPTIONS")
    return {k: os.environ[k] for k in names if k in os.environ}


# The first line of a sanitizer's report.  UBSan, built with ASan by gcc,
# ignores log_path and reports only on stderr: the logs are searched too.
_SANITIZER_REPORT = re.compile(
    r"runtime error:|(ERROR|WARNING): [A-Za-z]+Sanitizer")


def check_no_sanitizer_report(text, what):
    """Fails if TEXT, the output of WHAT, holds a sanitizer's report."""
    m = _SANITIZER_REPORT.search(text)
    if m:
        start = text.rfind("\n", 0, m.start()) + 1
        raise Failure("sanitizer report in %s:\n%s" % (what, text[start:]))


def _env_path(name):
    value = os.environ.get(name)
    if not value:
        raise Failure("%s is not set: run the tests with meson test" % name)
    if not os.path.exists(value):
        raise Failure("%s=%s does not exist: build first" % (name, value))
    return os.path.abspath(value)


class Server:
    """One nbdkit process serving the plugin on a Unix socket."""

    def __init__(self, test, name, params, nbdkit_args=()):
        self.test = test
        self.name = name
        self.params = list(params)
        self.nbdkit_args = list(nbdkit_args)  # before the plugin
        self.sock = os.path.join(test.dir, name + ".sock")
        self.pidfile = os.path.join(test.dir, name + ".pid")
        self.logpath = os.path.join(test.dir, name + ".log")
        self.proc = None
        self.handles = []
        self.returncode = None
        self.log_start = 0

    def command(self):
        verbose = ["-v"] if os.environ.get("NBDKIT_VERBOSE") else []
        return (["nbdkit", "-f", "--exit-with-parent", "-U", self.sock,
                 "-P", self.pidfile] + verbose + self.nbdkit_args +
                [self.test.plugin] + self.params)

    def launch(self):
        """Starts nbdkit and waits until it serves or exits.  Returns True
        if it is serving, False if it exited (see returncode and log())."""
        for path in (self.sock, self.pidfile):
            if os.path.exists(path):
                os.unlink(path)
        with open(self.logpath, "a") as log:
            log.write("=== %s\n" % " ".join(self.command()))
            log.flush()
            self.log_start = log.tell()
            self.proc = subprocess.Popen(self.command(),
                                         stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log)
        _servers.append(self)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.returncode = self.proc.returncode
                self.proc = None
                return False
            if os.path.exists(self.pidfile) and os.path.getsize(self.pidfile):
                return True
            time.sleep(0.02)
        self.kill()
        raise Failure("nbdkit did not start within %d s; log:\n%s"
                      % (START_TIMEOUT, self.log()))

    def start(self):
        if not self.launch():
            raise Failure("nbdkit failed to start (exit %s); log:\n%s"
                          % (self.returncode, self.log()))
        return self

    def connect(self):
        h = nbd.NBD()
        h.connect_unix(self.sock)
        self.handles.append(h)
        return h

    def _drop_handles(self):
        for h in self.handles:
            try:
                h.shutdown()
            except Exception:
                pass
            try:
                h.close()
            except Exception:
                pass
        self.handles = []

    def stop(self):
        """Disconnects every client and stops nbdkit with SIGTERM, as an
        administrator would; fails if it does not exit cleanly."""
        self._drop_handles()
        if self.proc is None:
            return
        proc = self.proc
        if not terminate(proc.pid, lambda: proc.poll() is not None):
            self.kill()
            raise Failure("nbdkit did not exit %d s after SIGTERM; log:\n%s"
                          % (STOP_TIMEOUT, self.log()))
        self.returncode = self.proc.returncode
        self.proc = None
        check(self.returncode == 0,
              "nbdkit exited with status %s after SIGTERM; log:\n%s"
              % (self.returncode, self.log()))

    def kill(self, sig=signal.SIGKILL):
        """Kills nbdkit at once (a crash) and reaps it."""
        if self.proc is None:
            return
        try:
            self.proc.send_signal(sig)
            self.proc.wait(STOP_TIMEOUT)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        self.returncode = self.proc.returncode
        self.proc = None
        for h in self.handles:
            try:
                h.close()
            except Exception:
                pass
        self.handles = []

    def log(self, since_start=False):
        """What nbdkit printed; only in its latest run if SINCE_START."""
        try:
            with open(self.logpath, "rb") as f:
                if since_start:
                    f.seek(self.log_start)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""


class Test:
    """A temporary directory, the programs under test and the servers."""

    def __init__(self):
        self.plugin = _env_path("NBD_INTEGRITY_PLUGIN")
        self.tool = _env_path("NBD_INTEGRITY_TOOL")
        self.dir = tempfile.mkdtemp(prefix="nbd-integrity-")
        seed = os.environ.get("TEST_SEED")
        self.seed = int(seed) if seed else random.randrange(1 << 32)
        self.rng = random.Random(self.seed)
        self.servers = []
        self.pool = b""

    def data(self, n):
        """N bytes of random data, cheaply: a slice of a random pool at a
        random offset, so no two writes are alike."""
        if len(self.pool) < n + 4096:
            self.pool = self.rng.randbytes(max(2 * n, 4 << 20))
        start = self.rng.randrange(len(self.pool) - n)
        return self.pool[start:start + n]

    def path(self, name):
        return os.path.join(self.dir, name)

    def check_logs(self):
        """Fails if a sanitizer reported into any log of the test: of
        nbdkit, or of the tool serving."""
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".log"):
                with open(self.path(name), "rb") as f:
                    text = f.read().decode(errors="replace")
                check_no_sanitizer_report(text, self.path(name))

    def cleanup(self, keep):
        for s in self.servers:
            s.kill()
        if keep:
            print("test files kept in %s" % self.dir, file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # The tool.

    def run_tool(self, *args):
        """Runs the tool; returns the CompletedProcess (text output)."""
        cmd = [self.tool] + [str(a) for a in args]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        check_no_sanitizer_report(r.stderr, " ".join(cmd))
        return r

    def tool_ok(self, *args):
        r = self.run_tool(*args)
        check(r.returncode == 0,
              "nbd-integrity %s: exit %d\nstdout: %s\nstderr: %s"
              % (" ".join(map(str, args)), r.returncode, r.stdout, r.stderr))
        return r

    def make_key(self, name="key", size=32):
        path = self.path(name)
        with open(path, "wb") as f:
            f.write(os.urandom(size))
        os.chmod(path, 0o600)
        return path

    def format(self, name="disk.img", size="64M", hash=None, keyfile=None,
               extra=()):
        """Formats a new image NAME; returns its path."""
        disk = self.path(name)
        args = ["format", "--size", size]
        if hash:
            args += ["--hash", hash]
        if keyfile:
            args += ["--keyfile", keyfile]
        self.tool_ok(*(args + list(extra) + [disk]))
        return disk

    def dump(self, disk):
        return json.loads(self.tool_ok("dump", "--json", disk).stdout)

    def locate(self, disk, sector):
        """The tool's idea of where SECTOR's data and tag are."""
        loc = json.loads(self.tool_ok("locate", "--json", disk, sector).stdout)
        for k in ("data_offset", "tag_offset", "sector_size", "tag_size"):
            check(k in loc, "locate --json: no %s in %r" % (k, loc))
        return loc

    def verify(self, disk, keyfile=None):
        """Runs verify --json; returns (exit status, parsed JSON or None)."""
        args = ["verify", "--json"]
        if keyfile:
            args += ["--keyfile", keyfile]
        r = self.run_tool(*(args + [disk]))
        try:
            report = json.loads(r.stdout)
        except ValueError:
            report = None
        if r.returncode in (0, 1):
            check(report is not None, "verify --json printed no JSON: %r\n%s"
                  % (r.stdout, r.stderr))
        return r.returncode, report, r

    def verify_clean(self, disk, keyfile=None):
        rc, report, r = self.verify(disk, keyfile)
        check(rc == 0 and report["mismatches"] == 0 and
              report["bad_sectors"] == [],
              "verify %s: expected clean (exit 0), got exit %d: %s %s"
              % (disk, rc, r.stdout, r.stderr))
        return report

    # nbdkit.

    def server(self, disk, *params, name=None, nbdkit_args=()):
        """An nbdkit for DISK with plugin PARAMS and NBDKIT_ARGS, nbdkit's
        own options (not started)."""
        name = name or "nbdkit%d" % len(self.servers)
        s = Server(self, name, ["file=" + disk] + list(params), nbdkit_args)
        self.servers.append(s)
        return s

    def serve(self, disk, *params, name=None):
        return self.server(disk, *params, name=name).start()

    def logs(self):
        out = []
        for s in self.servers:
            text = s.log()
            if text:
                out.append("--- %s (%s)\n%s"
                           % (s.name, s.logpath, text[-6000:]))
        return "\n".join(out)


def flip_bit(path, offset, bit=0):
    """Flips one bit of the byte at OFFSET in PATH."""
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        check(len(b) == 1, "%s: no byte at %d" % (path, offset))
        f.seek(offset)
        f.write(bytes([b[0] ^ (1 << bit)]))


def read_file(path, offset, n):
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(n)


def expect_eio(fn, what):
    """Runs FN, which must fail with an NBD error whose errno is EIO."""
    try:
        fn()
    except nbd.Error as e:
        check(e.errnum == errno.EIO, "%s: expected EIO, got %s" % (what, e))
        return
    raise Failure("%s: expected EIO, but it succeeded" % what)


def read_all(h, size, chunk=4 << 20):
    out = bytearray()
    for off in range(0, size, chunk):
        out += h.pread(min(chunk, size - off), off)
    return out


def check_reads_as(h, model, what, chunk=4 << 20):
    """Reads the whole export in large requests and compares it with
    MODEL (a bytearray as long as the export)."""
    size = h.get_size()
    check(size == len(model), "%s: export is %d bytes, the model %d"
          % (what, size, len(model)))
    for off in range(0, size, chunk):
        n = min(chunk, size - off)
        check_same(h.pread(n, off), model[off:off + n], what, off)


def first_difference(got, expected, base=0):
    for i in range(0, min(len(got), len(expected)), SECTOR):
        if got[i:i + SECTOR] != expected[i:i + SECTOR]:
            return "first difference in sector %d (byte %d)" % (
                (base + i) // SECTOR, base + i)
    if len(got) != len(expected):
        return "lengths differ: %d vs %d" % (len(got), len(expected))
    return "no difference"


def check_same(got, expected, what, base=0):
    if got != expected:
        raise Failure("%s: data differs: %s"
                      % (what, first_difference(got, expected, base)))


class Aio:
    """Keeps commands in flight on one handle and tells which finished.

    submit() waits while DEPTH commands are in flight; poll() waits for at
    least one to finish and returns the finished (op, errno) pairs, errno 0
    for success.  An op is whatever the caller passed as its tag.
    """

    def __init__(self, h, depth=32):
        self.h = h
        self.depth = depth
        self.inflight = {}  # id -> (op, buffer)
        self.finished = []  # (id, errno), filled by completion callbacks
        self.next_id = 0
        self.results = []

    def _callback(self, ident):
        def done(err):
            self.finished.append((ident, err.value))
            return 1  # retire the command
        return done

    def submit(self, op, kind, offset, data=None, count=0, flags=0):
        """Issues KIND (pwrite, pread, flush, trim or zero) and returns
        the buffer: for pread, read it once the op has finished."""
        while len(self.inflight) >= self.depth:
            self._wait()
        ident = self.next_id
        self.next_id += 1
        cb = self._callback(ident)
        buf = None
        if kind == "pwrite":
            buf = nbd.Buffer.from_bytearray(data)
            self.h.aio_pwrite(buf, offset, completion=cb, flags=flags)
        elif kind == "pread":
            buf = nbd.Buffer(count)
            self.h.aio_pread(buf, offset, completion=cb, flags=flags)
        elif kind == "flush":
            self.h.aio_flush(completion=cb, flags=flags)
        elif kind == "trim":
            self.h.aio_trim(count, offset, completion=cb, flags=flags)
        elif kind == "zero":
            self.h.aio_zero(count, offset, completion=cb, flags=flags)
        else:
            raise ValueError(kind)
        self.inflight[ident] = (op, buf)
        return buf

    def _wait(self):
        """Waits until at least one more command has finished."""
        while not self.finished and self.inflight:
            self.h.poll(-1)
        for ident, err in self.finished:
            op, _ = self.inflight.pop(ident)
            self.results.append((op, err))
        self.finished = []

    def poll(self):
        """Waits for at least one command to finish; returns the finished
        (op, errno) pairs, including those seen during submit()."""
        if not self.results:
            self._wait()
        out, self.results = self.results, []
        return out

    def collect(self):
        """The (op, errno) pairs that finished so far, without waiting."""
        out, self.results = self.results, []
        return out

    def drain(self):
        out = []
        while self.inflight or self.results:
            out += self.poll()
        return out

    def ops_in_flight(self):
        return [op for op, _ in self.inflight.values()]


def run(main):
    """Runs MAIN(test) and exits with the test's status."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    sys.stdout.reconfigure(line_buffering=True)
    if nbd is None:
        print("SKIP: the Python libnbd module (python3-libnbd) is missing",
              file=sys.stderr)
        sys.exit(77)
    if shutil.which("nbdkit") is None:
        print("SKIP: nbdkit is not installed", file=sys.stderr)
        sys.exit(77)
    test = None
    status = 1
    try:
        test = Test()
        print("seed %d (set TEST_SEED to repeat)" % test.seed)
        main(test)
        test.check_logs()
        status = 0
    except Skip as e:
        print("SKIP: %s" % e, file=sys.stderr)
        status = 77
    except (Failure, Exception, SystemExit) as e:
        traceback.print_exc()
        print("FAIL: %s" % e, file=sys.stderr)
        if test is not None:
            print(test.logs(), file=sys.stderr)
    finally:
        if test is not None:
            test.cleanup(keep=status == 1 and
                         bool(os.environ.get("KEEP_TEST_FILES")))
    sys.exit(status)
