#!/usr/bin/python3
"""Benchmark 1: trigger -> first byte of the script's output.

Peers, measured in the same run, in interleaved rounds:
  spawn-true  posix_spawn(/bin/true) -> waitpid returns      (C, spawn_baseline)
  spawn-bash  posix_spawn(bash -e script) -> first byte on its stdout pipe
  spawn-sh    the same with /bin/sh (dash)
  spawn-spare posix_spawn(jenky __supervise) with stdin at EOF -> exit: what
              bringing up one spare supervisor costs
  webhook     POST /hooks/bench?id=N -> first byte in out/N  (hook: bash script
              `printf x > out/$1`)
  jenky       POST /api/v1/projects/p1/runs -> first byte in runs/ID/log
              (script `printf x`, default shell /bin/bash)
  jenky-sh    the same with `shell = "/bin/sh"`

The HTTP peers are timed by this process: from just before the request is
written to the keep-alive socket to the inotify IN_MODIFY event of the file
(event-driven, no polling). Each run finishes before the next trigger.
"""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

SCRIPT = "printf x"


class SpawnPeer:
    def __init__(self, name, helper, mode, argv, gap_ms):
        self.name, self.helper, self.mode, self.argv, self.gap_ms = name, helper, mode, argv, gap_ms

    def setup(self, procs, work):
        pass

    def measure(self, count):
        out = subprocess.run([self.helper, self.mode, str(count), str(self.gap_ms)] + self.argv,
                             check=True, capture_output=True, text=True, timeout=120,
                             stdin=subprocess.DEVNULL)
        return [int(x) for x in out.stdout.split()]


class WebhookPeer:
    name = "webhook"

    def __init__(self, gap_ms):
        self.gap_ms = gap_ms
        self.seq = 0

    def setup(self, procs, work):
        self.out = os.path.join(work, "out")
        os.mkdir(self.out)
        script = os.path.join(work, "hook.sh")
        with open(script, "w") as f:
            f.write(f'#!/bin/bash\ncd {self.out}\n{SCRIPT} > "$1"\n')
        os.chmod(script, 0o755)
        hooks = os.path.join(work, "hooks.json")
        B.write_result(hooks, [{
            "id": "bench", "execute-command": script, "command-working-directory": work,
            "pass-arguments-to-command": [{"source": "url", "name": "id"}],
        }])
        self.port = B.free_port()
        log = open(os.path.join(work, "webhook.log"), "wb")
        procs.spawn(["webhook", "-hooks", hooks, "-ip", "127.0.0.1", "-port", str(self.port)],
                    stdout=log, stderr=subprocess.STDOUT)
        log.close()
        B.wait_port(self.port)
        self.http = B.Http("127.0.0.1", self.port)
        self.ino = B.Inotify()
        self.wd = self.ino.add_watch(self.out, B.IN_MODIFY | B.IN_CLOSE_WRITE)

    def one(self):
        self.seq += 1
        name = str(self.seq)
        deadline = B.now_ns() + 10 * 10**9
        t0 = B.now_ns()
        self.http.send("POST", f"/hooks/bench?id={name}", b"{}")
        t1 = closed = None
        while t1 is None or closed is None:
            for wd, mask, ev in self.ino.read_events(deadline):
                if wd != self.wd or ev != name:
                    continue
                if mask & B.IN_MODIFY and t1 is None:
                    t1 = B.now_ns()
                if mask & B.IN_CLOSE_WRITE:
                    closed = True
        status, _, body = self.http.receive()
        if status != 200:
            raise RuntimeError(f"webhook answered {status}: {body[:200]!r}")
        if B.file_size(os.path.join(self.out, name)) != len("x"):
            raise RuntimeError("webhook: hook output missing")
        time.sleep(self.gap_ms / 1000)
        return t1 - t0

    def measure(self, count):
        return [self.one() for _ in range(count)]


