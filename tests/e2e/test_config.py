"""`jenky check` and `jenky serve` on good and bad configurations."""

import re
import socket

import pytest

import jenky_harness as h
from jenky_harness import project_toml

BAD = """[server]
kill_grace = "1 second"

[projects.web]
scrip = "echo hi"
timeout = "forever"
concurrency = "parallel"
secrets = ["E2E_NOT_SET_ANYWHERE"]

[projects."bad name"]
script = "true"
"""

# (line, column, message) of every error in BAD.
BAD_ERRORS = [
    (2, 14, "server.kill_grace: bad duration '1 second': write a number with a unit "
            "(ms, s, m, h, d), like 90s, 15m or 1h30m"),
    (5, 1, "unknown key 'scrip' in [projects.web]; known keys are: description, workdir, script, "
           "script_file, recipe, params, shell, timeout, concurrency, env, secrets, keep_runs, "
           "max_queued, max_log_bytes, memory_max, tasks_max, webhook, poll, schedule, timezone, "
           "catch_up, status, notify, inputs, targets, build, upload, prepare, health, rollback, "
           "deploy_dir, rollout"),
    (4, 1, "project 'web' has nothing to run: give it script = \"...\", script_file = "
           "\"deploy.sh\" or recipe = \"NAME\""),
    (6, 11, "projects.web.timeout: bad duration 'forever': write a number with a unit "
            "(ms, s, m, h, d), like 90s, 15m or 1h30m"),
    (7, 15, "projects.web.concurrency 'parallel' is not one of coalesce, queue, cancel-previous"),
    (8, 11, "secret E2E_NOT_SET_ANYWHERE of project 'web' is not in the server's environment; "
            "export it before starting jenky"),
    (10, 11, "project name 'bad name' must be 1-64 letters, digits, '-', '_' or '.', starting "
             "with a letter or digit"),
]

ERROR_LINE = re.compile(r"^(?:error: )?(.+?):(\d+):(\d+): (.*)$")


def parse_errors(text, path):
    out = []
    for line in text.splitlines():
        m = ERROR_LINE.match(line)
        if m and m.group(1) == path:
            out.append((int(m.group(2)), int(m.group(3)), m.group(4)))
    return out


def test_check_accepts_a_good_config(world):
    path = world.config(project_toml("a", "true\n", concurrency="queue", timeout="90s",
                                     keep_runs=5, max_queued=3, env={"X": "1"}),
                        project_toml("b", "true\n", concurrency="cancel-previous"),
                        extra=f'[[tokens]]\nname = "t"\nsha256 = "{h.sha256_hex("tok")}"\n'
                              'scopes = ["read"]\n')
    p = world.cli("check", "--config", path)
    assert p.returncode == 0, p
    assert p.stdout == f"{path}: ok (2 project(s), 1 token(s))\n"


def test_check_reports_every_error_as_file_line_col(world):
    path = world.write("bad.toml", BAD)
    p = world.cli("check", "--config", path)
    assert p.returncode == 1
    assert sorted(parse_errors(p.stderr, path)) == sorted(BAD_ERRORS), p.stderr
    assert f"7 error(s) in {path}" in p.stderr
    assert "ok (" not in p.stdout


def test_serve_with_a_bad_config_prints_the_same_errors_and_exits_1(world):
    path = world.write("bad.toml", BAD)
    srv = world.server(path, start=False).spawn()
    rc, stderr = srv.run_to_exit()
    assert rc == 1
    assert sorted(parse_errors(stderr, path)) == sorted(BAD_ERRORS), stderr
    assert f"{path} has 7 error(s); fix them (`jenky check --config {path}` shows them again)" in stderr
    assert "listening on" not in stderr


@pytest.mark.parametrize("text,line,col,message", [
    ('[projects.p]\nscript = "unterminated\n', 2, 23, "TOML syntax: "),
    ('[projects.p]\nscript = "true"\nshell = "bash"\n', 3, 9,
     "projects.p.shell must be an absolute path"),
    ('[projects.p]\nscript = "true"\nkeep_runs = 0\n', 3, 13,
     "projects.p.keep_runs must be a whole number from 1 to 1000000"),
    ('[projects.p]\nscript = "true"\nenv = { JENKY_RUN_ID = "1" }\n', 3, 9,
     "projects.p.env.JENKY_RUN_ID: JENKY_* variables are set by jenky"),
    ('[projects.p]\nscript = "   "\n', 2, 10, "project 'p' has an empty script"),
    ('[projects.p]\nscript = "true"\nrecipe = "demo"\n', 3, 10,
     "project 'p' has more than one of script, script_file and recipe; keep exactly one"),
    ('[projects.p]\nrecipe = "no-such-recipe"\n', 2, 10, "no recipe named 'no-such-recipe'"),
    ('[projects.p]\nscript_file = "missing.sh"\n', 2, 15, "cannot be read"),
    ('[server]\nlisten = "0.0.0.0:8080"\n[projects.p]\nscript = "true"\n', 2, 10,
     "server.listen is 0.0.0.0:8080 but no [[tokens]] are configured: without tokens jenky serves "
     "only on a loopback address (127.0.0.1 or [::1]); add a [[tokens]] entry"),
    ('[server]\nmax_body = "lots"\n', 2, 12, "server.max_body: "),
    ('[[tokens]]\nname = "t"\nsha256 = "ABC"\nscopes = ["read"]\n', 3, 10,
     "tokens.sha256 must be 64 lower-case hex digits"),
    ('[[tokens]]\nname = "t"\nsha256 = "' + "a" * 64 + '"\nscopes = ["write"]\n', 4, 10,
     "unknown scope 'write'; scopes are read, deploy and admin"),
    ('[[tokens]]\nname = "t"\nenv = "E2E_UNSET_TOKEN_VAR"\nscopes = ["read"]\n', 3, 7,
     "reads environment variable E2E_UNSET_TOKEN_VAR, which is not set"),
    ('colour = "blue"\n', 1, 1, "unknown key 'colour' in the top level"),
])
def test_check_names_the_problem_and_where_it_is(world, text, line, col, message):
    path = world.write("c.toml", text)
    p = world.cli("check", "--config", path)
    assert p.returncode == 1, p
    errors = parse_errors(p.stderr, path)
    assert len(errors) == 1, p.stderr
    assert errors[0][:2] == (line, col), p.stderr
    assert message in errors[0][2], p.stderr


