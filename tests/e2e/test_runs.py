"""A run's life: trigger, script environment, log, result, timeout, leftovers."""

import os
import signal
import time

import jenky_harness as h
from jenky_harness import project_toml

SECRET = "s3cr3t-Value-42"
OTHER_SECRET = "other-project-secret-99"

ENV_SCRIPT = r"""
echo "hello from $JENKY_PROJECT"
echo "to stderr" >&2
echo "back to stdout"
env -0 > "$ENV_OUT"
pwd > "$PWD_OUT"
"""


def read_env(path):
    with open(path, "rb") as f:
        items = f.read().split(b"\0")
    env = {}
    for item in items:
        if b"=" in item:
            k, v = item.split(b"=", 1)
            env[k.decode()] = v.decode()
    return env


def test_trigger_runs_the_script_to_succeeded_with_its_log_and_environment(world):
    env_out, pwd_out = world.path("env.out"), world.path("pwd.out")
    world.extra_env = {"APP_SECRET": SECRET, "OTHER_SECRET": OTHER_SECRET,
                       "SERVER_ONLY_VAR": "from-the-server", "JENKY_TOKEN": "client-setting"}
    srv = world.serve(
        project_toml("web", ENV_SCRIPT, description="the web app",
                     env={"ENV_OUT": env_out, "PWD_OUT": pwd_out, "GOFLAGS": "-mod=mod"},
                     secrets=["APP_SECRET"]),
        project_toml("other", "true\n", secrets=["OTHER_SECRET"]))

    r = srv.post("/api/v1/projects/web/runs", json_body={
        "ref": "refs/heads/main", "commit": "9f1c2e3d", "kind": "manual"})
    assert r.status == 202, r
    run = r.json()
    assert r.headers["Location"] == f"/api/v1/runs/{run['id']}"
    assert run["project"] == "web"
    assert run["status"] in ("queued", "running")
    assert run["trigger"]["kind"] == "manual"
    assert run["trigger"]["ref"] == "refs/heads/main"
    assert run["trigger"]["branch"] == "main"
    assert run["trigger"]["commit"] == "9f1c2e3d"
    assert run["log_url"] == f"/api/v1/runs/{run['id']}/log"

    done = srv.wait_run(run["id"])
    assert done["status"] == "succeeded", done
    assert done["exit_code"] == 0
    assert done["reason"] is None
    assert done["started_at"] and done["finished_at"] and done["created_at"]
    assert done["created_at"] <= done["started_at"] <= done["finished_at"]
    log = srv.log(run["id"])
    assert log == b"hello from web\nto stderr\nback to stdout\n"
    assert done["log_bytes"] == len(log)

    env = read_env(env_out)
    rid = str(run["id"])
    assert env["JENKY_RUN_ID"] == rid
    assert env["JENKY_PROJECT"] == "web"
    assert env["JENKY_TRIGGER"] == "manual"
    assert env["JENKY_REF"] == "refs/heads/main"
    assert env["JENKY_BRANCH"] == "main"
    assert env["JENKY_COMMIT"] == "9f1c2e3d"
    assert env["JENKY_ACTOR"] == "local"
    assert env["JENKY_DELIVERY"] == ""
    assert env["JENKY_LOG_URL"] == f"{srv.url}/runs/{rid}"
    assert env["GOFLAGS"] == "-mod=mod"
    assert env["APP_SECRET"] == SECRET
    assert env["SERVER_ONLY_VAR"] == "from-the-server"  # the server's own environment
    assert "OTHER_SECRET" not in env, "another project's secret reached the script"
    assert "JENKY_TOKEN" not in env, "the server's JENKY_* client settings reached the script"
    with open(pwd_out) as f:
        assert f.read().strip() == os.path.join(world.data_dir, "workspaces", "web")

    # The exact script that ran, and its hash.
    s = srv.get(f"/api/v1/runs/{rid}/script")
    assert s.status == 200
    assert s.text == ENV_SCRIPT
    assert s.headers["X-Jenky-Script-Sha256"] == h.sha256_hex(ENV_SCRIPT)
    assert done["script_sha256"] == h.sha256_hex(ENV_SCRIPT)
    assert done["recipe"] is None

    # The project view names its env and secrets but never shows their values.
    p = srv.get("/api/v1/projects/web")
    assert p.status == 200
    assert SECRET.encode() not in p.body
    pj = p.json()
    assert pj["secret_names"] == ["APP_SECRET"]
    assert "GOFLAGS" in pj["env_names"]
    assert pj["last_run"]["id"] == run["id"]
    assert pj["description"] == "the web app"
    projects = srv.get_json("/api/v1/projects")
    by_name = {p["name"]: p for p in projects}
    assert sorted(by_name) == ["other", "web"]
    assert by_name["other"]["last_run"] is None
    assert by_name["web"]["last_run"]["status"] == "succeeded"
    assert SECRET not in str(projects)

    # The server's own log names the run's end.
    srv.wait_line(rf"run={rid} project=web succeeded")


