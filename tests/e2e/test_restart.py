"""Runs outlive the server: SIGTERM, kill -9, and losing the supervisor too."""

import fcntl
import json
import os
import signal
import sqlite3
import time

import pytest


import jenky_harness as h
from jenky_harness import project_toml

GATE2_WAIT = 'while [ ! -e "$GATE2" ]; do sleep 0.02; done\n'

TWO_STEP = 'echo line1\n' + h.WAIT_GATE + 'echo line2\n'
THREE_STEP = 'echo line1\n' + h.WAIT_GATE + 'echo line2\n' + GATE2_WAIT + 'echo line3\n'


def run_dir(world, run_id):
    return os.path.join(world.data_dir, "runs", str(run_id))


def disk_log(world, run_id):
    with open(os.path.join(run_dir(world, run_id), "log"), "rb") as f:
        return f.read()


def restart(world, old, listen="127.0.0.1:0"):
    return world.server(old.config_path, listen=listen)


def test_sigterm_restart_mid_run_adopts_the_run_and_records_it_succeeded(world):
    srv = world.serve(project_toml("p", TWO_STEP, env={"GATE": world.gate}))
    run = srv.trigger("p")
    rid = run["id"]
    srv.wait_log(rid, "line1\n")

    assert srv.stop(signal.SIGTERM) == 0
    srv.wait_line(r"SIGTERM: stopping; 1 running deploy\(s\) continue")
    sup = h.read_supervisor_pid(world.data_dir, rid)
    assert h.is_alive(sup), "the run's supervisor died with the server"

    srv2 = restart(world, srv)
    srv2.wait_line(rf"run={rid} project=p adopted running run")
    assert srv2.run(rid)["status"] == "running"
    # The new server streams the adopted run's log from the start.
    stream = srv2.stream(f"/api/v1/runs/{rid}/log?follow=1")
    assert stream.status == 200
    assert stream.headers["X-Jenky-Run-Status"] == "running"
    stream.read_until(b"line1\n")
    world.open_gate()
    assert stream.read_to_end() == b"line1\nline2\n"
    stream.close()

    done = srv2.wait_run(rid)
    assert done["status"] == "succeeded", done
    assert done["exit_code"] == 0
    assert srv2.log(rid) == b"line1\nline2\n"
    assert done["log_bytes"] == len(b"line1\nline2\n")
    srv2.wait_line(rf"run={rid} project=p succeeded")
    # And it stays recorded across another restart.
    srv2.stop()
    srv3 = restart(world, srv2)
    assert srv3.run(rid)["status"] == "succeeded"
    assert srv3.log(rid) == b"line1\nline2\n"


def test_kill_9_of_the_server_mid_run_loses_nothing(world):
    gate2 = world.path("gate2")
    srv = world.serve(project_toml("p", THREE_STEP, env={"GATE": world.gate, "GATE2": gate2}))
    rid = srv.trigger("p")["id"]
    srv.wait_log(rid, "line1\n")
    srv.kill9()

    # The script keeps writing while no server runs.
    world.open_gate()
    h.wait_until(lambda: disk_log(world, rid) == b"line1\nline2\n", 10, what="line2 on disk")

    srv2 = restart(world, srv)
    srv2.wait_line(rf"run={rid} project=p adopted running run")
    assert srv2.log(rid) == b"line1\nline2\n"
    with open(gate2, "w"):
        pass
    done = srv2.wait_run(rid)
    assert done["status"] == "succeeded", done
    assert srv2.log(rid) == b"line1\nline2\nline3\n"
    assert done["log_bytes"] == len(b"line1\nline2\nline3\n")


def kill_server_and_supervisor_mid_run(world):
    """A run that has written line1, then kill -9 of its server and its
    supervisor; returns the dead server and the run's id."""
    srv = world.serve(project_toml("p", TWO_STEP, env={"GATE": world.gate}))
    rid = srv.trigger("p")["id"]
    srv.wait_log(rid, "line1\n")
    sup = h.read_supervisor_pid(world.data_dir, rid)
    srv.kill9()
    os.kill(sup, signal.SIGKILL)
    h.wait_until(lambda: not h.is_alive(sup), 10, what="the supervisor to die")
    return srv, rid


