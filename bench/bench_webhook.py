#!/usr/bin/python3
"""Benchmark: GitHub-style webhooks, jenky vs the `webhook` tool (issue 3).

Both peers do the same job: a GitHub push delivery signed with HMAC-SHA256
(`X-Hub-Signature-256: sha256=<hex>` over the raw body) is checked, and a push
to refs/heads/main runs a script whose first output byte is timed.

  webhook   hooks.json: trigger-rule = and(payload-hmac-sha256 on
            X-Hub-Signature-256, payload ref == refs/heads/main); the hook is a
            bash script `printf x > out/$DELIVERY` (delivery id as argument)
  jenky     [projects.app] script = "printf x", webhook provider "github",
            secret, branches = ["main"]; POST /hooks/app

1. Rejected deliveries (a wrong signature, of the right length): `wrk`
   (2 threads, 64 connections, a Lua script POSTing the same body and headers)
   for --duration seconds per measurement, peers interleaved in --rounds
   rounds. jenky runs with `[server] max_auth_failures = 0` so that, like
   webhook, it verifies every signature and answers 401; a second jenky with
   the default limit (10 failures a minute per address, then 429) is measured
   as well, for the record.
2. Accepted deliveries: --deliveries sequential valid pushes per peer (each
   with a new X-GitHub-Delivery id), interleaved in rounds; timed from just
   before the request is written to a keep-alive socket to the inotify
   IN_MODIFY of the output file (jenky: runs/ID/log; webhook: out/ID). Each
   run finishes before the next delivery.
"""

import argparse
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402
import sections  # noqa: E402

SECRET = "bench-webhook-secret"
SCRIPT = "printf x"


def push_payload(n=0):
    """A push to main shaped like GitHub's (about 2 KB, one commit)."""
    after = hashlib.sha1(f"commit {n}".encode()).hexdigest()
    before = hashlib.sha1(f"commit {n - 1}".encode()).hexdigest()
    person = {"name": "Lewin", "email": "lewin@example.com", "username": "lewin"}
    return json.dumps({
        "ref": "refs/heads/main", "before": before, "after": after,
        "created": False, "deleted": False, "forced": False, "base_ref": None,
        "compare": f"https://github.com/lewin/app/compare/{before[:12]}...{after[:12]}",
        "commits": [{"id": after, "tree_id": before, "distinct": True,
                     "message": "Fix the thing that was broken", "timestamp": "2026-11-25T04:00:00Z",
                     "url": f"https://github.com/lewin/app/commit/{after}",
                     "author": person, "committer": person,
                     "added": [], "removed": [], "modified": ["src/main.c", "README.md"]}],
        "head_commit": {"id": after, "message": "Fix the thing that was broken"},
        "repository": {"id": 1296269, "name": "app", "full_name": "lewin/app", "private": False,
                       "owner": {"name": "lewin", "login": "lewin", "id": 1},
                       "html_url": "https://github.com/lewin/app", "default_branch": "main",
                       "clone_url": "https://github.com/lewin/app.git"},
        "pusher": {"name": "lewin", "email": "lewin@example.com"},
        "sender": {"login": "lewin", "id": 1, "type": "User"},
    }, separators=(",", ":")).encode()


def signature(body, secret=SECRET):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def headers(body, delivery, secret=SECRET):
    return {"Content-Type": "application/json", "User-Agent": "GitHub-Hookshot/bench",
            "X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": signature(body, secret)}


def post(http, path, body, hdrs):
    head = f"POST {path} HTTP/1.1\r\nHost: {http.host}:{http.port}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    head += f"Content-Length: {len(body)}\r\n\r\n"
    http.sock.sendall(head.encode() + body)