def test_trigger_without_a_body_is_an_api_trigger_by_the_local_actor(world):
    srv = world.serve(project_toml("p", 'echo "$JENKY_TRIGGER/$JENKY_ACTOR/$JENKY_REF/$JENKY_COMMIT."\n'))
    run = srv.trigger("p")
    assert run["trigger"]["kind"] == "api"
    assert run["trigger"]["actor"] == "local"
    assert run["trigger"]["ref"] is None and run["trigger"]["commit"] is None
    assert srv.wait_run(run["id"])["status"] == "succeeded"
    assert srv.log(run["id"]) == b"api/local//.\n"


def test_a_bare_branch_name_as_ref_becomes_refs_heads(world):
    srv = world.serve(project_toml("p", 'echo "$JENKY_REF $JENKY_BRANCH"\n'))
    run = srv.trigger("p", {"ref": "release"})
    assert run["trigger"]["ref"] == "refs/heads/release"
    assert run["trigger"]["branch"] == "release"
    srv.wait_run(run["id"])
    assert srv.log(run["id"]) == b"refs/heads/release release\n"


def test_secret_values_are_masked_in_the_log(world):
    """Regression: secrets used to reach the log verbatim (fixed in 35cea34)."""
    world.extra_env = {"DB_PASSWORD": SECRET}
    srv = world.serve(project_toml("p", 'echo "password is $DB_PASSWORD"\n',
                                   secrets=["DB_PASSWORD"]))
    run = srv.trigger("p")
    assert srv.wait_run(run["id"])["status"] == "succeeded"
    log = srv.log(run["id"])
    assert log.startswith(b"password is ")
    assert SECRET.encode() not in log


def test_a_secret_is_masked_even_when_split_across_writes_and_streams(world):
    world.extra_env = {"DB_PASSWORD": SECRET}
    script = (
        'printf "split: %s" "${DB_PASSWORD:0:6}"\n'
        "sleep 0.2\n"
        'printf "%s end\\n" "${DB_PASSWORD:6}"\n'
        'echo "stderr: $DB_PASSWORD" >&2\n'
        'echo "base64: $(printf %s "$DB_PASSWORD" | base64)"\n'
        'echo "almost: ${DB_PASSWORD:0:10} and more"\n'
        'printf "tail: %s" "${DB_PASSWORD:0:8}"\n')
    srv = world.serve(project_toml("p", script, secrets=["DB_PASSWORD"]))
    rid = srv.trigger("p")["id"]
    assert srv.wait_run(rid)["status"] == "succeeded"
    log = srv.log(rid)
    assert log == (b"split: *** end\nstderr: ***\nbase64: ***\n"
                   b"almost: " + SECRET[:10].encode() + b" and more\n"
                   b"tail: " + SECRET[:8].encode()), log
    assert srv.run(rid)["log_bytes"] == len(log)


