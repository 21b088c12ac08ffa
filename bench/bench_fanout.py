#!/usr/bin/python3
"""Benchmark: live-log fan-out, jenky vs websocketd + `tail -f` (issue 4).

Peers, measured in the same run, one after the other for each viewer count:
  jenky       GET /ws/v1/runs/ID/log of a running run whose script is
              `exec ws_load write 100 ...`: 100 timestamped lines a second go
              through jenky's supervisor into the log and out to the viewers.
  floor       `ws_load fanout PORT FILE` (bench/ws_load.c) while the same
              writer appends to FILE: one C thread that reads each growth of
              FILE once and send()s one frame of it to every viewer, nothing
              else. What it costs is this machine's floor for the job (the
              kernel's loopback TCP on both ends, and the viewers' process).
              (bench/loopback_sends.c measures the loopback alone.)
  websocketd  `websocketd tail -f -n +1 FILE` (one `tail` per viewer) while
              `ws_load write 100 ... FILE` appends the same lines to FILE.

The viewers are one epoll process (bench/ws_load.c) holding N WebSocket
connections; it answers protocol pings, and times every line: received
(CLOCK_MONOTONIC after recv) minus the writer's CLOCK_MONOTONIC stamp in the
line. The writer waits for a start file, created once all N are connected (so
connecting does not compete with streaming and no backlog is replayed); then
ws_load waits --warmup s and measures the lines
stamped within a --measure s window (lines not received within --grace s of
the window's end count as slower than the grace). Server CPU is utime+stime
from /proc/PID/stat over the window (websocketd: itself plus every tail);
memory is read while the viewers are still connected.

Single-viewer throughput (jenky only): a run whose script writes --bytes as
fast as it can (`yes LINE | head -c BYTES`), one viewer connected right after
the trigger, MB/s of log bytes from the trigger to the last byte received: over
the WebSocket (JSON messages, and ?format=raw) and over
GET /api/v1/runs/ID/log?follow=1 (curl).
"""

import argparse
import json
import os
import resource
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402
import sections  # noqa: E402

NOFILE = 65536  # what jenky's systemd unit sets (LimitNOFILE)
LINE = "x" * 99  # `yes LINE` writes 100-byte lines


def cpu_ticks(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def mem(pids):
    """Sums of VmRSS, RssAnon (status) and Pss (smaps_rollup), KiB."""
    out = {"processes": 0, "vmrss_kib": 0, "anon_kib": 0, "pss_kib": 0}
    for pid in pids:
        try:
            st = B.proc_status(pid)
            sm = B.smaps_rollup(pid)
        except (FileNotFoundError, ProcessLookupError, KeyError):
            continue
        out["processes"] += 1
        out["vmrss_kib"] += int(st["VmRSS"].split()[0])
        out["anon_kib"] += int(st["RssAnon"].split()[0])
        out["pss_kib"] += sm.get("Pss", 0)
    return out


def tcp_mem_kib():
    """Kernel memory of all TCP sockets (/proc/net/sockstat, pages)."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                parts = line.split()
                return int(parts[parts.index("mem") + 1]) * os.sysconf("SC_PAGE_SIZE") // 1024
    return 0


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:  # gone meanwhile
        return ""


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:  # gone meanwhile
        return 0


def uses_inotify(pid):
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == "anon_inode:inotify":
                    return True
            except OSError:
                pass
    except OSError:
        pass
    return False


def read_line(proc, deadline, buf):
    """A line of PROC's stdout before DEADLINE (monotonic seconds), or None at EOF."""
    fd = proc.stdout.fileno()
    while b"\n" not in buf[0]:
        left = deadline - time.monotonic()
        if left <= 0:
            raise B.Timeout("ws_load said nothing before the deadline")
        r, _, _ = select.select([fd], [], [], left)
        if not r:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return None
        buf[0] += chunk
    line, buf[0] = buf[0].split(b"\n", 1)
    return line.decode()


def trigger(http, project):
    status, _, body = http.request("POST", f"/api/v1/projects/{project}/runs", b"")
    if status != 202:
        raise RuntimeError(f"trigger {project}: {status} {body[:200]!r}")
    return json.loads(body)["id"]


def wait_running(http, run_id, deadline_s):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        status, _, body = http.request("GET", f"/api/v1/runs/{run_id}")
        if status == 200 and json.loads(body)["status"] == "running":
            return
        time.sleep(0.02)
    raise B.Timeout(f"run {run_id} not running")


def view(ws_load, port, path, n, mode, a, server_pids, start_file):
    """Runs ws_load against PORT/PATH; returns its results plus the server side's
    CPU over the window and memory while connected. SERVER_PIDS() lists the
    server-side processes at that moment. The writer starts once every viewer
    is connected (START_FILE is created), so connecting does not compete with
    streaming and the viewers have no backlog to catch up on."""
    argv = [ws_load, "view", "127.0.0.1", str(port), path, str(n), mode,
            "--warmup", str(a.warmup), "--measure", str(a.measure), "--grace", str(a.grace),
            "--connect-timeout", str(a.connect_timeout), "--hold", "300"]
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         start_new_session=True)
    buf = [b""]
    out = {}
    try:
        deadline = time.monotonic() + a.connect_timeout + a.warmup + a.measure + a.grace + 60
        line = read_line(p, deadline, buf)
        if line is None or not line.startswith("CONNECTED"):
            raise RuntimeError(f"ws_load: {line!r}")
        print(f"    {line}", file=sys.stderr)
        open(start_file, "w").close()
        tck = os.sysconf("SC_CLK_TCK")
        line = read_line(p, deadline, buf)
        pids0 = server_pids()
        c0, t0 = cpu_ticks(pids0), time.monotonic()
        if line is None or not line.startswith("START"):
            raise RuntimeError(f"ws_load: {line!r}")
        line = read_line(p, deadline, buf)
        pids1 = server_pids()
        c1, t1 = cpu_ticks(set(pids0) | set(pids1)), time.monotonic()
        if line is None or not line.startswith("END"):
            raise RuntimeError(f"ws_load: {line!r}")
        line = read_line(p, deadline, buf)
        if line is None:
            raise RuntimeError("ws_load ended without results")
        out = json.loads(line)
        out["server_cpu_s"] = (c1 - c0) / tck
        out["server_cpu_pct"] = 100.0 * (c1 - c0) / tck / (t1 - t0)
        out["window_s"] = t1 - t0
        pids = server_pids()
        out["server_mem"] = mem(pids)
        out["server_pids"] = len(pids)
        out["server_fds"] = sum(fd_count(p) for p in pids)
        out["tcp_mem_kib"] = tcp_mem_kib()
        out["loadavg"] = os.getloadavg()[0]
    finally:
        try:
            p.stdin.close()
        except OSError:
            pass
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
    return out


