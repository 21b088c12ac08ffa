"""The outbox end to end (docs/notifications.md): notifications and commit
statuses reach receivers the test runs on loopback, signed and shaped as
each receiver expects; a receiver that is down, slow, failing or rate
limiting loses nothing, gets nothing twice and slows no run; kill -9 with
messages pending sends them after the restart; /metrics."""

import json
import os
import shutil
import subprocess
import time

import pytest

import jenky_harness as h
from jenky_harness import project_toml
import forge_schema
from notify_receivers import Receiver, SmtpSink, verify_standard_webhook

SECRET = b"e2e-signing-secret-0123456789"
SHA = "9f1c2ab3c4d5e6f708192a3b4c5d6e7f80919293"
ALL_EVENTS = '["started", "succeeded", "failed", "recovered", "cancelled"]'


@pytest.fixture
def receivers():
    made = []

    def make(**kw):
        r = Receiver(**kw)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def env(world, **extra):
    e = world.env(NOTIFY_SECRET=SECRET.decode(), NO_PROXY="127.0.0.1,localhost",
                  no_proxy="127.0.0.1,localhost")
    e.update(extra)
    return e


def notify_toml(kind, url, on=ALL_EVENTS, extra=""):
    return f'[[notify]]\nkind = "{kind}"\nurl = "{url}"\non = {on}\n{extra}\n'


def fail_then_pass():
    # Run 1 fails, every later run succeeds.
    return 'if [ "$JENKY_RUN_ID" = 1 ]; then echo boom; exit 2; fi\necho fine\n'


def messages(srv, run_id):
    r = srv.get(f"/api/v1/runs/{run_id}/messages")
    assert r.status == 200, r
    return r.json()


def wait_messages(srv, run_id, pred, timeout=20):
    last = []

    def check():
        nonlocal last
        last = messages(srv, run_id)
        return pred(last)
    h.wait_until(check, timeout, what=f"messages of run {run_id}")
    return last


def test_each_kind_gets_its_shape_signed_in_order_with_recovered(world, receivers):
    hook, slack, discord, ntfy = receivers(), receivers(), receivers(), receivers()
    extra = (notify_toml("webhook", hook.url + "/hook", extra='secret_env = "NOTIFY_SECRET"') +
             notify_toml("slack", slack.url + "/slack") +
             notify_toml("discord", discord.url + "/discord") +
             notify_toml("ntfy", ntfy.url + "/deploys"))
    srv = world.serve(project_toml("app", fail_then_pass()), extra=extra,
                      server_toml='[server]\npublic_url = "https://deploy.example.com"\n',
                      env=env(world))
    r1 = srv.trigger("app", body={"commit": SHA})
    assert srv.wait_run(r1["id"])["status"] == "failed"
    r2 = srv.trigger("app")
    assert srv.wait_run(r2["id"])["status"] == "succeeded"

    got = hook.wait_count(4)
    bodies = [verify_standard_webhook(r, SECRET) for r in got]
    assert [b["type"] for b in bodies] == ["run.started", "run.failed", "run.started",
                                           "run.recovered"]
    assert bodies[1]["run"]["id"] == r1["id"] and bodies[1]["run"]["status"] == "failed"
    assert bodies[1]["run"]["trigger"]["commit"] == SHA
    assert bodies[1]["url"] == f"https://deploy.example.com/runs/{r1['id']}"
    assert len({r["headers"]["webhook-id"] for r in got}) == 4

    s = [json.loads(r["body"]) for r in slack.wait_count(4)]
    assert "app #1 failed after" in s[1]["text"]
    assert s[1]["text"].startswith("<https://deploy.example.com/runs/1|")
    fields = {f["title"]: f["value"] for f in s[1]["attachments"][0]["fields"]}
    assert fields["Project"] == "app" and fields["Result"] == "failed"
    assert fields["Commit"] == SHA[:12] and fields["Reason"] == "script exited with status 2"

    d = [json.loads(r["body"]) for r in discord.wait_count(4)]
    embed = d[3]["embeds"][0]
    assert embed["title"].startswith("app #2 succeeded again (recovered)")
    assert embed["url"] == "https://deploy.example.com/runs/2"
    assert isinstance(embed["color"], int)

    n = ntfy.wait_count(4)
    assert n[1]["path"] == "/deploys"
    assert n[1]["headers"]["Title"].startswith("app #1 failed")
    assert n[1]["headers"]["Click"] == "https://deploy.example.com/runs/1"
    assert b"Result: failed" in n[1]["body"]

    ms = wait_messages(srv, r1["id"], lambda ms: ms and all(m["state"] == "sent" for m in ms))
    assert sorted(m["receiver"] for m in ms) == sorted(["webhook", "slack", "discord", "ntfy"] * 2)
    assert all(m["attempts"] == 1 and m["error"] is None for m in ms)
    project = srv.get("/api/v1/projects/app/messages").json()
    assert len(project) == 16