def test_failing_script_ends_failed_with_its_exit_code(world):
    srv = world.serve(project_toml("p", "echo before\nfalse\necho never\n"),
                      project_toml("q", "echo bye\nexit 7\n"))
    run = srv.trigger("p")
    done = srv.wait_run(run["id"])
    assert done["status"] == "failed"
    assert done["exit_code"] == 1
    assert "status 1" in done["reason"]
    assert srv.log(run["id"]) == b"before\n"  # bash -e stopped at `false`

    run = srv.trigger("q")
    done = srv.wait_run(run["id"])
    assert done["status"] == "failed"
    assert done["exit_code"] == 7
    assert done["reason"] == "script exited with status 7"
    assert srv.log(run["id"]) == b"bye\n"
    srv.wait_line(rf"run={run['id']} project=q failed exit_code=7")


def test_timeout_ends_the_run_timed_out(world):
    marker = "e2e-timeout-" + world.tag
    script = (f'echo start\nbash -c "exec -a {marker}-child sleep 300" &\n'
              f"bash -c 'trap \"\" TERM; exec -a {marker}-stubborn sleep 301' &\n"
              "sleep 300\n")
    srv = world.serve(project_toml("p", script, timeout="1s"))
    run = srv.trigger("p")
    done = srv.wait_run(run["id"], timeout=15)
    assert done["status"] == "timed_out", done
    assert done["reason"] == "timed out after 1s"
    assert done["exit_code"] is not None and done["exit_code"] != 0
    assert srv.log(run["id"]) == b"start\n"
    # Even the child that ignores SIGTERM is gone (SIGKILL after kill_grace).
    assert h.pids_matching(argv_part=marker.encode()) == []
    assert srv.get_json("/api/v1/projects/p")["timeout_seconds"] == 1
    srv.wait_line(rf"run={run['id']} project=p timed_out")


def test_processes_the_script_left_running_are_stopped_when_it_ends(world):
    marker = "e2e-leftover-" + world.tag
    # A plain background job and a daemon (forked, own session, stdout closed).
    script = (f'bash -c "exec -a {marker}-bg sleep 300" &\n'
              f'setsid -f bash -c "exec -a {marker}-daemon sleep 301" >/dev/null 2>&1\n'
              f'while ! pgrep -f {marker}-daemon >/dev/null; do sleep 0.01; done\n'
              "echo done\n")
    srv = world.serve(project_toml("p", script))
    run = srv.trigger("p")
    done = srv.wait_run(run["id"], timeout=15)
    assert done["status"] == "succeeded", done
    assert done["exit_code"] == 0
    assert done["reason"] == "stopped 2 processes the script left running", done
    assert h.pids_matching(argv_part=marker.encode()) == []
    assert srv.log(run["id"]) == b"done\n"


def test_a_script_gets_no_stdin(world):
    srv = world.serve(project_toml("p", "cat\necho after cat\n"))
    run = srv.trigger("p")
    assert srv.wait_run(run["id"], timeout=10)["status"] == "succeeded"
    assert srv.log(run["id"]) == b"after cat\n"


def test_script_stdout_and_stderr_are_merged_in_order(world):
    script = "".join(f"echo out{i}\necho err{i} >&2\n" for i in range(50))
    srv = world.serve(project_toml("p", script))
    run = srv.trigger("p")
    assert srv.wait_run(run["id"])["status"] == "succeeded"
    expected = "".join(f"out{i}\nerr{i}\n" for i in range(50)).encode()
    assert srv.log(run["id"]) == expected


def test_a_large_binary_log_is_kept_byte_for_byte(world):
    # 3 MiB of every byte value, plus a last line without a newline.
    script = ("head -c 3145728 /dev/urandom > \"$OUT\"\ncat \"$OUT\"\n"
              "printf 'no newline at the end'\n")
    out = world.path("random.bin")
    srv = world.serve(project_toml("p", script, env={"OUT": out}))
    run = srv.trigger("p")
    done = srv.wait_run(run["id"], timeout=30)
    assert done["status"] == "succeeded"
    with open(out, "rb") as f:
        expected = f.read() + b"no newline at the end"
    log = srv.log(run["id"])
    assert len(log) == len(expected) == done["log_bytes"]
    assert log == expected


