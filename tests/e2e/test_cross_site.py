"""A web page on another site (or another port of this host) must not be able
to act through its visitor's browser: cross-site requests and DNS rebinding
(docs/security.md, "A browser on another site"; http/request_guard.h)."""

import json
import signal

import pytest

import jenky_harness as h
from jenky_harness import project_toml
from wsclient import HandshakeError, WebSocket

DEPLOY_TOKEN = "deploy-token-0123456789abcdef"
TOKENS = f"""
[[tokens]]
name = "deployer"
sha256 = "{h.sha256_hex(DEPLOY_TOKEN)}"
scopes = ["admin"]
"""

# Every route that changes state, with a body it accepts.
STATE_CHANGING = [
    ("POST", "/api/v1/projects/p/runs", None),
    ("POST", "/api/v1/projects/p/runs", '{"ref": "main"}'),
    ("POST", "/api/v1/runs/1/cancel", None),
    ("POST", "/api/v1/projects/p/rollback", None),
    ("POST", "/api/v1/admin/restart", None),
    ("POST", "/api/v1/session", f'{{"token": "{DEPLOY_TOKEN}"}}'),
    ("DELETE", "/api/v1/session", None),
    ("POST", "/hooks/p", '{"ref": "refs/heads/main"}'),
]

FOREIGN = [
    {"Origin": "https://evil.example"},
    {"Origin": "null"},  # a sandboxed frame, a file:// page
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},  # another port of the same host
]


def runs_of(srv, headers=None):
    return srv.get_json("/api/v1/runs", headers=headers)


def other_port_origin(srv):
    return f"http://127.0.0.1:{srv.port + 1 if srv.port < 65535 else srv.port - 1}"


@pytest.fixture
def open_srv(world):
    """The embedded default's situation: loopback, no tokens."""
    return world.serve(project_toml("p", "echo deployed\n",
                                    webhook={"provider": "generic", "secret": "s3cret-hook"}))


@pytest.mark.parametrize("foreign", FOREIGN + [{"Origin": "OTHER_PORT"}])
def test_a_foreign_page_cannot_change_anything_even_without_tokens(open_srv, foreign):
    headers = dict(foreign)
    if headers.get("Origin") == "OTHER_PORT":
        headers["Origin"] = other_port_origin(open_srv)
    for method, path, body in STATE_CHANGING:
        hdrs = dict(headers)
        if body is not None:
            hdrs["Content-Type"] = "application/json"
        r = open_srv.request(method, path, body=body, headers=hdrs)
        assert r.status == 403, (method, path, headers, r)
        assert r.error()[0] == "forbidden_origin"
    assert runs_of(open_srv) == []


def test_a_form_post_without_a_json_type_is_refused(open_srv):
    # What an HTML form (enctype text/plain or urlencoded) sends, were its
    # Origin header stripped by some proxy: no run, no sign-in.
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x"):
        for path in ("/api/v1/projects/p/runs", "/api/v1/session", "/api/v1/admin/restart"):
            for body in ("", '{"token": "x"}'):
                r = open_srv.request("POST", path, body=body, headers={"Content-Type": ctype})
                assert r.status == 415, (path, ctype, body, r)
    assert runs_of(open_srv) == []


def test_the_page_jenky_served_and_plain_clients_still_work(open_srv):
    own = {"Origin": open_srv.url, "Sec-Fetch-Site": "same-origin"}
    r = open_srv.request("POST", "/api/v1/projects/p/runs", headers=own)
    assert r.status == 202, r
    open_srv.wait_run(r.json()["id"])
    r = open_srv.request("POST", "/api/v1/projects/p/runs", body='{"ref": "main"}',
                         headers={**own, "Content-Type": "application/json"})
    assert r.status == 202, r
    open_srv.wait_run(r.json()["id"])
    # curl -X POST, the CLI: no Origin, no Sec-Fetch-Site.
    r = open_srv.request("POST", "/api/v1/projects/p/runs")
    assert r.status == 202, r
    open_srv.wait_run(r.json()["id"])
    # A bookmark or a typed URL is Sec-Fetch-Site: none.
    r = open_srv.request("POST", "/api/v1/projects/p/runs", headers={"Sec-Fetch-Site": "none"})
    assert r.status == 202, r
    open_srv.wait_run(r.json()["id"])
    assert len(runs_of(open_srv)) == 4


def test_dns_rebinding_is_refused_by_host(open_srv):
    # A page at rebound.attacker.example whose name now resolves to 127.0.0.1.
    rebound = {"Host": f"rebound.attacker.example:{open_srv.port}"}
    for method, path in (("GET", "/api/v1/projects"), ("GET", "/api/v1/runs"), ("GET", "/"),
                         ("POST", "/api/v1/projects/p/runs")):
        r = open_srv.request(method, path, headers=rebound)
        assert r.status == 400, (method, path, r)
        code, message = r.error()
        assert code == "bad_host" and "allowed_hosts" in message, r
    # Same-origin as far as that page's browser can tell: refused all the same.
    r = open_srv.request("POST", "/api/v1/projects/p/runs",
                         headers={**rebound, "Origin": f"http://{rebound['Host']}"})
    assert r.status == 400, r
    assert runs_of(open_srv) == []
    # Names that are this machine's own.
    for host in (f"127.0.0.1:{open_srv.port}", f"localhost:{open_srv.port}", "[::1]:8080",
                 f"jenky.localhost:{open_srv.port}"):
        assert open_srv.request("GET", "/api/v1/projects", headers={"Host": host}).status == 200, host
    # Health checks and webhooks answer whatever name they were sent to.
    assert open_srv.request("GET", "/healthz", headers=rebound).status == 200
    r = open_srv.request("POST", "/hooks/p", body="{}", headers={**rebound,
                                                                "Content-Type": "application/json"})
    assert r.status == 401, r  # unsigned: refused by the signature, not by the name


