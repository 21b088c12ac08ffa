"""Tokens, scopes and the session cookie."""

import os
import subprocess

import pytest

import jenky_harness as h
from jenky_harness import WAIT_GATE, project_toml

READ_TOKEN = "read-token-0123456789abcdef"
DEPLOY_TOKEN = "deploy-token-0123456789abcdef"
ADMIN_TOKEN = "admin-token-0123456789abcdef"
ENV_TOKEN = "env-token-0123456789abcdef"

TOKENS = f"""
[[tokens]]
name = "reader"
sha256 = "{h.sha256_hex(READ_TOKEN)}"
scopes = ["read"]

[[tokens]]
name = "deployer"
sha256 = "{h.sha256_hex(DEPLOY_TOKEN)}"
scopes = ["read", "deploy"]

[[tokens]]
name = "root"
sha256 = "{h.sha256_hex(ADMIN_TOKEN)}"
scopes = ["admin"]

[[tokens]]
name = "from-env"
env = "E2E_TOKEN_FROM_ENV"
scopes = ["read"]
"""

UNAUTHORIZED = ("unauthorized", "missing or invalid token: send Authorization: Bearer TOKEN, "
                "or sign in through POST /api/v1/session")


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def srv(world):
    world.extra_env = {"E2E_TOKEN_FROM_ENV": ENV_TOKEN}
    return world.serve(project_toml("p", 'echo "actor=$JENKY_ACTOR token_env=${E2E_TOKEN_FROM_ENV:-unset}"\n' + WAIT_GATE,
                                    env={"GATE": world.gate}),
                       extra=TOKENS)


ENDPOINTS = [("GET", "/api/v1/projects"), ("GET", "/api/v1/runs"),
             ("POST", "/api/v1/projects/p/runs"), ("GET", "/api/v1/runs/1/log"),
             ("POST", "/api/v1/runs/1/cancel"), ("GET", "/api/v1/projects/p")]


def check_401(srv, method, path, headers):
    r = srv.request(method, path, headers=headers)
    assert r.status == 401, (headers, method, path, r)
    assert r.error() == UNAUTHORIZED
    assert r.headers["WWW-Authenticate"] == 'Bearer realm="jenky"'


def test_requests_without_a_valid_token_are_401(srv):
    # No token, or not a bearer token: every endpoint.
    for headers in [{}, bearer(""), {"Authorization": "Basic cmVhZDp4"},
                    {"Authorization": f"Token {READ_TOKEN}"}]:
        for method, path in ENDPOINTS:
            check_401(srv, method, path, headers)
    # Wrong bearer tokens (few: failures from one address are rate limited).
    for (method, path), headers in zip(ENDPOINTS, [
            bearer("wrong-token"), bearer(h.sha256_hex(READ_TOKEN)), bearer(READ_TOKEN + "x"),
            bearer(READ_TOKEN[:-1])]):
        check_401(srv, method, path, headers)
    assert srv.get_json("/api/v1/runs", headers=bearer(ADMIN_TOKEN)) == []
    # Health needs no token.
    assert srv.get("/healthz").status == 200


def test_repeated_wrong_tokens_from_one_address_are_rate_limited(srv):
    statuses = []
    for _ in range(100):
        r = srv.get("/api/v1/projects", headers=bearer("guess-" + str(len(statuses))))
        statuses.append(r.status)
        if r.status != 401:
            break
    assert statuses[-1] == 429, statuses
    assert statuses.count(401) >= 3, statuses
    assert r.error() == ("rate_limited", "too many failed authentication attempts from this "
                                         "address; try again later")
    assert int(r.headers["Retry-After"]) >= 1
    assert srv.get("/healthz").status == 200
    # Without any credential: limited too (the caller proves nothing).
    assert srv.get("/api/v1/projects").status == 429


def test_a_valid_credential_is_never_refused_by_someone_elses_guessing(srv, world):
    """Behind a reverse proxy every user shares one address with whoever
    guesses tokens: the limit must not lock the legitimate users out."""
    while srv.get("/api/v1/projects", headers=bearer("guess")).status != 429:
        pass
    assert srv.get("/api/v1/projects", headers=bearer(READ_TOKEN)).status == 200
    r = srv.request("POST", "/api/v1/session", body=f'{{"token": "{DEPLOY_TOKEN}"}}',
                    headers={"Content-Type": "application/json"})
    assert r.status == 200, r
    cookie = r.headers["Set-Cookie"].split(";")[0]
    assert srv.get("/api/v1/runs", headers={"Cookie": cookie}).status == 200
    run = srv.trigger("p", headers=bearer(DEPLOY_TOKEN))
    world.open_gate()
    assert srv.wait_run(run["id"], headers=bearer(DEPLOY_TOKEN))["status"] == "succeeded"
    # A wrong sign-in is still limited.
    r = srv.request("POST", "/api/v1/session", body='{"token": "guess"}',
                    headers={"Content-Type": "application/json"})
    assert r.status == 429, r


