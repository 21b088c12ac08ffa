"""What a client controls is bounded: body size, header size, slowness, URL
length, JSON nesting, connections, and the log bytes a run may write."""

import hashlib
import hmac
import json
import socket
import time

import pytest

import jenky_harness as h
from jenky_harness import project_toml


def exchange(port, head, body=b"", timeout=15):
    """Sends a raw request; returns (status line, headers text, body) of the
    answer, or None if the server closed the connection without one."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head + body)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    if not data:
        return None
    headers, _, payload = data.partition(b"\r\n\r\n")
    status_line, _, rest = headers.partition(b"\r\n")
    return status_line.decode(), rest.decode(), payload


def post_head(path, length, content_type="application/json"):
    return (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n").encode()


def test_a_body_over_max_body_is_413(world):
    srv = world.serve(project_toml("p", "true\n"), server_toml='[server]\nkill_grace = "1s"\n'
                                                              'max_body = "64KiB"\n')
    # Refused from the declared length alone, before the body is read.
    status, _, body = exchange(srv.port, post_head("/api/v1/projects/p/runs", 65537))
    assert status == "HTTP/1.1 413 Payload Too Large", status
    assert json.loads(body) == {"error": {"code": "too_large", "message":
                                          "request body is larger than the limit of 65536 bytes"}}
    # At the limit the request reaches the API (which then judges the JSON).
    big = json.dumps({"ref": "r" * (65536 - 11)}).encode()
    assert len(big) == 65536
    status, _, body = exchange(srv.port, post_head("/api/v1/projects/p/runs", len(big)), big)
    assert status.startswith("HTTP/1.1 400"), status
    assert json.loads(body)["error"]["message"].startswith("ref must be 1-255")
    assert srv.get_json("/api/v1/runs") == []


def test_the_default_body_limit_is_1_mib(world):
    srv = world.serve(project_toml("p", "true\n"))
    status, _, body = exchange(srv.port, post_head("/api/v1/projects/p/runs", (1 << 20) + 1))
    assert status.startswith("HTTP/1.1 413"), status
    assert json.loads(body)["error"]["message"] == \
        "request body is larger than the limit of 1048576 bytes"
    big = b" " * (1 << 20)  # blank: an empty trigger
    status, headers, body = exchange(srv.port, post_head("/api/v1/projects/p/runs", len(big)), big)
    assert status.startswith("HTTP/1.1 202"), status
    assert json.loads(body)["status"] in ("queued", "running", "succeeded")


def test_headers_over_16_kib_are_431(world):
    srv = world.serve(project_toml("p", "true\n"))
    head = (b"GET /api/v1/projects HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " +
            b"a" * (16 * 1024) + b"\r\nConnection: close\r\n\r\n")
    answer = exchange(srv.port, head)
    assert answer is not None
    status, _, body = answer
    assert status == "HTTP/1.1 431 Request Header Fields Too Large", status
    assert json.loads(body) == {"error": {"code": "headers_too_large",
                                          "message": "request headers are larger than 16384 bytes"}}
    # Headers under the limit are fine.
    r = srv.get("/api/v1/projects", headers={"X-Padding": "a" * 12000})
    assert r.status == 200
    assert srv.get("/healthz").status == 200


@pytest.mark.slow
def test_a_client_that_dribbles_its_request_is_disconnected(world):
    srv = world.serve(project_toml("p", "true\n"))
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\n")
        s.settimeout(1.0)
        closed_at, answer = None, b""
        while time.monotonic() - start < 30:
            try:
                s.sendall(b"X")  # one byte a second: never a whole header line
            except (BrokenPipeError, ConnectionResetError):
                closed_at = time.monotonic()
                break
            try:
                chunk = s.recv(4096)
                if not chunk:
                    closed_at = time.monotonic()
                    break
                answer += chunk
            except socket.timeout:
                continue
            except ConnectionResetError:
                closed_at = time.monotonic()
                break
    assert closed_at is not None, "the server kept a dribbling client for 30 s"
    elapsed = closed_at - start
    assert 15 <= elapsed <= 25, elapsed
    assert answer == b"", "a client that never finished its request gets no answer"
    assert srv.get("/healthz").status == 200


# --------------------------------------------------------------------------
# Log bytes per run


def test_a_runaway_script_is_cut_off_at_max_log_bytes_and_the_run_fails(world):
    # The script ignores TERM and has a background writer too: the whole tree
    # must end (KILL after kill_grace), and nothing of it outlives the run.
    script = ("echo first line\n"
              "( trap '' TERM; while :; do echo background-writer; done ) &\n"
              "yes runaway-output-line\n")
    srv = world.serve(project_toml("p", script, env={"MARK": world.tag}),
                      server_toml='[server]\nkill_grace = "1s"\nmax_log_bytes = "256KiB"\n')
    rid = srv.trigger("p")["id"]
    done = srv.wait_run(rid, timeout=60)
    assert done["status"] == "failed", done
    assert done["reason"] == ("the log reached its limit of 256KiB (max_log_bytes): "
                              "the script was stopped"), done
    log = srv.log(rid)
    note = b"jenky: the log reached its limit of 256KiB (max_log_bytes); the script was stopped\n"
    assert log.startswith(b"first line\n")
    assert log.endswith(b"\n" + note), log[-200:]
    # Exactly the limit of the script's output, then at most a newline and the note.
    assert 256 * 1024 + len(note) <= len(log) <= 256 * 1024 + 1 + len(note), len(log)
    assert done["log_bytes"] == len(log)
    with open(f"{world.data_dir}/runs/{rid}/log", "rb") as f:
        assert f.read() == log
    # The server is fine and the project runs again.
    assert srv.get("/healthz").status == 200


def test_a_project_can_raise_or_lower_the_log_limit(world):
    big = "head -c 300000 /dev/zero | tr '\\0' 'x'\n"
    srv = world.serve(project_toml("roomy", big, max_log_bytes="1MiB"),
                      project_toml("tight", big, max_log_bytes="1000"),
                      server_toml='[server]\nkill_grace = "1s"\nmax_log_bytes = "100KiB"\n')
    roomy = srv.wait_run(srv.trigger("roomy")["id"], timeout=60)
    assert roomy["status"] == "succeeded", roomy
    assert roomy["log_bytes"] == 300000
    tight = srv.wait_run(srv.trigger("tight")["id"], timeout=60)
    assert tight["status"] == "failed", tight
    assert tight["reason"] == ("the log reached its limit of 1000B (max_log_bytes): "
                               "the script was stopped")
    log = srv.log(tight["id"])
    assert log.startswith(b"x" * 1000 + b"\njenky: the log reached its limit of 1000B")


# --------------------------------------------------------------------------
# JSON nesting depth


def test_deeply_nested_json_bodies_are_400_before_they_are_parsed(world):
    srv = world.serve(project_toml("p", "true\n"),
                      server_toml='[server]\nkill_grace = "1s"\nmax_body = "4MiB"\n')
    message = "request body nests arrays and objects more than 64 levels deep ([server] max_json_depth)"
    for body in ["[" * 1_000_000 + "]" * 1_000_000, '{"ref": ' + "[" * 65 + "]" * 65 + "}",
                 '{"a":' * 200_000 + "1" + "}" * 200_000]:
        for path in ["/api/v1/projects/p/runs", "/api/v1/session", "/api/v1/projects/p/rollback"]:
            status, _, answer = exchange(srv.port, post_head(path, len(body)), body.encode())
            assert status.startswith("HTTP/1.1 400"), (path, status, answer[:300])
            assert json.loads(answer) == {"error": {"code": "bad_json", "message": message}}, path
    # 64 levels are still JSON the API judges on its merits.
    body = '{"ref": ' + "[" * 63 + "]" * 63 + "}"
    r = srv.post("/api/v1/projects/p/runs", body=body, headers={"Content-Type": "application/json"})
    assert r.status == 400 and r.error() == ("bad_request", "field 'ref' must be a string"), r
    assert srv.get_json("/api/v1/runs") == []
    assert srv.get("/healthz").status == 200


def test_the_depth_limit_is_configurable(world):
    srv = world.serve(project_toml("p", "true\n"),
                      server_toml='[server]\nkill_grace = "1s"\nmax_json_depth = 3\n')
    r = srv.post("/api/v1/projects/p/runs", body='{"ref": [[[]]]}',
                 headers={"Content-Type": "application/json"})
    assert r.status == 400
    assert r.error()[1].startswith("request body nests arrays and objects more than 3 levels")
    r = srv.post("/api/v1/projects/p/runs", body='{"ref": [[]]}',
                 headers={"Content-Type": "application/json"})
    assert r.error() == ("bad_request", "field 'ref' must be a string"), r


def test_a_deeply_nested_webhook_payload_is_400_and_recorded(world):
    secret = "webhook-secret-0123456789"
    srv = world.serve(project_toml("p", "true\n") +
                      f'[projects.p.webhook]\nprovider = "github"\nsecret = "{secret}"\n',
                      server_toml='[server]\nkill_grace = "1s"\nmax_body = "4MiB"\n')
    for payload in ["[" * 2_000_000, '{"ref": "refs/heads/main", "x": ' + "{\"a\":" * 100 + "1" +
                    "}" * 100 + "}"]:
        body = payload.encode()
        sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        r = srv.post("/hooks/p", body=body, headers={
            "Content-Type": "application/json", "X-GitHub-Event": "push",
            "X-GitHub-Delivery": "d-" + str(len(body)), "X-Hub-Signature-256": sig})
        assert r.status == 400, r
        assert r.error() == ("bad_request", "payload nests arrays and objects more than 64 levels "
                                            "deep ([server] max_json_depth)")
    # Recorded; the two identical rejections are folded into one record.
    deliveries = srv.get_json("/api/v1/projects/p/deliveries")
    assert [(d["status"], d["count"]) for d in deliveries] == [(400, 2)], deliveries
    assert srv.get_json("/api/v1/runs") == []


# --------------------------------------------------------------------------
# URL length


def test_a_url_over_max_url_is_414_whatever_the_header_limit(world):
    srv = world.serve(project_toml("p", "true\n"))
    message = "the request's URL is longer than 8192 bytes ([server] max_url)"
    # Under the header limit (parsed, then refused) and over it (refused from
    # the request line alone).
    for n in (8200, 20_000, 200_000):
        head = (f"GET /api/v1/runs?x={'a' * n} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Connection: close\r\n\r\n").encode()
        answer = exchange(srv.port, head)
        assert answer is not None, n
        status, _, body = answer
        assert status == "HTTP/1.1 414 URI Too Long", (n, status)
        assert json.loads(body) == {"error": {"code": "uri_too_long", "message": message}}
    # A long URL under the limit is served.
    assert srv.get("/api/v1/runs?x=" + "a" * 8000).status == 200
    # Headers over their limit are still 431, not 414.
    head = (b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"a" * 17000 +
            b"\r\nConnection: close\r\n\r\n")
    assert exchange(srv.port, head)[0].startswith("HTTP/1.1 431")


def test_max_url_is_configurable(world):
    srv = world.serve(project_toml("p", "true\n"),
                      server_toml='[server]\nkill_grace = "1s"\nmax_url = "1KiB"\n')
    assert srv.get("/api/v1/runs?x=" + "a" * 900).status == 200
    r = srv.get("/api/v1/runs?x=" + "a" * 1100)
    assert r.status == 414
    assert r.error() == ("uri_too_long", "the request's URL is longer than 1024 bytes ([server] max_url)")


# --------------------------------------------------------------------------
# Concurrent connections


def test_connections_over_max_connections_are_refused_with_503(world):
    srv = world.serve(project_toml("p", "true\n"),
                      server_toml='[server]\nkill_grace = "1s"\nmax_connections = 4\n')
    held = [socket.create_connection(("127.0.0.1", srv.port), timeout=15) for _ in range(4)]
    try:
        # Each held connection sent nothing yet; the server counts it anyway.
        def refused():
            answer = exchange(srv.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            return answer if answer and answer[0].startswith("HTTP/1.1 503") else None
        status, headers, body = h.wait_until(refused, 10, what="a 503 for the fifth connection")
        assert "Retry-After: 1" in headers
        assert json.loads(body) == {"error": {"code": "unavailable", "message":
                                              "the server has its limit of 4 open connections "
                                              "([server] max_connections); retry later"}}
        # The held connections are served as usual.
        held[0].sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert held[0].recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        for s in held:
            s.close()
    # Once they are gone, new connections are served again.
    h.wait_until(lambda: srv.get("/healthz").status == 200, 10, what="service after the limit")


def test_out_of_descriptors_a_health_check_is_answered_not_left_waiting(world):
    """With its descriptors used up by idle connections, jenky cannot accept
    more; a health check must still get an answer (503) at once, and /healthz
    is 200 again when descriptors come back."""
    srv = world.server(world.config(project_toml("p", "true\n")), start=False)
    plain = srv.argv
    srv.argv = lambda: ["bash", "-c", 'ulimit -n 64 && exec "$@"', "bash"] + plain()
    srv.start()
    idle = []
    try:
        # Fill the descriptor table: connect until the server starts refusing.
        while len(idle) < 200:
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            idle.append(s)
            s.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n\r\n".encode())
            head = s.recv(4096)
            if not head.startswith(b"HTTP/1.1 200 "):
                break
        assert head.startswith(b"HTTP/1.1 503 "), head
        assert b"run out of file descriptors" in head
        for _ in range(3):  # every further check is answered too, not queued
            r = h.http_request(srv.port, "GET", "/healthz", timeout=5)
            assert r.status == 503 and "LimitNOFILE" in r.error()[1], r
        assert srv.wait_line(lambda l: "accept: Too many open files" in l)
    finally:
        for s in idle:
            s.close()
    h.wait_until(lambda: h.http_request(srv.port, "GET", "/healthz", timeout=5).status == 200, 10,
                 what="healthz back to 200")
    # The repeated accept failures were folded, not logged one by one.
    assert sum("accept: Too many open files" in l for l in srv.lines) <= 2, srv.lines


@pytest.mark.parametrize("coding", ["gzip", "chunked, gzip", "identity", "x-custom"])
def test_an_unknown_transfer_encoding_is_400_and_the_connection_closed(world, coding):
    """RFC 9112 section 6.3: the body's end is unknown, so nothing after the
    headers may be taken for the next request (request smuggling)."""
    srv = world.serve(project_toml("p", "echo deployed\n"))
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    smuggled = f"POST /api/v1/projects/p/runs HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n\r\n"
    s.sendall((f"POST /api/v1/projects/p/runs HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n"
               f"Transfer-Encoding: {coding}\r\n\r\n" + smuggled).encode())
    answer = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        answer += chunk
    s.close()
    assert answer.startswith(b"HTTP/1.1 400 "), answer
    assert answer.count(b"HTTP/1.1 ") == 1, answer  # the smuggled request got no answer
    assert b"Transfer-Encoding" in answer and b"Content-Length" in answer
    assert srv.get_json("/api/v1/runs") == []
