#!/usr/bin/env python3
"""A stand-in for systemd, enough for the systemd-release recipe's tests.

    fake_systemd.py manager STATE_DIR   # serve until SIGTERM/SIGINT
    STATE_DIR/bin/systemctl ARGS...      # what scripts call (put it first on PATH)

The manager reads unit files from STATE_DIR/units/NAME.service (the same text
real systemd would get: [Service] ExecStart=, WorkingDirectory=,
Environment=; the rest is ignored) and runs their processes as its own
children, in their own sessions, so they are outside the process tree of the
deploy that restarted them, as under systemd. `systemctl` is a client that
hands its arguments to the manager over STATE_DIR/sock; every call is
appended to STATE_DIR/calls.log as a JSON line. Each unit's output goes to
STATE_DIR/NAME.service.log. The manager prints "ready" once it listens.

Supported: restart, start, stop, is-active [--quiet], show [-p|--property
NAMES] [--value], cat, status, daemon-reload, reset-failed; options like --no-ask-password,
--no-pager and "--" are accepted and ignored. No auto-restart.

Standard library only.
"""

import json
import os
import shlex
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time

CLIENT = """#!/bin/sh
# fake systemctl: see {script}
exec {python} {script} systemctl {state} "$@"
"""


def unit_name(name):
    return name if "." in name else name + ".service"