def mark_queued(world, run_id):
    """The database as a server leaves it that dies after it started a run
    and before it recorded that (the row still says queued)."""
    db = sqlite3.connect(os.path.join(world.data_dir, "jenky.db"))
    with db:
        db.execute("UPDATE runs SET status = 'queued', started_at = 0 WHERE id = ?", (run_id,))
    db.close()


@pytest.mark.parametrize("finish_first", [False, True])
def test_a_run_started_just_before_the_server_died_is_adopted_not_started_twice(world, finish_first):
    # (Found by the kill -9 loop: the next server started such a run again,
    # its new supervisor could not take the lock, and the run that was
    # running was stopped and called interrupted.)
    counter = world.path("starts")
    script = f'echo started >> {counter}\necho line1\n' + h.WAIT_GATE + 'echo line2\n'
    srv = world.serve(project_toml("p", script, env={"GATE": world.gate}))
    rid = srv.trigger("p")["id"]
    srv.wait_log(rid, "line1\n")
    srv.kill9()
    mark_queued(world, rid)
    if finish_first:
        sup = h.read_supervisor_pid(world.data_dir, rid)
        world.open_gate()
        h.wait_until(lambda: not h.is_alive(sup), 10, what="the supervisor to finish")

    srv2 = restart(world, srv)
    world.open_gate()
    done = srv2.wait_run(rid)
    assert done["status"] == "succeeded", done
    assert srv2.log(rid) == b"line1\nline2\n"
    with open(counter) as f:
        assert f.read() == "started\n"  # the script ran once
    assert done["started_at"] is not None
    srv2.wait_line(rf"run={rid} project=p was started by the previous server")


@pytest.mark.parametrize("comes", [True, False])
def test_an_adopted_run_whose_supervisor_has_not_taken_its_lock_yet_is_waited_for(world, comes):
    # A server stopped just after starting a run whose supervisor had not yet
    # taken the run's lock (slow to start: under a sanitizer the kill -9 loop
    # caught one). The next server found the lock free and called the run
    # lost; the supervisor, a moment later, could not take the lock.
    srv, rid = kill_server_and_supervisor_mid_run(world)
    d = run_dir(world, rid)
    os.unlink(os.path.join(d, "exit.reserve"))  # as before a supervisor's lock

    srv2 = restart(world, srv)
    srv2.wait_line(rf"run={rid} project=p adopted; waiting for its supervisor")
    assert srv2.run(rid)["status"] == "running"
    if comes:
        # The late supervisor: takes the lock, records the end, lets go.
        fd = os.open(os.path.join(d, "lock"), os.O_RDWR)
        fcntl.flock(fd, fcntl.LOCK_EX)
        time.sleep(0.1)
        with open(os.path.join(d, "exit.json.tmp"), "w") as f:
            json.dump({"status": "succeeded", "exit_code": 0, "reason": "", "started_at": 1,
                       "finished_at": 2, "log_bytes": 6}, f)
        os.rename(os.path.join(d, "exit.json.tmp"), os.path.join(d, "exit.json"))
        os.close(fd)
        done = srv2.wait_run(rid)
        assert done["status"] == "succeeded", done
    else:
        t0 = time.monotonic()
        done = srv2.wait_run(rid, timeout=20)
        assert done["status"] == "interrupted", done
        assert "supervisor is gone" in done["reason"]
        assert time.monotonic() - t0 > 2  # it waited


def test_a_run_that_finishes_while_the_server_is_down_is_recorded_at_the_next_start(world):
    srv = world.serve(project_toml("p", TWO_STEP + "exit 3\n", env={"GATE": world.gate}))
    rid = srv.trigger("p")["id"]
    srv.wait_log(rid, "line1\n")
    srv.kill9()
    sup = h.read_supervisor_pid(world.data_dir, rid)
    world.open_gate()
    h.wait_until(lambda: not h.is_alive(sup), 10, what="the supervisor to finish")

    srv2 = restart(world, srv)
    srv2.wait_line(rf"run={rid} project=p finished while jenky was down")
    done = srv2.run(rid)
    assert done["status"] == "failed"
    assert done["exit_code"] == 3
    assert srv2.log(rid) == b"line1\nline2\n"