# Files of a run directory, in the order jenky makes them, and what each one
# marks on the way from the request to the first byte (see engine.cc StartRun
# and supervisor.cc). Seen through inotify (IN_CREATE or IN_MOVED_TO, whichever
# way jenky makes the file) in a separate, instrumented pass. Normally the
# directory is the spare supervisor's stage, renamed into place with every
# file in it (run_dir.h): only "dir" is seen. The other files show up only
# for runs started without a stage (the spare had not finished making it).
PHASES = [
    ("dir", "`runs/ID/` appears (request parsed, script and meta.json written, "
            "the spare's stage renamed into place)"),
    ("script", "`script` appears"),
    ("meta.json", "`meta.json` appears"),
    ("log", "`log` appears (created empty by the server)"),
    ("lock", "`lock` appears: the supervisor has the RunSpec"),
    ("supervisor.json", "`supervisor.json` appears"),
    ("log.idx", "`log.idx` appears: the supervisor opened the log, spawns the script next"),
    ("first_byte", "first byte of the script's output in `log`"),
    ("response", "the 202 response is readable by the client"),
]


class JenkyPeer:
    def __init__(self, gap_ms, name="jenky", shell=None):
        self.gap_ms = gap_ms
        self.name = name
        self.shell = shell
        self.next_id = 1
        self.phases = {k: [] for k, _ in PHASES}
        # Off for the timed samples: waking this process on every file of the
        # run directory takes CPU from jenky on a small machine.
        self.instrument = False

    def setup(self, procs, work):
        self.server = B.Jenky(procs, work, B.project_toml("p1", SCRIPT, timeout="1m",
                                                           shell=self.shell)).start()
        self.http = B.Http("127.0.0.1", self.server.port)
        self.ino = B.Inotify()
        runs = os.path.join(self.server.data_dir, "runs")
        os.makedirs(runs, exist_ok=True)  # the server makes it at startup; no-op
        self.runs_wd = self.ino.add_watch(runs, B.IN_CREATE | B.IN_MOVED_TO)

    def one(self):
        run_id = self.next_id
        self.next_id += 1
        run_dir = self.server.run_dir(run_id)
        log = os.path.join(run_dir, "log")
        deadline = B.now_ns() + 30 * 10**9
        seen = {}
        sock = self.http.sock.fileno()
        instrument = self.instrument
        if instrument:
            self.ino.poller.register(sock, B.select.EPOLLIN)
        sub_mask = B.IN_MODIFY | (B.IN_CREATE | B.IN_MOVED_TO if instrument else 0)
        t0 = B.now_ns()
        self.http.send("POST", "/api/v1/projects/p1/runs", b"")
        sub_wd = None
        while "first_byte" not in seen:
            # Wait on the inotify fd and the socket, reading neither until ready.
            left = (deadline - B.now_ns()) / 1e9
            if left <= 0:
                raise B.Timeout(f"{self.name} run {run_id}: no first byte in 30 s; "
                                f"files: {os.listdir(run_dir) if os.path.isdir(run_dir) else None}; "
                                f"server log tail: {open(self.server.stderr_path).read()[-600:]!r}")
            for fd, _ in self.ino.poller.poll(left):
                now = B.now_ns()
                if fd == sock:
                    seen.setdefault("response", now)
                    self.ino.poller.unregister(sock)
                    continue
                for wd, mask, name in self.ino.read_events(deadline):
                    if wd == self.runs_wd and name == str(run_id) and sub_wd is None:
                        seen["dir"] = now
                        sub_wd = self.ino.add_watch(run_dir, sub_mask)
                        if B.file_size(log) > 0:  # written before the watch existed
                            seen["first_byte"] = B.now_ns()
                    elif wd == sub_wd:
                        if name == "log" and mask & B.IN_MODIFY:
                            seen.setdefault("first_byte", now)
                        elif mask & (B.IN_CREATE | B.IN_MOVED_TO) and name in self.phases:
                            seen.setdefault(name, now)
        t1 = seen["first_byte"]
        if instrument and "response" not in seen:
            self.ino.poller.unregister(sock)
        status, _, body = self.http.receive()
        seen.setdefault("response", B.now_ns())
        if status != 202:
            raise RuntimeError(f"jenky trigger answered {status}: {body[:200]!r}")
        run = B.json.loads(body)
        if run["id"] != run_id:
            raise RuntimeError(f"expected run id {run_id}, got {run['id']}")
        done = B.wait_run_done(self.http, run_id, deadline)
        if done["status"] != "succeeded" or done["log_bytes"] != 1:
            raise RuntimeError(f"run {run_id}: {done}")
        self.ino.rm_watch(sub_wd)
        if instrument:
            for k, t in seen.items():
                self.phases[k].append(t - t0)
        time.sleep(self.gap_ms / 1000)
        return t1 - t0

    def measure(self, count):
        return [self.one() for _ in range(count)]

    def measure_phases(self, count):
        self.instrument = True
        try:
            self.measure(count)
        finally:
            self.instrument = False

    def phase_summary(self):
        out = []
        for k, what in PHASES:
            v = sorted(self.phases[k])
            if v:
                out.append({"phase": k, "what": what, "observed": len(v),
                            "p50_ms": B.percentile(v, 50) / 1e6})
        return out