def parse_unit(text):
    """The [Service] keys we use: ExecStart (argv), WorkingDirectory, Environment."""
    section, out, env = None, {}, {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section != "Service" or "=" not in line:
            continue
        key, value = (s.strip() for s in line.split("=", 1))
        if key == "ExecStart":
            value = value.lstrip("-@:+!")
            out["ExecStart"] = shlex.split(value)
        elif key == "WorkingDirectory":
            out["WorkingDirectory"] = value.lstrip("-")
        elif key == "Environment":
            for item in shlex.split(value):
                if "=" in item:
                    k, v = item.split("=", 1)
                    env[k] = v
    out["Environment"] = env
    return out


class Unit:
    def __init__(self):
        self.proc = None
        self.failed = False
        self.log = None

    def state(self):
        if self.proc is not None and self.proc.poll() is None:
            return "active"
        if self.failed or (self.proc is not None and self.proc.returncode not in (0, -signal.SIGTERM)):
            return "failed"
        return "inactive"


class Manager:
    def __init__(self, state_dir):
        self.dir = os.path.abspath(state_dir)
        self.units = {}
        self.lock = threading.Lock()
        os.makedirs(os.path.join(self.dir, "units"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "bin"), exist_ok=True)

    def unit_path(self, name):
        return os.path.join(self.dir, "units", name)

    def unit_text(self, name):
        try:
            with open(self.unit_path(name)) as f:
                return f.read()
        except FileNotFoundError:
            return None

    # ---- unit actions (under self.lock) ----

    def stop(self, name):
        u = self.units.get(name)
        if not u or u.proc is None or u.proc.poll() is not None:
            return
        try:
            os.killpg(u.proc.pid, signal.SIGTERM)
        except OSError:
            pass
        try:
            u.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(u.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            u.proc.wait()
        # Whatever it left in its session goes too, as with KillMode=control-group.
        try:
            os.killpg(u.proc.pid, signal.SIGKILL)
        except OSError:
            pass

    def start(self, name):
        """(rc, stderr) like systemctl start of a Type=simple unit."""
        text = self.unit_text(name)
        if text is None:
            return 5, f"Failed to start {name}: Unit {name} not found.\n"
        u = self.units.setdefault(name, Unit())
        if u.proc is not None and u.proc.poll() is None:
            return 0, ""
        spec = parse_unit(text)
        argv = spec.get("ExecStart")
        if not argv:
            return 1, f"Failed to start {name}: Unit {name} has no ExecStart=.\n"
        env = dict(os.environ)
        env.update(spec["Environment"])
        log = open(os.path.join(self.dir, name + ".log"), "ab")
        log.write(f"-- {time.strftime('%H:%M:%S')} starting {shlex.join(argv)}\n".encode())
        log.flush()
        u.failed = False
        try:
            u.proc = subprocess.Popen(argv, cwd=spec.get("WorkingDirectory") or "/", env=env,
                                      stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True)
        except OSError as e:
            u.proc = None
            u.failed = True
            log.write(f"-- failed to start: {e}\n".encode())
            return 1, (f"Job for {name} failed because the control process exited with error code.\n"
                       f"See \"systemctl status {name}\" and \"journalctl -xeu {name}\" for details.\n")
        finally:
            log.close()
        return 0, ""

    def show(self, name, props, value_only):
        u = self.units.get(name)
        text = self.unit_text(name)
        spec = parse_unit(text) if text is not None else {}
        values = {
            "Id": name,
            "LoadState": "loaded" if text is not None else "not-found",
            "ActiveState": u.state() if u else "inactive",
            "MainPID": str(u.proc.pid if u and u.proc and u.proc.poll() is None else 0),
            "ExecStart": shlex.join(spec.get("ExecStart", [])),
            "WorkingDirectory": spec.get("WorkingDirectory", ""),
            "FragmentPath": self.unit_path(name) if text is not None else "",
        }
        names = props or list(values)
        lines = []
        for p in names:
            v = values.get(p, "")
            lines.append(v if value_only else f"{p}={v}")
        return "".join(line + "\n" for line in lines)

    # ---- systemctl ----

    def systemctl(self, argv):
        """(rc, stdout, stderr) for systemctl ARGV."""
        props, value_only, quiet, words = [], False, False, []
        i = 0
        while i < len(argv):
            a = argv[i]
            if a in ("-p", "--property"):
                i += 1
                props += argv[i].split(",")
            elif a.startswith("--property="):
                props += a.split("=", 1)[1].split(",")
            elif a == "--value":
                value_only = True
            elif a in ("-q", "--quiet"):
                quiet = True
            elif a.startswith("-"):
                pass  # --no-ask-password, --no-pager, --, ...
            else:
                words.append(a)
            i += 1
        if not words:
            return 1, "", "fake systemctl: no command given\n"
        cmd, names = words[0], [unit_name(n) for n in words[1:]]
        with self.lock:
            if cmd == "daemon-reload":
                return 0, "", ""
            if cmd == "reset-failed":
                for n in names:
                    if n in self.units:
                        self.units[n].failed = False
                        u = self.units[n]
                        if u.proc is not None and u.proc.poll() is not None:
                            u.proc = None
                return 0, "", ""
            if cmd in ("restart", "start", "stop", "try-restart", "reload-or-restart") and not names:
                return 1, "", f"Too few arguments.\n"
            if cmd in ("restart", "try-restart", "reload-or-restart"):
                for n in names:
                    if self.unit_text(n) is None:
                        return 5, "", f"Failed to restart {n}: Unit {n} not found.\n"
                    self.stop(n)
                    rc, err = self.start(n)
                    if rc:
                        return rc, "", err
                return 0, "", ""
            if cmd == "start":
                for n in names:
                    rc, err = self.start(n)
                    if rc:
                        return rc, "", err
                return 0, "", ""
            if cmd == "stop":
                for n in names:
                    self.stop(n)
                return 0, "", ""
            if cmd == "is-active":
                states = [self.units[n].state() if n in self.units else "inactive" for n in names]
                rc = 0 if states and all(s == "active" for s in states) else 3
                return rc, "" if quiet else "".join(s + "\n" for s in states), ""
            if cmd == "show":
                return 0, "".join(self.show(n, props, value_only) for n in names), ""
            if cmd == "cat":
                out = ""
                for n in names:
                    text = self.unit_text(n)
                    if text is None:
                        return 1, out, f"No files found for {n}.\n"
                    out += f"# {self.unit_path(n)}\n{text}"
                return 0, out, ""
            if cmd == "status":
                out, rc = "", 0
                for n in names:
                    if self.unit_text(n) is None:
                        return 4, out, f"Unit {n} could not be found.\n"
                    u = self.units.get(n)
                    state = u.state() if u else "inactive"
                    pid = u.proc.pid if u and u.proc and u.proc.poll() is None else None
                    out += f"* {n}\n     Active: {state}\n" + (f"   Main PID: {pid}\n" if pid else "")
                    if state != "active":
                        rc = 3
                return rc, out, ""
        return 1, "", f"fake systemctl: unsupported command {cmd!r}\n"

    def stop_all(self):
        with self.lock:
            for n in list(self.units):
                self.stop(n)


def serve(state_dir):
    m = Manager(state_dir)
    sock_path = os.path.join(m.dir, "sock")
    if os.path.exists(sock_path):
        os.unlink(sock_path)
    calls = open(os.path.join(m.dir, "calls.log"), "a")
    calls_lock = threading.Lock()

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            req = json.loads(self.rfile.readline())
            rc, out, err = m.systemctl(req["argv"])
            with calls_lock:
                calls.write(json.dumps({"argv": req["argv"], "rc": rc, "time": time.time()}) + "\n")
                calls.flush()
            self.wfile.write((json.dumps({"rc": rc, "out": out, "err": err}) + "\n").encode())

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

    server = Server(sock_path, Handler)
    client = os.path.join(m.dir, "bin", "systemctl")
    with open(client + ".tmp", "w") as f:
        f.write(CLIENT.format(python=shlex.quote(sys.executable), script=shlex.quote(os.path.abspath(__file__)),
                              state=shlex.quote(m.dir)))
    os.chmod(client + ".tmp", 0o755)
    os.replace(client + ".tmp", client)

    def shutdown(signum, frame):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    print("ready", flush=True)
    try:
        server.serve_forever(poll_interval=0.1)
    finally:
        m.stop_all()
        server.server_close()
        os.unlink(sock_path)


def client(state_dir, argv):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(os.path.join(state_dir, "sock"))
    except OSError as e:
        sys.stderr.write(f"System has not been booted with systemd as init system (PID 1). "
                         f"Can't operate. (fake systemd manager not running: {e})\n")
        return 1
    s.sendall((json.dumps({"argv": argv}) + "\n").encode())
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    resp = json.loads(data)
    sys.stdout.write(resp["out"])
    sys.stderr.write(resp["err"])
    return resp["rc"]


def main(argv):
    if len(argv) >= 3 and argv[1] == "manager":
        serve(argv[2])
        return 0
    if len(argv) >= 3 and argv[1] == "systemctl":
        return client(argv[2], argv[3:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