def test_forwarded_for_counts_only_from_trusted_proxies(world):
    world.extra_env = {"E2E_TOKEN_FROM_ENV": ENV_TOKEN}
    proxied = world.serve(project_toml("p", "true\n"), extra=TOKENS, server_toml=(
        h.SERVER_TOML + 'max_auth_failures = 3\ntrusted_proxies = ["127.0.0.1"]\n'))
    guesser = {"X-Forwarded-For": "198.51.100.7", **bearer("guess")}
    while proxied.get("/api/v1/projects", headers=guesser).status != 429:
        pass
    # Another client behind the same proxy is not that guesser.
    other = {"X-Forwarded-For": "198.51.100.8", **bearer("guess")}
    assert proxied.get("/api/v1/projects", headers=other).status == 401
    # A client's own X-Forwarded-For entry is not believed: the proxy's last one counts.
    spoofed = {"X-Forwarded-For": "203.0.113.1, 198.51.100.7", **bearer("guess")}
    assert proxied.get("/api/v1/projects", headers=spoofed).status == 429

    direct = world.serve(project_toml("p", "true\n"), extra=TOKENS, data_dir=world.path("data2"),
                         server_toml=h.SERVER_TOML + 'max_auth_failures = 3\n')
    # Not from a trusted proxy: inventing a new address per request does not help.
    statuses = [direct.get("/api/v1/projects", headers={"X-Forwarded-For": f"198.51.100.{i}",
                                                       **bearer("guess")}).status
                for i in range(6)]
    assert statuses[-1] == 429, statuses


def test_a_read_token_reads_but_cannot_deploy_or_cancel(srv, world):
    assert srv.get("/api/v1/projects", headers=bearer(READ_TOKEN)).status == 200
    assert srv.get("/api/v1/projects", headers=bearer(ENV_TOKEN)).status == 200
    r = srv.post("/api/v1/projects/p/runs", headers=bearer(READ_TOKEN))
    assert r.status == 403
    assert r.error() == ("forbidden", "token 'reader' lacks the 'deploy' scope this needs")
    run = srv.trigger("p", headers=bearer(DEPLOY_TOKEN))
    r = srv.post(f"/api/v1/runs/{run['id']}/cancel", headers=bearer(READ_TOKEN))
    assert r.status == 403
    assert r.error() == ("forbidden", "token 'reader' lacks the 'deploy' scope this needs")
    r = srv.post(f"/api/v1/runs/{run['id']}/cancel", headers=bearer(ENV_TOKEN))
    assert r.error() == ("forbidden", "token 'from-env' lacks the 'deploy' scope this needs")
    world.open_gate()
    assert srv.wait_run(run["id"], headers=bearer(READ_TOKEN))["status"] == "succeeded"


def test_the_deploy_token_is_the_actor_and_names_the_cancel(srv, world):
    run = srv.trigger("p", headers=bearer(DEPLOY_TOKEN))
    assert run["trigger"]["actor"] == "deployer"
    rid = run["id"]
    hdr = bearer(DEPLOY_TOKEN)
    # The variable a token is read from is not the script's business.
    h.wait_until(lambda: b"actor=deployer token_env=unset\n" in srv.log(rid, headers=hdr), 10)
    r = srv.post(f"/api/v1/runs/{rid}/cancel", headers=hdr)
    assert r.status == 202
    done = srv.wait_run(rid, headers=hdr)
    assert done["status"] == "cancelled"
    assert done["reason"] == "cancelled by deployer"

    run = srv.trigger("p", headers=bearer(ADMIN_TOKEN))
    assert run["trigger"]["actor"] == "root"
    r = srv.post(f"/api/v1/runs/{run['id']}/cancel", headers=bearer(ADMIN_TOKEN))
    assert r.status == 202
    assert srv.wait_run(run["id"], headers=hdr)["reason"] == "cancelled by root"