def test_github_status_pending_then_final_with_context_and_link(world, receivers):
    forge = receivers(default=(201, {"Content-Type": "application/json"}, b"{}", 0))
    status = (f'[projects.app.status]\nprovider = "github"\napi_url = "{forge.url}/api/v3"\n'
              'repo = "owner/app"\ntoken_env = "GH_STATUS_TOKEN"\ncontext = "jenky/deploy"\n')
    token = "ghp_e2e_token_never_shown"
    srv = world.serve(project_toml("app", h.WAIT_GATE + "echo ok\n", env={"GATE": world.gate}) +
                      status, env=env(world, GH_STATUS_TOKEN=token))
    run = srv.trigger("app", body={"commit": SHA})
    forge.wait_count(1)
    world.open_gate()
    srv.wait_run(run["id"])
    reqs = forge.wait_count(2)
    spec = forge_schema.load_github()
    for r in reqs:
        assert forge_schema.check_request(spec, "repos/create-commit-status", "/api/v3", r) == []
        assert r["path"] == f"/api/v3/repos/owner/app/statuses/{SHA}"
        assert r["headers"]["Authorization"] == f"Bearer {token}"
        assert r["headers"]["Accept"] == "application/vnd.github+json"
        body = json.loads(r["body"])
        # GitHub's schema for "create a commit status": these keys only.
        assert set(body) <= {"state", "target_url", "description", "context"}
        assert body["state"] in {"error", "failure", "pending", "success"}
        assert body["context"] == "jenky/deploy"
        assert len(body["description"]) <= 140
        assert body["target_url"].endswith(f"/runs/{run['id']}")
    assert [json.loads(r["body"])["state"] for r in reqs] == ["pending", "success"]
    # The token is nowhere in what jenky shows.
    shown = srv.get("/api/v1/projects/app").body + srv.get(f"/api/v1/runs/{run['id']}/messages").body
    assert token.encode() not in shown
    assert token not in srv.stderr()


def test_gitlab_running_then_failed_and_cannot_transition_is_not_a_failure(world, receivers):
    forge = receivers()
    forge.answers = [(201, {}, b"{}", 0),
                     (400, {}, b'{"message":"Cannot transition status via :drop from :failed"}', 0)]
    status = (f'[projects.app.status]\nprovider = "gitlab"\napi_url = "{forge.url}/api/v4"\n'
              'repo = "group/app"\ntoken_env = "GL_TOKEN"\n')
    srv = world.serve(project_toml("app", "exit 3\n") + status, env=env(world, GL_TOKEN="glpat-x"))
    run = srv.trigger("app", body={"commit": SHA, "ref": "main"})
    srv.wait_run(run["id"])
    reqs = forge.wait_count(2)
    assert reqs[0]["path"] == f"/api/v4/projects/group%2Fapp/statuses/{SHA}"
    assert reqs[0]["headers"]["PRIVATE-TOKEN"] == "glpat-x"
    bodies = [json.loads(r["body"]) for r in reqs]
    assert [b["state"] for b in bodies] == ["running", "failed"]
    assert bodies[0]["name"] == "jenky/deploy" and bodies[0]["ref"] == "main"
    ms = wait_messages(srv, run["id"], lambda ms: all(m["state"] == "sent" for m in ms))
    assert len(ms) == 2