def test_kill_9_of_server_and_supervisor_marks_the_run_interrupted(world):
    srv, rid = kill_server_and_supervisor_mid_run(world)

    srv2 = restart(world, srv)
    srv2.wait_line(rf"run={rid} project=p interrupted")
    done = srv2.run(rid)
    assert done["status"] == "interrupted", done
    assert "supervisor is gone" in done["reason"]
    assert done["finished_at"] is not None
    assert srv2.log(rid) == b"line1\n"  # what was written before the kill is kept

    p = world.cli("logs", rid, "--follow", server=srv2, timeout=30)
    assert p.returncode == 5, p
    assert p.stdout == "line1\n"
    assert f"run {rid} interrupted" in p.stderr

    # The project is free again: a new run starts and succeeds.
    world.open_gate()
    rid2 = srv2.trigger("p")["id"]
    assert srv2.wait_run(rid2)["status"] == "succeeded"


def test_history_survives_a_restart_and_lists_newest_first_with_limit_and_before(world):
    srv = world.serve(project_toml("a", "echo a$JENKY_RUN_ID\n"),
                      project_toml("b", "echo b$JENKY_RUN_ID\nexit 1\n"))
    ids = []
    for project in ["a", "b", "a", "a", "b", "a"]:
        rid = srv.trigger(project)["id"]
        srv.wait_run(rid)
        ids.append((rid, project))
    srv.stop()

    srv2 = restart(world, srv)
    all_runs = srv2.get_json("/api/v1/runs")
    assert [r["id"] for r in all_runs] == [i for i, _ in reversed(ids)]
    assert [r["project"] for r in all_runs] == [p for _, p in reversed(ids)]
    assert {r["status"] for r in all_runs if r["project"] == "a"} == {"succeeded"}
    assert {r["status"] for r in all_runs if r["project"] == "b"} == {"failed"}
    for rid, project in ids:
        assert srv2.log(rid) == f"{project}{rid}\n".encode()

    a_ids = [i for i, p in reversed(ids) if p == "a"]
    assert [r["id"] for r in srv2.get_json("/api/v1/projects/a/runs")] == a_ids
    assert [r["id"] for r in srv2.get_json("/api/v1/projects/a/runs?limit=2")] == a_ids[:2]
    page2 = srv2.get_json(f"/api/v1/projects/a/runs?limit=2&before={a_ids[1]}")
    assert [r["id"] for r in page2] == a_ids[2:4]
    assert [r["id"] for r in srv2.get_json(f"/api/v1/runs?limit=3&before={ids[3][0]}")] == \
        [ids[2][0], ids[1][0], ids[0][0]]
    assert srv2.get_json(f"/api/v1/runs?before={ids[0][0]}") == []
    # New runs continue the numbering.
    new = srv2.trigger("a")
    assert new["id"] == ids[-1][0] + 1
    srv2.wait_run(new["id"])


def test_queued_runs_survive_a_restart_and_run_in_order(world):
    order = world.path("order")
    srv = world.serve(project_toml("p", f'echo "$JENKY_RUN_ID" >> "{order}"\n' + h.WAIT_GATE,
                                   concurrency="queue", env={"GATE": world.gate}))
    ids = [srv.trigger("p")["id"] for _ in range(3)]
    srv.wait_run(ids[0], "running")
    assert srv.stop() == 0

    srv2 = restart(world, srv)
    assert [srv2.run(i)["status"] for i in ids] == ["running", "queued", "queued"]
    world.open_gate()
    for i in ids:
        assert srv2.wait_run(i)["status"] == "succeeded"
    with open(order) as f:
        assert f.read().split() == [str(i) for i in ids]


def test_an_adopted_run_still_keeps_the_project_to_one_run_at_a_time(world):
    marks = world.path("marks")
    script = ('echo "start $JENKY_RUN_ID" >> "$MARKS"\n' + h.WAIT_GATE +
              'echo "end $JENKY_RUN_ID" >> "$MARKS"\n')
    srv = world.serve(project_toml("p", script, env={"GATE": world.gate, "MARKS": marks}))
    first = srv.trigger("p")["id"]
    srv.wait_run(first, "running")
    srv.kill9()
    srv2 = restart(world, srv)
    second = srv2.trigger("p")
    assert second["status"] == "queued"
    world.open_gate()
    assert srv2.wait_run(first)["status"] == "succeeded"
    assert srv2.wait_run(second["id"])["status"] == "succeeded"
    with open(marks) as f:
        assert f.read().split("\n")[:4] == [f"start {first}", f"end {first}",
                                            f"start {second['id']}", f"end {second['id']}"]


