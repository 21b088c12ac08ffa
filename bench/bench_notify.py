#!/usr/bin/python3
"""Benchmark: trigger -> first byte with the outbox busy (issue 19).

Two jenky servers, measured in the same run in interleaved rounds (fresh
servers every round, taking turns at going first), each triggered with the same body ({"commit": SHA}) and timed as bench_trigger.py
times jenky (request written -> inotify IN_MODIFY of the run's log):

  jenky         no [[notify]], no status
  jenky-notify  three [[notify]] receivers (a webhook, slack and ntfy, on
                every event) and a GitHub commit status: the webhook and the
                status answer at once from a loopback server in a
                process of its own; the slack receiver is a socket that accepts and
                never answers (each attempt waits out its 10 s timeout)

The outbox must not be on the trigger's path: the goal is jenky-notify's
p50 within 5 % of jenky's, per round. --control gives both servers no
receivers: what the method reads when there is no difference.
"""

import argparse
import http.server
import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402
from bench_trigger import SCRIPT, JenkyPeer  # noqa: E402

SHA = "9f1c2ab3c4d5e6f708192a3b4c5d6e7f80919293"
BODY = B.json.dumps({"commit": SHA}).encode()


class Answering(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # The headers and the body are two writes: with Nagle, the body waits
    # for the ACK of the headers, which curl delays (40 ms), and the
    # receivers fell behind by seconds.
    disable_nagle_algorithm = True

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(201)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *a):
        pass


class BodyPeer(JenkyPeer):
    """JenkyPeer posting BODY, with BEFORE and AFTER around the project's
    table in its config ([[notify]] before, [projects.p1.status] after)."""

    def __init__(self, gap_ms, name, before="", after=""):
        super().__init__(gap_ms, name=name)
        self.before, self.after = before, after

    def setup(self, procs, work):
        config = self.before + B.project_toml("p1", SCRIPT, timeout="1m") + self.after
        self.server = B.Jenky(procs, work, config).start()
        self.http = B.Http("127.0.0.1", self.server.port)
        send = self.http.send
        self.http.send = lambda method, path, body=b"": send(method, path, BODY)
        self.ino = B.Inotify()
        runs = os.path.join(self.server.data_dir, "runs")
        os.makedirs(runs, exist_ok=True)
        self.runs_wd = self.ino.add_watch(runs, B.IN_CREATE | B.IN_MOVED_TO)


class QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a round's servers are killed mid-request: not news


def serve_receivers():
    """The answering receivers (--serve-receivers): prints the port, serves
    until killed."""
    live = QuietServer(("127.0.0.1", 0), Answering)
    print(live.server_address[1], flush=True)
    live.serve_forever()


def main():
    if sys.argv[1:] == ["--serve-receivers"]:
        return serve_receivers()
    B.install_signal_handlers()
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--gap-ms", type=int, default=25)
    ap.add_argument("--control", action="store_true",
                    help="both servers without receivers: the method's own difference")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    # The answering receivers run in a process of their own: in this one,
    # their threads would take the interpreter's lock from the timing loop
    # for every message jenky sends, and count as jenky's overhead.
    live = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve-receivers"],
                            stdout=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{live.stdout.readline().strip()}"
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead.listen(1024)  # accepted by the kernel, never answered
    dead_url = f"http://127.0.0.1:{dead.getsockname()[1]}"
    on = '["started", "succeeded", "failed", "recovered", "cancelled"]'
    status = (f'[projects.p1.status]\nprovider = "github"\napi_url = "{url}"\nrepo = "o/p1"\n'
              'token_env = "BENCH_STATUS_TOKEN"\n')
    os.environ["BENCH_STATUS_TOKEN"] = "bench-token"  # the fake forge takes any
    notify = (f'[[notify]]\nkind = "webhook"\nurl = "{url}/hook"\non = {on}\n'
              f'[[notify]]\nkind = "slack"\nurl = "{dead_url}/slack"\non = {on}\n'
              f'[[notify]]\nkind = "ntfy"\nurl = "{url}/ntfy"\non = {on}\n')
    if a.control:
        notify = status = ""  # the same server twice: what the method itself reads as a difference
    names = ["jenky", "jenky-notify"]
    work = B.temp_dir("notify")
    samples = {n: [] for n in names}
    by_round = {n: [] for n in names}
    per_round = max(1, a.iterations // a.rounds)
    messages = []
    try:
        for r in range(a.rounds):
            # Fresh servers every round, measured in turn, first one then the
            # other first: a pair of long-lived servers keeps whatever the
            # scheduler made of them (which CPU, next to what), and that
            # alone read as a 20 % difference between two identical ones.
            procs = B.Procs()
            try:
                peers = [BodyPeer(a.gap_ms, "jenky"),
                         BodyPeer(a.gap_ms, "jenky-notify", notify, status)]
                for p in peers:
                    d = os.path.join(work, f"{p.name}-{r}")
                    os.mkdir(d)
                    p.setup(procs, d)
                    p.measure(a.warmup)
                for p in peers if r % 2 == 0 else reversed(peers):
                    got = p.measure(per_round)
                    samples[p.name] += got
                    by_round[p.name].append(sorted(got))
                if r == a.rounds - 1:
                    messages = B.json.loads(subprocess.run(
                        ["curl", "-s", f"http://127.0.0.1:{peers[1].server.port}"
                         "/api/v1/projects/p1/messages?limit=500"],
                        capture_output=True, check=True).stdout)
            finally:
                procs.close()
            print(f"  round {r + 1}/{a.rounds} done", file=sys.stderr)
    finally:
        live.kill()
        live.wait()
        dead.close()
        subprocess.run(["rm", "-rf", work], check=False)
    ratios = sorted(B.percentile(x, 50) / B.percentile(y, 50)
                    for x, y in zip(by_round["jenky-notify"], by_round["jenky"]))
    states = {}
    for m in messages:
        states[(m["receiver"], m["state"])] = states.get((m["receiver"], m["state"]), 0) + 1
    result = {
        "benchmark": "notify", "control": a.control,
        "round_ratio_notify_over_plain": {"median": B.percentile(ratios, 50), "min": ratios[0],
                                          "max": ratios[-1], "rounds": len(ratios)},
        "iterations": per_round * a.rounds, "warmup": a.warmup, "rounds": a.rounds,
        "peers": {name: B.summarize_ms(s) for name, s in samples.items()},
        "last_500_messages": {f"{r}/{s}": n for (r, s), n in sorted(states.items())},
    }
    B.write_result(a.out, result)
    for name, s in result["peers"].items():
        print(f"  {name:13s} p50 {s['p50']:.3f} ms  p99 {s['p99']:.3f} ms", file=sys.stderr)
    print(f"  notify/plain p50 ratio per round: median {result['round_ratio_notify_over_plain']}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
