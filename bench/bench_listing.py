#!/usr/bin/python3
"""Benchmark 4: listing runs with a large history.

A fresh data dir is created by starting jenky once (so the schema is the
server's own), then filled with ROWS finished runs (ids 1..ROWS, 20 projects
round-robin, a mix of webhook and API triggers, plausible times) with Python's
sqlite3 module, and jenky is started again on it. Each request kind is timed
on one keep-alive connection, from writing the request to having read the
whole response; request kinds alternate in rounds. Every response is checked
(status 200, a JSON array of the expected length) outside the timed region.

For scale, the same loop also times `GET /healthz` (the HTTP floor: this
client plus the server's request handling) and the server's own SQL run
directly through Python's sqlite3 on the same file (the query floor).
"""

import argparse
import os
import random
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

PROJECTS = 20
LIMIT = 50
COLUMNS = ("id, project, status, trigger_kind, provider, ref, branch, commit_sha, actor, "
           "delivery, created_at, started_at, finished_at, exit_code, reason, log_bytes, "
           "recipe, script_sha256, log_pruned")


def fill(db_path, rows):
    base = 1_700_000_000_000  # 2023-11-14, unix ms
    shas = [f"{(p * 0x9E3779B97F4A7C15) % (1 << 256):064x}" for p in range(PROJECTS)]

    def gen():
        for i in range(1, rows + 1):
            p = i % PROJECTS
            created = base + i * 30_000
            started = created + 150 + i % 97
            webhook = i % 3 != 0
            yield (
                i, f"p{p + 1}", "succeeded", "webhook" if webhook else "api",
                "github" if webhook else "", "refs/heads/main" if webhook else "",
                "main" if webhook else "", f"{(i * 0x9E3779B1) % (1 << 160):040x}" if webhook else "",
                "lewin" if webhook else "local",
                f"{i:08x}-1e2d-4c3b-9a8f-{i * 7919 % (1 << 48):012x}" if webhook else "",
                created, started, started + 4_000 + (i * 37) % 60_000, 0, "",
                500 + (i * 131) % 40_000, "", shas[p], 1,
            )

    con = sqlite3.connect(db_path)
    try:
        con.execute("PRAGMA synchronous=OFF")
        with con:
            con.executemany(f"INSERT INTO runs ({COLUMNS}) VALUES "
                            f"({','.join('?' * 19)})", gen())
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.execute("ANALYZE")
        n = con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    finally:
        con.close()
    if n != rows:
        raise RuntimeError(f"expected {rows} rows, found {n}")


def main():
    B.install_signal_handlers()
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=1000, help="per request kind")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    rng = random.Random(a.seed)
    work = B.temp_dir("listing")
    procs = B.Procs()
    kinds = {
        "project_newest": lambda: f"/api/v1/projects/p{rng.randint(1, PROJECTS)}/runs?limit={LIMIT}",
        "all_newest": lambda: f"/api/v1/runs?limit={LIMIT}",
        "project_before": lambda: (f"/api/v1/projects/p{rng.randint(1, PROJECTS)}/runs"
                                   f"?limit={LIMIT}&before={rng.randint(LIMIT * PROJECTS + 1, a.rows)}"),
        "all_before": lambda: f"/api/v1/runs?limit={LIMIT}&before={rng.randint(LIMIT + 1, a.rows)}",
        "healthz": lambda: "/healthz",
    }
    samples = {k: [] for k in kinds}
    result = {"benchmark": "listing", "rows": a.rows, "limit": LIMIT}
    try:
        config = "".join(B.project_toml(f"p{i}", "true") for i in range(1, PROJECTS + 1))
        server = B.Jenky(procs, work, config).start()
        server.stop()
        db = os.path.join(server.data_dir, "jenky.db")
        t0 = time.monotonic()
        fill(db, a.rows)
        result["fill_seconds"] = time.monotonic() - t0
        result["db_bytes"] = os.path.getsize(db)
        print(f"  filled {a.rows} rows in {result['fill_seconds']:.1f}s "
              f"({result['db_bytes'] >> 20} MiB)", file=sys.stderr)

        t0 = time.monotonic()
        server.start()
        result["startup_seconds"] = time.monotonic() - t0
        http = B.Http("127.0.0.1", server.port)

        def timed(path):
            t0 = B.now_ns()
            http.send("GET", path)
            status, _, body = http.receive()
            t1 = B.now_ns()
            return t1 - t0, path, status, body

        def check(path, status, body):
            if status != 200:
                raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")
            if path == "/healthz":
                return
            runs = B.json.loads(body)
            before = int(path.rsplit("before=", 1)[1]) if "before=" in path else a.rows + 1
            if len(runs) != LIMIT or runs[0]["id"] >= before or runs[0]["status"] != "succeeded":
                raise RuntimeError(f"GET {path}: unexpected listing {body[:200]!r}")

        for k, make in kinds.items():
            for _ in range(a.warmup):
                check(*timed(make())[1:])
        per_round = max(1, a.requests // a.rounds)
        response_bytes = {}
        for _ in range(a.rounds):
            for k, make in kinds.items():
                for _ in range(per_round):
                    ns, path, status, body = timed(make())
                    check(path, status, body)
                    samples[k].append(ns)
                    response_bytes[k] = len(body)
        result["response_bytes"] = response_bytes
        http.close()
        server.stop()

        # The query floor: the server's SQL, prepared once, on the same file.
        con = sqlite3.connect(db)
        by_project = con.cursor()
        sql_p = f"SELECT {COLUMNS} FROM runs WHERE project=? AND id<? ORDER BY id DESC LIMIT ?"
        sql_a = f"SELECT {COLUMNS} FROM runs WHERE id<? ORDER BY id DESC LIMIT ?"
        sql_samples = {"sql_project_before": [], "sql_all_before": []}
        for _ in range(per_round * a.rounds):
            t0 = B.now_ns()
            rows = by_project.execute(sql_p, (f"p{rng.randint(1, PROJECTS)}",
                                              rng.randint(LIMIT * PROJECTS + 1, a.rows), LIMIT)).fetchall()
            t1 = B.now_ns()
            rows2 = by_project.execute(sql_a, (rng.randint(LIMIT + 1, a.rows), LIMIT)).fetchall()
            t2 = B.now_ns()
            assert len(rows) == LIMIT and len(rows2) == LIMIT
            sql_samples["sql_project_before"].append(t1 - t0)
            sql_samples["sql_all_before"].append(t2 - t1)
        con.close()
        result["query_plan"] = [
            r[-1] for r in sqlite3.connect(db).execute(
                "EXPLAIN QUERY PLAN " + sql_p, ("p1", 10, LIMIT)).fetchall()]
    finally:
        procs.close()
        subprocess.run(["rm", "-rf", work], check=False)
    result["requests_per_kind"] = per_round * a.rounds
    result["kinds"] = {k: B.summarize_ms(v) for k, v in samples.items()}
    result["sql"] = {k: B.summarize_ms(v) for k, v in sql_samples.items()}
    B.write_result(a.out, result)
    for k, s in list(result["kinds"].items()) + list(result["sql"].items()):
        print(f"  {k:20s} p50 {s['p50']:.3f} ms  p99 {s['p99']:.3f} ms", file=sys.stderr)


if __name__ == "__main__":
    main()
