"""The client commands: deploy, runs, logs, cancel, version, scripts."""

import json
import re

import pytest

import jenky_harness as h
from jenky_harness import WAIT_GATE, project_toml


@pytest.fixture
def srv(world):
    return world.serve(
        project_toml("ok", 'echo "deploying $JENKY_PROJECT via $JENKY_TRIGGER"\n'
                           'echo "ref=$JENKY_REF branch=$JENKY_BRANCH commit=$JENKY_COMMIT"\n'),
        project_toml("fail", "echo about to fail\nexit 3\n"),
        project_toml("slow", "echo slow start\nsleep 300\n", timeout="1s"),
        project_toml("wait", "echo waiting\n" + WAIT_GATE + "echo released\n",
                     env={"GATE": world.gate}))


def test_version_prints_the_version(world):
    p = world.cli("version")
    assert p.returncode == 0
    assert re.fullmatch(r"jenky \d+\.\d+\.\d+\S*\n", p.stdout), p.stdout


def test_deploy_without_follow_prints_the_run_id(world, srv):
    p = world.cli("deploy", "ok", "--ref", "refs/heads/main", "--commit", "abcdef12", server=srv)
    assert p.returncode == 0, p
    assert re.fullmatch(r"\d+\n", p.stdout), p.stdout
    rid = int(p.stdout)
    assert f"run {rid} of ok" in p.stderr
    run = srv.wait_run(rid)
    assert run["status"] == "succeeded"
    assert run["trigger"]["kind"] == "cli"
    assert srv.log(rid) == (b"deploying ok via cli\n"
                            b"ref=refs/heads/main branch=main commit=abcdef12\n")


def test_deploy_follow_streams_the_log_and_exits_0_on_success(world, srv):
    p = world.cli("deploy", "ok", "--follow", "--ref", "main", server=srv)
    assert p.returncode == 0, p
    assert p.stdout == "deploying ok via cli\nref=refs/heads/main branch=main commit=\n"


def test_deploy_follow_exits_1_when_the_script_fails(world, srv):
    p = world.cli("deploy", "fail", "--follow", server=srv)
    assert p.returncode == 1, p
    assert p.stdout == "about to fail\n"
    assert re.search(r"run \d+ failed: script exited with status 3", p.stderr), p.stderr


def test_deploy_follow_exits_4_when_the_run_times_out(world, srv):
    p = world.cli("deploy", "slow", "--follow", server=srv)
    assert p.returncode == 4, p
    assert p.stdout == "slow start\n"
    assert re.search(r"run \d+ timed_out: timed out after 1s", p.stderr), p.stderr


def test_deploy_follow_exits_3_when_the_run_is_cancelled(world, srv):
    cli = world.cli_popen("deploy", "wait", "--follow", server=srv)
    err = h.PipeReader(cli.stderr)
    out = h.PipeReader(cli.stdout)
    m = re.search(r"run (\d+) of wait", err.wait_for("of wait").decode())
    rid = int(m.group(1))
    srv.wait_log(rid, "waiting\n")
    p = world.cli("cancel", rid, server=srv)
    assert p.returncode == 0, p
    assert f"cancelling run {rid}" in p.stderr
    assert cli.wait(timeout=20) == 3
    assert out.result() == "waiting\n"
    assert f"run {rid} cancelled: cancelled by local" in err.result()
    assert srv.run(rid)["status"] == "cancelled"


def test_logs_prints_a_finished_log_and_logs_follow_exits_with_its_result(world, srv):
    ok = srv.trigger("ok")["id"]
    fail = srv.trigger("fail")["id"]
    srv.wait_run(ok)
    srv.wait_run(fail)
    p = world.cli("logs", ok, server=srv)
    assert p.returncode == 0
    assert p.stdout == "deploying ok via api\nref= branch= commit=\n"
    p = world.cli("logs", fail, "--follow", server=srv)
    assert p.returncode == 1
    assert p.stdout == "about to fail\n"
    p = world.cli("logs", ok, "--follow", server=srv)
    assert p.returncode == 0
    assert p.stdout == "deploying ok via api\nref= branch= commit=\n"


