"""Shared helpers for jenky's benchmarks (standard library only).

Every process a benchmark starts goes through Procs, which ends it (by pid or
by its own process group) when the benchmark exits, fails or is signalled.
Every wait here is bounded by a deadline.
"""

import ctypes
import ctypes.util
import errno
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH_DIR)
JENKY = os.environ.get("JENKY_BIN", os.path.join(REPO, "build", "jenky"))


def now_ns():
    return time.perf_counter_ns()  # CLOCK_MONOTONIC


class Timeout(Exception):
    pass


def _raise_on_term(signum, frame):
    raise SystemExit(128 + signum)


def install_signal_handlers():
    """Turn SIGTERM/SIGINT into SystemExit so `finally` blocks clean up."""
    signal.signal(signal.SIGTERM, _raise_on_term)
    signal.signal(signal.SIGINT, _raise_on_term)


# ---------------------------------------------------------------- statistics

def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def summarize_ms(samples_ns):
    v = sorted(x / 1e6 for x in samples_ns)
    return {
        "n": len(v),
        "min": v[0],
        "p50": percentile(v, 50),
        "p90": percentile(v, 90),
        "p99": percentile(v, 99),
        "max": v[-1],
        "mean": sum(v) / len(v),
    }


# ------------------------------------------------------------------- inotify

IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_libc.inotify_init1.argtypes = [ctypes.c_int]
_libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
_libc.inotify_rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]


class Inotify:
    """Minimal inotify: add_watch(dir, mask) -> wd; wait(deadline) -> events."""

    def __init__(self):
        self.fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1")
        self.poller = select.epoll()
        self.poller.register(self.fd, select.EPOLLIN)

    def add_watch(self, path, mask):
        wd = _libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
        if wd < 0:
            raise OSError(ctypes.get_errno(), "inotify_add_watch " + path)
        return wd

    def rm_watch(self, wd):
        _libc.inotify_rm_watch(self.fd, wd)

    def read_events(self, deadline_ns):
        """Blocks until events arrive or the deadline passes. [(wd, mask, name)]."""
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                left = (deadline_ns - now_ns()) / 1e9
                if left <= 0:
                    raise Timeout("no inotify event before the deadline")
                self.poller.poll(left)
                continue
            out = []
            i = 0
            while i < len(data):
                wd, mask, _cookie, ln = _EVENT.unpack_from(data, i)
                i += _EVENT.size
                name = data[i:i + ln].rstrip(b"\0").decode()
                i += ln
                out.append((wd, mask, name))
            return out

    def close(self):
        self.poller.close()
        os.close(self.fd)


def file_size(path):
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return -1


# ------------------------------------------------------------ HTTP/1.1 client

