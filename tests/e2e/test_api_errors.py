"""Bad requests get clear JSON errors: the status, the code, and a message
that names what was wrong."""

import socket

import pytest

from jenky_harness import project_toml

JSON = {"Content-Type": "application/json"}


@pytest.fixture
def srv(world):
    return world.serve(project_toml("p", "echo ok\n"))


def no_runs_were_created(srv):
    assert srv.get_json("/api/v1/runs") == []


def check_error(r, status, code, message=None, contains=()):
    assert r.status == status, r
    assert r.headers["Content-Type"] == "application/json"
    got_code, got_message = r.error()
    assert got_code == code, r
    if message is not None:
        assert got_message == message
    for part in contains:
        assert part in got_message, (part, got_message)
    return got_message


def test_malformed_json_in_a_trigger_is_400_naming_the_problem(srv):
    for body in ['{"ref": "main"', '{ref: "main"}', '{"ref": "main",}', "nope", '{"a":1}}']:
        r = srv.post("/api/v1/projects/p/runs", body=body, headers=JSON)
        msg = check_error(r, 400, "bad_json", contains=["request body is not valid JSON: "])
        assert "parse error" in msg and "column" in msg, msg
    no_runs_were_created(srv)


def test_unknown_fields_in_a_trigger_are_400(srv):
    r = srv.post("/api/v1/projects/p/runs", json_body={"ref": "main", "branch": "main"})
    check_error(r, 400, "bad_request", "unknown field 'branch'; known fields are ref, commit, kind and inputs")
    r = srv.post("/api/v1/projects/p/runs", json_body={"REF": "main"})
    check_error(r, 400, "bad_request", contains=["unknown field 'REF'"])
    no_runs_were_created(srv)


def test_trigger_fields_are_validated(srv):
    cases = [
        ({"commit": "xyz123"}, "commit must be a hex commit id of 4 to 64 digits"),
        ({"commit": "abc"}, "commit must be a hex commit id of 4 to 64 digits"),
        ({"commit": "a" * 65}, "commit must be a hex commit id of 4 to 64 digits"),
        ({"commit": 1234}, "field 'commit' must be a string"),
        ({"ref": ""}, "ref must be 1-255 printable characters, like refs/heads/main"),
        ({"ref": "main\nrm -rf /"}, "ref must be 1-255 printable characters, like refs/heads/main"),
        ({"ref": "r" * 256}, "ref must be 1-255 printable characters, like refs/heads/main"),
        ({"ref": None}, "field 'ref' must be a string"),
        ({"kind": "webhook"}, "kind must be manual, api or cli"),
        ({"kind": "bogus"}, "kind must be manual, api or cli"),
    ]
    for body, message in cases:
        r = srv.post("/api/v1/projects/p/runs", json_body=body)
        check_error(r, 400, "bad_request", message)
    for body in ['["ref"]', '"main"', "42", "null"]:
        r = srv.post("/api/v1/projects/p/runs", body=body, headers=JSON)
        check_error(r, 400, "bad_request", contains=["request body must be a JSON object"])
    no_runs_were_created(srv)


