#!/usr/bin/python3
"""Where a trigger's time goes: the syscalls of one jenky trigger.

Starts jenky on a fresh data dir (script `printf x`), does a few warm-up runs,
then records one trigger system-wide with `perf trace` (tracepoints, so it
slows the processes far less than strace) and prints the timeline of the
server, its spare supervisor and everything they start, from the read of the
request to the script's exit, with times relative to the request. Without
perf it falls back to `strace -f -tt -T` on the server and the spare (which
slows everything several-fold: read it for the order and the slow calls).

  bench/profile_trigger.py [--all] [--shell /bin/sh] [--keep FILE] [--strace]

--all prints every syscall (default: the ones that matter for latency).
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

# perf trace:  "   824.953 ( 0.017 ms): jenky/27981 recvmsg(fd: 17, ...) = 140"
PERF = re.compile(r"^\s*([\d.]+|\?) \(\s*([\d.]*)(?: ms)?\s*\): (\S+)/(\d+)\s+(.*)$")
# strace -f -tt -T:  "27981 03:57:03.688623 recvmsg(17, ...) = 140 <0.000017>"
STRACE = re.compile(r"^(\d+)\s+(\d+):(\d+):(\d+\.\d+) (.*?)(?: <(\d+\.\d+)>)?$")

QUIET = re.compile(r"^(futex|epoll_wait|epoll_pwait|prlimit64|getpid|rt_sigprocmask|"
                   r"mprotect|mmap|munmap|brk|newfstatat|fstat|close|arch_prctl|"
                   r"set_tid_address|set_robust_list|rseq|getrandom|pread64|fcntl|"
                   r"\.\.\. \[continued\]: (epoll_wait|futex))\b")


def record(tool, pids, out_path, procs):
    if tool == "perf":
        argv = ["perf", "trace", "-a", "-o", out_path]
    else:
        argv = ["strace", "-f", "-tt", "-T", "-s", "60", "-o", out_path]
        for p in pids:
            argv += ["-p", str(p)]
    return procs.spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def parse(tool, lines):
    """[(t_ms, dur_ms, comm, pid, call)] in file order."""
    out = []
    for ln in lines:
        if tool == "perf":
            m = PERF.match(ln)
            if not m:
                continue
            t, dur, comm, pid, call = m.groups()
            out.append((None if t == "?" else float(t), float(dur) if dur else 0.0, comm,
                        int(pid), call.strip()))
        else:
            m = STRACE.match(ln)
            if not m:
                continue
            pid, h, mi, s, call, dur = m.groups()
            t = (int(h) * 3600 + int(mi) * 60 + float(s)) * 1000
            out.append((t, float(dur) * 1000 if dur else 0.0, "", int(pid), call))
    return out


def main():
    B.install_signal_handlers()
    ap = argparse.ArgumentParser()
    ap.add_argument("--all", action="store_true")
    ap.add_argument("--shell", help="the project's shell (default: jenky's, /bin/bash)")
    ap.add_argument("--keep", help="copy the raw trace here")
    ap.add_argument("--strace", action="store_true", help="use strace even if perf works")
    a = ap.parse_args()
    tool = "perf" if shutil.which("perf") and not a.strace else "strace"
    if not shutil.which(tool):
        sys.exit("profile_trigger: needs perf (apt-get install linux-perf) or strace")

    work = B.temp_dir("profile")
    procs = B.Procs()
    trace = os.path.join(work, "trace")
    try:
        server = B.Jenky(procs, work, B.project_toml("p1", "printf x", timeout="1m",
                                                     shell=a.shell)).start()
        http = B.Http("127.0.0.1", server.port)
        for _ in range(3):
            _, _, body = http.request("POST", "/api/v1/projects/p1/runs")
            B.wait_run_done(http, B.json.loads(body)["id"], B.now_ns() + 10 * 10**9)
        time.sleep(0.3)
        pids = {server.pid, *server.spare_pids()}
        rec = record(tool, pids, trace, procs)
        time.sleep(1.5)  # perf/strace attach
        http.send("POST", "/api/v1/projects/p1/runs", b"")
        _, _, body = http.receive()
        time.sleep(0.3)  # no polling while the run starts
        run_id = B.json.loads(body)["id"]
        B.wait_run_done(http, run_id, B.now_ns() + 10 * 10**9)
        time.sleep(0.2)
        rec.send_signal(signal.SIGINT)
        rec.wait(15)
        if a.keep:
            shutil.copy(trace, a.keep)
        with open(trace, errors="replace") as f:
            events = parse(tool, f.read().splitlines())
    finally:
        procs.close()
        shutil.rmtree(work, ignore_errors=True)

    # Follow the process tree: anything cloned by a tracked pid is tracked.
    tracked = set(pids)
    names = {server.pid: "server"}
    for p in pids - {server.pid}:
        names[p] = "supervisor"
    t0 = None
    rows = []
    last_t = 0.0
    for t, dur, comm, pid, call in events:
        if t is None:
            t = last_t
        last_t = t
        if pid not in tracked:
            continue
        m = re.search(r"^(?:\.\.\. \[continued\]: )?(clone3?|vfork|fork)\(.*= (\d+)", call)
        if m:
            child = int(m.group(2))
            tracked.add(child)
            names.setdefault(child, "spare" if pid == server.pid else "script")
        if t0 is None:
            if pid == server.pid and re.match(r"(recvmsg|recvfrom|read)\(", call) and \
                    re.search(r"= [1-9]\d*\s*$", call) and "inotify" not in call:
                t0 = t
            else:
                continue
        rows.append((t - t0, dur, names.get(pid, str(pid)), pid, call))

    if t0 is None:
        sys.exit("profile_trigger: the request was not seen in the trace")
    print(f"jenky {server.config} — one trigger of run {run_id}, traced with {tool}; "
          "t=0 is the server reading the request\n")
    fsync = {}
    first_byte = None
    for rel, dur, who, pid, call in rows:
        if re.match(r"(\.\.\. \[continued\]: )?(fsync|fdatasync)\(", call):
            fsync[who] = fsync.get(who, 0.0) + dur
        if who == "script" and first_byte is None and re.match(r"write\((fd: )?1\b", call):
            first_byte = rel
        if a.all or not QUIET.match(call):
            print(f"{rel:8.3f} ms {dur:7.3f} ms  {who:10s} {pid:<7d} {call[:120]}")
        if who == "script" and call.startswith("exit_group"):
            break
    print()
    if first_byte is not None:
        print(f"the script wrote its first byte at {first_byte:.3f} ms after the request")
    for who, total in fsync.items():
        print(f"time in fsync/fdatasync, {who}: {total:.3f} ms")


if __name__ == "__main__":
    main()
