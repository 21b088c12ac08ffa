"""Helpers for jenky's end-to-end tests: start `jenky serve`, speak HTTP to it,
run the CLI, and find (and kill) every process a test left behind.

Standard library only. Every process a test starts carries the environment
variable E2E_JENKY_TAG=<unique tag>; jenky passes its own environment on to
supervisors and scripts, so the tag finds all of them in /proc at cleanup.
"""

import fcntl
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid

TAG_VAR = "E2E_JENKY_TAG"
# Sanitizer runtimes read these (a normal build ignores them). Each World
# points their log_path into a directory of its own, so a report from any
# process it started (server, supervisor, CLI) is a file there, even from a
# supervisor whose stderr nobody reads.
SANITIZER_OPTION_VARS = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "TSAN_OPTIONS", "LSAN_OPTIONS")
SANITIZER_REPORTS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error: ",
                     "WARNING: ThreadSanitizer")
# All a report says when a process is SIGKILLed during its exit's leak check.
LEAK_CHECK_CUT_SHORT = re.compile(r"(==\d+==Unable to get registers from thread \d+\.\n)+")
FINISHED = {"succeeded", "failed", "cancelled", "timed_out", "interrupted"}
LISTEN_RE = re.compile(r"^listening on (https?://127\.0\.0\.1:(\d+))$")


class JenkyTestError(AssertionError):
    pass


def wait_until(predicate, timeout, interval=0.02, what="condition"):
    """Polls PREDICATE until it returns something truthy; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise JenkyTestError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def sha256_hex(text):
    if isinstance(text, str):
        text = text.encode()
    return hashlib.sha256(text).hexdigest()


# --------------------------------------------------------------------------
# The binary


def prepare_binary(source, dest_dir, timeout=180):
    """Copies the jenky binary to DEST_DIR once it exists and runs, so that a
    rebuild of SOURCE in the middle of the suite cannot change the binary
    under a test. Returns the copy's path."""
    dest = os.path.join(dest_dir, "jenky")
    deadline = time.monotonic() + timeout
    last_error = "not found"
    while time.monotonic() < deadline:
        try:
            if os.access(source, os.X_OK):
                shutil.copy2(source, dest + ".tmp")
                os.replace(dest + ".tmp", dest)
                out = subprocess.run([dest, "version"], capture_output=True, text=True, timeout=10)
                if out.returncode == 0 and out.stdout.startswith("jenky "):
                    return dest
                last_error = f"`jenky version` exited {out.returncode}: {out.stderr.strip()}"
        except (OSError, subprocess.SubprocessError) as e:
            last_error = str(e)
        time.sleep(1)  # being rebuilt by someone else: wait for it
    raise JenkyTestError(f"no usable jenky binary at {source} after {timeout}s: {last_error}")


# --------------------------------------------------------------------------
# Processes


def _read_proc(pid, name):
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read()
    except OSError:
        return b""


def is_alive(pid):
    """True if PID exists and is not a zombie."""
    stat = _read_proc(pid, "stat")
    if not stat:
        return False
    state = stat[stat.rfind(b")") + 2:][:1]
    return state not in (b"Z", b"X", b"")


def pids_matching(env_entry=None, argv_part=None):
    """Live pids whose environment holds ENV_ENTRY (b"K=V") or whose command
    line contains ARGV_PART."""
    out = []
    me = os.getpid()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid == me:
            continue
        hit = False
        if env_entry is not None:
            env = _read_proc(pid, "environ")
            hit = (env_entry + b"\0") in env or env.endswith(env_entry)
        if not hit and argv_part is not None:
            hit = argv_part in _read_proc(pid, "cmdline")
        if hit and is_alive(pid):
            out.append(pid)
    return out


