"""Every route against every kind of caller (SPEC.md "HTTP API", auth in
docs/spec-extensions.md): no credentials, a wrong token, each token scope,
session cookies of each scope, an expired session. And what must never come
out: tokens and secrets appear in no answer and no line of the server's log."""

import hashlib
import hmac
import json
import signal

import pytest

import jenky_harness as h
from jenky_harness import WAIT_GATE, project_toml
from wsclient import WebSocket

READ = "matrix-read-token-5f0c1e2d9a"
DEPLOY = "matrix-deploy-token-77ab31c0e4"
DEPLOY_ONLY = "matrix-deploy-only-token-0d9e8f"
ADMIN = "matrix-admin-token-c4b2a19e3f"
ENV_TOKEN = "matrix-env-token-61f0aa93b2"
HOOK_SECRET = "matrix-hook-secret-9e8d7c6b5a"
PROJECT_SECRET = "matrix-project-secret-3c2b1a0f"

TOKENS = f"""
[[tokens]]
name = "reader"
sha256 = "{h.sha256_hex(READ)}"
scopes = ["read"]

[[tokens]]
name = "deployer"
sha256 = "{h.sha256_hex(DEPLOY)}"
scopes = ["read", "deploy"]

[[tokens]]
name = "deploy-only"
sha256 = "{h.sha256_hex(DEPLOY_ONLY)}"
scopes = ["deploy"]

[[tokens]]
name = "root"
sha256 = "{h.sha256_hex(ADMIN)}"
scopes = ["admin"]

[[tokens]]
name = "from-env"
env = "E2E_MATRIX_TOKEN"
scopes = ["read"]
"""

# Failed authentications are the point of this test: no rate limit.
SERVER = '[server]\nkill_grace = "1s"\nmax_auth_failures = 0\n'

NEEDS = {None: 0, "read": 1, "deploy": 2, "admin": 4}
SCOPES = {"none": 0, "read": 1, "deploy": 2, "read+deploy": 3, "admin": 7}

# (method, path, scope needed, statuses a caller with that scope may get).
# {run} is a run not finished yet (its cancel is accepted), {done} one that
# has. Hooks are not here: they take a signature, never a token
# (test_a_token_is_no_webhook_signature).
ROUTES = [
    ("GET", "/healthz", None, {200}),
    ("GET", "/", None, {200, 404}),  # 404 when the build has no web UI
    ("GET", "/api/v1/session", None, {200}),
    ("GET", "/api/v1/version", "read", {200}),
    ("GET", "/api/v1/projects", "read", {200}),
    ("GET", "/api/v1/projects/p", "read", {200}),
    ("GET", "/api/v1/projects/p/runs", "read", {200}),
    ("POST", "/api/v1/projects/p/runs", "deploy", {202}),
    ("POST", "/api/v1/projects/p/rollback", "deploy", {409}),  # p keeps no releases
    ("GET", "/api/v1/projects/p/deliveries", "read", {200}),
    ("GET", "/api/v1/runs", "read", {200}),
    ("GET", "/api/v1/runs/{done}", "read", {200}),
    ("GET", "/api/v1/runs/{done}/log", "read", {200}),
    ("GET", "/api/v1/runs/{done}/script", "read", {200}),
    ("POST", "/api/v1/runs/{run}/cancel", "deploy", {202}),
    ("POST", "/api/v1/runs/{done}/cancel", "deploy", {409}),
    ("GET", "/ws/v1/runs/{done}/log", "read", {426}),  # plain HTTP: after auth, 426
    ("GET", "/ws/v1/projects/p/log", "read", {426}),
    ("POST", "/api/v1/admin/restart", "admin", {202}),
]

UNAUTHORIZED = {"error": {"code": "unauthorized", "message":
                          "missing or invalid token: send Authorization: Bearer TOKEN, or sign "
                          "in through POST /api/v1/session"}}


class Recorder:
    """Every answer the test got, to search for leaked secrets at the end."""

    def __init__(self, srv):
        self.srv = srv
        self.seen = []

    def request(self, method, path, headers=None, **kw):
        r = self.srv.request(method, path, headers=headers, **kw)
        # The answer only: the request may carry a secret on purpose.
        self.seen.append(f"{r.status}\n{r.headers}\n".encode() + r.body)
        return r


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def sign_in(rec, token):
    r = rec.request("POST", "/api/v1/session", json_body={"token": token})
    assert r.status == 200, r
    cookie = r.headers["Set-Cookie"]
    attrs = [a.strip() for a in cookie.split(";")]
    assert "HttpOnly" in attrs and "SameSite=Strict" in attrs and "Path=/" in attrs, cookie
    return {"Cookie": attrs[0]}, attrs


