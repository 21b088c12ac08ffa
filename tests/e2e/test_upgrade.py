"""`jenky upgrade` without systemd: the binary is swapped by renames, the server
re-executes itself on it with its listening socket, and a running deploy goes
on and is recorded."""

import os
import shutil
import stat

import pytest

import jenky_harness as h
from jenky_harness import WAIT_GATE, project_toml
from wsclient import Closed, WebSocket


def installed_copy(world):
    """A private installed jenky (the upgrade writes next to it)."""
    bindir = world.path("bin")
    os.makedirs(bindir, exist_ok=True)
    target = os.path.join(bindir, "jenky")
    shutil.copy2(world.binary, target)
    return target


def test_upgrade_reexecutes_the_server_and_a_running_deploy_survives(world):
    target = installed_copy(world)
    world.binary = target  # the server runs from the installed path
    srv = world.serve(project_toml("p", "echo before\n" + WAIT_GATE + "echo after\n"),
                      env=world.env(GATE=world.gate))
    rid = srv.trigger("p")["id"]
    srv.wait_log(rid, "before\n")
    viewer = WebSocket(f"ws://127.0.0.1:{srv.port}/ws/v1/runs/{rid}/log")
    seen = b""
    while seen != b"before\n":
        m = viewer.recv_json()
        if m["type"] == "log":
            seen += m["data"].encode()
    pid_before = srv.proc.pid
    new = world.path("jenky-new")
    shutil.copy2(target, new)
    r = world.cli("upgrade", new, "--target", target, server=srv, timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "upgraded to jenky" in r.stdout
    assert os.path.exists(target + ".prev")
    # Same process (re-executed), same port, still answering.
    assert srv.proc.pid == pid_before and srv.proc.poll() is None
    assert srv.get("/healthz").status == 200
    srv.wait_line(r"listening socket passed by systemd|listening on", what="second start")
    # A viewer was told the server is going and where to pick up again.
    with pytest.raises(Closed) as e:
        viewer.sock.settimeout(10)
        while True:
            viewer.recv()
    assert e.value.code == 1012 and "?offset=7" in e.value.reason, e.value
    world.open_gate()
    done = srv.wait_run(rid, timeout=20)
    assert done["status"] == "succeeded"
    assert srv.log(rid) == b"before\nafter\n"


def test_upgrade_refuses_a_binary_that_is_not_jenky(world):
    target = installed_copy(world)
    bogus = world.write("not-jenky", "#!/bin/sh\necho hello\n")
    os.chmod(bogus, stat.S_IRWXU)
    r = world.cli("upgrade", bogus, "--target", target, server="http://127.0.0.1:1")
    assert r.returncode == 1
    assert "did not answer like jenky" in r.stderr
    assert not os.path.exists(target + ".prev")


def test_upgrade_dry_run_changes_nothing(world):
    target = installed_copy(world)
    new = world.path("jenky-new")
    shutil.copy2(target, new)
    r = world.cli("upgrade", new, "--target", target, "--dry-run", server="http://127.0.0.1:1")
    assert r.returncode == 0, r.stderr
    assert "would 2. keep" in r.stdout and "(dry run: nothing was changed)" in r.stdout
    assert not os.path.exists(target + ".prev")