def test_down_500_429_then_up_loses_nothing_and_sends_nothing_twice(world, receivers):
    hook = receivers()
    hook.answers = [(500, {}, b"oops", 0), (429, {"Retry-After": "1"}, b"slow down", 0)]
    srv = world.serve(project_toml("app", "echo hi\n", concurrency="queue"),
                      extra=notify_toml("webhook", hook.url + "/h", on='["succeeded"]',
                                        extra='secret_env = "NOTIFY_SECRET"'),
                      env=env(world))
    ids = [srv.trigger("app")["id"] for _ in range(3)]
    for i in ids:
        assert srv.wait_run(i)["status"] == "succeeded"
    reqs = hook.wait_count(3, ok_only=True, timeout=30)
    ok = [verify_standard_webhook(r, SECRET) for r in reqs if r["status"] < 300]
    assert [b["run"]["id"] for b in ok] == ids  # in order, each once
    time.sleep(0.5)  # nothing more comes
    assert len([r for r in hook.requests if r["status"] < 300]) == 3
    # The first message was tried three times with the same webhook-id.
    first = [r for r in hook.requests if json.loads(r["body"])["run"]["id"] == ids[0]]
    assert [r["status"] for r in first] == [500, 429, 200]
    assert len({r["headers"]["webhook-id"] for r in first}) == 1
    assert first[2]["at"] - first[1]["at"] >= 0.9  # Retry-After: 1
    m = messages(srv, ids[0])[0]
    assert m["state"] == "sent" and m["attempts"] == 3


def test_a_dead_and_a_slow_receiver_delay_neither_runs_nor_the_other_receiver(world, receivers):
    slow = receivers(default=(200, {}, b"", 30))
    fast = receivers()
    dead = "http://127.0.0.1:9/never"  # nothing listens on the discard port
    extra = (notify_toml("webhook", slow.url + "/slow", extra='name = "slow"\ntimeout = "2s"') +
             notify_toml("webhook", dead, extra='name = "dead"') +
             notify_toml("webhook", fast.url + "/fast", extra='name = "fast"'))
    srv = world.serve(project_toml("app", "echo hi\n", concurrency="queue"), extra=extra,
                      env=env(world))
    t0 = time.monotonic()
    ids = [srv.trigger("app")["id"] for _ in range(3)]
    assert time.monotonic() - t0 < 2
    for i in ids:
        assert srv.wait_run(i, timeout=10)["status"] == "succeeded"
    fast.wait_count(6, timeout=10)  # started + succeeded of each
    def started(ms):
        return {m["receiver"]: m for m in ms if m["event"] == "run.started"}
    ms = wait_messages(srv, ids[0], lambda ms: (started(ms).get("dead") or {}).get("error"))
    by = started(ms)
    assert by["fast"]["state"] == "sent"
    assert by["dead"]["state"] == "pending" and "onnect" in by["dead"]["error"], by["dead"]
    assert by["slow"]["state"] == "pending"


def test_kill9_with_messages_pending_sends_them_after_the_restart(world, receivers):
    hook = receivers(default=(503, {}, b"down", 0))
    path = world.config(project_toml("app", "echo hi\n"),
                        extra=notify_toml("webhook", hook.url + "/h", on='["succeeded"]',
                                          extra='secret_env = "NOTIFY_SECRET"'))
    srv = world.server(path, env=env(world))
    rid = srv.trigger("app")["id"]
    srv.wait_run(rid)
    hook.wait_count(1)
    assert messages(srv, rid)[0]["state"] == "pending"
    srv.kill9()
    hook.default = (200, {}, b"ok", 0)
    srv2 = world.server(path, env=env(world))
    srv2.wait_line(r"outbox: 1 message\(s\) still to send")
    reqs = hook.wait_count(1, ok_only=True, timeout=20)
    body = verify_standard_webhook([r for r in reqs if r["status"] == 200][0], SECRET)
    assert body["run"]["id"] == rid
    wait_messages(srv2, rid, lambda ms: ms[0]["state"] == "sent")