def kill_pids(pids, sig=signal.SIGKILL):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def kill_tagged(tag, rounds=50, keep=frozenset()):
    """SIGKILLs every process carrying TAG, but those in KEEP, until none is left."""
    entry = f"{TAG_VAR}={tag}".encode()
    for _ in range(rounds):
        pids = [p for p in pids_matching(env_entry=entry) if p not in keep]
        if not pids:
            return
        kill_pids(pids)
        time.sleep(0.02)


def supervisor_pids(data_dir):
    """Pids of the `jenky __supervise` processes named in DATA_DIR's runs."""
    out = []
    runs = os.path.join(data_dir, "runs")
    if not os.path.isdir(runs):
        return out
    for run in os.listdir(runs):
        try:
            with open(os.path.join(runs, run, "supervisor.json")) as f:
                ident = json.load(f)
            pid, start_time = int(ident["pid"]), int(ident["start_time"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        # The pid and its start time, never the pid alone: a finished run's
        # pid may now be another test's (or another suite's) supervisor.
        if proc_start_time(pid) == start_time and is_alive(pid):
            out.append(pid)
    return out


def proc_start_time(pid):
    """Field 22 of /proc/PID/stat (start time since boot, clock ticks), or None."""
    stat = _read_proc(pid, "stat")
    try:
        return int(stat[stat.rfind(b")") + 2:].split()[19])
    except (IndexError, ValueError):
        return None


def read_supervisor_pid(data_dir, run_id):
    with open(os.path.join(data_dir, "runs", str(run_id), "supervisor.json")) as f:
        return int(json.load(f)["pid"])


def wait_lock_free(path, timeout=5):
    """Waits until nobody holds an flock on PATH."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        def free():
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            fcntl.flock(fd, fcntl.LOCK_UN)
            return True
        wait_until(free, timeout, interval=0.002, what=f"the lock on {path} to be released")
    finally:
        os.close(fd)


# --------------------------------------------------------------------------
# HTTP


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # http.client.HTTPMessage (case-insensitive get)
        self.body = body

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as e:
            raise JenkyTestError(f"HTTP {self.status} body is not JSON ({e}): {self.body[:500]!r}")

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def error(self):
        """(code, message) of a JSON error body."""
        j = self.json()
        assert isinstance(j, dict) and "error" in j, f"not an error body: {j!r}"
        return j["error"]["code"], j["error"]["message"]

    def __repr__(self):
        return f"<Response {self.status} {self.body[:300]!r}>"


def _connection(port, timeout, ssl_context):
    if ssl_context is not None:
        return http.client.HTTPSConnection("127.0.0.1", port, timeout=timeout, context=ssl_context)
    return http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)


def http_request(port, method, path, body=None, headers=None, timeout=15, ssl_context=None):
    conn = _connection(port, timeout, ssl_context)
    try:
        hdrs = dict(headers or {})
        if isinstance(body, str):
            body = body.encode()
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, resp.headers, data)
    finally:
        conn.close()


class LogStream:
    """GET .../log?follow=1 read incrementally."""

    def __init__(self, port, path, headers=None, timeout=20, ssl_context=None):
        self.conn = _connection(port, timeout, ssl_context)
        self.conn.request("GET", path, headers=headers or {})
        self.resp = self.conn.getresponse()
        self.data = b""

    @property
    def status(self):
        return self.resp.status

    @property
    def headers(self):
        return self.resp.headers

    def read_until(self, needle, timeout=15):
        """Reads until NEEDLE is in what was received; returns all of it."""
        deadline = time.monotonic() + timeout
        while needle not in self.data:
            if time.monotonic() > deadline:
                raise JenkyTestError(f"no {needle!r} in the stream within {timeout}s; got {self.data!r}")
            chunk = self.resp.read1(65536)
            if not chunk:
                raise JenkyTestError(f"stream ended before {needle!r}; got {self.data!r}")
            self.data += chunk
        return self.data

    def read_to_end(self):
        while True:
            chunk = self.resp.read1(65536)
            if not chunk:
                return self.data
            self.data += chunk

    def close(self):
        self.conn.close()


class PipeReader:
    """Collects everything from a pipe in a background thread."""

    def __init__(self, pipe):
        self.pipe = pipe
        self.data = b""
        self.done = False
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        fd = self.pipe.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            with self.cond:
                if not chunk:
                    self.done = True
                    self.cond.notify_all()
                    return
                self.data += chunk
                self.cond.notify_all()

    def wait_for(self, needle, timeout=15):
        if isinstance(needle, str):
            needle = needle.encode()
        with self.cond:
            ok = self.cond.wait_for(lambda: needle in self.data or self.done, timeout)
            if not ok or needle not in self.data:
                raise JenkyTestError(f"no {needle!r} in the output within {timeout}s: {self.data!r}")
            return self.data

    def result(self, timeout=15):
        with self.cond:
            self.cond.wait_for(lambda: self.done, timeout)
            return self.data.decode("utf-8", "replace")


# --------------------------------------------------------------------------
# The server


class Server:
    """One `jenky serve` process with its stderr collected into self.lines."""

    def __init__(self, binary, data_dir, config_path=None, listen="127.0.0.1:0", env=None,
                 extra_args=(), cwd=None, ssl_context=None):
        self.binary = binary
        # For an https:// server: the client side (trusting the test's CA).
        self.ssl_context = ssl_context
        self.cwd = cwd
        self.data_dir = data_dir
        self.config_path = config_path
        self.listen = listen
        self.env = env
        self.extra_args = list(extra_args)
        self.proc = None
        self.lines = []
        self.cond = threading.Condition()
        self.stderr_done = False
        self.url = None
        self.port = None
        self.signalled = False  # did the test signal it (for failure reports)

    def argv(self):
        argv = [self.binary, "serve", "--listen", self.listen, "--data-dir", self.data_dir]
        if self.config_path:
            argv += ["--config", self.config_path]
        return argv + self.extra_args

    def _read_stderr(self, pipe):
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()
        with self.cond:
            self.stderr_done = True
            self.cond.notify_all()

    def spawn(self):
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=self.env, start_new_session=True, cwd=self.cwd)
        # Supervisors inherit the stderr pipe and may outlive the server: the
        # reader is a daemon and nobody waits for its EOF.
        t = threading.Thread(target=self._read_stderr, args=(self.proc.stderr,), daemon=True)
        t.start()
        return self

    def start(self, timeout=15):
        self.spawn()
        first = self.wait_line(lambda l: True, timeout=timeout, what="the first stderr line",
                               allow_exit=True)
        m = LISTEN_RE.match(first or "")
        if not m:
            self.stop(timeout=5)
            raise JenkyTestError(f"first stderr line is not 'listening on http://127.0.0.1:PORT': "
                                 f"{first!r}; stderr: {self.stderr()}")
        self.url, self.port = m.group(1), int(m.group(2))
        # "listening on" comes before the engine and the signal handlers are
        # set up; the first answer comes after. Tests that signal the server
        # need it fully up.
        r = http_request(self.port, "GET", "/healthz", timeout=timeout,
                         ssl_context=self.ssl_context)
        assert r.status == 200, f"/healthz answered {r}"
        return self

    def stderr(self):
        with self.cond:
            return "\n".join(self.lines)

    def wait_line(self, match, timeout=15, what=None, allow_exit=False):
        """Waits for a stderr line for which MATCH (a regex string or a
        predicate) holds; returns the line. If the server exits first: returns
        None when ALLOW_EXIT, else fails."""
        if isinstance(match, str):
            rx = re.compile(match)
            pred = lambda l: rx.search(l) is not None  # noqa: E731
            what = what or f"stderr line matching {match!r}"
        else:
            pred = match
        deadline = time.monotonic() + timeout
        exited_at = None
        with self.cond:
            while True:
                for line in self.lines:
                    if pred(line):
                        return line
                now = time.monotonic()
                if exited_at is None and self.proc.poll() is not None:
                    exited_at = now
                # After the exit, give the reader a moment for the last lines
                # (supervisors may hold the pipe open, so EOF may never come).
                if self.stderr_done or (exited_at is not None and now - exited_at > 0.5):
                    if allow_exit:
                        return None
                    raise JenkyTestError("server exited (%s) before %s; stderr:\n%s"
                                         % (self.proc.returncode, what, "\n".join(self.lines)))
                if now > deadline:
                    raise JenkyTestError("timed out after %ss waiting for %s; stderr:\n%s"
                                         % (timeout, what, "\n".join(self.lines)))
                self.cond.wait(0.05)

    def run_to_exit(self, timeout=15):
        """For a server expected to fail at start: waits for its exit and its
        stderr; returns (exit code, stderr text)."""
        rc = self.wait_exit(timeout)
        with self.cond:
            self.cond.wait_for(lambda: self.stderr_done, timeout=5)
        return rc, self.stderr()

    def wait_exit(self, timeout=15):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise JenkyTestError(f"server did not exit within {timeout}s; stderr:\n{self.stderr()}")

    def send_signal(self, sig):
        if self.proc and self.proc.poll() is None:
            self.signalled = True
            self.proc.send_signal(sig)

    def _wait_exited_unreaped(self, timeout):
        """Waits for the server to exit without reaping it: while it is a
        zombie its pid (and process group id) cannot be reused, so killpg
        cannot hit a stranger. True if it exited."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.returncode is not None:
                return True
            try:
                info = os.waitid(os.P_PID, self.proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return True
            if info is not None:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Stops the server (and its process group); returns its exit code."""
        if not self.proc:
            return None
        if self.proc.returncode is None:
            self.signalled = True
            try:
                self.proc.send_signal(sig)
            except OSError:
                pass
            self._wait_exited_unreaped(timeout)
        self.kill_group()
        return self.proc.returncode

    def kill9(self):
        self.signalled = True
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        # A supervisor being spawned at the moment of the kill can hold a copy
        # of the server's data-dir lock for a few ms more; a restart right
        # away would be refused ("another jenky serve is using ...").
        wait_lock_free(os.path.join(self.data_dir, "server.lock"))

    def kill_group(self):
        if not self.proc:
            return
        if self.proc.returncode is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # not reaped yet: still ours
            except OSError:
                pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    # ---- HTTP ----

    def request(self, method, path, body=None, headers=None, json_body=None, timeout=15):
        headers = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body)
            headers.setdefault("Content-Type", "application/json")
        return http_request(self.port, method, path, body=body, headers=headers, timeout=timeout,
                            ssl_context=self.ssl_context)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def get_json(self, path, expect=200, **kw):
        r = self.get(path, **kw)
        assert r.status == expect, f"GET {path}: {r.status} {r.body!r}"
        return r.json()

    def trigger(self, project, body=None, headers=None, expect=202):
        if body is None:
            r = self.post(f"/api/v1/projects/{project}/runs", headers=headers)
        else:
            r = self.post(f"/api/v1/projects/{project}/runs", json_body=body, headers=headers)
        assert r.status == expect, f"trigger {project}: {r.status} {r.body!r}"
        return r.json()

    def run(self, run_id, headers=None):
        return self.get_json(f"/api/v1/runs/{run_id}", headers=headers)

    def wait_run(self, run_id, statuses=FINISHED, timeout=20, headers=None):
        """Polls the run until its status is one of STATUSES; returns it."""
        if isinstance(statuses, str):
            statuses = {statuses}
        last = {}

        def check():
            last["run"] = self.run(run_id, headers=headers)
            return last["run"] if last["run"]["status"] in statuses else None

        try:
            return wait_until(check, timeout, what=f"run {run_id} to be {sorted(statuses)}")
        except JenkyTestError as e:
            raise JenkyTestError(f"{e}; last seen: {last.get('run')}; server stderr:\n{self.stderr()}")

    def log(self, run_id, query="", headers=None):
        r = self.get(f"/api/v1/runs/{run_id}/log{query}", headers=headers)
        assert r.status == 200, f"log of run {run_id}: {r.status} {r.body!r}"
        return r.body

    def wait_log(self, run_id, needle, timeout=15):
        if isinstance(needle, str):
            needle = needle.encode()
        return wait_until(lambda: needle in self.log(run_id), timeout,
                          what=f"{needle!r} in the log of run {run_id}")

    def stream(self, path, headers=None, timeout=20):
        return LogStream(self.port, path, headers=headers, timeout=timeout,
                         ssl_context=self.ssl_context)


# --------------------------------------------------------------------------
# One test's world: a data dir, config files, servers and CLI calls


def toml_str(s):
    return json.dumps(s)  # a JSON string is a valid TOML basic string


def project_toml(name, script, **opts):
    """A [projects.NAME] table. SCRIPT goes in a TOML literal string; OPTS are
    written as TOML: str -> string, int -> integer, list -> array of strings,
    dict -> inline table of strings."""
    assert "'''" not in script
    lines = [f"[projects.{name}]", f"script = '''\n{script}'''"]
    for key, value in opts.items():
        if isinstance(value, bool):
            raise TypeError(key)
        if isinstance(value, int):
            lines.append(f"{key} = {value}")
        elif isinstance(value, str):
            lines.append(f"{key} = {toml_str(value)}")
        elif isinstance(value, (list, tuple)):
            lines.append(f"{key} = [{', '.join(toml_str(v) for v in value)}]")
        elif isinstance(value, dict):
            inner = ", ".join(f"{k} = {toml_str(v)}" for k, v in value.items())
            lines.append(f"{key} = {{ {inner} }}")
        else:
            raise TypeError(f"{key}: {value!r}")
    return "\n".join(lines) + "\n"


SERVER_TOML = '[server]\nkill_grace = "1s"\n'

# A script fragment that waits for the file named by $GATE.
WAIT_GATE = 'while [ ! -e "$GATE" ]; do sleep 0.02; done\n'


class World:
    def __init__(self, binary, root):
        self.binary = binary
        self.root = str(root)
        self.data_dir = os.path.join(self.root, "data")
        self.tag = uuid.uuid4().hex
        self.servers = []
        self.clis = []
        self.extra_env = {}
        self.gate = os.path.join(self.root, "gate")
        self.sanitizer_dir = os.path.join(self.root, "sanitizer-reports")
        os.makedirs(self.data_dir, exist_ok=True)
        os.makedirs(self.sanitizer_dir, exist_ok=True)

    def env(self, **extra):
        env = dict(os.environ)
        # The suite's own settings must not leak into the server or the CLI.
        for k in list(env):
            if k.startswith("JENKY_"):
                del env[k]
        env[TAG_VAR] = self.tag
        # Later keys win, so this log_path overrides one from the suite's own
        # environment; the runtime appends .PID to it.
        log_path = os.path.join(self.sanitizer_dir, "report")
        for var in SANITIZER_OPTION_VARS:
            env[var] = ":".join(filter(None, [env.get(var, ""), f"log_path={log_path}"]))
        env.update(self.extra_env)
        env.update(extra)
        return env

    def path(self, name):
        return os.path.join(self.root, name)

    def write(self, name, text):
        p = self.path(name)
        with open(p, "w") as f:
            f.write(text)
        return p

    def open_gate(self):
        with open(self.gate, "w") as f:
            f.write("open\n")

    def config(self, *projects, server=SERVER_TOML, extra="", name="jenky.toml"):
        return self.write(name, server + "\n" + extra + "\n" + "\n".join(projects))

    def server(self, config_path=None, listen="127.0.0.1:0", env=None, start=True, data_dir=None,
               extra_args=(), cwd=None, ssl_context=None):
        s = Server(self.binary, data_dir or self.data_dir, config_path=config_path, listen=listen,
                   env=env or self.env(), extra_args=extra_args, cwd=cwd or self.root,
                   ssl_context=ssl_context)
        self.servers.append(s)
        if start:
            s.start()
        return s

    def serve(self, *projects, **kw):
        """Writes a config with PROJECTS and starts a server on it."""
        extra = kw.pop("extra", "")
        server_toml = kw.pop("server_toml", SERVER_TOML)
        path = self.config(*projects, server=server_toml, extra=extra)
        return self.server(path, **kw)

    def cli(self, *args, server=None, timeout=30, env=None, check_rc=None):
        """Runs the jenky CLI; returns CompletedProcess (text)."""
        argv = [self.binary] + [str(a) for a in args]
        if server is not None:
            argv += ["--server", server.url if isinstance(server, Server) else server]
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                           env=env or self.env(), stdin=subprocess.DEVNULL, cwd=self.root)
        if check_rc is not None:
            assert p.returncode == check_rc, (
                f"{args}: exit {p.returncode}, stdout={p.stdout!r} stderr={p.stderr!r}")
        return p

    def cli_popen(self, *args, server=None, env=None):
        argv = [self.binary] + [str(a) for a in args]
        if server is not None:
            argv += ["--server", server.url if isinstance(server, Server) else server]
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, env=env or self.env(),
                             start_new_session=True, cwd=self.root)
        self.clis.append(p)
        return p

    def cleanup(self):
        for p in self.clis:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            for f in (p.stdout, p.stderr):
                if f:
                    f.close()
        # Servers are frozen first and killed last: a killed server's spare
        # reads EOF and exits, and a sanitizer build's exit runs a leak check
        # that our SIGKILL would then cut short. Frozen, a server neither
        # closes a spare's stdin nor starts a new one.
        live = [s.proc.pid for s in self.servers if s.proc and s.proc.returncode is None]
        kill_pids(live, signal.SIGSTOP)
        kill_pids(supervisor_pids(self.data_dir))
        kill_tagged(self.tag, keep=set(live))
        for s in self.servers:
            s.stop(sig=signal.SIGKILL, timeout=5)
        kill_tagged(self.tag)
        left = pids_matching(env_entry=f"{TAG_VAR}={self.tag}".encode())
        if left:
            # A process caught between fork and exec shows its parent's
            # environment: a spare killed while starting its warm shell.
            kill_tagged(self.tag)
            left = pids_matching(env_entry=f"{TAG_VAR}={self.tag}".encode())
        assert not left, f"processes survived cleanup: {left}"
        # With a sanitizer build, any report fails the test: a file in the
        # report directory, or one on a server's stderr (from a process
        # started with an environment of the test's own making).
        self.check_sanitizer_reports()
        for s in self.servers:
            text = s.stderr()
            for needle in SANITIZER_REPORTS:
                assert needle not in text, f"sanitizer report in server stderr:\n{text}"

    def check_sanitizer_reports(self):
        reports = sorted(os.listdir(self.sanitizer_dir))
        if not reports:
            return
        # A process may still be writing its report: give it a moment.
        time.sleep(1)
        texts = []
        for name in reports:
            with open(os.path.join(self.sanitizer_dir, name), errors="replace") as f:
                text = f.read() or ("(empty: the runtime opened the report and wrote nothing; "
                                    "the process was likely killed while reporting)")
            if LEAK_CHECK_CUT_SHORT.fullmatch(text):
                # LeakSanitizer found a thread gone mid-check (ESRCH): the
                # process was killed while exiting, by cleanup. No finding.
                continue
            texts.append(f"--- {name} (pid {name.rsplit('.', 1)[-1]})\n{text}")
        if not texts:
            return
        raise JenkyTestError("sanitizer report(s) from a process of this test:\n" + "\n".join(texts))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
