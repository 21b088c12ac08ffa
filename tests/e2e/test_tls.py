"""HTTPS and WSS: [server] tls_cert / tls_key. A test CA and server
certificates are made at test time with the `openssl` command; clients trust
that CA only, so every check here is a real verification."""

import hashlib
import http.client
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time

import pytest

import jenky_harness as h
from jenky_harness import WAIT_GATE, project_toml
from wsclient import Closed, WebSocket


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


class Pki:
    """A CA and server certificates it signs (for 127.0.0.1 and localhost)."""

    def __init__(self, root):
        self.root = root
        os.makedirs(root, exist_ok=True)
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-days", "2", "-subj", "/CN=jenky test CA", "-keyout", "ca.key", "-out", "ca.crt",
                cwd=root)
        self.ca = os.path.join(root, "ca.crt")
        with open(os.path.join(root, "leaf.ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
                    "extendedKeyUsage=serverAuth\n")
        self.count = 0

    def issue(self, name):
        """Writes NAME.crt (certificate + CA: a full chain) and NAME.key."""
        self.count += 1
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj",
                "/CN=localhost", "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=self.root)
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                "-set_serial", str(1000 + self.count), "-days", "2", "-extfile", "leaf.ext",
                "-out", f"{name}.leaf", cwd=self.root)
        with open(os.path.join(self.root, f"{name}.crt"), "w") as out:
            for part in (f"{name}.leaf", "ca.crt"):
                with open(os.path.join(self.root, part)) as f:
                    out.write(f.read())
        os.chmod(os.path.join(self.root, f"{name}.key"), 0o600)
        return os.path.join(self.root, f"{name}.crt"), os.path.join(self.root, f"{name}.key")

    def client_context(self):
        ctx = ssl.create_default_context(cafile=self.ca)
        return ctx


@pytest.fixture
def pki(world):
    return Pki(world.path("pki"))


def tls_server_toml(cert, key, extra=""):
    return (f'[server]\nkill_grace = "1s"\ntls_cert = {h.toml_str(cert)}\n'
            f'tls_key = {h.toml_str(key)}\ntls_handshake_timeout = "1s"\n{extra}')


def serve_tls(world, pki, *projects, extra="", **kw):
    cert, key = pki.issue("server")
    path = world.config(*projects, server=tls_server_toml(cert, key, extra))
    return world.server(path, ssl_context=pki.client_context(), **kw)


def peer_serial(port, ctx):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            der = s.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest()


def ws_log(srv, path, ctx, **kw):
    return WebSocket(f"wss://127.0.0.1:{srv.port}{path}", ssl_context=ctx, **kw)


def read_log(ws, until_status=True):
    """(log bytes, last status Run) of a stream read to its final status."""
    data, last = b"", None
    while True:
        try:
            m = ws.recv_json()
        except Closed:
            return data, last
        if m["type"] == "log":
            data += m["data"].encode()
        elif m["type"] == "status":
            last = m["run"]
            if until_status and last["status"] in h.FINISHED:
                return data, last


def test_https_api_secure_cookie_and_listening_line(world, pki):
    token = "tls-test-token-123"
    extra = (f'\n[[tokens]]\nname = "t"\nsha256 = "{h.sha256_hex(token)}"\n'
             'scopes = ["read", "deploy", "admin"]\n')
    cert, key = pki.issue("server")
    path = world.config(project_toml("p", "echo hi\n"), server=tls_server_toml(cert, key),
                        extra=extra)
    srv = world.server(path, ssl_context=pki.client_context())
    assert srv.url.startswith("https://127.0.0.1:")
    auth = {"Authorization": f"Bearer {token}"}
    rid = srv.trigger("p", headers=auth)["id"]
    assert srv.wait_run(rid, headers=auth)["status"] == "succeeded"
    r = srv.get(f"/api/v1/runs/{rid}/log", headers=auth)
    assert r.status == 200 and r.body == b"hi\n"
    r = srv.post("/api/v1/session", json_body={"token": token})
    assert r.status == 200, r
    cookie = r.headers["Set-Cookie"]
    assert "; Secure" in cookie and "HttpOnly" in cookie, cookie
    # The run's JENKY_LOG_URL / links use https too.
    assert "TLS: serving" in srv.stderr()


def test_wss_plain_and_deflate_and_resume_at_offset(world, pki):
    script = 'for i in $(seq 1 400); do echo "line $i of a log that deflate likes"; done\n'
    srv = serve_tls(world, pki, project_toml("p", script))
    rid = srv.trigger("p")["id"]
    assert srv.wait_run(rid)["status"] == "succeeded"
    full = srv.log(rid)
    ctx = pki.client_context()
    for deflate in (False, True):
        ws = ws_log(srv, f"/ws/v1/runs/{rid}/log", ctx, deflate=deflate)
        assert ws.deflate == deflate
        data, last = read_log(ws)
        assert data == full and last["status"] == "succeeded"
        with pytest.raises(Closed) as e:
            while True:
                ws.recv()
        assert e.value.code == 1000
    # Resume: read a first part, drop the connection, reconnect at `next`.
    ws = ws_log(srv, f"/ws/v1/runs/{rid}/log", ctx)
    first, nxt = b"", 0
    while nxt < 100:
        m = ws.recv_json()
        if m["type"] == "log":
            first += m["data"].encode()
            nxt = m["next"]
    ws.sock.close()
    ws = ws_log(srv, f"/ws/v1/runs/{rid}/log?offset={nxt}", ctx, deflate=True)
    rest, _ = read_log(ws)
    assert first + rest == full