def test_kill9_right_after_a_trigger_is_answered_loses_no_start_message(world, receivers):
    # A started run's row and its start's messages are written behind its
    # script's first output (at most 50 ms): killed in between, the next
    # start makes them again from meta.json. Received at least once, each
    # webhook-id once in order.
    hook = receivers(default=(200, {}, b"ok", 0))
    path = world.config(project_toml("app", h.WAIT_GATE + "echo done\n"),
                        extra=notify_toml("webhook", hook.url + "/h", on='["started", "succeeded"]',
                                          extra='secret_env = "NOTIFY_SECRET"'))
    srv = world.server(path, env=env(world, GATE=world.gate))
    rid = srv.trigger("app")["id"]
    srv.kill9()
    srv2 = world.server(path, env=env(world, GATE=world.gate))
    assert srv2.get(f"/api/v1/runs/{rid}").json()["status"] == "running"
    world.open_gate()
    assert srv2.wait_run(rid)["status"] == "succeeded"
    reqs = hook.wait_for(lambda rs: any(verify_standard_webhook(r, SECRET)["type"] == "run.succeeded"
                                        for r in rs), what="run.succeeded")
    events = {}
    for r in reqs:
        body = verify_standard_webhook(r, SECRET)
        assert body["run"]["id"] == rid
        webhook_id = {k.lower(): v for k, v in r["headers"].items()}["webhook-id"]
        events.setdefault(webhook_id, body["type"])
    assert list(events.values()) == ["run.started", "run.succeeded"], events


def test_a_4xx_fails_at_once_with_the_reason_in_the_api(world, receivers):
    hook = receivers(default=(410, {}, b"this hook was deleted", 0))
    srv = world.serve(project_toml("app", "true\n"),
                      extra=notify_toml("slack", hook.url + "/s", on='["succeeded"]'),
                      env=env(world))
    rid = srv.trigger("app")["id"]
    ms = wait_messages(srv, rid, lambda ms: ms and ms[0]["state"] == "failed")
    assert ms[0]["error"] == "HTTP 410: this hook was deleted"
    assert ms[0]["http_status"] == 410


def test_email_reaches_a_real_smtp_server(world):
    sink = SmtpSink()
    try:
        extra = ('[[notify]]\nkind = "email"\n'
                 f'smtp_url = "smtp://127.0.0.1:{sink.port}"\nstarttls = false\n'
                 'from = "jenky@example.com"\nto = ["ops@example.com", "dev@example.com"]\n'
                 'on = ["failed"]\n')
        srv = world.serve(project_toml("app", "exit 1\n"), extra=extra, env=env(world))
        rid = srv.trigger("app", body={"commit": SHA})["id"]
        mail = sink.wait_count(1)[0]
        assert mail["from"] == "jenky@example.com"
        assert mail["to"] == ["ops@example.com", "dev@example.com"]
        assert f"Subject: [jenky] app #{rid} failed after" in mail["data"]
        assert "Result: failed" in mail["data"] and f"Commit: {SHA[:12]}" in mail["data"]
        wait_messages(srv, rid, lambda ms: ms[0]["state"] == "sent")
    finally:
        sink.close()


def test_metrics_count_deployments_and_pass_promtool(world, receivers):
    hook = receivers(default=(500, {}, b"", 0))
    srv = world.serve(project_toml("app", fail_then_pass(), concurrency="queue"),
                      extra=notify_toml("webhook", hook.url + "/h", on='["failed"]'),
                      env=env(world))
    for _ in range(3):
        srv.wait_run(srv.trigger("app")["id"])
    hook.wait_count(1)
    r = srv.get("/metrics")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    text = r.body.decode()
    assert 'jenky_deployments_total{project="app",trigger="api",result="failed"} 1' in text
    assert 'jenky_deployments_total{project="app",trigger="api",result="succeeded"} 2' in text
    assert 'jenky_deployment_duration_seconds_bucket{project="app",le="3600"} 3' in text
    assert 'jenky_deployment_duration_seconds_count{project="app"} 3' in text
    assert 'jenky_last_success_timestamp_seconds{project="app"}' in text
    assert 'jenky_runs{project="app",state="running"} 0' in text
    assert 'jenky_outbox_pending{receiver="webhook"} 1' in text
    assert "run_id" not in text and "commit" not in text
    promtool = shutil.which("promtool")
    if promtool:
        p = subprocess.run([promtool, "check", "metrics"], input=r.body, capture_output=True,
                           timeout=30)
        assert p.returncode == 0, p.stdout + p.stderr