def test_check_of_a_missing_file_says_so(world):
    p = world.cli("check", "--config", world.path("nope.toml"))
    assert p.returncode == 1
    assert f"{world.path('nope.toml')} does not exist" in p.stderr


def test_serve_with_a_missing_config_file_exits_1(world):
    srv = world.server(world.path("nope.toml"), start=False).spawn()
    rc, stderr = srv.run_to_exit()
    assert rc == 1
    assert f"config file {world.path('nope.toml')} does not exist" in stderr


def test_serve_refuses_a_non_loopback_address_without_tokens(world):
    path = world.config(project_toml("p", "true\n"))
    # 192.0.2.1 (TEST-NET-1) is on no interface here: even a server that
    # forgot the rule could not listen on it.
    srv = world.server(path, listen="192.0.2.1:0", start=False).spawn()
    rc, stderr = srv.run_to_exit()
    assert rc == 1
    assert "refusing to listen on 192.0.2.1:0 without [[tokens]]" in stderr
    assert "add a [[tokens]] entry" in stderr
    assert "listening on" not in stderr


def test_serve_with_a_bad_listen_flag_is_a_usage_error(world):
    path = world.config(project_toml("p", "true\n"))
    srv = world.server(path, listen="nohost", start=False).spawn()
    rc, stderr = srv.run_to_exit()
    assert rc == 2
    assert "--listen 'nohost' is not HOST:PORT; write it like 127.0.0.1:8080" in stderr


def test_serve_on_a_port_in_use_says_so(world):
    path = world.config(project_toml("p", "true\n"))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        srv = world.server(path, listen=f"127.0.0.1:{port}", start=False).spawn()
        rc, stderr = srv.run_to_exit()
    assert rc == 1
    assert f"cannot listen on 127.0.0.1:{port}" in stderr
    assert "pick another port with --listen" in stderr


def test_a_second_server_on_the_same_data_dir_is_refused(world):
    path = world.config(project_toml("p", "true\n"))
    first = world.server(path)
    second = world.server(path, start=False).spawn()
    rc, stderr = second.run_to_exit()
    assert rc == 1
    assert f"another jenky serve is using {world.data_dir}" in stderr
    assert first.get("/healthz").status == 200


def test_the_listen_line_is_the_first_line_of_stderr(world):
    srv = world.serve(project_toml("p", "true\n"))
    assert h.LISTEN_RE.match(srv.lines[0])
    assert srv.get("/healthz").body == b"ok\n"
    assert srv.stop() == 0  # SIGTERM is a clean exit


def test_sigint_stops_the_server_cleanly(world):
    import signal
    srv = world.serve(project_toml("p", "true\n"))
    assert srv.stop(signal.SIGINT) == 0
    srv.wait_line(r"^SIGINT: stopping")


def test_serve_uses_jenky_toml_in_the_working_directory(world):
    world.write("jenky.toml", '[server]\nkill_grace = "1s"\n' + project_toml("local", "echo here\n"))
    srv = world.server(None)
    srv.wait_line(r"config jenky\.toml")
    assert [p["name"] for p in srv.get_json("/api/v1/projects")] == ["local"]
    p = world.cli("check")  # also the default of check
    assert p.returncode == 0
    assert p.stdout == "jenky.toml: ok (1 project(s), 0 token(s))\n"


def test_serve_without_a_config_uses_the_embedded_default_and_demo_adds_a_project(world):
    srv = world.server(None, extra_args=["--demo"])
    srv.wait_line(r"\(no config file: embedded default\)")
    projects = srv.get_json("/api/v1/projects")
    assert [p["name"] for p in projects] == ["demo"]
    demo = srv.get_json("/api/v1/projects/demo")
    assert demo["source"] == "recipe" and demo["recipe"] == "demo"
    plain = world.server(None, data_dir=world.path("other-data"))
    assert plain.get_json("/api/v1/projects") == []
