"""Cancelling runs: the whole process tree goes, queued runs never start."""

import jenky_harness as h
from jenky_harness import WAIT_GATE, project_toml


def tree_script(marker):
    # Children of every kind: a plain background job, a double-forked child in
    # its own session, a nohup'ed one, one that ignores SIGTERM, and a
    # grandchild of a subshell. All carry MARKER in their argv; all inherit
    # the project's env (E2E_MARKER).
    return f"""
echo started
sleep 300 &
( setsid bash -c 'exec -a {marker}-setsid sleep 301' & )
nohup bash -c 'exec -a {marker}-nohup sleep 302' >/dev/null 2>&1 &
bash -c 'trap "" TERM; exec -a {marker}-ignoreterm sleep 303' &
( bash -c 'exec -a {marker}-grandchild sleep 304' & wait ) &
echo children-started
""" + WAIT_GATE


def test_cancel_kills_background_children(world):
    marker = "e2e-cancel-" + world.tag
    env_entry = f"E2E_MARKER={marker}".encode()
    srv = world.serve(project_toml("p", tree_script(marker),
                                   env={"GATE": world.gate, "E2E_MARKER": marker}))
    run = srv.trigger("p")
    srv.wait_log(run["id"], "children-started")
    # All four marked children exist before the cancel.
    h.wait_until(lambda: len(h.pids_matching(argv_part=marker.encode())) == 4, 10,
                 what="the four marked children")
    # The four, a subshell, and the script's shell when it was started cold (a
    # warm shell got the run's environment after its exec, so /proc does not
    # show it there: docs/architecture.md, "Warm shell").
    assert len(h.pids_matching(env_entry=env_entry)) >= 5

    r = srv.post(f"/api/v1/runs/{run['id']}/cancel")
    assert r.status == 202, r
    assert r.json()["id"] == run["id"]
    done = srv.wait_run(run["id"], timeout=15)
    assert done["status"] == "cancelled", done
    assert done["reason"] == "cancelled by local"
    assert done["finished_at"] is not None

    # Nothing the script started survives the run: not by env, not by argv.
    assert h.pids_matching(env_entry=env_entry) == []
    assert h.pids_matching(argv_part=marker.encode()) == []
    assert srv.log(run["id"]) == b"started\nchildren-started\n"
    srv.wait_line(rf"run={run['id']} project=p cancelled")

    # Cancelling it again: it is over.
    r = srv.post(f"/api/v1/runs/{run['id']}/cancel")
    assert r.status == 409
    code, msg = r.error()
    assert code == "conflict"
    assert msg == f"run {run['id']} already cancelled"


def test_cancel_of_a_queued_run_ends_it_without_starting_it(world):
    started = world.path("started")
    srv = world.serve(project_toml("p", f'echo "$JENKY_RUN_ID" >> "{started}"\n' + WAIT_GATE,
                                   concurrency="queue", env={"GATE": world.gate}))
    first = srv.trigger("p")
    second = srv.trigger("p")
    third = srv.trigger("p")
    assert second["status"] == "queued"
    srv.wait_run(first["id"], "running")

    r = srv.post(f"/api/v1/runs/{second['id']}/cancel")
    assert r.status == 202
    assert r.json()["status"] == "cancelled"
    assert r.json()["reason"] == "cancelled by local"
    world.open_gate()
    assert srv.wait_run(first["id"])["status"] == "succeeded"
    assert srv.wait_run(third["id"])["status"] == "succeeded"
    second_done = srv.run(second["id"])
    assert second_done["status"] == "cancelled"
    assert second_done["started_at"] is None
    with open(started) as f:
        assert f.read().split() == [str(first["id"]), str(third["id"])]
    # A run that never started has no script.
    r = srv.get(f"/api/v1/runs/{second['id']}/script")
    assert r.status == 410
    assert "never started" in r.error()[1]


def test_cancel_of_an_unknown_run_is_404(world):
    srv = world.serve(project_toml("p", "true\n"))
    r = srv.post("/api/v1/runs/999/cancel")
    assert r.status == 404
    assert r.error() == ("not_found", "no run with id 999")
    r = srv.post("/api/v1/runs/abc/cancel")
    assert r.status == 404
    assert "run ids are numbers" in r.error()[1]


def test_cancel_of_a_finished_run_is_409(world):
    srv = world.serve(project_toml("p", "true\n"))
    run = srv.trigger("p")
    srv.wait_run(run["id"])
    r = srv.post(f"/api/v1/runs/{run['id']}/cancel")
    assert r.status == 409
    assert r.error() == ("conflict", f"run {run['id']} already succeeded")


def test_cancel_is_post_only(world):
    srv = world.serve(project_toml("p", "true\n"))
    run = srv.trigger("p")
    r = srv.get(f"/api/v1/runs/{run['id']}/cancel")
    assert r.status == 405
    assert r.headers["Allow"] == "POST"
    assert "use POST" in r.error()[1]