def test_workdir_and_shell_from_the_config_are_used(world):
    wd = world.path("checkout")
    srv = world.serve(project_toml("p", "pwd\necho $0\n", workdir=wd, shell="/bin/sh"))
    run = srv.trigger("p")
    assert srv.wait_run(run["id"])["status"] == "succeeded"
    lines = srv.log(run["id"]).decode().splitlines()
    assert lines[0] == wd
    assert os.path.isdir(wd)
    assert lines[1].endswith("script") or lines[1].startswith("/"), lines


def test_script_file_is_read_at_trigger_time_and_saved_with_the_run(world):
    sf = world.write("deploy.sh", "echo version one\n")
    srv = world.serve('[projects.p]\nscript_file = "deploy.sh"\n')
    r1 = srv.trigger("p")
    srv.wait_run(r1["id"])
    world.write("deploy.sh", "echo version two\n")
    r2 = srv.trigger("p")
    srv.wait_run(r2["id"])
    assert srv.log(r1["id"]) == b"version one\n"
    assert srv.log(r2["id"]) == b"version two\n"
    assert srv.get(f"/api/v1/runs/{r1['id']}/script").text == "echo version one\n"
    assert srv.get(f"/api/v1/runs/{r2['id']}/script").text == "echo version two\n"
    assert os.path.exists(sf)


def test_a_script_killed_by_a_signal_fails_naming_the_signal(world):
    srv = world.serve(project_toml("p", "echo going\nkill -KILL $$\n"))
    run = srv.trigger("p")
    done = srv.wait_run(run["id"])
    assert done["status"] == "failed"
    assert done["exit_code"] == 137
    assert done["reason"] == "killed by SIGKILL"
    assert srv.log(run["id"]) == b"going\n"


def cannot_start_world(world):
    blocker = world.write("not-a-dir", "a file where a directory should be\n")
    return world.serve(project_toml("p", "echo never\n", workdir=os.path.join(blocker, "sub"),
                                    concurrency="queue"))


def test_a_run_that_cannot_start_fails_with_the_reason(world):
    srv = cannot_start_world(world)
    run = srv.trigger("p")
    done = srv.wait_run(run["id"])
    assert done["status"] == "failed", done
    assert "not-a-dir/sub" in done["reason"] and "Not a directory" in done["reason"], done
    assert done["exit_code"] is None
    assert done["finished_at"] is not None
    srv.wait_line(rf"run={run['id']} project=p cannot start: ")


def test_a_run_that_cannot_start_does_not_block_the_next_run(world):
    """Regression: a run that failed to start kept its project's lane, so every later
    run stayed queued forever (fixed in 35cea34)."""
    srv = cannot_start_world(world)
    a = srv.trigger("p")
    assert srv.wait_run(a["id"])["status"] == "failed"
    b = srv.trigger("p")
    done = srv.wait_run(b["id"], timeout=5)
    assert done["status"] == "failed", done
    assert "not-a-dir/sub" in done["reason"]


def test_public_url_is_used_for_the_log_url_given_to_scripts(world):
    srv = world.serve(project_toml("p", 'echo "$JENKY_LOG_URL"\n'),
                      server_toml='[server]\nkill_grace = "1s"\n'
                                  'public_url = "https://deploy.example.com/"\n')
    rid = srv.trigger("p")["id"]
    srv.wait_run(rid)
    assert srv.log(rid) == f"https://deploy.example.com/runs/{rid}\n".encode()


