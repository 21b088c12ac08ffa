#!/usr/bin/python3
"""Benchmark 3: idle memory.

jenky serving 20 projects, measured (VmRSS from /proc/PID/status, plus the
smaps_rollup split into anonymous and file-backed pages) once after startup
and once after a few runs; the server and its spare `jenky __supervise` child
are reported separately and in total. Peer: `webhook` with one hook, idle and
after the same number of hook calls.
"""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

PROJECTS = 20


def mem(pid):
    s = B.proc_status(pid)
    r = B.smaps_rollup(pid)
    return {
        "pid": pid,
        "vmrss_kib": int(s["VmRSS"].split()[0]),
        "rss_anon_kib": int(s["RssAnon"].split()[0]),
        "rss_file_kib": int(s["RssFile"].split()[0]),
        "pss_kib": r.get("Pss", 0),
        "private_dirty_kib": r.get("Private_Dirty", 0),
        "threads": int(s["Threads"]),
    }


def jenky_snapshot(server):
    out = {"server": mem(server.pid)}
    spares = server.spare_pids()
    out["spares"] = [mem(p) for p in spares]
    out["warm_shells"] = [mem(p) for p in server.warm_shell_pids()]
    helpers = out["spares"] + out["warm_shells"]
    out["total_vmrss_kib"] = out["server"]["vmrss_kib"] + sum(m["vmrss_kib"] for m in helpers)
    out["total_pss_kib"] = out["server"]["pss_kib"] + sum(m["pss_kib"] for m in helpers)
    return out


def main():
    B.install_signal_handlers()
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--settle-s", type=float, default=2.0)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    work = B.temp_dir("rss")
    procs = B.Procs()
    result = {"benchmark": "rss", "projects": PROJECTS, "runs": a.runs}
    try:
        config = "".join(B.project_toml(f"p{i}", f"echo project {i}; printf x", timeout="1m")
                         for i in range(1, PROJECTS + 1))
        jd = os.path.join(work, "jenky")
        os.mkdir(jd)
        server = B.Jenky(procs, jd, config).start()
        http = B.Http("127.0.0.1", server.port)
        time.sleep(a.settle_s)
        result["jenky_startup"] = jenky_snapshot(server)
        for i in range(a.runs):
            status, _, body = http.request("POST", f"/api/v1/projects/p{i % PROJECTS + 1}/runs")
            if status != 202:
                raise RuntimeError(f"trigger: {status} {body[:200]!r}")
            run = B.wait_run_done(http, B.json.loads(body)["id"], B.now_ns() + 30 * 10**9)
            if run["status"] != "succeeded":
                raise RuntimeError(f"run: {run}")
        for path in ("/api/v1/projects", "/api/v1/runs?limit=50"):
            http.request("GET", path)
        time.sleep(a.settle_s)
        result["jenky_after_runs"] = jenky_snapshot(server)
        # The web UI's assets are embedded in the binary: serving them pages
        # them in.
        status, _, _ = http.request("GET", "/")
        if status != 200:
            raise RuntimeError(f"GET /: {status}")
        http.close()
        time.sleep(a.settle_s)
        result["jenky_after_ui"] = jenky_snapshot(server)

        wd = os.path.join(work, "webhook")
        os.mkdir(wd)
        script = os.path.join(wd, "hook.sh")
        with open(script, "w") as f:
            f.write("#!/bin/bash\nprintf x > /dev/null\n")
        os.chmod(script, 0o755)
        hooks = os.path.join(wd, "hooks.json")
        B.write_result(hooks, [{"id": "bench", "execute-command": script,
                                "command-working-directory": wd}])
        port = B.free_port()
        wh = procs.spawn(["webhook", "-hooks", hooks, "-ip", "127.0.0.1", "-port", str(port)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        B.wait_port(port)
        time.sleep(a.settle_s)
        result["webhook_startup"] = mem(wh.pid)
        wh_http = B.Http("127.0.0.1", port)
        for _ in range(a.runs):
            status, _, _ = wh_http.request("POST", "/hooks/bench", b"{}")
            if status != 200:
                raise RuntimeError(f"webhook answered {status}")
            time.sleep(0.1)
        wh_http.close()
        time.sleep(a.settle_s)
        result["webhook_after_runs"] = mem(wh.pid)
        with open(B.JENKY, "rb") as f:
            f.seek(0, 2)
            result["jenky_binary_bytes"] = f.tell()
    finally:
        procs.close()
        subprocess.run(["rm", "-rf", work], check=False)
    B.write_result(a.out, result)
    for k in ("jenky_startup", "jenky_after_runs", "jenky_after_ui"):
        j = result[k]
        print(f"  {k}: server {j['server']['vmrss_kib']} KiB, spare "
              f"{[m['vmrss_kib'] for m in j['spares']]} KiB", file=sys.stderr)
    for k in ("webhook_startup", "webhook_after_runs"):
        print(f"  {k}: {result[k]['vmrss_kib']} KiB", file=sys.stderr)


if __name__ == "__main__":
    main()