def test_check_names_each_notify_problem_with_the_nearest_name(world):
    path = world.config(
        project_toml("app", "true\n") +
        '[projects.app.status]\nprovider = "gitlabb"\nrepo = "a/b"\ntoken_env = "NOPE_TOKEN"\n',
        extra='[[notify]]\nkind = "slak"\nurl = "https://x"\n'
              '[[notify]]\nkind = "webhook"\nurl_env = "MISSING_URL"\non = ["faild"]\n'
              '[[notify]]\nkind = "ntfy"\nurl = "https://ntfy.sh/t"\nprojects = ["ap"]\n')
    p = world.cli("check", "--config", path)
    assert p.returncode == 1
    err = p.stderr
    assert "unknown notify kind 'slak'; did you mean 'slack'?" in err
    assert "notify url variable MISSING_URL is not set in the server's environment" in err
    assert "notify.on has 'faild', which is not an event; did you mean 'failed'?" in err
    assert "notify.projects names 'ap', which is not a configured project; did you mean 'app'?" in err
    assert "unknown status provider 'gitlabb'; did you mean 'gitlab'?" in err
    assert "status token variable NOPE_TOKEN is not set" in err


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not shutil.which("prometheus"), reason="needs Debian's prometheus")
def test_a_real_prometheus_scrapes_metrics_listen_and_answers_queries(world, tmp_path):
    mport = free_port()
    srv = world.serve(project_toml("app", "true\n"),
                      server_toml=f'[server]\nmetrics_listen = "127.0.0.1:{mport}"\n',
                      env=env(world))
    srv.wait_line(rf"metrics on http://127.0.0.1:{mport}/metrics")
    srv.wait_run(srv.trigger("app")["id"])
    # The metrics address serves /metrics only, without a token.
    import urllib.request
    import urllib.error
    with urllib.request.urlopen(f"http://127.0.0.1:{mport}/metrics", timeout=10) as r:
        assert b"jenky_deployments_total" in r.read()
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://127.0.0.1:{mport}/api/v1/projects", timeout=10)
    assert e.value.code == 404

    pport = free_port()
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - job_name: jenky\n    static_configs: [{{targets: ['127.0.0.1:{mport}']}}]\n")
    prom = subprocess.Popen(
        ["prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{pport}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env(world))
    try:
        import urllib.parse
        q = urllib.parse.quote('jenky_deployments_total{project="app",result="succeeded"}')
        result = []

        def scraped():
            nonlocal result
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{pport}/api/v1/query?query={q}", timeout=5) as r:
                    result = json.load(r)["data"]["result"]
            except (OSError, ValueError):
                return False
            return bool(result)
        h.wait_until(scraped, 60, interval=0.5, what="prometheus to scrape jenky")
        assert result[0]["metric"]["trigger"] == "api"
        assert result[0]["value"][1] == "1"
    finally:
        prom.terminate()
        prom.wait(timeout=20)


def test_tls_is_verified_a_self_signed_receiver_is_not_trusted(world, receivers, tmp_path):
    hook = receivers(tls=self_signed(tmp_path))
    srv = world.serve(project_toml("app", "true\n"),
                      extra=notify_toml("webhook", hook.url + "/h", on='["succeeded"]'),
                      env=env(world))
    rid = srv.trigger("app")["id"]
    ms = wait_messages(srv, rid, lambda ms: ms and ms[0]["error"])
    assert ms[0]["state"] == "pending"
    assert "certificate" in ms[0]["error"], ms[0]
    assert not hook.requests  # nothing was sent over the untrusted connection


def test_metrics_need_a_read_token_when_tokens_are_configured(world):
    srv = world.serve(project_toml("app", "true\n"),
                      extra=f'[[tokens]]\nname = "prom"\nsha256 = "{h.sha256_hex("tok-123")}"\n'
                            'scopes = ["read"]\n', env=env(world))
    assert srv.get("/metrics").status == 401
    r = srv.get("/metrics", headers={"Authorization": "Bearer tok-123"})
    assert r.status == 200 and b"jenky_websocket_viewers 0" in r.body


def self_signed(tmp_path):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1", "-addext",
                    "subjectAltName=IP:127.0.0.1", "-days", "1", "-keyout", "key.pem", "-out",
                    "cert.pem"], cwd=tmp_path, check=True, capture_output=True)
    return str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")