def test_wss_live_stream_and_ping(world, pki):
    srv = serve_tls(world, pki, project_toml("p", "echo one\n" + WAIT_GATE + "echo two\n"),
                    env=world.env(GATE=world.gate))
    rid = srv.trigger("p")["id"]
    ws = ws_log(srv, f"/ws/v1/runs/{rid}/log", pki.client_context())
    seen = b""
    while seen != b"one\n":
        m = ws.recv_json()
        if m["type"] == "log":
            seen += m["data"].encode()
    ws.send_text("ping")
    while ws.recv_json()["type"] != "pong":
        pass
    world.open_gate()
    rest, last = read_log(ws)
    assert seen + rest == b"one\ntwo\n" and last["status"] == "succeeded"


def test_follow_over_https(world, pki):
    srv = serve_tls(world, pki, project_toml("p", "echo start\n" + WAIT_GATE + "echo end\n"),
                    env=world.env(GATE=world.gate))
    rid = srv.trigger("p")["id"]
    stream = srv.stream(f"/api/v1/runs/{rid}/log?follow=1")
    assert stream.status == 200
    stream.read_until(b"start\n")
    world.open_gate()
    assert stream.read_to_end() == b"start\nend\n"


def test_webhook_over_https(world, pki):
    secret = "hook-secret-over-tls"
    proj = project_toml("p", 'echo "ref=$JENKY_REF"\n') + (
        f'[projects.p.webhook]\nprovider = "generic"\nsecret = "{secret}"\n')
    srv = serve_tls(world, pki, proj)
    r = srv.post("/hooks/p?ref=refs/heads/main", headers={"Authorization": f"Bearer {secret}"})
    assert r.status == 202, r
    rid = r.json()["id"]
    assert srv.wait_run(rid)["status"] == "succeeded"
    assert srv.log(rid) == b"ref=refs/heads/main\n"
    assert srv.post("/hooks/p", headers={"Authorization": "Bearer wrong"}).status == 401


def test_plain_http_on_the_tls_port_is_answered_and_serving_goes_on(world, pki):
    srv = serve_tls(world, pki)
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        answer = b""
        while chunk := s.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert b"This port speaks HTTPS" in answer
    # Not TLS and not HTTP: closed, no answer.
    with socket.create_connection(("127.0.0.1", srv.port), timeout=5) as s:
        s.sendall(b"\x00\x01\x02garbage\r\n")
        try:
            assert s.recv(4096) == b""
        except ConnectionResetError:
            pass
    assert srv.get("/healthz").status == 200
    assert srv.proc.poll() is None
    assert "plain HTTP on the HTTPS port" in srv.stderr()


def test_a_client_that_never_handshakes_is_dropped_after_the_deadline(world, pki):
    srv = serve_tls(world, pki)  # tls_handshake_timeout = 1s
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        t0 = time.monotonic()
        try:
            got = s.recv(1)
        except ConnectionResetError:
            got = b""
        waited = time.monotonic() - t0
    assert got == b"" and 0.8 < waited < 5, (got, waited)
    srv.wait_line("no handshake in time", timeout=5)
    assert srv.get("/healthz").status == 200


def test_cli_verifies_the_server_and_takes_a_ca_file(world, pki):
    srv = serve_tls(world, pki, project_toml("p", "echo from-cli\n"))
    r = world.cli("deploy", "p", "--follow", "--cacert", pki.ca, server=srv)
    assert r.returncode == 0 and "from-cli" in r.stdout, (r.stdout, r.stderr)
    r = world.cli("runs", server=srv, env=world.env(JENKY_CACERT=pki.ca))
    assert r.returncode == 0 and "succeeded" in r.stdout, (r.stdout, r.stderr)
    r = world.cli("runs", server=srv)
    assert r.returncode == 6, (r.stdout, r.stderr)
    assert "certificate verify failed" in r.stderr and "--cacert" in r.stderr, r.stderr
    # The right CA but a name the certificate is not for.
    r = world.cli("runs", "--cacert", pki.ca, server=f"https://localhost:{srv.port}")
    assert r.returncode == 0, r.stderr  # localhost is in the certificate
    other = Pki(world.path("other-pki"))
    r = world.cli("runs", "--cacert", other.ca, server=srv)
    assert r.returncode == 6 and "certificate verify failed" in r.stderr, r.stderr