def test_logs_follow_reconnects_across_a_server_restart_and_prints_the_log_once(world):
    """Regression: the CLI dropped the bytes it had buffered and exited 6 when the
    server restarted (fixed in 35cea34)."""
    gate2 = world.path("gate2")
    srv = world.serve(project_toml("p", THREE_STEP, env={"GATE": world.gate, "GATE2": gate2}))
    rid = srv.trigger("p")["id"]
    srv.wait_log(rid, "line1\n")
    port = srv.port

    cli = world.cli_popen("logs", rid, "--follow", server=srv)
    out, err = h.PipeReader(cli.stdout), h.PipeReader(cli.stderr)
    # The CLI has printed line1 and waits for more when the server goes.
    out.wait_for("line1\n", timeout=5)
    srv.stop(signal.SIGTERM)

    # While the server is down the script writes line2.
    world.open_gate()
    h.wait_until(lambda: disk_log(world, rid) == b"line1\nline2\n", 10, what="line2 on disk")
    srv2 = restart(world, srv, listen=f"127.0.0.1:{port}")
    srv2.wait_line(rf"run={rid} project=p adopted running run")
    with open(gate2, "w"):
        pass
    assert srv2.wait_run(rid)["status"] == "succeeded"
    rc = cli.wait(timeout=30)
    stdout, stderr = out.result(), err.result()
    assert rc == 0, (rc, stdout, stderr)
    assert stdout == "line1\nline2\nline3\n", stderr
    assert "reconnecting" in stderr


def test_kill_9_at_any_moment_of_a_run_loses_nothing(world):
    script = 'for i in $(seq 1 100); do echo "line $i"; sleep 0.002; done\n'
    srv = world.serve(project_toml("p", script, concurrency="queue"))
    expected = "".join(f"line {i}\n" for i in range(1, 101)).encode()
    for delay in [0, 0.01, 0.03, 0.07, 0.12, 0.2, 0.3, 0.5]:
        rid = srv.trigger("p")["id"]
        time.sleep(delay)  # not a wait for a condition: the moment of the kill
        srv.kill9()
        srv = restart(world, srv)
        done = srv.wait_run(rid, timeout=20)
        assert done["status"] == "succeeded", (delay, done)
        assert srv.log(rid) == expected, delay
        assert done["log_bytes"] == len(expected)


def test_queued_runs_of_a_project_removed_from_the_config_are_cancelled_at_restart(world):
    srv = world.serve(project_toml("p", "echo p\n" + h.WAIT_GATE, concurrency="queue",
                                   env={"GATE": world.gate}),
                      project_toml("q", "echo q\n"))
    first = srv.trigger("p")["id"]
    second = srv.trigger("p")["id"]
    srv.wait_log(first, "p\n")
    assert srv.stop() == 0

    path = world.config(project_toml("q", "echo q\n"), name="smaller.toml")
    srv2 = world.server(path)
    srv2.wait_line(rf"run={first} project=p adopted running run")
    queued = srv2.wait_run(second)
    assert queued["status"] == "cancelled"
    assert queued["reason"] == "project no longer in the configuration"
    # The run that was already running still completes and is recorded.
    world.open_gate()
    assert srv2.wait_run(first)["status"] == "succeeded"
    assert srv2.log(first) == b"p\n"
    # Its history is still listed under the old name.
    assert [r["id"] for r in srv2.get_json("/api/v1/projects/p/runs")] == [second, first]
    r = srv2.post("/api/v1/projects/p/runs")
    assert r.status == 404
    assert r.error() == ("not_found", "no project named 'p'")