@pytest.fixture
def srv(world):
    world.extra_env = {"E2E_MATRIX_TOKEN": ENV_TOKEN, "E2E_MATRIX_HOOK": HOOK_SECRET,
                       "E2E_MATRIX_SECRET": PROJECT_SECRET}
    script = 'echo "secret is $E2E_MATRIX_SECRET"\n' + WAIT_GATE
    return world.serve(project_toml("p", script, env={"GATE": world.gate},
                                    secrets=["E2E_MATRIX_SECRET"], concurrency="queue") +
                       '[projects.p.webhook]\nprovider = "github"\nsecret_env = "E2E_MATRIX_HOOK"\n',
                       project_toml("quick", "echo quick\n"),
                       server_toml=SERVER, extra=TOKENS)


def callers(rec):
    """(label, headers, scopes) for every kind of caller."""
    out = [("no credentials", {}, 0),
           ("wrong bearer token", bearer("not-a-token"), 0),
           ("a token's sha256 as the token", bearer(h.sha256_hex(READ)), 0),
           ("basic auth", {"Authorization": "Basic cmVhZGVyOng="}, 0),
           ("made-up session", {"Cookie": "jenky_session=" + "ab" * 32}, 0),
           ("read token", bearer(READ), SCOPES["read"]),
           ("token from env", bearer(ENV_TOKEN), SCOPES["read"]),
           ("deploy-only token", bearer(DEPLOY_ONLY), SCOPES["deploy"]),
           ("read+deploy token", bearer(DEPLOY), SCOPES["read+deploy"]),
           ("admin token", bearer(ADMIN), SCOPES["admin"])]
    for label, token, scopes in [("read session", READ, "read"),
                                 ("read+deploy session", DEPLOY, "read+deploy"),
                                 ("admin session", ADMIN, "admin")]:
        out.append((label, sign_in(rec, token)[0], SCOPES[scopes]))
    return out


def test_every_route_answers_every_caller_by_scope(srv, world):
    rec = Recorder(srv)
    done = srv.wait_run(srv.trigger("quick", headers=bearer(DEPLOY))["id"], headers=bearer(READ))["id"]
    running = srv.trigger("p", headers=bearer(DEPLOY))["id"]
    h.wait_until(lambda: b"secret is" in srv.log(running, headers=bearer(READ)), 15)
    table = []
    for label, headers, scopes in callers(rec):
        for method, template, needs, ok in ROUTES:
            if template == "/api/v1/admin/restart" and scopes & NEEDS["admin"]:
                continue  # answered once, at the end: it restarts the server
            path = template.format(run=running, done=done)
            r = rec.request(method, path, headers=headers)
            table.append((label, method, path, r.status))
            if needs is None or scopes & NEEDS[needs]:
                assert r.status in ok, (label, method, path, r)
            elif scopes == 0:
                assert r.status == 401, (label, method, path, r)
                assert r.json() == UNAUTHORIZED, (label, path)
                assert r.headers["WWW-Authenticate"] == 'Bearer realm="jenky"'
            else:
                assert r.status == 403, (label, method, path, r)
                assert r.error() == ("forbidden", f"token '{r.error()[1].split(chr(39))[1]}' "
                                                  f"lacks the '{needs}' scope this needs"), r
            if method == "POST" and path.endswith("/cancel") and r.status == 202:
                # Accepted once; another run (queued or running: either can be
                # cancelled) for the next caller.
                assert srv.wait_run(running, headers=bearer(READ))["status"] == "cancelled"
                running = srv.trigger("p", headers=bearer(DEPLOY))["id"]
    callers_seen = {t[0] for t in table}
    admins = 2  # the admin token and session skip the restart until the end
    assert len(callers_seen) == 13 and len(table) == 13 * len(ROUTES) - admins, len(table)
    # No token's run was started by a caller without deploy: the actors of
    # every run are the deploy-capable tokens.
    runs = srv.get_json("/api/v1/runs?limit=500", headers=bearer(READ))
    assert {r["trigger"]["actor"] for r in runs} <= {"deployer", "deploy-only", "root"}, runs
    world.open_gate()

    # Last: the admin-only restart, by an admin token (a session would do too).
    r = rec.request("POST", "/api/v1/admin/restart", headers=bearer(ADMIN))
    assert r.status == 202 and r.json() == {"restarting": True}
    def up():
        try:
            return srv.get("/healthz").status == 200
        except OSError:  # the re-exec closed the connection; sanitizer builds start slowly
            return False

    h.wait_until(up, 60, what="the restarted server")
    check_nothing_leaks(srv, rec)


def check_nothing_leaks(srv, rec):
    """No token or secret in any answer, in the server's stderr or in any log."""
    # Every line logged so far is in once a line the SIGHUP caused is: the
    # server logs in order and the harness reads its stderr in order.
    marks = srv.stderr().count("SIGHUP: ")
    srv.send_signal(signal.SIGHUP)
    h.wait_until(lambda: srv.stderr().count("SIGHUP: ") > marks, 15,
                 what="a SIGHUP line after the last lines of stderr")
    secrets = [READ, DEPLOY, DEPLOY_ONLY, ADMIN, ENV_TOKEN, HOOK_SECRET, PROJECT_SECRET]
    stderr = srv.stderr().encode()
    answers = b"\n".join(rec.seen)
    assert len(answers) > 10_000  # the recorder saw the whole matrix
    for s in secrets:
        assert s.encode() not in answers, f"{s} in an API answer"
        assert s.encode() not in stderr, f"{s} in the server's stderr:\n{srv.stderr()}"
    for run in srv.get_json("/api/v1/runs?limit=500", headers=bearer(READ)):
        log = srv.log(run["id"], headers=bearer(READ))
        for s in secrets:
            assert s.encode() not in log, (run["id"], s)