def test_bad_pair_refuses_to_start(world, pki):
    cert, _ = pki.issue("one")
    _, other_key = pki.issue("two")
    path = world.config(server=tls_server_toml(cert, other_key))
    r = world.cli("serve", "--config", path, "--listen", "127.0.0.1:0", "--data-dir",
                  world.data_dir, timeout=15)
    assert r.returncode == 1, r.stderr
    assert f"server.tls_key: {other_key} is not the private key of the certificate" in r.stderr
    r = world.cli("check", "--config", path)
    assert r.returncode == 1 and "is not the private key" in r.stderr


def test_reload_keeps_a_working_pair_and_picks_up_a_renewed_one(world, pki):
    srv = serve_tls(world, pki)
    ctx = pki.client_context()
    cert = os.path.join(pki.root, "server.crt")
    key = os.path.join(pki.root, "server.key")
    before = peer_serial(srv.port, ctx)
    kept = http.client.HTTPSConnection("127.0.0.1", srv.port, timeout=10, context=ctx)
    kept.request("GET", "/healthz")
    assert kept.getresponse().read() == b"ok\n"
    # A broken renewal: the old pair keeps serving.
    saved = open(key).read()
    with open(key, "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    srv.send_signal(signal.SIGHUP)
    srv.wait_line("keeping the current one", timeout=10)
    assert peer_serial(srv.port, ctx) == before
    # A real renewal (certbot writes new files): new connections get it,
    # the open one goes on.
    with open(key, "w") as f:
        f.write(saved)
    new_cert, new_key = pki.issue("renewed")
    shutil.copy(new_cert, cert)
    shutil.copy(new_key, key)
    srv.send_signal(signal.SIGHUP)
    srv.wait_line("SIGHUP: configuration reloaded", timeout=10)
    assert peer_serial(srv.port, ctx) != before
    kept.request("GET", "/healthz")
    assert kept.getresponse().read() == b"ok\n"
    kept.close()


def test_upgrade_keeps_serving_tls_and_refuses_a_bad_pair(world, pki):
    bindir = world.path("bin")
    os.makedirs(bindir)
    target = os.path.join(bindir, "jenky")
    shutil.copy2(world.binary, target)
    world.binary = target
    srv = serve_tls(world, pki, project_toml("p", "echo before\n" + WAIT_GATE + "echo after\n"),
                    env=world.env(GATE=world.gate))
    rid = srv.trigger("p")["id"]
    srv.wait_log(rid, "before\n")
    pid = srv.proc.pid
    key = os.path.join(pki.root, "server.key")
    saved = open(key).read()
    # A key that does not load: the upgrade is refused and nothing changes.
    with open(key, "w") as f:
        f.write("not a key\n")
    new = world.path("jenky-new")
    shutil.copy2(target, new)
    r = world.cli("upgrade", new, "--target", target, "--cacert", pki.ca, server=srv, timeout=60)
    assert r.returncode != 0 and "restart refused" in r.stderr, (r.stdout, r.stderr)
    assert srv.proc.pid == pid and srv.get("/healthz").status == 200
    with open(key, "w") as f:
        f.write(saved)
    shutil.copy2(target, new)
    r = world.cli("upgrade", new, "--target", target, "--cacert", pki.ca, server=srv, timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert srv.proc.pid == pid and srv.proc.poll() is None
    assert srv.get("/healthz").status == 200
    world.open_gate()
    assert srv.wait_run(rid, timeout=20)["status"] == "succeeded"
    assert srv.log(rid) == b"before\nafter\n"


def test_a_viewer_that_does_not_read_does_not_stall_the_others(world, pki):
    # About 3 MB of log, far more than a socket buffers for a viewer that
    # never reads; ws_max_lag lets the slow one fall behind without a cut.
    script = WAIT_GATE + "head -c 3000000 /dev/zero | tr '\\0' x | fold -w 99\necho done\n"
    srv = serve_tls(world, pki, project_toml("p", script), extra='ws_max_lag = "64MiB"\n',
                    env=world.env(GATE=world.gate))
    rid = srv.trigger("p")["id"]
    ctx = pki.client_context()
    stuck = ws_log(srv, f"/ws/v1/runs/{rid}/log", ctx)  # never reads
    stuck.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    late = ws_log(srv, f"/ws/v1/runs/{rid}/log", ctx, deflate=True, timeout=30)  # reads at the end
    late.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    viewers = [ws_log(srv, f"/ws/v1/runs/{rid}/log", ctx, deflate=(i % 2 == 1), timeout=30)
               for i in range(4)]
    world.open_gate()
    assert srv.wait_run(rid, timeout=60)["status"] == "succeeded"
    full = srv.log(rid)
    assert len(full) > 3000000 and full.endswith(b"done\n")
    for v in viewers:
        data, last = read_log(v)
        assert last["status"] == "succeeded"
        assert data == full
    # The server is responsive with a viewer still stuck.
    assert srv.get("/healthz").status == 200
    # The late one's ciphertext waited in the server, partly sent, many
    # times: resumed with the same bytes, it decrypts to exactly the log.
    data, last = read_log(late)
    assert data == full and last["status"] == "succeeded"
    stuck.sock.close()