def test_logs_follow_waits_for_a_running_run_to_end(world, srv):
    rid = srv.trigger("wait")["id"]
    srv.wait_log(rid, "waiting\n")
    cli = world.cli_popen("logs", rid, "--follow", server=srv)
    out, err = h.PipeReader(cli.stdout), h.PipeReader(cli.stderr)
    world.open_gate()
    assert cli.wait(timeout=20) == 0, err.result()
    assert out.result() == "waiting\nreleased\n"


def test_logs_follow_prints_output_while_the_run_is_still_running(world, srv):
    """Regression: the CLI buffered the stream until 64 KiB or the end of the run
    (fixed in 35cea34)."""
    rid = srv.trigger("wait")["id"]
    srv.wait_log(rid, "waiting\n")
    cli = world.cli_popen("logs", rid, "--follow", server=srv)
    out = h.PipeReader(cli.stdout)
    h.PipeReader(cli.stderr)
    try:
        out.wait_for("waiting\n", timeout=5)
        assert srv.run(rid)["status"] == "running"
    finally:
        world.open_gate()
    assert cli.wait(timeout=20) == 0
    assert out.result() == "waiting\nreleased\n"


def test_runs_lists_newest_first_as_a_table_or_json(world, srv):
    ids = []
    for project in ["ok", "fail", "ok"]:
        rid = srv.trigger(project, {"commit": "0123456789abcdef"})["id"]
        srv.wait_run(rid)
        ids.append(rid)

    p = world.cli("runs", server=srv)
    assert p.returncode == 0, p
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["ID", "PROJECT", "STATUS", "TRIGGER", "COMMIT", "CREATED",
                                "DURATION", "REASON"]
    rows = [l.split() for l in lines[1:]]
    assert [int(r[0]) for r in rows] == ids[::-1]
    assert [r[1] for r in rows] == ["ok", "fail", "ok"]
    assert [r[2] for r in rows] == ["succeeded", "failed", "succeeded"]
    assert rows[0][3] == "api" and rows[0][4] == "0123456789"
    assert "script exited with status 3" in lines[2]

    p = world.cli("runs", "ok", "--limit", "1", "--json", server=srv)
    assert p.returncode == 0
    runs = json.loads(p.stdout)
    assert [r["id"] for r in runs] == [ids[2]]
    assert runs[0]["status"] == "succeeded"

    p = world.cli("runs", "fail", "--json", server=srv)
    assert [r["id"] for r in json.loads(p.stdout)] == [ids[1]]


def test_runs_with_no_runs_says_so(world, srv):
    p = world.cli("runs", server=srv)
    assert p.returncode == 0
    assert "(no runs yet)" in p.stdout


def test_cli_errors_from_the_server_exit_6_with_its_message(world, srv):
    p = world.cli("deploy", "nope", server=srv)
    assert p.returncode == 6
    assert "no project named 'nope'" in p.stderr
    p = world.cli("deploy", "ok", "--commit", "not-hex", server=srv)
    assert p.returncode == 6
    assert "commit must be a hex commit id" in p.stderr
    p = world.cli("logs", "424242", server=srv)
    assert p.returncode == 6
    assert "no run with id 424242" in p.stderr
    p = world.cli("logs", "424242", "--follow", server=srv)
    assert p.returncode == 6
    assert "no run with id 424242" in p.stderr
    p = world.cli("cancel", "424242", server=srv)
    assert p.returncode == 6
    assert "no run with id 424242" in p.stderr
    p = world.cli("runs", "nope", server=srv)
    assert p.returncode == 6
    assert "no project named 'nope'" in p.stderr
    rid = srv.trigger("ok")["id"]
    srv.wait_run(rid)
    p = world.cli("cancel", rid, server=srv)
    assert p.returncode == 6
    assert f"run {rid} already succeeded" in p.stderr