def test_a_receiver_behind_a_private_ca_is_trusted_with_ca_file(world, receivers, tmp_path):
    cert, key = self_signed(tmp_path)
    hook = receivers(tls=(cert, key))
    srv = world.serve(project_toml("app", "true\n"),
                      extra=notify_toml("webhook", hook.url + "/h", on='["succeeded"]',
                                        extra=f'ca_file = "{cert}"'),
                      env=env(world))
    rid = srv.trigger("app")["id"]
    assert json.loads(hook.wait_count(1)[0]["body"])["run"]["id"] == rid
    wait_messages(srv, rid, lambda ms: ms[0]["state"] == "sent")


def test_email_with_starttls_and_login(world, tmp_path):
    cert, key = self_signed(tmp_path)
    sink = SmtpSink(tls=(cert, key), login=("jenky", "mail-pass-123"))
    try:
        extra = ('[[notify]]\nkind = "email"\n'
                 f'smtp_url = "smtp://127.0.0.1:{sink.port}"\nca_file = "{cert}"\n'
                 'username = "jenky"\npassword_env = "SMTP_PASSWORD"\n'
                 'from = "jenky@example.com"\nto = ["ops@example.com"]\non = ["succeeded"]\n')
        srv = world.serve(project_toml("app", "true\n"), extra=extra,
                          env=env(world, SMTP_PASSWORD="mail-pass-123"))
        rid = srv.trigger("app")["id"]
        mail = sink.wait_count(1)[0]
        assert f"app #{rid} succeeded" in mail["data"]
        assert sink.logins and all(ok for _, ok in sink.logins)
        wait_messages(srv, rid, lambda ms: ms[0]["state"] == "sent")
        assert "mail-pass-123" not in srv.stderr()
    finally:
        sink.close()


def test_github_status_goes_to_the_repository_the_webhook_payload_named(world, receivers):
    import hashlib
    import hmac
    forge = receivers(default=(201, {"Content-Type": "application/json"}, b"{}", 0))
    hook_secret = "e2e-hook-secret"
    srv = world.serve(project_toml("app", "echo ok\n") +
                      f'[projects.app.webhook]\nprovider = "github"\nsecret = "{hook_secret}"\n'
                      f'[projects.app.status]\napi_url = "{forge.url}/api/v3"\n'
                      'token_env = "GH_STATUS_TOKEN"\n',
                      env=env(world, GH_STATUS_TOKEN="ghp_e2e_payload_repo"))
    body = json.dumps({
        "ref": "refs/heads/main", "after": SHA, "before": "0" * 40,
        "repository": {"full_name": "lewin/shop", "html_url": "https://github.com/lewin/shop"},
        "pusher": {"name": "lewin"}, "head_commit": {"id": SHA, "message": "ship it"},
    }).encode()
    sig = hmac.new(hook_secret.encode(), body, hashlib.sha256).hexdigest()
    r = srv.request("POST", "/hooks/app", body=body, headers={
        "Content-Type": "application/json", "X-GitHub-Event": "push",
        "X-GitHub-Delivery": "d-payload-repo", "X-Hub-Signature-256": "sha256=" + sig})
    assert r.status == 202, r
    run = r.json()
    srv.wait_run(run["id"])
    reqs = forge.wait_count(2)
    spec = forge_schema.load_github()
    for q in reqs:
        assert forge_schema.check_request(spec, "repos/create-commit-status", "/api/v3", q) == []
        assert q["path"] == f"/api/v3/repos/lewin/shop/statuses/{SHA}"
    # A run of the same project from the API names no repository: its
    # statuses are recorded failed, saying why, and nothing is sent.
    cli = srv.trigger("app", body={"commit": SHA})
    srv.wait_run(cli["id"])
    ms = wait_messages(srv, cli["id"], lambda ms: len(ms) >= 1 and all(
        m["state"] == "failed" for m in ms))
    # One record, made when the run ended (not one per state change).
    assert len(ms) == 1 and ms[0]["event"] == "status.success", ms
    assert all("no repository to post the commit status to" in m["error"] and
               'set repo = "owner/name" in [projects.app.status]' in m["error"] and
               m["attempts"] == 0 for m in ms), ms
    assert len(forge.requests) == len(reqs)  # (failed when made: never handed to the sender)