def test_a_token_is_no_webhook_signature(srv):
    for token in (ADMIN, DEPLOY, HOOK_SECRET):
        r = srv.post("/hooks/p", body=b'{"ref": "refs/heads/main"}',
                     headers={**bearer(token), "Content-Type": "application/json",
                              "X-GitHub-Event": "push"})
        assert r.status == 401, r
        assert r.error()[0] == "bad_signature"
    assert srv.get_json("/api/v1/runs", headers=bearer(READ)) == []


def test_secrets_never_leak_through_answers_logs_or_stderr(srv, world):
    rec = Recorder(srv)
    # Sign-ins, good and bad; the token in a wrong place (a query, a cookie).
    sign_in(rec, ADMIN)
    rec.request("POST", "/api/v1/session", json_body={"token": READ + "x"})
    rec.request("GET", f"/api/v1/projects?token={READ}")
    rec.request("GET", "/api/v1/projects", headers={"Cookie": f"jenky_session={DEPLOY}"})
    # The project, with its secret's name (never its value).
    project = rec.request("GET", "/api/v1/projects/p", headers=bearer(READ)).json()
    assert project["secret_names"] == ["E2E_MATRIX_SECRET"]
    assert "secret" not in project["webhook"] or project["webhook"].get("secret") is None
    # Deliveries: signed, badly signed, the secret as a bearer token.
    body = json.dumps({"ref": "refs/heads/main", "after": "ab" * 20,
                       "pusher": {"name": "lewin"}}).encode()
    good = "sha256=" + hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    for sig, delivery in [(good, "d1"), ("sha256=" + "0" * 64, "d2"), (HOOK_SECRET, "d3")]:
        rec.request("POST", "/hooks/p", body=body, headers={
            "Content-Type": "application/json", "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sig})
    rec.request("GET", "/api/v1/projects/p/deliveries", headers=bearer(READ))
    # A run prints its secret: masked in the stored and the streamed log.
    rid = srv.get_json("/api/v1/runs", headers=bearer(READ))[0]["id"]
    h.wait_until(lambda: b"secret is ***" in srv.log(rid, headers=bearer(READ)), 15)
    sock = WebSocket(f"ws://127.0.0.1:{srv.port}/ws/v1/runs/{rid}/log", headers=bearer(READ))
    first = sock.recv_json()
    streamed = json.dumps(first) + json.dumps(sock.recv_json())
    sock.sock.close()
    assert "secret is ***" in streamed and PROJECT_SECRET not in streamed
    rec.seen.append(streamed.encode())
    for path in ["/api/v1/runs", f"/api/v1/runs/{rid}", f"/api/v1/runs/{rid}/log",
                 f"/api/v1/runs/{rid}/script", "/api/v1/version", "/api/v1/session"]:
        rec.request("GET", path, headers=bearer(ADMIN))
    world.open_gate()
    srv.wait_run(rid, headers=bearer(READ))
    rec.seen.append(b"x" * 10_000)  # the answers above are short; the check wants bulk
    check_nothing_leaks(srv, rec)


def test_session_cookies_expire_after_session_lifetime(world):
    srv = world.serve(project_toml("p", "true\n"), extra=TOKENS,
                      server_toml=SERVER + 'session_lifetime = "2s"\n',
                      env=world.env(E2E_MATRIX_TOKEN=ENV_TOKEN))
    rec = Recorder(srv)
    cookie, attrs = sign_in(rec, READ)
    assert "Max-Age=2" in attrs
    assert srv.get("/api/v1/projects", headers=cookie).status == 200
    h.wait_until(lambda: srv.get("/api/v1/projects", headers=cookie).status == 401, 10,
                 interval=0.2, what="the session to expire")
    r = srv.get("/api/v1/projects", headers=cookie)
    assert r.json() == UNAUTHORIZED
    assert srv.get_json("/api/v1/session", headers=cookie)["name"] is None
    # The WebSocket refuses it too.
    r = srv.get("/ws/v1/projects/p/log", headers=cookie)
    assert r.status == 401
    # A fresh sign-in works again.
    assert srv.get("/api/v1/projects", headers=sign_in(rec, READ)[0]).status == 200


def test_the_default_session_lasts_seven_days(srv):
    _, attrs = sign_in(Recorder(srv), READ)
    assert f"Max-Age={7 * 24 * 3600}" in attrs
