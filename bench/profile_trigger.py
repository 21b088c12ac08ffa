#!/usr/bin/python3
"""Where a trigger's time goes: one jenky trigger under `strace -f -tt -T`.

Starts jenky on a fresh data dir (script `printf x`), does a few warm-up runs,
attaches strace to the server and its spare supervisor (following forks),
triggers one run and prints the syscalls from the request's arrival to the
first write of the log, with times relative to the request, plus a summary of
the time spent in fsync-like calls. strace slows every syscall down, so read
the timeline for its order and for the slow calls, not for absolute totals.

  bench/profile_trigger.py [--all] [--keep TRACE_FILE]
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

LINE = re.compile(r"^(\d+)\s+(\d+):(\d+):(\d+\.\d+) (.*?)(?: <(\d+\.\d+)>)?$")


def main():
    B.install_signal_handlers()
    ap = argparse.ArgumentParser()
    ap.add_argument("--all", action="store_true", help="print every syscall, not a filtered list")
    ap.add_argument("--keep", help="copy the raw strace output here")
    a = ap.parse_args()
    if not shutil.which("strace"):
        sys.exit("profile_trigger: strace is missing (apt-get install strace)")

    work = B.temp_dir("profile")
    procs = B.Procs()
    trace = os.path.join(work, "trace")
    try:
        server = B.Jenky(procs, work, B.project_toml("p1", "printf x", timeout="1m")).start()
        http = B.Http("127.0.0.1", server.port)
        for _ in range(3):
            _, _, body = http.request("POST", "/api/v1/projects/p1/runs")
            B.wait_run_done(http, B.json.loads(body)["id"], B.now_ns() + 10 * 10**9)
        time.sleep(0.2)
        pids = [server.pid] + server.spare_pids()
        argv = ["strace", "-f", "-tt", "-T", "-s", "80", "-o", trace]
        for p in pids:
            argv += ["-p", str(p)]
        st = procs.spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)  # attach
        _, _, body = http.request("POST", "/api/v1/projects/p1/runs")
        run_id = B.json.loads(body)["id"]
        B.wait_run_done(http, run_id, B.now_ns() + 10 * 10**9)
        time.sleep(0.2)
        st.send_signal(signal.SIGINT)
        st.wait(10)
        if a.keep:
            shutil.copy(trace, a.keep)
        with open(trace) as f:
            lines = f.read().splitlines()
    finally:
        procs.close()
        shutil.rmtree(work, ignore_errors=True)

    events = []
    for ln in lines:
        m = LINE.match(ln)
        if not m:
            continue
        pid, h, mi, s, call, dur = m.groups()
        t = int(h) * 3600 + int(mi) * 60 + float(s)
        events.append((t, int(pid), call, float(dur) if dur else 0.0))
    start = next((e for e in events if "POST /api/v1/projects" in e[2]), None)
    if not start:
        sys.exit("profile_trigger: the request was not seen in the trace")
    t0 = start[0]
    log_write = next((e for e in events if e[0] >= t0 and re.match(r"write\(\d+, \"x\"", e[2])), None)
    end = log_write[0] if log_write else events[-1][0]
    interesting = re.compile(r"fsync|fdatasync|rename|openat|mkdir|clone|execve|wait4|pwrite|"
                             r"write\(|read\(0|pipe|flock|sendto|sendmsg|recvfrom|pidfd|exit")
    print(f"run {run_id}: t=0 is the read of the request; the first log write is at "
          f"{(end - t0) * 1000:.2f} ms (under strace)\n")
    sync_total = 0.0
    for t, pid, call, dur in events:
        if t < t0 or t > end + 0.0005:
            continue
        if call.startswith(("fsync", "fdatasync")):
            sync_total += dur
        if a.all or interesting.search(call):
            print(f"{(t - t0) * 1000:8.3f} ms  pid {pid:<7d} {call[:110]}  <{dur * 1000:.3f} ms>")
    print(f"\ntime inside fsync/fdatasync before the first byte: {sync_total * 1000:.2f} ms")


if __name__ == "__main__":
    main()