def measure_jenky(procs, work, ws_load, n, a):
    start_file = os.path.join(work, "start")
    config = ("[server]\n" + B.project_toml(
        "live", f"exec {ws_load} write {a.rate} 900 - {start_file}", timeout="20m",
        concurrency="queue"))
    j = B.Jenky(procs, work, config).start()
    http = B.Http("127.0.0.1", j.port)
    try:
        run_id = trigger(http, "live")
        wait_running(http, run_id, 20)
        base = mem([j.pid])
        tcp0 = tcp_mem_kib()
        sup = []
        try:
            with open(os.path.join(j.run_dir(run_id), "supervisor.json")) as f:
                sup = [int(json.load(f)["pid"])]
        except (OSError, ValueError, KeyError):
            pass
        r = view(ws_load, j.port, f"/ws/v1/runs/{run_id}/log", n, "json", a, lambda: [j.pid],
                 start_file)
        r["server_base_mem"] = base
        r["tcp_mem_base_kib"] = tcp0
        r["supervisor_mem"] = mem(sup)
        http.close()
        http = B.Http("127.0.0.1", j.port)  # the first one may have idled out
        http.request("POST", f"/api/v1/runs/{run_id}/cancel", b"")
        return r
    finally:
        http.close()
        j.stop()


def measure_floor(procs, work, ws_load, n, a):
    """`ws_load fanout`: the least a server can do for the same job (see
    ws_load.c), so the machine's own cost of N loopback viewers is measured
    in the same run as the peers."""
    log = os.path.join(work, "app.log")
    start_file = os.path.join(work, "start")
    open(log, "w").close()
    port = B.free_port()
    err = open(os.path.join(work, "floor.log"), "wb")
    server = procs.spawn([ws_load, "fanout", str(port), log], stderr=err)
    err.close()
    writer = procs.spawn([ws_load, "write", str(a.rate), "900", log, start_file])
    try:
        B.wait_port(port)
        base = mem([server.pid])
        tcp0 = tcp_mem_kib()
        r = view(ws_load, port, "/", n, "json", a, lambda: [server.pid], start_file)
        r["server_base_mem"] = base
        r["tcp_mem_base_kib"] = tcp0
        with open(os.path.join(work, "floor.log"), errors="replace") as f:
            r["floor_log"] = f.read()[-500:]
        return r
    finally:
        procs.stop(server)
        procs.stop(writer)