def test_session_cookie_signs_in_with_a_token(srv):
    r = srv.post("/api/v1/session", json_body={"token": READ_TOKEN})
    assert r.status == 200, r
    assert r.json() == {"name": "reader", "scopes": ["read"], "auth": "token"}
    cookie_header = r.headers["Set-Cookie"]
    parts = [p.strip() for p in cookie_header.split(";")]
    name, _, value = parts[0].partition("=")
    assert name == "jenky_session" and len(value) >= 32
    assert "HttpOnly" in parts
    assert "SameSite=Strict" in parts
    assert "Path=/" in parts
    assert "Secure" not in parts  # no https public_url here
    assert READ_TOKEN not in cookie_header
    cookie = {"Cookie": f"jenky_session={value}"}

    assert srv.get("/api/v1/projects", headers=cookie).status == 200
    assert srv.get_json("/api/v1/session", headers=cookie)["name"] == "reader"
    r = srv.post("/api/v1/projects/p/runs", headers=cookie)
    assert r.status == 403
    assert "lacks the 'deploy' scope" in r.error()[1]
    # Among other cookies, too.
    assert srv.get("/api/v1/projects", headers={"Cookie": f"a=b; jenky_session={value}; c=d"}).status == 200
    # A made-up session is no session.
    r = srv.get("/api/v1/projects", headers={"Cookie": "jenky_session=" + "0" * 64})
    assert r.status == 401

    # Signing out ends it.
    r = srv.request("DELETE", "/api/v1/session", headers=cookie)
    assert r.status == 200
    assert "Max-Age=0" in r.headers["Set-Cookie"]
    assert srv.get("/api/v1/projects", headers=cookie).status == 401


def test_session_refuses_an_unknown_token_or_a_bad_body(srv):
    r = srv.post("/api/v1/session", json_body={"token": "not-a-token"})
    assert r.status == 401
    assert r.error() == ("unauthorized", "unknown token")
    assert "Set-Cookie" not in r.headers
    for body in ['{"tok": "x"}', "not json", '{"token": 5}', "[]"]:
        r = srv.post("/api/v1/session", body=body, headers={"Content-Type": "application/json"})
        assert r.status == 400, body
        assert r.error() == ("bad_request", 'send {"token": "YOUR TOKEN"} as JSON')
    # Not signed in is an answer, not an error: the UI asks on every page load.
    assert srv.get_json("/api/v1/session") == {"name": None, "scopes": [], "auth": "token"}


def test_the_cli_passes_a_token_and_says_when_one_is_missing(srv, world):
    p = world.cli("runs", server=srv)
    assert p.returncode == 6
    assert "missing or invalid token" in p.stderr
    assert "pass a token with --token or JENKY_TOKEN" in p.stderr

    p = world.cli("runs", "--token", READ_TOKEN, server=srv)
    assert p.returncode == 0, p
    assert "(no runs yet)" in p.stdout

    p = world.cli("deploy", "p", "--token", READ_TOKEN, server=srv)
    assert p.returncode == 6
    assert "token 'reader' lacks the 'deploy' scope" in p.stderr

    p = world.cli("deploy", "p", server=srv, env=world.env(JENKY_TOKEN=DEPLOY_TOKEN))
    assert p.returncode == 0, p
    rid = int(p.stdout.strip())
    world.open_gate()
    assert srv.wait_run(rid, headers=bearer(READ_TOKEN))["trigger"]["actor"] == "deployer"


def test_without_tokens_everything_is_allowed_as_local(world):
    srv = world.serve(project_toml("p", "true\n"))
    assert srv.get_json("/api/v1/session") == {"name": "local",
                                               "scopes": ["read", "deploy", "admin"],
                                               "auth": "none"}
    r = srv.post("/api/v1/session", json_body={"token": "anything"})
    assert r.status == 200
    assert r.json()["auth"] == "none"


def test_the_cli_reads_its_token_from_a_file_or_stdin_not_the_command_line(srv, world):
    token_file = world.write("token", DEPLOY_TOKEN + "\n")
    os.chmod(token_file, 0o600)
    r = world.cli("runs", "--token-file", token_file, server=srv)
    assert r.returncode == 0, r
    p = subprocess.run([world.binary, "runs", "--token-file", "-", "--server", srv.url],
                       input=DEPLOY_TOKEN + "\n", capture_output=True, text=True, timeout=30,
                       env=world.env(), cwd=world.root)
    assert p.returncode == 0, p
    r = world.cli("runs", server=srv, env=world.env(JENKY_TOKEN_FILE=token_file))
    assert r.returncode == 0, r
    # Mistakes say what is wrong.
    r = world.cli("runs", "--token-file", world.path("missing"), server=srv)
    assert r.returncode == 2 and "cannot read the token file" in r.stderr, r
    empty = world.write("empty", "\n")
    r = world.cli("runs", "--token-file", empty, server=srv)
    assert r.returncode == 2 and "is empty; put the token on its first line" in r.stderr, r
    r = world.cli("runs", "--token", DEPLOY_TOKEN, "--token-file", token_file, server=srv)
    assert r.returncode == 2 and "not both" in r.stderr, r