def test_cli_without_a_server_exits_6_and_says_how_to_point_it(world):
    port = h.free_port()
    for args in [("runs",), ("deploy", "p"), ("logs", "1"), ("logs", "1", "--follow"),
                 ("cancel", "1")]:
        p = world.cli(*args, server=f"http://127.0.0.1:{port}", timeout=20)
        assert p.returncode == 6, (args, p)
        assert f"cannot reach jenky at http://127.0.0.1:{port}" in p.stderr, p.stderr
        assert "JENKY_SERVER" in p.stderr
    p = world.cli("runs", server="ftp://127.0.0.1:1")
    assert p.returncode == 6
    assert "must start with http://" in p.stderr


def test_jenky_server_env_points_the_cli(world, srv):
    p = world.cli("deploy", "ok", "--follow", env=world.env(JENKY_SERVER=srv.url))
    assert p.returncode == 0, p
    assert p.stdout.startswith("deploying ok via cli\n")


@pytest.mark.parametrize("args", [
    ("deploy",), ("logs",), ("logs", "abc"), ("logs", "0"), ("cancel",), ("cancel", "-1"),
    ("runs", "--limit", "0"), ("runs", "--limit", "501"), ("bogus",), (),
    ("deploy", "ok", "--no-such-flag"),
])
def test_usage_errors_exit_2(world, args):
    p = world.cli(*args)
    assert p.returncode == 2, (args, p)
    assert p.stderr.strip(), "a usage error must say what is wrong"
    assert "Traceback" not in p.stderr and "terminate called" not in p.stderr


def test_scripts_list_and_show_the_embedded_recipes(world):
    p = world.cli("scripts", "list")
    assert p.returncode == 0
    names = [l.split()[0] for l in p.stdout.splitlines() if l.strip()]
    assert "demo" in names
    p = world.cli("scripts", "show", "demo")
    assert p.returncode == 0
    assert p.stdout.strip()
    p = world.cli("scripts", "show", "no-such-recipe")
    assert p.returncode == 1
    assert "no recipe named 'no-such-recipe'" in p.stderr


def test_a_recipe_project_runs_the_embedded_script_and_names_it(world):
    srv = world.serve('[projects.d]\nrecipe = "demo"\ntimeout = "60s"\n')
    shown = world.cli("scripts", "show", "demo").stdout
    rid = srv.trigger("d")["id"]
    run = srv.wait_run(rid, timeout=60)
    assert run["recipe"] == "demo"
    r = srv.get(f"/api/v1/runs/{rid}/script")
    assert r.status == 200
    assert r.headers["X-Jenky-Recipe"] == "demo"
    assert r.text == shown
    assert run["script_sha256"] == h.sha256_hex(shown)
    assert run["status"] == "succeeded", (run, srv.log(rid)[-500:])


def test_deploy_follow_of_a_superseded_run_exits_3(world):
    srv = world.serve(project_toml("c", 'echo "run $JENKY_RUN_ID"\n' + WAIT_GATE,
                                   concurrency="coalesce", env={"GATE": world.gate}))
    first = srv.trigger("c")["id"]
    srv.wait_run(first, "running")
    cli = world.cli_popen("deploy", "c", "--follow", server=srv)
    err, out = h.PipeReader(cli.stderr), h.PipeReader(cli.stdout)
    m = re.search(r"run (\d+) of c queued", err.wait_for(" queued").decode())
    pending = int(m.group(1))
    newer = srv.trigger("c")["id"]
    assert cli.wait(timeout=20) == 3
    assert out.result() == ""
    assert f"run {pending} cancelled: superseded by run {newer}" in err.result()
    world.open_gate()
    assert srv.wait_run(newer)["status"] == "succeeded"