class Http:
    """A keep-alive HTTP/1.1 client on one socket; just enough for jenky's API
    and webhook (Content-Length or chunked bodies)."""

    def __init__(self, host, port, timeout=30.0):
        self.host, self.port = host, port
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, method, path, body=b"", content_type="application/json"):
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Connection: keep-alive\r\n")
        if body or method == "POST":
            head += f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        self.sock.sendall(head.encode() + b"\r\n" + body)

    def _fill(self):
        chunk = self.sock.recv(1 << 18)
        if not chunk:
            raise ConnectionError("server closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def receive(self):
        """Returns (status, headers dict lower-cased, body bytes)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            headers[k.strip().lower()] = v.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            body = b""
            while True:
                size = int(self._line().split(b";")[0], 16)
                if size == 0:
                    while self._line():
                        pass
                    break
                body += self._take(size)
                self._take(2)
        else:
            body = self._take(int(headers.get("content-length", "0")))
        return status, headers, body

    def request(self, method, path, body=b""):
        self.send(method, path, body)
        return self.receive()

    def close(self):
        self.sock.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, deadline_s=10.0):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.01)
    raise Timeout(f"nothing listening on 127.0.0.1:{port}")


# ------------------------------------------------------------------ processes

def children_of(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(x) for x in f.read().split()]
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return out


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def proc_kib(pid, key):
    """A 'NNN kB' field of /proc/PID/status or smaps_rollup, in KiB."""
    return int(proc_status(pid)[key].split()[0])


def smaps_rollup(pid):
    out = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            k, _, v = line.partition(":")
            parts = v.split()
            if len(parts) == 2 and parts[1] == "kB":
                out[k] = int(parts[0])
    return out


def _start_time(pid):
    """Field 22 of /proc/PID/stat (start time since boot, clock ticks), or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return int(stat[stat.rfind(b")") + 2:].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


class Procs:
    """Owns every process a benchmark starts and ends them on close()."""

    def __init__(self):
        self.popens = []
        self.extra_pids = set()   # e.g. jenky supervisors, which leave the server's tree
        self.data_dirs = []       # jenky data dirs whose run supervisors to end

    def spawn(self, argv, **kw):
        kw.setdefault("stdin", subprocess.DEVNULL)
        p = subprocess.Popen(argv, start_new_session=True, **kw)
        self.popens.append(p)
        return p

    def stop(self, p, grace_s=5.0):
        if p.poll() is not None:
            return
        for pid in children_of(p.pid):
            self.extra_pids.add(pid)
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(grace_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(5)

    def _supervisor_pids(self):
        """Live supervisors of unfinished runs in our data dirs."""
        pids = set()
        for d in self.data_dirs:
            runs = os.path.join(d, "runs")
            if not os.path.isdir(runs):
                continue
            for name in os.listdir(runs):
                sj = os.path.join(runs, name, "supervisor.json")
                if os.path.exists(os.path.join(runs, name, "exit.json")) or not os.path.exists(sj):
                    continue
                try:
                    with open(sj) as f:
                        ident = json.load(f)
                    pid, start_time = int(ident["pid"]), int(ident["start_time"])
                except (OSError, ValueError, KeyError, TypeError):
                    continue
                # The pid and its start time: a pid alone may have been
                # reused by another process (a test's supervisor, say).
                if _start_time(pid) == start_time:
                    pids.add(pid)
        return pids

    def close(self):
        for p in reversed(self.popens):
            try:
                self.stop(p)
            except Exception as e:  # keep cleaning up
                print(f"cleanup: {e}", file=sys.stderr)
        # A supervisor of a run still in progress outlives the server by
        # design; SIGTERM makes it end the script's tree (a cancel).
        pids = {p for p in self.extra_pids | self._supervisor_pids() if alive(p)}
        for pid in pids:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        end = time.monotonic() + 15
        while time.monotonic() < end and any(alive(p) for p in pids):
            time.sleep(0.05)
        for pid in pids:
            if alive(pid):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


# ---------------------------------------------------------------------- jenky

def project_toml(name, script, timeout="10m", concurrency="queue", shell=None):
    lines = [f"[projects.{name}]", f"script = {json.dumps(script)}",
             f'timeout = "{timeout}"', f'concurrency = "{concurrency}"']
    if shell:
        lines.append(f"shell = {json.dumps(shell)}")
    return "\n".join(lines) + "\n"


class Jenky:
    """`jenky serve` on a loopback port with its own data dir."""

    def __init__(self, procs, workdir, config_text, data_dir=None):
        self.procs = procs
        self.config = os.path.join(workdir, "jenky.toml")
        with open(self.config, "w") as f:
            f.write(config_text)
        self.data_dir = data_dir or os.path.join(workdir, "data")
        self.stderr_path = os.path.join(workdir, "jenky.stderr")
        procs.data_dirs.append(self.data_dir)
        self.proc = None

    def start(self, deadline_s=15.0):
        err = open(self.stderr_path, "wb")
        self.proc = self.procs.spawn(
            [JENKY, "serve", "--listen", "127.0.0.1:0", "--data-dir", self.data_dir,
             "--config", self.config], stdout=subprocess.DEVNULL, stderr=err)
        err.close()
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            with open(self.stderr_path, "rb") as f:
                first = f.readline().decode(errors="replace")
            if first.endswith("\n"):
                if not first.startswith("listening on http://"):
                    raise RuntimeError("jenky did not start: " + first.strip())
                self.port = int(first.strip().rsplit(":", 1)[1])
                return self
            if self.proc.poll() is not None:
                raise RuntimeError("jenky exited: " + open(self.stderr_path).read())
            time.sleep(0.005)
        raise Timeout("jenky did not print its address")

    def stop(self):
        if self.proc:
            self.procs.stop(self.proc)

    @property
    def pid(self):
        return self.proc.pid

    def run_dir(self, run_id):
        return os.path.join(self.data_dir, "runs", str(run_id))

    def spare_pids(self):
        """Children of the server: the spare `jenky __supervise [--warm-shell SHELL]`."""
        return [p for p in children_of(self.pid) if " __supervise" in f" {_cmdline(p)}"]

    def warm_shell_pids(self):
        """Children of the spares: their warm shells (`bash /dev/fd/4`)."""
        return [c for p in self.spare_pids() for c in children_of(p)]


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode().strip()
    except FileNotFoundError:
        return ""


def wait_run_done(http, run_id, deadline_ns, poll_s=0.001):
    """Polls GET /api/v1/runs/ID until the run is no longer queued/running."""
    while True:
        status, _, body = http.request("GET", f"/api/v1/runs/{run_id}")
        if status != 200:
            raise RuntimeError(f"GET run {run_id}: {status} {body[:200]!r}")
        run = json.loads(body)
        if run["status"] not in ("queued", "running"):
            return run
        if now_ns() > deadline_ns:
            raise Timeout(f"run {run_id} still {run['status']}")
        time.sleep(poll_s)


def temp_dir(tag):
    return tempfile.mkdtemp(prefix=f"jenky-bench-{tag}-")


def write_result(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")