def main():
    B.install_signal_handlers()
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--gap-ms", type=int, default=25)
    ap.add_argument("--phase-iterations", type=int, default=50)
    ap.add_argument("--helper", required=True, help="compiled spawn_baseline")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    work = B.temp_dir("trigger")
    script = os.path.join(work, "script.sh")
    with open(script, "w") as f:
        f.write(SCRIPT + "\n")
    peers = [
        SpawnPeer("spawn-true", a.helper, "exit", ["/bin/true"], a.gap_ms),
        SpawnPeer("spawn-bash", a.helper, "first-byte", ["/bin/bash", "-e", script], a.gap_ms),
        SpawnPeer("spawn-sh", a.helper, "first-byte", ["/bin/sh", "-e", script], a.gap_ms),
        SpawnPeer("spawn-spare", a.helper, "exit", [B.JENKY, "__supervise"], a.gap_ms),
        WebhookPeer(a.gap_ms),
        JenkyPeer(a.gap_ms),
        JenkyPeer(a.gap_ms, name="jenky-sh", shell="/bin/sh"),
    ]
    procs = B.Procs()
    samples = {p.name: [] for p in peers}
    by_round = {p.name: [] for p in peers}
    try:
        for p in peers:
            d = os.path.join(work, p.name)
            os.mkdir(d)
            p.setup(procs, d)
            p.measure(a.warmup)
        per_round = max(1, a.iterations // a.rounds)
        for r in range(a.rounds):
            for p in peers:
                got = p.measure(per_round)
                samples[p.name] += got
                by_round[p.name].append(sorted(got))
            print(f"  round {r + 1}/{a.rounds} done", file=sys.stderr)
        # A separate, instrumented pass: where between request and first
        # byte the time goes, from the files jenky makes along the way.
        for p in peers:
            if isinstance(p, JenkyPeer):
                p.measure_phases(a.phase_iterations)
    finally:
        procs.close()
        subprocess.run(["rm", "-rf", work], check=False)
    def round_ratio(num, den):
        """Per-round p50 ratio: each round's peers ran back to back, so they
        shared that moment's background load."""
        r = sorted(B.percentile(a, 50) / B.percentile(b, 50)
                   for a, b in zip(by_round[num], by_round[den]))
        return {"median": B.percentile(r, 50), "min": r[0], "max": r[-1], "rounds": len(r)}

    result = {
        "benchmark": "trigger",
        "round_ratios": {f"{n}/{d}": round_ratio(n, d) for n, d in (
            ("jenky", "spawn-true"), ("jenky", "webhook"), ("jenky-sh", "spawn-true"),
            ("jenky", "spawn-bash"), ("jenky-sh", "spawn-sh"))},
        "iterations": per_round * a.rounds, "warmup": a.warmup, "rounds": a.rounds,
        "gap_ms": a.gap_ms, "phase_iterations": a.phase_iterations,
        "peers": {name: B.summarize_ms(s) for name, s in samples.items()},
        "phases": {p.name: p.phase_summary() for p in peers if isinstance(p, JenkyPeer)},
    }
    B.write_result(a.out, result)
    for name, s in result["peers"].items():
        print(f"  {name:11s} p50 {s['p50']:.3f} ms  p99 {s['p99']:.3f} ms", file=sys.stderr)


if __name__ == "__main__":
    main()