def test_the_websocket_origin_check_does_not_trust_host(open_srv):
    rebound = f"rebound.attacker.example:{open_srv.port}"
    with pytest.raises(HandshakeError) as e:
        WebSocket(f"ws://127.0.0.1:{open_srv.port}/ws/v1/projects/p/log",
                  headers={"Host": rebound, "Origin": f"http://{rebound}"})
    assert e.value.status in (400, 403), e.value
    # Another port of this host.
    with pytest.raises(HandshakeError) as e:
        WebSocket(f"ws://127.0.0.1:{open_srv.port}/ws/v1/projects/p/log",
                  headers={"Origin": other_port_origin(open_srv)})
    assert e.value.status == 403
    ws = WebSocket(f"ws://127.0.0.1:{open_srv.port}/ws/v1/projects/p/log",
                   headers={"Origin": open_srv.url})
    ws.close()


def test_allowed_hosts_and_origins_admit_a_proxy_name(world):
    srv = world.serve(project_toml("p", "echo ok\n"), server_toml=(
        h.SERVER_TOML + 'allowed_hosts = ["deploy.example.com", ".corp.example"]\n'
        'allowed_origins = ["https://ops.corp.example"]\n'))
    for host in ("deploy.example.com", "a.corp.example:8443"):
        assert srv.request("GET", "/api/v1/projects", headers={"Host": host}).status == 200, host
    # The page jenky served under that name, and a listed origin.
    r = srv.request("POST", "/api/v1/projects/p/runs",
                    headers={"Host": "deploy.example.com", "Origin": "http://deploy.example.com"})
    assert r.status == 202, r
    srv.wait_run(r.json()["id"])
    r = srv.request("POST", "/api/v1/projects/p/runs", headers={"Origin": "https://ops.corp.example"})
    assert r.status == 202, r
    srv.wait_run(r.json()["id"])
    assert srv.request("GET", "/api/v1/projects", headers={"Host": "corp.example.net"}).status == 400


def test_a_reload_changes_the_hosts_and_origins_in_force(world):
    project = project_toml("p", "echo ok\n")
    srv = world.serve(project)
    ops = {"Origin": "https://ops.corp.example"}
    assert srv.request("POST", "/api/v1/projects/p/runs", headers=ops).status == 403
    assert srv.request("GET", "/api/v1/projects",
                       headers={"Host": "deploy.example.com"}).status == 400
    world.config(project, server=h.SERVER_TOML + 'allowed_hosts = ["deploy.example.com"]\n'
                 'allowed_origins = ["https://ops.corp.example"]\n')
    srv.send_signal(signal.SIGHUP)
    srv.wait_line("SIGHUP: configuration reloaded", timeout=10)
    r = srv.request("POST", "/api/v1/projects/p/runs", headers=ops)
    assert r.status == 202, r
    srv.wait_run(r.json()["id"])
    assert srv.request("GET", "/api/v1/projects",
                       headers={"Host": "deploy.example.com"}).status == 200
    # And back: what a reload removes is refused again.
    world.config(project)
    reloads = srv.stderr().count("SIGHUP: configuration reloaded")
    srv.send_signal(signal.SIGHUP)
    h.wait_until(lambda: srv.stderr().count("SIGHUP: configuration reloaded") > reloads, 10,
                 what="the second reload")
    assert srv.request("POST", "/api/v1/projects/p/runs", headers=ops).status == 403


def test_with_sessions_another_port_of_the_same_host_cannot_act_as_the_signed_in_user(world):
    srv = world.serve(project_toml("p", "echo ok\n"), extra=TOKENS)
    r = srv.request("POST", "/api/v1/session", body=json.dumps({"token": DEPLOY_TOKEN}),
                    headers={"Content-Type": "application/json", "Origin": srv.url})
    assert r.status == 200, r
    cookie = r.headers["Set-Cookie"].split(";")[0]
    foreign = {"Cookie": cookie, "Origin": other_port_origin(srv)}
    assert srv.request("POST", "/api/v1/projects/p/runs", headers=foreign).status == 403
    assert srv.request("POST", "/api/v1/runs/1/cancel", headers=foreign).status == 403
    assert srv.request("DELETE", "/api/v1/session", headers=foreign).status == 403
    # Login CSRF: signing the visitor in as someone else with a text/plain form.
    r = srv.request("POST", "/api/v1/session", body=json.dumps({"token": DEPLOY_TOKEN}),
                    headers={"Content-Type": "text/plain"})
    assert r.status == 415, r
    own = {"Cookie": cookie, "Origin": srv.url}
    r = srv.request("POST", "/api/v1/projects/p/runs", headers=own)
    assert r.status == 202, r
    srv.wait_run(r.json()["id"], headers=own)


def test_a_bad_allowed_hosts_entry_is_a_config_error(world):
    path = world.config(project_toml("p", "echo\n"),
                        server=h.SERVER_TOML + 'allowed_hosts = ["https://deploy.example.com"]\n'
                        'allowed_origins = ["deploy.example.com"]\n')
    out = world.cli("check", "--config", path)
    assert out.returncode == 1, out
    assert "allowed_hosts: 'https://deploy.example.com' is not a host name" in out.stderr
    assert "allowed_origins: 'deploy.example.com' is not an origin" in out.stderr