def test_github_deployment_created_then_in_progress_and_success_with_log_url(world, receivers):
    answer = json.dumps({"url": "https://api.github.com/repos/owner/app/deployments/4242",
                         "id": 4242, "sha": SHA, "environment": "staging",
                         "creator": {"login": "jenky", "id": 7}}).encode()
    forge = receivers(default=(201, {"Content-Type": "application/json"}, answer, 0))
    srv = world.serve(project_toml("app", "echo ok\n") +
                      f'[projects.app.status]\nprovider = "github"\napi_url = "{forge.url}/api/v3"\n'
                      'repo = "owner/app"\ntoken_env = "GH_STATUS_TOKEN"\n'
                      'deployments = true\nenvironment = "staging"\n',
                      env=env(world, GH_STATUS_TOKEN="ghp_e2e_deployments"))
    run = srv.trigger("app", body={"commit": SHA})
    srv.wait_run(run["id"])
    # The deployment and its two statuses (and the commit statuses).
    reqs = forge.wait_for(lambda rs: len([r for r in rs if "/deployments" in r["path"]]) >= 3,
                          what="the deployment and its statuses")
    spec = forge_schema.load_github()
    deploys = [r for r in reqs if "/deployments" in r["path"]]
    assert [r["path"] for r in deploys] == [
        "/api/v3/repos/owner/app/deployments",
        "/api/v3/repos/owner/app/deployments/4242/statuses",
        "/api/v3/repos/owner/app/deployments/4242/statuses"]
    assert forge_schema.check_request(spec, "repos/create-deployment", "/api/v3", deploys[0]) == []
    created = json.loads(deploys[0]["body"])
    assert created["ref"] == SHA and created["environment"] == "staging"
    assert created["required_contexts"] == [] and created["auto_merge"] is False
    states = []
    for r in deploys[1:]:
        assert forge_schema.check_request(spec, "repos/create-deployment-status", "/api/v3",
                                          r) == []
        body = json.loads(r["body"])
        assert body["log_url"].endswith(f"/runs/{run['id']}")
        assert r["headers"]["Authorization"] == "Bearer ghp_e2e_deployments"
        states.append(body["state"])
    assert states == ["in_progress", "success"]
    ms = wait_messages(srv, run["id"], lambda ms: all(m["state"] == "sent" for m in ms if
                                                        m["receiver"] == "deployment"))
    assert sorted(m["event"] for m in ms if m["receiver"] == "deployment") == [
        "deployment.create", "deployment.in_progress", "deployment.success"]


def test_the_sender_thread_runs_only_on_cpu_time_nothing_else_wants(world, receivers):
    # Sending is never more urgent than a deploy: the thread that talks to the
    # receivers is SCHED_IDLE (policy 5 in /proc/PID/task/TID/stat), the
    # server's other threads are not.
    hook = receivers()
    srv = world.serve(project_toml("app", "echo fine\n"), extra=notify_toml("webhook", hook.url),
                      env=env(world))
    assert srv.wait_run(srv.trigger("app")["id"])["status"] == "succeeded"
    hook.wait_count(2)
    policies = {}
    for tid in os.listdir(f"/proc/{srv.proc.pid}/task"):
        with open(f"/proc/{srv.proc.pid}/task/{tid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        policies[int(tid)] = int(fields[38])  # field 41: policy
    assert list(policies.values()).count(5) == 1, policies
    assert policies[srv.proc.pid] == 0, policies