def test_an_adopted_run_can_be_cancelled_and_its_tree_is_killed(world):
    marker = "e2e-adopted-" + world.tag
    srv = world.serve(project_toml(
        "p", f'echo up\nbash -c "exec -a {marker} sleep 300" &\n' + h.WAIT_GATE,
        env={"GATE": world.gate}))
    rid = srv.trigger("p")["id"]
    srv.wait_log(rid, "up\n")
    h.wait_until(lambda: h.pids_matching(argv_part=marker.encode()), 10)
    srv.kill9()
    srv2 = restart(world, srv)
    srv2.wait_line(rf"run={rid} project=p adopted running run")
    r = srv2.post(f"/api/v1/runs/{rid}/cancel")
    assert r.status == 202, r
    done = srv2.wait_run(rid, timeout=15)
    assert done["status"] == "cancelled"
    assert done["reason"] == "cancelled by local"
    assert h.pids_matching(argv_part=marker.encode()) == []


def test_an_adopted_run_still_times_out(world):
    srv = world.serve(project_toml("p", "echo up\nsleep 300\n", timeout="2s"))
    rid = srv.trigger("p")["id"]
    srv.wait_log(rid, "up\n")
    srv.stop(signal.SIGTERM)
    srv2 = restart(world, srv)
    done = srv2.wait_run(rid, timeout=15)
    assert done["status"] == "timed_out", done
    assert done["reason"] == "timed out after 2s"


def test_sighup_reloads_the_config_without_stopping_runs_and_rejects_a_bad_one(world):
    srv = world.serve(project_toml("p", "echo up\n" + h.WAIT_GATE, env={"GATE": world.gate}))
    rid = srv.trigger("p")["id"]
    srv.wait_log(rid, "up\n")
    # A new project appears; the running run goes on.
    world.config(project_toml("p", "echo up\n" + h.WAIT_GATE, env={"GATE": world.gate}),
                 project_toml("q", "echo from q\n"))
    srv.send_signal(signal.SIGHUP)
    srv.wait_line(r"^SIGHUP: configuration reloaded: 2 project\(s\)")
    assert [p["name"] for p in srv.get_json("/api/v1/projects")] == ["p", "q"]
    q = srv.trigger("q")["id"]
    assert srv.wait_run(q)["status"] == "succeeded"
    # A broken config is refused and the current one stays.
    world.write("jenky.toml", "[projects.q]\nscript = 'x'\ntimeout = \"soon\"\n")
    srv.send_signal(signal.SIGHUP)
    srv.wait_line(r"jenky.toml:3:11: projects.q.timeout: bad duration 'soon'")
    srv.wait_line(r"^error: SIGHUP: the new configuration has errors \(above\); keeping the current one")
    assert [p["name"] for p in srv.get_json("/api/v1/projects")] == ["p", "q"]
    world.open_gate()
    assert srv.wait_run(rid)["status"] == "succeeded"


def test_a_supervisor_killed_under_a_running_server_ends_the_run_interrupted(world):
    srv = world.serve(project_toml("p", "echo up\n" + h.WAIT_GATE, env={"GATE": world.gate}))
    rid = srv.trigger("p")["id"]
    srv.wait_log(rid, "up\n")
    os.kill(h.read_supervisor_pid(world.data_dir, rid), signal.SIGKILL)
    done = srv.wait_run(rid, timeout=10)
    assert done["status"] == "interrupted"
    assert done["reason"].startswith("jenky lost the run: its supervisor exited without a result")
    assert srv.log(rid) == b"up\n"


def test_after_a_supervisor_dies_the_next_run_never_overlaps_the_old_script(world):
    """Regression: a dead supervisor's script kept running next to the project's next
    run (fixed in 35cea34)."""
    marker = "e2e-orphan-" + world.tag
    srv = world.serve(project_toml(
        "p", f'bash -c "exec -a {marker}-$JENKY_RUN_ID sleep 300" &\necho up\n' + h.WAIT_GATE,
        env={"GATE": world.gate}))
    old = srv.trigger("p")["id"]
    srv.wait_log(old, "up\n")
    os.kill(h.read_supervisor_pid(world.data_dir, old), signal.SIGKILL)
    assert srv.wait_run(old, timeout=10)["status"] == "interrupted"
    new = srv.trigger("p")["id"]
    srv.wait_log(new, "up\n")
    assert h.pids_matching(argv_part=f"{marker}-{old}".encode()) == [], \
        "the interrupted run's processes still run next to the new run"