def lua_string(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def wrk_script(path, body, hdrs):
    """wrk Lua: every request is the same POST (a wrong signature)."""
    with open(path, "w") as f:
        f.write('wrk.method = "POST"\n')
        f.write(f"wrk.body = {lua_string(body.decode())}\n")
        for k, v in hdrs.items():
            f.write(f"wrk.headers[{lua_string(k)}] = {lua_string(v)}\n")


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except FileNotFoundError:
            pass
    return total


def parse_wrk(text):
    def num(pat, default=0.0):
        m = re.search(pat, text)
        return float(m.group(1)) if m else default

    def ms(v, unit):
        return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]

    out = {"rps": num(r"Requests/sec:\s+([\d.]+)"),
           "requests": int(num(r"(\d+) requests in")),
           "non_2xx": int(num(r"Non-2xx or 3xx responses:\s+(\d+)")),
           "socket_errors": (re.search(r"Socket errors:.*", text) or [""])[0]}
    for label, key in (("50%", "p50_ms"), ("99%", "p99_ms")):
        m = re.search(label.replace("%", r"%\s+([\d.]+)(us|ms|s|m)\b"), text)
        if m:
            out[key] = ms(m.group(1), m.group(2))
    return out


def syscalls_per_request(srv, lua, a, seconds=3):
    """Syscalls of the server per rejected delivery: `strace -c -f` attached for
    a short wrk burst (strace slows the server; the counts per request hold)."""
    if not shutil.which("strace"):
        return None
    out_path = os.path.join(os.path.dirname(lua), f"strace-{srv.name}.txt")
    st = subprocess.Popen(["strace", "-c", "-f", "-p", str(srv.pid), "-o", out_path],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        time.sleep(0.5)
        w = subprocess.run(["wrk", "-t", str(a.wrk_threads), "-c", str(a.wrk_connections),
                            "-d", f"{seconds}s", "-s", lua,
                            f"http://127.0.0.1:{srv.port}{srv.path}"],
                           capture_output=True, text=True, timeout=seconds + 60,
                           stdin=subprocess.DEVNULL)
    finally:
        st.send_signal(2)  # SIGINT: strace detaches and writes its table
        try:
            st.wait(15)
        except subprocess.TimeoutExpired:
            st.kill()
            st.wait(5)
    requests = parse_wrk(w.stdout)["requests"]
    calls = {}
    try:
        with open(out_path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] not in ("total",):
                    calls[parts[-1]] = int(parts[3])
    except FileNotFoundError:
        return None
    if not requests:
        return None
    per = {k: v / requests for k, v in calls.items() if v / requests >= 0.05}
    return {"requests": requests, "per_request": dict(sorted(per.items(), key=lambda x: -x[1]))}


class Server:
    """One peer under wrk: where to send, which pids' CPU to count."""

    def __init__(self, name, port, pid, path):
        self.name, self.port, self.pid, self.path = name, port, pid, path


def probe(port, body, hdrs):
    """One delivery on a new connection: (status, headers, body)."""
    http = B.Http("127.0.0.1", port)
    try:
        post(http, "/hooks/app", body, hdrs)
        return http.receive()
    finally:
        http.close()


def recent_answers(port):
    """Statuses of jenky's newest 100 recorded deliveries: {status: count}.
    Asked from another loopback address (127.0.0.2): 127.0.0.1 is rate limited."""
    http = B.Http.__new__(B.Http)
    http.host, http.port, http.buf = "127.0.0.1", port, b""
    http.sock = socket.create_connection(("127.0.0.1", port), timeout=30,
                                         source_address=("127.0.0.2", 0))
    try:
        status, _, body = http.request("GET", "/api/v1/projects/app/deliveries")
    finally:
        http.close()
    out = {}
    if status == 200:
        for d in json.loads(body):
            out[str(d["status"])] = out.get(str(d["status"]), 0) + 1
    return out


def run_wrk(srv, lua, a):
    tck = os.sysconf("SC_CLK_TCK")
    c0, t0 = cpu_ticks([srv.pid]), time.monotonic()
    out = subprocess.run(
        ["wrk", "-t", str(a.wrk_threads), "-c", str(a.wrk_connections), "-d", f"{a.duration}s",
         "--latency", "-s", lua, f"http://127.0.0.1:{srv.port}{srv.path}"],
        capture_output=True, text=True, timeout=a.duration + 60, stdin=subprocess.DEVNULL)
    c1, t1 = cpu_ticks([srv.pid]), time.monotonic()
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed: {out.stderr.strip()}")
    r = parse_wrk(out.stdout)
    r["server_cpu_pct"] = 100.0 * (c1 - c0) / tck / (t1 - t0)
    r["requests_per_cpu_s"] = r["requests"] / max(1e-9, (c1 - c0) / tck)
    if r["non_2xx"] != r["requests"]:
        raise RuntimeError(f"{srv.name}: {r['requests'] - r['non_2xx']} rejected deliveries were "
                           f"answered 2xx/3xx:\n{out.stdout}")
    return r


class WebhookPeer:
    name = "webhook"

    def setup(self, procs, work):
        self.out = os.path.join(work, "out")
        os.mkdir(self.out)
        script = os.path.join(work, "hook.sh")
        with open(script, "w") as f:
            f.write(f'#!/bin/bash\ncd {self.out}\n{SCRIPT} > "$1"\n')
        os.chmod(script, 0o755)
        hooks = os.path.join(work, "hooks.json")
        B.write_result(hooks, [{
            "id": "app", "execute-command": script, "command-working-directory": work,
            "pass-arguments-to-command": [{"source": "header", "name": "X-GitHub-Delivery"}],
            "trigger-rule": {"and": [
                {"match": {"type": "payload-hmac-sha256", "secret": SECRET,
                           "parameter": {"source": "header", "name": "X-Hub-Signature-256"}}},
                {"match": {"type": "value", "value": "refs/heads/main",
                           "parameter": {"source": "payload", "name": "ref"}}}]},
        }])
        self.port = B.free_port()
        log = open(os.path.join(work, "webhook.log"), "wb")
        self.proc = procs.spawn(["webhook", "-hooks", hooks, "-ip", "127.0.0.1", "-port",
                                 str(self.port)], stdout=log, stderr=subprocess.STDOUT)
        log.close()
        B.wait_port(self.port)
        self.server = Server("webhook", self.port, self.proc.pid, "/hooks/app")
        self.http = B.Http("127.0.0.1", self.port)
        self.ino = B.Inotify()
        self.wd = self.ino.add_watch(self.out, B.IN_MODIFY | B.IN_CLOSE_WRITE)


    def one(self, body, delivery, gap_ms):
        deadline = B.now_ns() + 10 * 10**9
        hdrs = headers(body, delivery)
        t0 = B.now_ns()
        post(self.http, "/hooks/app", body, hdrs)
        t1 = closed = None
        while t1 is None or closed is None:
            for wd, mask, ev in self.ino.read_events(deadline):
                if wd != self.wd or ev != delivery:
                    continue
                if mask & B.IN_MODIFY and t1 is None:
                    t1 = B.now_ns()
                if mask & B.IN_CLOSE_WRITE:
                    closed = True
        status, _, rbody = self.http.receive()
        if status != 200:
            raise RuntimeError(f"webhook answered {status}: {rbody[:200]!r}")
        if B.file_size(os.path.join(self.out, delivery)) != 1:
            raise RuntimeError("webhook: hook output missing")
        time.sleep(gap_ms / 1000)
        return t1 - t0


class JenkyPeer:
    def __init__(self, name, max_auth_failures):
        self.name = name
        self.max_auth_failures = max_auth_failures
        self.next_id = 1

    def setup(self, procs, work):
        server = "[server]\n"
        if self.max_auth_failures is not None:
            server += f"max_auth_failures = {self.max_auth_failures}\n"
        config = (server + B.project_toml("app", SCRIPT, timeout="1m", concurrency="queue") +
                  f'[projects.app.webhook]\nprovider = "github"\nsecret = "{SECRET}"\n'
                  f'branches = ["main"]\n')
        self.jenky = B.Jenky(procs, work, config).start()
        self.server = Server(self.name, self.jenky.port, self.jenky.pid, "/hooks/app")
        self.http = B.Http("127.0.0.1", self.jenky.port)
        self.ino = B.Inotify()
        runs = os.path.join(self.jenky.data_dir, "runs")
        os.makedirs(runs, exist_ok=True)
        self.runs_wd = self.ino.add_watch(runs, B.IN_CREATE | B.IN_MOVED_TO)


    def one(self, body, delivery, gap_ms):
        run_id = self.next_id
        self.next_id += 1
        run_dir = self.jenky.run_dir(run_id)
        log = os.path.join(run_dir, "log")
        deadline = B.now_ns() + 30 * 10**9
        hdrs = headers(body, delivery)
        sub_wd = None
        t1 = None
        t0 = B.now_ns()
        post(self.http, "/hooks/app", body, hdrs)
        while t1 is None:
            for wd, mask, name in self.ino.read_events(deadline):
                now = B.now_ns()
                if wd == self.runs_wd and name == str(run_id) and sub_wd is None:
                    sub_wd = self.ino.add_watch(run_dir, B.IN_MODIFY)
                    if B.file_size(log) > 0:  # written before the watch existed
                        t1 = B.now_ns()
                elif wd == sub_wd and name == "log" and mask & B.IN_MODIFY and t1 is None:
                    t1 = now
        status, _, rbody = self.http.receive()
        if status != 202:
            raise RuntimeError(f"jenky answered {status}: {rbody[:200]!r}")
        run = json.loads(rbody)
        if run["id"] != run_id or run["trigger"]["delivery"] != delivery:
            raise RuntimeError(f"unexpected run: {run}")
        done = B.wait_run_done(self.http, run_id, deadline)
        if done["status"] != "succeeded" or done["log_bytes"] != 1:
            raise RuntimeError(f"run {run_id}: {done}")
        self.ino.rm_watch(sub_wd)
        time.sleep(gap_ms / 1000)
        return t1 - t0


def main():
    B.install_signal_handlers()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk measurement")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved wrk rounds")
    ap.add_argument("--wrk-threads", type=int, default=2)
    ap.add_argument("--wrk-connections", type=int, default=64)
    ap.add_argument("--deliveries", type=int, default=240, help="accepted deliveries per peer")
    ap.add_argument("--delivery-rounds", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--gap-ms", type=int, default=25)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    meta = sections.meta_start()

    work = B.temp_dir("webhook")
    procs = B.Procs()
    wh = WebhookPeer()
    jk = JenkyPeer("jenky", 0)
    jk_limited = JenkyPeer("jenky-limited", None)
    body = push_payload()
    bad = headers(body, "bench-rejected", secret="not-the-secret")  # right length, wrong MAC
    lua = os.path.join(work, "rejected.lua")
    wrk_script(lua, body, bad)
    result = {"benchmark": "webhook", "duration_s": a.duration, "rounds": a.rounds,
              "wrk_threads": a.wrk_threads, "wrk_connections": a.wrk_connections,
              "body_bytes": len(body), "deliveries": 0, "delivery_rounds": a.delivery_rounds,
              "warmup": a.warmup, "gap_ms": a.gap_ms,
              "webhook_version": subprocess.run(["webhook", "-version"], capture_output=True,
                                                text=True).stdout.strip().split()[-1],
              "wrk_version": subprocess.run(["wrk", "-v"], capture_output=True, text=True)
              .stdout.split("\n")[0].strip()}
    try:
        for p in (wh, jk, jk_limited):
            d = os.path.join(work, p.name)
            os.mkdir(d)
            p.setup(procs, d)
        # What each peer answers to the rejected delivery (and that it does).
        result["rejected_status"] = {}
        for p in (wh, jk, jk_limited):
            status, _, rbody = probe(p.server.port, body, bad)
            result["rejected_status"][p.name] = [status, rbody[:120].decode(errors="replace")]
        if result["rejected_status"]["webhook"][0] < 300 or result["rejected_status"]["jenky"][0] != 401:
            raise RuntimeError(f"unexpected answers to a bad signature: {result['rejected_status']}")

        # 2. accepted deliveries first (wrk's flood leaves the machine busy).
        seq = 0
        samples = {p.name: [] for p in (wh, jk)}
        by_round = {p.name: [] for p in (wh, jk)}
        for p in (wh, jk):
            for _ in range(a.warmup):
                seq += 1
                p.one(push_payload(seq), str(uuid.uuid4()), a.gap_ms)
        per_round = max(1, a.deliveries // a.delivery_rounds)
        for r in range(a.delivery_rounds):
            for p in ((wh, jk) if r % 2 == 0 else (jk, wh)):
                got = []
                for _ in range(per_round):
                    seq += 1
                    got.append(p.one(push_payload(seq), str(uuid.uuid4()), a.gap_ms))
                samples[p.name] += got
                by_round[p.name].append(sorted(got))
            print(f"  deliveries: round {r + 1}/{a.delivery_rounds}", file=sys.stderr)
        result["deliveries"] = per_round * a.delivery_rounds
        result["latency"] = {n: B.summarize_ms(s) for n, s in samples.items()}
        ratios = sorted(B.percentile(x, 50) / B.percentile(y, 50)
                        for x, y in zip(by_round["jenky"], by_round["webhook"]))
        result["latency_round_ratio"] = {"median": B.percentile(ratios, 50), "min": ratios[0],
                                         "max": ratios[-1], "rounds": len(ratios)}

        # 1. rejected deliveries under wrk, interleaved.
        order = [wh.server, jk.server, jk_limited.server]
        runs = {s.name: [] for s in order}
        for r in range(a.rounds):
            for s in (order if r % 2 == 0 else order[::-1]):
                got = run_wrk(s, lua, a)
                got["load"] = os.getloadavg()[0]
                if s.name.startswith("jenky"):
                    got["last_100_answers"] = recent_answers(s.port)
                runs[s.name].append(got)
                print(f"  wrk round {r + 1}/{a.rounds} {s.name}: {got['rps']:.0f} req/s "
                      f"(server CPU {got['server_cpu_pct']:.0f} %)", file=sys.stderr)
        result["rejected"] = runs
        result["rejected_median_rps"] = {
            n: B.percentile(sorted(x["rps"] for x in v), 50) for n, v in runs.items()}
        rr = sorted(j["rps"] / w["rps"] for j, w in zip(runs["jenky"], runs["webhook"]))
        result["rejected_round_ratio"] = {"median": B.percentile(rr, 50), "min": rr[0],
                                          "max": rr[-1], "rounds": len(rr)}
        result["syscalls"] = {s.name: syscalls_per_request(s, lua, a) for s in order[:2]}
        result["jenky_rss_kib"] = B.proc_kib(jk.jenky.pid, "VmRSS")
        result["webhook_rss_kib"] = B.proc_kib(wh.proc.pid, "VmRSS")
    finally:
        procs.close()
        subprocess.run(["rm", "-rf", work], check=False)
    result["meta"] = sections.meta_end(meta)
    B.write_result(a.out, result)
    for n, s in result["latency"].items():
        print(f"  accepted {n:8s} p50 {s['p50']:.2f} ms  p99 {s['p99']:.2f} ms", file=sys.stderr)
    for n, v in result["rejected_median_rps"].items():
        print(f"  rejected {n:14s} {v:.0f} req/s", file=sys.stderr)


if __name__ == "__main__":
    main()
