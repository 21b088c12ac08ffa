"""What a client controls is bounded: body size, header size, slowness."""

import json
import socket
import time

import pytest

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