def test_the_timeout_counts_from_the_start_of_a_run_not_from_its_trigger(world):
    # Three 1 s runs queued at once under a 3 s timeout: the last one waits
    # 2 s before it starts, and must still succeed.
    srv = world.serve(project_toml("p", "sleep 1\necho done\n", concurrency="queue",
                                   timeout="3s"))
    ids = [srv.trigger("p")["id"] for _ in range(3)]
    for rid in ids:
        done = srv.wait_run(rid, timeout=20)
        assert done["status"] == "succeeded", done


def test_the_data_files_are_not_readable_by_other_users(world):
    # Under the usual umask 022, jenky's own files (history, logs, scripts,
    # run state) still give nothing to other users; the workspace is the
    # script's business and keeps the umask.
    old = os.umask(0o022)
    try:
        data = world.path("fresh-data")
        srv = world.serve(project_toml("p", "echo hi"), data_dir=data)
    finally:
        os.umask(old)
    run = srv.wait_run(srv.trigger("p")["id"])
    assert run["status"] == "succeeded", run
    srv.stop()
    seen = []
    for root, dirs, files in os.walk(data):
        dirs[:] = [d for d in dirs if os.path.join(root, d) != os.path.join(data, "workspaces")]
        for name in [root] + [os.path.join(root, f) for f in files]:
            mode = os.stat(name).st_mode & 0o777
            seen.append(os.path.relpath(name, data))
            assert mode & 0o007 == 0, f"{os.path.relpath(name, data)} has mode {mode:o}"
    for must in (".", "jenky.db", "runs", f"runs/{run['id']}/log", f"runs/{run['id']}/script",
                 f"runs/{run['id']}/exit.json", f"runs/{run['id']}/supervisor.json"):
        assert must in seen, (must, seen)


def test_another_projects_secret_is_not_in_the_environment_of_anything_a_script_can_read(world):
    """A script can read /proc/PID/environ of its own shell and of its
    supervisor (same user); neither may hold another project's secret."""
    world.extra_env = {"DB_PASSWORD": SECRET, "OTHER_TOKEN": "other-project-token-value"}
    script = ('for pid in $$ $PPID; do\n'
              '  if tr "\\0" "\\n" < /proc/$pid/environ | grep -q "^OTHER_TOKEN="; then\n'
              '    echo "leak in $pid"; fi\n'
              'done\n'
              'echo "own: ${DB_PASSWORD:+set} other: ${OTHER_TOKEN:-unset}"\n')
    srv = world.serve(project_toml("p", script, secrets=["DB_PASSWORD"]) +
                      project_toml("q", "true\n", secrets=["OTHER_TOKEN"]))
    for _ in range(2):  # the first spare, and one the server made after a run
        rid = srv.trigger("p")["id"]
        assert srv.wait_run(rid)["status"] == "succeeded"
        assert srv.log(rid) == b"own: set other: unset\n"


def test_a_spare_supervisor_that_died_is_replaced_and_the_run_still_runs(world):
    srv = world.serve(project_toml("p", "echo ran\n"))
    # The spare is the server's child waiting for its run; kill it (and its
    # warm shell goes on its own once its pipe has no writer).
    server_pid = srv.proc.pid
    deadline = time.monotonic() + 10
    spares = []
    while not spares and time.monotonic() < deadline:
        with open(f"/proc/{server_pid}/task/{server_pid}/children") as f:
            kids = [int(p) for p in f.read().split()]
        spares = [p for p in kids if b"__supervise" in open(f"/proc/{p}/cmdline", "rb").read()]
        time.sleep(0.02)
    assert spares, "no spare supervisor"
    for p in spares:
        os.kill(p, signal.SIGKILL)
    # Dead (a zombie until the server reaps it) before the trigger looks at it.
    h.wait_until(lambda: not any(h.is_alive(p) for p in spares), 10, what="the spare's death")
    rid = srv.trigger("p")["id"]
    run = srv.wait_run(rid)
    assert run["status"] == "succeeded", run
    assert srv.log(rid) == b"ran\n"
