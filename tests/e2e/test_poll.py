"""Polling against real git repositories served by `git daemon` on
loopback: a new head deploys with JENKY_TRIGGER=poll and a push's variables;
a repository that cannot be reached is visible in the deliveries record and
backs off; schedules' next fire times are in the API."""

import json
import os
import socket
import subprocess
import time

import pytest

import jenky_harness as h
from jenky_harness import project_toml

ENV_SCRIPT = 'env | grep "^JENKY_" | sort\n'
GIT_ENV = dict(os.environ, GIT_AUTHOR_NAME="Mira", GIT_AUTHOR_EMAIL="mira@acme.test",
               GIT_COMMITTER_NAME="Mira", GIT_COMMITTER_EMAIL="mira@acme.test",
               GIT_CONFIG_NOSYSTEM="1", HOME="/nonexistent")


def git(*args, cwd=None):
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True,
                          capture_output=True, text=True).stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def daemon(world):
    """A bare repository shop.git with one commit on main, served by git daemon."""
    base = world.path("repos")
    os.makedirs(base)
    git("init", "-q", "--bare", "-b", "main", os.path.join(base, "shop.git"))
    work = world.path("work")
    git("clone", "-q", os.path.join(base, "shop.git"), work)
    git("checkout", "-q", "-b", "main", cwd=work)
    git("commit", "-q", "--allow-empty", "-m", "first", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    port = free_port()
    proc = subprocess.Popen(["git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1",
                             f"--port={port}", f"--base-path={base}", base],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"git://127.0.0.1:{port}/shop.git"
    h.wait_until(lambda: subprocess.run(["git", "ls-remote", url], capture_output=True,
                                        env=GIT_ENV).returncode == 0,
                 timeout=10, what="git daemon serving")
    yield url, work
    proc.terminate()
    proc.wait(timeout=5)


def serve_polling(world, url):
    """A server polling URL every second for a project that prints its
    JENKY_ variables, once its first look is recorded."""
    srv = world.serve(project_toml("app", ENV_SCRIPT),
                      extra=f'[projects.app.poll]\nrepo = "{url}"\ninterval = "1s"\n')
    h.wait_until(lambda: any(d["event"] == "poll" for d in
                             srv.get_json("/api/v1/projects/app/deliveries")),
                 timeout=10, what="first poll recorded")
    return srv


def runs(srv):
    return srv.get_json("/api/v1/projects/app/runs")


def test_a_new_head_deploys_with_the_variables_of_a_push(world, daemon):
    url, work = daemon
    # The first look notes the head: main was never deployed.
    srv = serve_polling(world, url)
    assert runs(srv) == []
    git("commit", "-q", "--allow-empty", "-m", "second", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    head = git("rev-parse", "HEAD", cwd=work)
    h.wait_until(lambda: runs(srv), timeout=15, what="a run for the new head")
    run = runs(srv)[0]
    srv.wait_run(run["id"])
    env = dict(l.split("=", 1) for l in srv.log(run["id"]).decode().splitlines())
    assert env["JENKY_TRIGGER"] == "poll"
    assert env["JENKY_REF"] == "refs/heads/main" and env["JENKY_BRANCH"] == "main"
    assert env["JENKY_COMMIT"] == head
    deployed = [d for d in srv.get_json("/api/v1/projects/app/deliveries")
                if d["result"] == "deployed"]
    assert deployed[0]["run_id"] == run["id"] and deployed[0]["remote"] == url
    # Looks that change nothing fold into one record, counted.
    h.wait_until(lambda: any(d["result"] == "polled" and d["count"] >= 2 for d in
                             srv.get_json("/api/v1/projects/app/deliveries")),
                 timeout=15, what="unchanged polls folded")
    assert len(runs(srv)) == 1
    project = srv.get_json("/api/v1/projects/app")
    assert project["poll"] == {"repo": url, "branches": [], "interval": "1s"}


def test_a_repository_that_fails_is_visible_and_backs_off(world, daemon):
    url, _ = daemon
    srv = world.serve(project_toml("app", "true\n"),
                      extra=f'[projects.app.poll]\nrepo = "{url[:-8]}nope.git"\ninterval = "1s"\n')
    h.wait_until(lambda: [d for d in srv.get_json("/api/v1/projects/app/deliveries")
                          if d["status"] == 502], timeout=15, what="failed poll recorded")
    failed = [d for d in srv.get_json("/api/v1/projects/app/deliveries") if d["status"] == 502][0]
    assert failed["result"] == "polled" and failed["event"] == "poll"
    assert "git ls-remote failed" in failed["reason"] and "next try in 2s" in failed["reason"]
    h.wait_until(lambda: any("next try in 4s" in d["reason"] for d in
                             srv.get_json("/api/v1/projects/app/deliveries")),
                 timeout=15, what="the second failure waits longer")


def test_next_fire_times_are_in_the_api(world):
    srv = world.serve(project_toml("app", "true\n", schedule=["0 3 * * 1-5"],
                                   timezone="Europe/Berlin") + "catch_up = true\n")
    sched = srv.get_json("/api/v1/projects/app")["schedule"]
    assert sched["cron"] == ["0 3 * * 1-5"] and sched["timezone"] == "Europe/Berlin"
    assert sched["catch_up"] is True
    at = sched["next"][0]["at"]
    assert sched["next"][0]["cron"] == "0 3 * * 1-5"
    assert at.endswith(":00:00.000Z") and at[11:13] in ("01", "02"), at  # 03:00 CET/CEST


def test_a_fire_missed_while_down_runs_once_at_start_with_catch_up(world):
    # The schedules were last seen running a week ago: every night since was missed.
    os.makedirs(world.data_dir, exist_ok=True)
    week_ago_ms = int((time.time() - 7 * 86400) * 1000)
    with open(os.path.join(world.data_dir, "schedules.json"), "w") as f:
        json.dump({"app": week_ago_ms, "other": week_ago_ms}, f)
    srv = world.serve(project_toml("app", ENV_SCRIPT, schedule=["0 3 * * *"], timezone="UTC")
                      + "catch_up = true\n"
                      + project_toml("other", "true\n", schedule=["0 3 * * *"]))
    h.wait_until(lambda: runs(srv), timeout=10, what="the caught-up run")
    run = srv.wait_run(runs(srv)[0]["id"])
    assert len(runs(srv)) == 1, "once, however many fires were missed"
    env = dict(l.split("=", 1) for l in srv.log(run["id"]).decode().splitlines())
    assert env["JENKY_TRIGGER"] == "schedule"
    d = srv.get_json("/api/v1/projects/app/deliveries")[0]
    assert d["result"] == "deployed" and d["event"] == "schedule" and d["run_id"] == run["id"]
    assert "missed while jenky was down; catch_up = true runs it now" in d["reason"]
    assert srv.get_json("/api/v1/projects/other/runs") == []  # no catch_up: skipped
    mode = os.stat(os.path.join(world.data_dir, "schedules.json")).st_mode & 0o777
    assert mode & 0o007 == 0, oct(mode)


def test_a_new_head_while_paused_is_recorded_and_deployed_after_resume(world, daemon):
    url, work = daemon
    srv = serve_polling(world, url)
    assert srv.post("/api/v1/projects/app/pause", json_body={"reason": "freeze"}).status == 200
    git("commit", "-q", "--allow-empty", "-m", "second", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    head = git("rev-parse", "HEAD", cwd=work)

    def paused():
        return [d for d in srv.get_json("/api/v1/projects/app/deliveries")
                if d["result"] == "paused"]
    h.wait_until(paused, timeout=15, what="the new head recorded as paused")
    d = paused()[0]
    assert d["status"] == 409 and head[:12] in d["reason"] and "freeze" in d["reason"], d
    assert not any(x["status"] == 502 for x in srv.get_json("/api/v1/projects/app/deliveries"))
    assert runs(srv) == []
    assert srv.post("/api/v1/projects/app/resume").status == 200
    h.wait_until(lambda: runs(srv), timeout=15, what="the head deployed after the resume")
    run = srv.wait_run(runs(srv)[0]["id"])
    env = dict(l.split("=", 1) for l in srv.log(run["id"]).decode().splitlines())
    assert env["JENKY_COMMIT"] == head
