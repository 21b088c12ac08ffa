"""Disk full while a run writes its log: the data directory on a small tmpfs.

The run must fail with a reason, the server keep serving, other runs and the
database stay sound, and everything work again once space returns."""

import os
import signal
import sqlite3
import subprocess

import pytest

import jenky_harness as h
from jenky_harness import project_toml

SIZE_MIB = 24


@pytest.fixture
def small_disk(world):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mnt = world.path("small")
    os.makedirs(mnt)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE_MIB}m,mode=0755", "tmpfs", mnt],
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {p.stderr.strip()}")
    yield mnt
    world.cleanup()  # nothing may hold the mount open
    subprocess.run(["umount", "-l", mnt], check=False)


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


def fill(path, leave):
    """Writes a filler file until only LEAVE bytes are free; returns its path."""
    filler = os.path.join(path, "filler")
    with open(filler, "wb") as f:
        block = b"\0" * (1 << 20)
        while free_bytes(path) > leave + len(block):
            f.write(block)
            f.flush()
    return filler


def test_disk_full_while_writing_a_log_fails_the_run_cleanly_and_recovers(world, small_disk):
    data = os.path.join(small_disk, "data")
    config = world.config(
        project_toml("quick", "echo quick ok\n"),
        # Writes until the disk is full (never succeeds on this disk).
        project_toml("flood", "echo flooding\nyes 'a line of log that fills the disk'\n"))
    srv = world.server(config, data_dir=data)
    first = srv.wait_run(srv.trigger("quick")["id"])
    assert first["status"] == "succeeded", first

    filler = fill(small_disk, leave=3 << 20)
    rid = srv.trigger("flood")["id"]
    done = srv.wait_run(rid, timeout=60)
    assert done["status"] == "failed", done
    assert "No space left on device" in (done["reason"] or ""), done
    assert done["reason"].startswith("writing the log failed"), done
    # The server keeps serving while the disk is full.
    assert srv.get("/healthz").status == 200
    assert srv.get_json(f"/api/v1/runs/{first['id']}")["status"] == "succeeded"
    assert srv.log(first["id"]) == b"quick ok\n"
    log = srv.log(rid)
    assert log.startswith(b"flooding\n") and len(log) > 1 << 20
    # A trigger while the disk is full ends with a reason, not silence.
    while_full = srv.wait_run(srv.trigger("quick")["id"], timeout=60)
    assert while_full["status"] in ("succeeded", "failed"), while_full
    if while_full["status"] == "failed":
        assert "No space left on device" in while_full["reason"], while_full

    # Space returns: runs work and are recorded again.
    os.unlink(filler)
    after = srv.wait_run(srv.trigger("quick")["id"], timeout=60)
    assert after["status"] == "succeeded", after
    assert srv.log(after["id"]) == b"quick ok\n"
    statuses = {r["id"]: r["status"] for r in srv.get_json("/api/v1/runs")}
    assert statuses[rid] == "failed" and statuses[after["id"]] == "succeeded", statuses

    # The database is sound and holds what the API said, also after a restart.
    srv.stop(signal.SIGTERM)
    with sqlite3.connect(os.path.join(data, "jenky.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = dict(db.execute("SELECT id, status FROM runs"))
    assert rows == statuses, (rows, statuses)
    srv2 = world.server(config, data_dir=data)
    assert srv2.run(rid)["reason"] == done["reason"]
    assert {r["id"]: r["status"] for r in srv2.get_json("/api/v1/runs")} == statuses
