"""SQLite busy/locked: another process holds jenky.db's write lock for a while.

Reads go on being served (WAL readers never wait for a writer), triggers are
answered at once and their runs execute, and once the lock goes every row
reaches the database: nothing is lost."""

import os
import sqlite3
import time

import jenky_harness as h
from jenky_harness import project_toml

HOLD_SECONDS = 8


def rows(data_dir):
    with sqlite3.connect(os.path.join(data_dir, "jenky.db"), timeout=30) as db:
        return dict(db.execute("SELECT id, status FROM runs"))


def timed(f):
    start = time.monotonic()
    value = f()
    return value, time.monotonic() - start


def test_a_locked_database_delays_writes_but_serves_reads_and_loses_nothing(world):
    srv = world.serve(project_toml("p", 'echo "run $JENKY_RUN_ID"\n', concurrency="queue"))
    first = srv.wait_run(srv.trigger("p")["id"])
    assert first["status"] == "succeeded"

    locker = sqlite3.connect(os.path.join(world.data_dir, "jenky.db"), isolation_level=None,
                             timeout=30)
    locker.execute("BEGIN IMMEDIATE")  # the write lock, until ROLLBACK
    locker.execute("INSERT INTO runs (id, project, status, trigger_kind, created_at) "
                   "VALUES (999999, 'x', 'queued', 'api', 0)")  # never committed
    locked_at = time.monotonic()
    try:
        # Reads are answered promptly (the loop waits at most briefly for a write).
        for _ in range(5):
            r, took = timed(lambda: srv.get("/api/v1/runs"))
            assert r.status == 200 and took < 3, (r, took)
        # Triggers are answered at once; their runs execute and are visible.
        ids = []
        for _ in range(3):
            r, took = timed(lambda: srv.post("/api/v1/projects/p/runs"))
            assert r.status == 202 and took < 3, (r, took)
            ids.append(r.json()["id"])
        for rid in ids:
            done = srv.wait_run(rid, timeout=30)
            assert done["status"] == "succeeded", done
            assert srv.log(rid) == f"run {rid}\n".encode()
        listed = [r["id"] for r in srv.get_json("/api/v1/runs")]
        assert listed == sorted(ids + [first["id"]], reverse=True), listed
        assert time.monotonic() - locked_at < HOLD_SECONDS, "the test itself was too slow"
        # While locked, nothing of it is in the database yet.
        assert set(rows(world.data_dir)) == {first["id"]}
        srv.wait_line("database is locked; keeping it in memory and retrying")
        h.wait_until(lambda: time.monotonic() - locked_at >= HOLD_SECONDS, HOLD_SECONDS + 1)
    finally:
        locker.execute("ROLLBACK")
        locker.close()

    # Once the lock is gone every run reaches the database, finished.
    want = {first["id"]: "succeeded", **{rid: "succeeded" for rid in ids}}
    h.wait_until(lambda: rows(world.data_dir) == want, 15, interval=0.2,
                 what="the runs kept in memory to be saved")
    srv.wait_line(r"the database takes writes again: saved \d+ run\(s\) kept in memory")
    # And a restart finds exactly that.
    srv.stop()
    srv2 = world.server(srv.config_path)
    assert {r["id"]: r["status"] for r in srv2.get_json("/api/v1/runs")} == want
    assert srv2.log(ids[-1]) == f"run {ids[-1]}\n".encode()