def test_a_trigger_body_that_is_not_declared_json_is_415(srv):
    for headers in [{}, {"Content-Type": "text/plain"},
                    {"Content-Type": "application/x-www-form-urlencoded"}]:
        r = srv.post("/api/v1/projects/p/runs", body='{"ref": "main"}', headers=headers)
        check_error(r, 415, "unsupported_media_type",
                    "send the body as JSON with Content-Type: application/json")
    no_runs_were_created(srv)
    # An empty (or blank) body needs no Content-Type.
    assert srv.post("/api/v1/projects/p/runs", body="").status == 202
    assert srv.post("/api/v1/projects/p/runs", body="  \n").status == 202
    r = srv.post("/api/v1/projects/p/runs", body='{"commit": "ABCDEF12"}',
                 headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status == 202, r


def test_unknown_project_or_run_is_404(srv):
    check_error(srv.post("/api/v1/projects/nope/runs"), 404, "not_found", "no project named 'nope'")
    check_error(srv.get("/api/v1/projects/nope"), 404, "not_found", "no project named 'nope'")
    check_error(srv.get("/api/v1/projects/nope/runs"), 404, "not_found", "no project named 'nope'")
    check_error(srv.get("/api/v1/runs/12345"), 404, "not_found", "no run with id 12345")
    check_error(srv.get("/api/v1/runs/12345/script"), 404, "not_found", "no run with id 12345")
    check_error(srv.get("/api/v1/runs/abc"), 404, "not_found",
                "'abc' is not a run id; run ids are numbers")
    check_error(srv.get("/api/v1/runs/-1"), 404, "not_found", contains=["is not a run id"])
    check_error(srv.get("/api/v1/nothing"), 404, "not_found", "no such endpoint: /api/v1/nothing")
    check_error(srv.get("/api/v1/runs/1/nothing"), 404, "not_found", contains=["no such endpoint"])
    check_error(srv.get("/api/v2/projects"), 404, "not_found", contains=["no such endpoint"])


@pytest.mark.parametrize("query", ["limit=0", "limit=501", "limit=abc", "limit=-1", "limit=",
                                   "limit=1.5", "limit=10x"])
def test_a_bad_limit_is_400(srv, query):
    for path in ["/api/v1/runs", "/api/v1/projects/p/runs"]:
        check_error(srv.get(f"{path}?{query}"), 400, "bad_request",
                    "limit must be a number from 1 to 500")


@pytest.mark.parametrize("query", ["before=0", "before=-5", "before=x", "before="])
def test_a_bad_before_is_400(srv, query):
    for path in ["/api/v1/runs", "/api/v1/projects/p/runs"]:
        check_error(srv.get(f"{path}?{query}"), 400, "bad_request",
                    "before must be a run id (a positive number)")


def test_limit_and_before_bounds_are_accepted(srv):
    for _ in range(3):
        srv.wait_run(srv.trigger("p")["id"])
    assert len(srv.get_json("/api/v1/runs?limit=500")) == 3
    assert [r["id"] for r in srv.get_json("/api/v1/runs?limit=1")] == [3]
    assert [r["id"] for r in srv.get_json("/api/v1/runs?before=999999")] == [3, 2, 1]


@pytest.mark.parametrize("method,path,allow", [
    ("DELETE", "/api/v1/projects", "GET"),
    ("POST", "/api/v1/projects", "GET"),
    ("PUT", "/api/v1/projects/p", "GET"),
    ("PUT", "/api/v1/projects/p/runs", "GET, POST"),
    ("DELETE", "/api/v1/projects/p/runs", "GET, POST"),
    ("POST", "/api/v1/runs", "GET"),
    ("DELETE", "/api/v1/runs/1", "GET"),
    ("GET", "/api/v1/runs/1/cancel", "POST"),
    ("POST", "/api/v1/runs/1/log", "GET"),
    ("POST", "/api/v1/runs/1/script", "GET"),
    ("POST", "/healthz", "GET"),
    ("POST", "/", "GET"),
])
def test_a_wrong_method_is_405_with_allow(srv, method, path, allow):
    r = srv.request(method, path)
    check_error(r, 405, "method_not_allowed", f"{method} is not allowed on {path}; use {allow}")
    assert r.headers["Allow"] == allow


def test_session_with_a_wrong_method_is_405(srv):
    r = srv.request("PUT", "/api/v1/session")
    check_error(r, 405, "method_not_allowed", contains=["use POST to sign in"])
    assert r.headers["Allow"] == "GET, POST, DELETE"


def test_healthz_and_the_ui_answer(srv):
    r = srv.get("/healthz")
    assert r.status == 200 and r.body == b"ok\n"
    assert srv.request("HEAD", "/healthz").status == 200
    r = srv.get("/")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/html")


def raw_exchange(port, data):
    """Sends DATA on a fresh connection; returns all the server sent back."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def test_a_malformed_http_request_is_400(srv):
    data = raw_exchange(srv.port, b"THIS IS NOT HTTP\r\n\r\n")
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400"), data
    assert b"malformed HTTP request" in body


def test_keep_alive_serves_several_requests_on_one_connection(srv):
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        for path in ["/healthz", "/api/v1/projects", "/api/v1/runs/77", "/api/v1/runs"]:
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            assert r.status in (200, 404)
        conn.request("POST", "/api/v1/projects/p/runs", body='{"ref": "main"}', headers=JSON)
        r = conn.getresponse()
        assert r.status == 202
        r.read()
    finally:
        conn.close()


def test_errors_never_leak_internal_details(srv):
    # Odd paths, encodings and huge ids get a plain 4xx, never a 500.
    for path in ["/api/v1/runs/99999999999999999999999", "/api/v1/projects/%2e%2e",
                 "/api/v1/projects/a%2Fb/runs", "/api/v1/projects/%00",
                 "/api/v1/runs/1/log?offset=1&offset=2"]:
        r = srv.get(path)
        assert 400 <= r.status < 500, (path, r)
        assert r.headers["Content-Type"] == "application/json", (path, r)
        r.error()


@pytest.mark.parametrize("target", ["/api/v1/projects/%ZZ", "/api/v1/runs/%ZZ",
                                    "/api/v1/projects/%FF", "/api/v1/projects/%FF/runs"])
def test_a_path_with_a_bad_escape_or_invalid_utf8_gets_a_json_error(srv, target):
    """Regression: /api/v1/projects/%ZZ answered 200 with the UI's HTML and
    /api/v1/projects/%FF closed the connection without an answer (fixed in 35cea34)."""
    data = raw_exchange(srv.port, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 4"), data
    assert b'"error"' in body
    assert srv.get("/healthz").status == 200
