#!/usr/bin/python3
"""Benchmark 1: trigger -> first byte of the script's output.

Peers, measured in the same run, in interleaved rounds:
  spawn-true  posix_spawn(/bin/true) -> waitpid returns      (C, spawn_baseline)
  spawn-bash  posix_spawn(bash -e script) -> first byte on its stdout pipe
  webhook     POST /hooks/bench?id=N -> first byte in out/N  (hook: bash script
              `printf x > out/$1`)
  jenky       POST /api/v1/projects/p1/runs -> first byte in runs/ID/log
              (script `printf x`, default shell /bin/bash)

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
                             check=True, capture_output=True, text=True, timeout=120)
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


class JenkyPeer:
    name = "jenky"

    def __init__(self, gap_ms):
        self.gap_ms = gap_ms
        self.next_id = 1

    def setup(self, procs, work):
        self.server = B.Jenky(procs, work, B.project_toml("p1", SCRIPT, timeout="1m")).start()
        self.http = B.Http("127.0.0.1", self.server.port)
        self.ino = B.Inotify()
        runs = os.path.join(self.server.data_dir, "runs")
        os.makedirs(runs, exist_ok=True)  # the server makes it at startup; no-op
        self.runs_wd = self.ino.add_watch(runs, B.IN_CREATE)
        self.spare_rss = []

    def one(self):
        run_id = self.next_id
        self.next_id += 1
        run_dir = self.server.run_dir(run_id)
        log = os.path.join(run_dir, "log")
        deadline = B.now_ns() + 30 * 10**9
        t0 = B.now_ns()
        self.http.send("POST", "/api/v1/projects/p1/runs", b"")
        t1 = None
        sub_wd = None
        while t1 is None:
            for wd, mask, name in self.ino.read_events(deadline):
                if wd == self.runs_wd and name == str(run_id) and sub_wd is None:
                    sub_wd = self.ino.add_watch(run_dir, B.IN_MODIFY)
                    if B.file_size(log) > 0:  # written before the watch existed
                        t1 = B.now_ns()
                elif wd == sub_wd and name == "log" and mask & B.IN_MODIFY and t1 is None:
                    t1 = B.now_ns()
        status, _, body = self.http.receive()
        if status != 202:
            raise RuntimeError(f"jenky trigger answered {status}: {body[:200]!r}")
        run = B.json.loads(body)
        if run["id"] != run_id:
            raise RuntimeError(f"expected run id {run_id}, got {run['id']}")
        done = B.wait_run_done(self.http, run_id, deadline)
        if done["status"] != "succeeded" or done["log_bytes"] != 1:
            raise RuntimeError(f"run {run_id}: {done}")
        self.ino.rm_watch(sub_wd)
        time.sleep(self.gap_ms / 1000)
        return t1 - t0

    def measure(self, count):
        return [self.one() for _ in range(count)]


def main():
    B.install_signal_handlers()
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--gap-ms", type=int, default=50)
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
        WebhookPeer(a.gap_ms),
        JenkyPeer(a.gap_ms),
    ]
    procs = B.Procs()
    samples = {p.name: [] for p in peers}
    try:
        for p in peers:
            d = os.path.join(work, p.name)
            os.mkdir(d)
            p.setup(procs, d)
            p.measure(a.warmup)
        per_round = max(1, a.iterations // a.rounds)
        for r in range(a.rounds):
            for p in peers:
                samples[p.name] += p.measure(per_round)
                print(f"  round {r + 1}/{a.rounds} {p.name}: {len(samples[p.name])} samples",
                      file=sys.stderr)
    finally:
        procs.close()
        subprocess.run(["rm", "-rf", work], check=False)
    result = {
        "benchmark": "trigger",
        "iterations": per_round * a.rounds, "warmup": a.warmup, "rounds": a.rounds,
        "gap_ms": a.gap_ms,
        "peers": {name: B.summarize_ms(s) for name, s in samples.items()},
    }
    B.write_result(a.out, result)
    for name, s in result["peers"].items():
        print(f"  {name:11s} p50 {s['p50']:.3f} ms  p99 {s['p99']:.3f} ms", file=sys.stderr)


if __name__ == "__main__":
    main()
