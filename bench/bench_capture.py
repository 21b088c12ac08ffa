#!/usr/bin/python3
"""Benchmark 2: log capture throughput.

A jenky project whose script writes BYTES to stdout as fast as it can, timed
from the trigger to the run's `succeeded` status (so it includes the fsync
jenky does at the end of a run), against the same command writing to a file
on the same filesystem, timed from fork to exit. Two kinds of output:

  zeros   head -c BYTES /dev/zero          (no newlines: no line index work)
  yes     yes | head -c BYTES              (2-byte lines: the worst case for
                                            jenky's line index)
  yes-masked  the same, in a project with three secrets to mask (each with
          its base64 and URL-encoded forms): every byte of the output goes
          through the masker, and one secret starts with `y`, the byte half
          the output is made of (none occurs in it: the log stays BYTES long)

The peer is also timed with an fsync of its file at the end (`sync FILE`),
since jenky fsyncs the log before it records the run as finished, and as
`CMD | cat > FILE && sync FILE`: the same bytes relayed through a pipe by a
second process, as jenky's supervisor does.
Before each measurement the previous output is deleted and `sync` run, so
writeback of one measurement does not land in the next. Repetitions of jenky
and the peer alternate.
"""

import argparse
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

KINDS = {
    "zeros": "head -c {n} /dev/zero",
    "yes": "yes | head -c {n}",
    "yes-masked": "yes | head -c {n}",
}
# The masked project's secrets: server environment variables (SPEC.md).
SECRETS = {"BENCH_DEPLOY_KEY": "y0ur-deploy-key-9f8e7d6c5b4a3210",
           "BENCH_DB_PASSWORD": "db-pass-3c2b1a0f9e8d7c6b",
           "BENCH_API_TOKEN": "tok_5a4b3c2d1e0f9a8b7c6d5e4f"}


def settle():
    os.sync()
    time.sleep(0.5)


def peer_once(cmd, path, fsync, relay=False):
    if os.path.exists(path):
        os.unlink(path)
    settle()
    shell = f"{cmd}{' | cat' if relay else ''} > {path}" + (f" && sync {path}" if fsync else "")
    t0 = B.now_ns()
    subprocess.run(["/bin/bash", "-e", "-c", shell], check=True, timeout=600)
    t1 = B.now_ns()
    return t1 - t0


def main():
    B.install_signal_handlers()
    ap = argparse.ArgumentParser()
    ap.add_argument("--bytes", type=int, default=1 << 30)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    work = B.temp_dir("capture")
    procs = B.Procs()
    results = {}
    try:
        config = ""
        for k, cmd in KINDS.items():
            config += B.project_toml(k, cmd.format(n=a.bytes), timeout="10m")
            if k.endswith("-masked"):
                config += f"secrets = {B.json.dumps(sorted(SECRETS))}\n"
        os.environ.update(SECRETS)  # the server reads them from its environment
        server = B.Jenky(procs, work, config).start()
        http = B.Http("127.0.0.1", server.port)
        peer_file = os.path.join(work, "peer.out")
        last_log = None
        for kind, cmd_t in KINDS.items():
            cmd = cmd_t.format(n=a.bytes)
            shown = cmd + (f" ({len(SECRETS)} secrets masked)" if kind.endswith("-masked") else "")
            r = {"command": shown, "jenky": [], "peer": [], "peer_fsync": [], "relay_fsync": []}
            for rep in range(a.reps):
                if last_log and os.path.exists(last_log):
                    os.unlink(last_log)  # keep the disk and page cache small
                settle()
                t0 = B.now_ns()
                status, _, body = http.request("POST", f"/api/v1/projects/{kind}/runs")
                if status != 202:
                    raise RuntimeError(f"trigger {kind}: {status} {body[:200]!r}")
                run_id = B.json.loads(body)["id"]
                run = B.wait_run_done(http, run_id, t0 + 600 * 10**9, poll_s=0.002)
                t1 = B.now_ns()
                if run["status"] != "succeeded" or run["log_bytes"] != a.bytes:
                    raise RuntimeError(f"run {run_id}: {run}")
                r["jenky"].append(t1 - t0)
                last_log = os.path.join(server.run_dir(run_id), "log")
                idx = os.path.join(server.run_dir(run_id), "log.idx")
                r["log_idx_bytes"] = B.file_size(idx)
                os.unlink(last_log)
                r["peer"].append(peer_once(cmd, peer_file, fsync=False))
                r["peer_fsync"].append(peer_once(cmd, peer_file, fsync=True))
                r["relay_fsync"].append(peer_once(cmd, peer_file, fsync=True, relay=True))
                print(f"  {kind} rep {rep + 1}/{a.reps}: jenky {r['jenky'][-1] / 1e9:.2f}s "
                      f"peer {r['peer'][-1] / 1e9:.2f}s "
                      f"peer+fsync {r['peer_fsync'][-1] / 1e9:.2f}s "
                      f"relay+fsync {r['relay_fsync'][-1] / 1e9:.2f}s", file=sys.stderr)
            if os.path.exists(peer_file):
                os.unlink(peer_file)
            out = {"command": r["command"], "log_idx_bytes": r.get("log_idx_bytes")}
            for key in ("jenky", "peer", "peer_fsync", "relay_fsync"):
                secs = sorted(x / 1e9 for x in r[key])
                med = secs[len(secs) // 2]
                out[key] = {"seconds": secs, "median_s": med,
                            "mib_per_s": a.bytes / (1 << 20) / med}
            results[kind] = out
    finally:
        procs.close()
        subprocess.run(["rm", "-rf", work], check=False)
    B.write_result(a.out, {"benchmark": "capture", "bytes": a.bytes, "reps": a.reps,
                           "kinds": results})


if __name__ == "__main__":
    main()