def measure_websocketd(procs, work, ws_load, n, a):
    """One websocketd holds 4 to 5 descriptors per viewer (the socket, the
    tail's stdin, stdout and stderr pipes, and both ends of each pipe while it
    starts the tail); past what RLIMIT_NOFILE allows one process (counting 6
    a viewer), the viewers are spread over several websocketd processes."""
    log = os.path.join(work, "app.log")
    start_file = os.path.join(work, "start")
    open(log, "w").close()
    writer = procs.spawn([ws_load, "write", str(a.rate), "900", log, start_file])
    per = max(1, (resource.getrlimit(resource.RLIMIT_NOFILE)[1] - 200) // 6)
    shards = -(-n // per)
    wsds, ports = [], []
    for i in range(shards):
        port = B.free_port()
        err = open(os.path.join(work, f"websocketd{i}.log"), "wb")
        wsds.append(procs.spawn(["websocketd", "--port", str(port), "--address", "127.0.0.1",
                                 "tail", "-f", "-n", "+1", log], stdout=err,
                                stderr=subprocess.STDOUT))
        err.close()
        ports.append(port)
    tails = set()
    try:
        for port in ports:
            B.wait_port(port)
        base = mem([w.pid for w in wsds])
        tcp0 = tcp_mem_kib()
        seen = {}

        def pids():
            kids = [k for w in wsds for k in B.children_of(w.pid)]
            seen["tails"] = kids
            tails.update(kids)
            return [w.pid for w in wsds] + kids

        r = view(ws_load, ",".join(map(str, ports)), "/", n, "msg", a, pids, start_file)
        found = seen.get("tails", [])
        r["websocketd_processes"] = shards
        r["server_base_mem"] = base
        r["tcp_mem_base_kib"] = tcp0
        r["tails"] = len(found)
        r["tails_with_inotify"] = sum(1 for t in found if uses_inotify(t))
        r["websocketd_mem"] = mem([w.pid for w in wsds])
        # websocketd's log: error lines by message (ids and pids left out).
        kinds = {}
        for i in range(shards):
            with open(os.path.join(work, f"websocketd{i}.log"), errors="replace") as f:
                for ln in f:
                    if "error" in ln.lower():
                        msg = ln.strip().rsplit(" | ", 1)[-1][:200]
                        kinds[msg] = kinds.get(msg, 0) + 1
        r["websocketd_errors"] = sum(kinds.values())
        r["websocketd_error_kinds"] = dict(sorted(kinds.items(), key=lambda x: -x[1])[:5])
        return r
    finally:
        tails = [t for t in tails if cmdline(t).startswith("tail ")]
        for w in wsds:
            procs.stop(w, grace_s=30)
        procs.stop(writer)
        # websocketd ends a viewer's tail when its connection closes; any left
        # (our own children, checked by command line) are ended here.
        left = [t for t in tails if cmdline(t).startswith("tail ")]
        for t in left:
            try:
                os.kill(t, 9)
            except ProcessLookupError:
                pass
        if left:
            print(f"    {len(left)} tails outlived websocketd; killed", file=sys.stderr)
        time.sleep(min(10, 1 + n / 1000))  # let the machine settle after ending N processes


def settle(j, run_id):
    """Deletes a finished run's log and lets writeback finish, so that one
    repetition's disk work does not land in the next one's time."""
    try:
        os.unlink(os.path.join(j.run_dir(run_id), "log"))
    except OSError:
        pass
    os.sync()
    time.sleep(0.5)


def throughput(procs, work, ws_load, a):
    cmd = f"yes {LINE} | head -c {a.bytes}"
    config = ('[server]\nws_max_lag = "64GiB"\n' +
              B.project_toml("bulk", cmd, timeout="10m", concurrency="queue"))
    j = B.Jenky(procs, work, config).start()
    http = B.Http("127.0.0.1", j.port)
    out = {"ws": [], "ws_raw": [], "http": []}
    try:
        for rep in range(a.reps):
            for kind in ("ws", "ws_raw", "http"):
                t0 = B.now_ns()
                run_id = trigger(http, "bulk")
                if kind == "http":
                    p = subprocess.run(
                        ["curl", "-sS", "-N", "-o", "/dev/null", "-w", "%{size_download}",
                         f"http://127.0.0.1:{j.port}/api/v1/runs/{run_id}/log?follow=1"],
                        capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
                    t1 = B.now_ns()
                    got = int(p.stdout.strip() or 0)
                else:
                    path = f"/ws/v1/runs/{run_id}/log" + ("?format=raw" if kind == "ws_raw" else "")
                    p = subprocess.run([ws_load, "view", "127.0.0.1", str(j.port), path, "1",
                                        "countraw" if kind == "ws_raw" else "count",
                                        "--timeout", "600"],
                                       capture_output=True, text=True, timeout=650,
                                       stdin=subprocess.DEVNULL)
                    r = json.loads(p.stdout.strip().split("\n")[-1])
                    got, t1 = r["bytes"], r["last_byte_ns"]
                run = B.wait_run_done(http, run_id, B.now_ns() + 60 * 10**9, poll_s=0.01)
                if got != a.bytes or run["log_bytes"] != a.bytes:
                    raise RuntimeError(f"{kind}: received {got} of {a.bytes} bytes (run: {run})")
                settle(j, run_id)
                secs = (t1 - t0) / 1e9
                out[kind].append({"seconds": secs, "mb_per_s": a.bytes / secs / 1e6,
                                  "mib_per_s": a.bytes / secs / (1 << 20)})
                print(f"    throughput {kind}: {a.bytes / secs / 1e6:.0f} MB/s", file=sys.stderr)
        # The same script with nobody watching: how fast jenky captures it.
        alone = []
        for _ in range(a.reps):
            t0 = B.now_ns()
            run_id = trigger(http, "bulk")
            B.wait_run_done(http, run_id, B.now_ns() + 600 * 10**9, poll_s=0.01)
            alone.append(a.bytes / ((B.now_ns() - t0) / 1e9) / 1e6)
            settle(j, run_id)
        out["no_viewer_mb_per_s"] = alone
    finally:
        http.close()
        j.stop()
    return out


def main():
    B.install_signal_handlers()
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--counts", default="1000,10000", help="viewer counts, comma-separated")
    ap.add_argument("--jenky-counts", default="2000,5000",
                    help="more viewer counts for jenky alone (where its latency turns)")
    ap.add_argument("--rate", type=int, default=100, help="lines a second")
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--measure", type=float, default=10)
    ap.add_argument("--grace", type=float, default=5)
    ap.add_argument("--connect-timeout", type=float, default=240)
    ap.add_argument("--bytes", type=int, default=1 << 30, help="throughput run size")
    ap.add_argument("--reps", type=int, default=3, help="throughput repetitions")
    ap.add_argument("--peers", default="jenky,floor,websocketd")
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("--ws-load", help="compiled bench/ws_load.c (else built here with gcc)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    meta = sections.meta_start()

    # Inherited by every peer. jenky's unit sets LimitNOFILE=65536; where this
    # process may not raise its hard limit that far, the hard limit it has.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nofile = NOFILE if hard == resource.RLIM_INFINITY else min(NOFILE, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
        nofile = NOFILE
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))
    work = B.temp_dir("fanout")
    ws_load = a.ws_load
    if not ws_load:
        ws_load = os.path.join(work, "ws_load")
        subprocess.run(["gcc", "-O2", "-Wall", "-o", ws_load, os.path.join(B.BENCH_DIR, "ws_load.c")],
                       check=True)
    with open("/proc/sys/fs/inotify/max_user_instances") as f:
        max_inotify = int(f.read())
    result = {"benchmark": "fanout", "rate": a.rate, "warmup_s": a.warmup, "measure_s": a.measure,
              "grace_s": a.grace, "nofile": nofile, "inotify_max_user_instances": max_inotify,
              "websocketd": subprocess.run(["websocketd", "--version"], capture_output=True,
                                           text=True).stdout.strip(),
              "counts": {}, "throughput": None, "bytes": a.bytes}
    procs = B.Procs()
    peers = [p for p in a.peers.split(",") if p]
    both = [int(x) for x in a.counts.split(",") if x]
    alone = [int(x) for x in a.jenky_counts.split(",") if x] if "jenky" in peers else []
    try:
        for n in sorted(set(both) | set(alone)):
            result["counts"][str(n)] = {}
            for peer in (peers if n in both else ["jenky"]):
                d = os.path.join(work, f"{peer}-{n}")
                os.mkdir(d)
                print(f"  {peer}, {n} viewers", file=sys.stderr)
                fn = {"jenky": measure_jenky, "floor": measure_floor,
                      "websocketd": measure_websocketd}[peer]
                try:
                    r = fn(procs, d, ws_load, n, a)
                except Exception as e:  # report what broke, go on with the others
                    r = {"error": f"{type(e).__name__}: {e}"}
                    print(f"    failed: {r['error']}", file=sys.stderr)
                result["counts"][str(n)][peer] = r
                if "p50_ms" in r:
                    print(f"    p50 {r['p50_ms']:.2f} ms p99 {r['p99_ms']:.2f} ms, missing "
                          f"{r['missing']}, server CPU {r['server_cpu_pct']:.0f} %, RSS "
                          f"{r['server_mem']['vmrss_kib'] / 1024:.1f} MiB", file=sys.stderr)
                result["meta"] = sections.meta_end(meta)
                B.write_result(a.out, result)  # partial results survive a later failure
        if not a.no_throughput and "jenky" in peers:
            d = os.path.join(work, "throughput")
            os.mkdir(d)
            result["throughput"] = throughput(procs, d, ws_load, a)
    finally:
        procs.close()
        subprocess.run(["rm", "-rf", work], check=False)
    result["meta"] = sections.meta_end(meta)
    B.write_result(a.out, result)


if __name__ == "__main__":
    main()
