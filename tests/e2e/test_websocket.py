"""WebSocket log streams (SPEC.md "WebSocket log protocol"), checked with the
test suite's own RFC 6455 client (wsclient.py), not the server's code."""

import json
import os
import socket
import threading
import time

import pytest

import jenky_harness as h
from jenky_harness import WAIT_GATE, project_toml
from wsclient import Closed, HandshakeError, WebSocket

FAST_WS = '[server]\nkill_grace = "1s"\nws_idle_timeout = "2s"\n'


def ws(srv, path, **kw):
    return WebSocket(f"ws://127.0.0.1:{srv.port}{path}", **kw)


def collect(sock, until_close=True, timeout=20):
    """Reads messages until the server closes; returns (messages, close code, reason)."""
    msgs = []
    deadline = time.monotonic() + timeout
    sock.sock.settimeout(timeout)
    try:
        while time.monotonic() < deadline:
            msgs.append(sock.recv_json())
    except Closed as c:
        return msgs, c.code, c.reason
    raise AssertionError(f"no close within {timeout}s; got {msgs[-3:]}")


def log_bytes_of(msgs, run_id=None):
    """Joins the data of log messages, checking offsets are contiguous."""
    out = b""
    expect = None
    for m in msgs:
        if m["type"] != "log" or (run_id is not None and m["run"] != run_id):
            continue
        if expect is not None:
            assert m["offset"] == expect, f"gap or repeat: offset {m['offset']} after next {expect}"
        data = m["data"].encode()
        assert "\ufffd" not in m["data"] or b"\xef\xbf\xbd" in data
        out += data
        expect = m["next"]
    return out, expect


def test_messages_arrive_in_order_and_the_stream_closes_after_the_final_status(world):
    srv = world.serve(project_toml("p", "for i in $(seq 1 50); do echo line $i; done\n" + WAIT_GATE +
                                   "echo done\n"), env=world.env(GATE=world.gate))
    rid = srv.trigger("p")["id"]
    sock = ws(srv, f"/ws/v1/runs/{rid}/log")
    first = sock.recv_json()
    assert first["type"] == "run" and first["run"]["id"] == rid
    world.open_gate()
    msgs, code, reason = collect(sock)
    assert code == 1000, (code, reason)
    data, nxt = log_bytes_of(msgs)
    expected = "".join(f"line {i}\n" for i in range(1, 51)) + "done\n"
    assert data.decode() == expected
    assert nxt == len(expected.encode())
    assert msgs[-1]["type"] == "status" and msgs[-1]["run"]["status"] == "succeeded"
    assert msgs[-1]["run"]["log_bytes"] == len(expected)
    statuses = [m["run"]["status"] for m in msgs if m["type"] == "status"]
    assert statuses[-1] == "succeeded" and statuses.count("succeeded") == 1


def test_a_finished_run_sends_the_rest_and_closes_normally(world):
    srv = world.serve(project_toml("p", "seq 1 1000\n"))
    rid = srv.trigger("p")["id"]
    srv.wait_run(rid)
    full = srv.log(rid)
    sock = ws(srv, f"/ws/v1/runs/{rid}/log?offset=1000")
    assert sock.recv_json()["type"] == "run"
    msgs, code, _ = collect(sock)
    assert code == 1000
    data, nxt = log_bytes_of(msgs)
    assert data == full[1000:] and nxt == len(full)
    assert msgs[0]["offset"] == 1000


def test_resume_at_offset_has_no_gap_and_no_repeat(world):
    script = "for i in $(seq 1 400); do echo \"line $i $(head -c 40 /dev/zero | tr '\\0' x)\"; " \
             "[ $i = 200 ] && { " + WAIT_GATE.strip() + "; }; done\n"
    srv = world.serve(project_toml("p", script), env=world.env(GATE=world.gate))
    rid = srv.trigger("p")["id"]
    got, offset = b"", 0
    # Reconnect three times at the last `next`, once while the run is live.
    for round_ in range(3):
        sock = ws(srv, f"/ws/v1/runs/{rid}/log?offset={offset}")
        assert sock.recv_json()["type"] == "run"
        msg = sock.recv_json()
        while msg["type"] != "log":
            msg = sock.recv_json()
        assert msg["offset"] == offset
        got += msg["data"].encode()
        offset = msg["next"]
        sock.close()
        if round_ == 1:
            world.open_gate()
    sock = ws(srv, f"/ws/v1/runs/{rid}/log?offset={offset}")
    msgs, code, _ = collect(sock)
    data, _ = log_bytes_of(msgs)
    got += data
    assert got == srv.log(rid)
    assert len(got.splitlines()) == 400


def test_utf8_split_across_writes_is_never_broken_and_invalid_bytes_become_fffd(world):
    # The euro sign arrives in two writes 300 ms apart; then an invalid byte.
    script = ("printf 'price: \\342\\202'; sleep 0.3; printf '\\254 ok\\n'; sleep 0.1;"
              " printf 'bad: \\377 end\\n'; printf 'cut at the end: \\342\\202'\n")
    srv = world.serve(project_toml("p", script))
    rid = srv.trigger("p")["id"]
    sock = ws(srv, f"/ws/v1/runs/{rid}/log")
    msgs, code, _ = collect(sock)
    logs = [m for m in msgs if m["type"] == "log"]
    text = "".join(m["data"] for m in logs)
    assert text == "price: \u20ac ok\nbad: \ufffd end\ncut at the end: \ufffd\ufffd"
    # No message ends inside the euro sign: the first message stops before it.
    for m in logs:
        assert not m["data"].endswith("\ufffd") or m is logs[-1]
    raw = srv.log(rid)
    assert logs[-1]["next"] == len(raw)  # offsets count raw bytes


def test_project_stream_switches_to_each_new_run(world):
    srv = world.serve(project_toml("p", 'echo "run $JENKY_RUN_ID"\n'))
    sock = ws(srv, "/ws/v1/projects/p/log")
    first = sock.recv_json()
    assert first == {"type": "run", "run": None}
    seen = {}
    for n in range(3):
        rid = srv.trigger("p")["id"]
        srv.wait_run(rid)
        msgs = []
        while True:
            m = sock.recv_json()
            msgs.append(m)
            if m["type"] == "status" and m["run"]["id"] == rid and m["run"]["status"] == "succeeded":
                break
        assert msgs[0]["type"] == "run" and msgs[0]["run"]["id"] == rid
        seen[rid] = log_bytes_of(msgs, rid)[0]
    assert seen == {rid: f"run {rid}\n".encode() for rid in seen}
    assert len(seen) == 3
    sock.close()


def test_project_stream_starts_at_the_latest_run(world):
    srv = world.serve(project_toml("p", 'echo "run $JENKY_RUN_ID"\n'))
    for _ in range(2):
        srv.wait_run(srv.trigger("p")["id"])
    sock = ws(srv, "/ws/v1/projects/p/log")
    first = sock.recv_json()
    assert first["run"]["id"] == 2
    msgs = [sock.recv_json(), sock.recv_json()]
    assert msgs[0]["type"] == "log" and msgs[0]["data"] == "run 2\n"
    assert msgs[1]["type"] == "status"
    sock.close()


def test_text_ping_gets_pong_and_protocol_pings_are_answered(world):
    srv = world.serve(project_toml("p", WAIT_GATE), env=world.env(GATE=world.gate),
                      server_toml=FAST_WS)
    rid = srv.trigger("p")["id"]
    sock = ws(srv, f"/ws/v1/runs/{rid}/log")
    assert sock.recv_json()["type"] == "run"
    sock.send_text("ping")
    m = sock.recv_json()
    while m["type"] == "status":
        m = sock.recv_json()
    assert m == {"type": "pong"}
    sock.ping(b"hello")
    # The server answers our ping and pings us (at half the 2 s idle timeout).
    sock.sock.settimeout(5)
    deadline = time.monotonic() + 4
    world.open_gate()
    try:
        while time.monotonic() < deadline:
            sock.recv_json()
    except Closed:
        pass
    assert sock.pongs_received >= 1
    assert sock.pings_received >= 1 or srv.wait_run(rid)["status"] == "succeeded"


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def socket_count(pid):
    """The sockets among PID's open descriptors."""
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            n += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
        except OSError:
            pass  # closed meanwhile
    return n


def held_connections(port):
    """TCP connections to PORT whose socket a process still holds: in
    /proc/net/tcp{,6}, the local port is PORT, the state is not LISTEN (0A) and
    the inode is not 0 (TIME_WAIT and orphaned sockets have none)."""
    held = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] != "0A" and fields[9] != "0":
                held += 1
    return held


def test_a_vanished_viewer_is_detected_and_freed(world):
    srv = world.serve(project_toml("p", WAIT_GATE), env=world.env(GATE=world.gate),
                      server_toml=FAST_WS)
    rid = srv.trigger("p")["id"]
    h.wait_until(lambda: srv.run(rid)["status"] == "running", 10, what="run started")
    h.wait_until(lambda: held_connections(srv.port) == 0, 10,
                 what="the server to close the HTTP connections of the poll above")
    # Sockets only: the server's other descriptors (a new spare's pipes,
    # pidfd and cgroup) come and go on their own schedule.
    before = socket_count(srv.proc.pid)
    # A peer that stops answering without closing (no FIN): it never reads
    # again, so it never answers the server's pings.
    sock = ws(srv, f"/ws/v1/runs/{rid}/log", auto_pong=False)
    assert sock.recv_json()["type"] == "run"
    h.wait_until(lambda: socket_count(srv.proc.pid) == before + 1, 5, what="viewer's socket")
    # Gone after the 2 s idle timeout: the server closes its side.
    h.wait_until(lambda: socket_count(srv.proc.pid) == before, 8, interval=0.1, what="viewer freed")
    world.open_gate()
    sock.sock.close()


def test_a_slow_viewer_does_not_slow_the_run_or_a_fast_viewer(world):
    # About 12 MB at roughly 10 MB/s once both viewers are attached: a reader
    # that keeps up stays live; one that stops reading falls past the 2 MiB
    # lag limit and is cut off with a reason. (It reads nothing until the
    # fast one is done, with a small receive buffer: a reader that merely
    # reads slowly kept up with a server slowed down by TSan.)
    script = WAIT_GATE + ("for i in $(seq 1 120); do head -c 100000 /dev/zero | tr '\\0' y |"
                          " fold -w 99; echo; sleep 0.01; done\n")
    srv = world.serve(project_toml("p", script), env=world.env(GATE=world.gate),
                      server_toml='[server]\nws_max_lag = "2MiB"\n')
    rid = srv.trigger("p")["id"]
    slow = ws(srv, f"/ws/v1/runs/{rid}/log")
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
    fast = ws(srv, f"/ws/v1/runs/{rid}/log")
    for s in (slow, fast):
        assert s.recv_json()["type"] == "run"
    slow_result = {}
    fast_finished = threading.Event()

    def read_slowly():
        fast_finished.wait(60)
        try:
            while True:
                slow.recv()
        except Closed as c:
            slow_result["close"] = (c.code, c.reason)
        except OSError as e:
            slow_result["error"] = str(e)

    t = threading.Thread(target=read_slowly, daemon=True)
    t.start()
    started = time.monotonic()
    world.open_gate()
    msgs, code, reason = collect(fast, timeout=60)
    fast_done = time.monotonic() - started
    fast_finished.set()
    assert code == 1000, (code, reason)
    data, nxt = log_bytes_of(msgs)
    assert data == srv.log(rid)
    run = srv.wait_run(rid)
    assert run["status"] == "succeeded"
    # The run took as long as its script, whatever the slow viewer did.
    assert fast_done < 20
    t.join(30)
    assert "close" in slow_result, slow_result
    code, reason = slow_result["close"]
    assert code == 1008 and "too slow" in reason and "offset=" in reason, slow_result


def test_origin_is_checked(world):
    srv = world.serve(project_toml("p", "echo hi\n"),
                      server_toml='[server]\nallowed_origins = ["https://deploy.example.com"]\n')
    rid = srv.trigger("p")["id"]
    srv.wait_run(rid)
    with pytest.raises(HandshakeError) as e:
        ws(srv, f"/ws/v1/runs/{rid}/log", headers={"Origin": "https://evil.example"})
    assert e.value.status == 403 and "allowed_origins" in e.value.body
    for origin in (f"http://127.0.0.1:{srv.port}", "https://deploy.example.com"):
        sock = ws(srv, f"/ws/v1/runs/{rid}/log", headers={"Origin": origin})
        assert sock.recv_json()["type"] == "run"
        sock.close()
    sock = ws(srv, f"/ws/v1/runs/{rid}/log")  # no Origin: not a browser
    sock.close()


def test_websocket_needs_read_auth_by_token_or_session_cookie(world):
    reader, deployer = "ws-reader-token", "ws-deployer-token"
    tokens = (f'[[tokens]]\nname = "viewer"\nsha256 = "{h.sha256_hex(reader)}"\nscopes = ["read"]\n'
              f'[[tokens]]\nname = "ci"\nsha256 = "{h.sha256_hex(deployer)}"\n'
              'scopes = ["read", "deploy"]\n')
    srv = world.serve(project_toml("p", "echo secret build\n"), extra=tokens)
    auth = {"Authorization": f"Bearer {deployer}"}
    rid = srv.trigger("p", headers=auth)["id"]
    srv.wait_run(rid, headers=auth)
    with pytest.raises(HandshakeError) as e:
        ws(srv, f"/ws/v1/runs/{rid}/log")
    assert e.value.status == 401
    with pytest.raises(HandshakeError) as e:
        ws(srv, f"/ws/v1/runs/{rid}/log", headers={"Authorization": "Bearer wrong"})
    assert e.value.status == 401
    sock = ws(srv, f"/ws/v1/runs/{rid}/log", headers={"Authorization": f"Bearer {reader}"})
    msgs, code, _ = collect(sock)
    assert log_bytes_of(msgs)[0] == b"secret build\n"
    r = srv.post("/api/v1/session", json_body={"token": reader})
    assert r.status == 200
    cookie = r.headers["Set-Cookie"].split(";")[0]
    sock = ws(srv, f"/ws/v1/runs/{rid}/log", headers={"Cookie": cookie})
    msgs, code, _ = collect(sock)
    assert code == 1000 and log_bytes_of(msgs)[0] == b"secret build\n"


def test_raw_format_sends_plain_text_frames(world):
    srv = world.serve(project_toml("p", "printf 'one\\ntwo \\342\\202\\254\\n'\n"))
    rid = srv.trigger("p")["id"]
    srv.wait_run(rid)
    sock = ws(srv, f"/ws/v1/runs/{rid}/log?format=raw")
    frames = []
    try:
        while True:
            opcode, data = sock.recv()
            assert opcode == 0x1
            frames.append(data)
    except Closed as c:
        assert c.code == 1000
    assert b"".join(frames) == "one\ntwo \u20ac\n".encode()


def test_permessage_deflate_is_negotiated_when_offered(world):
    srv = world.serve(project_toml("p", "for i in $(seq 1 2000); do echo repeated line $i; done\n"))
    rid = srv.trigger("p")["id"]
    srv.wait_run(rid)
    sock = ws(srv, f"/ws/v1/runs/{rid}/log", deflate=True)
    assert sock.deflate
    assert sock.recv_json()["type"] == "run"
    msgs, code, _ = collect(sock)
    assert log_bytes_of(msgs)[0] == srv.log(rid)
    plain = ws(srv, f"/ws/v1/runs/{rid}/log")
    assert not plain.deflate
    plain.close()


def test_websocket_errors_are_clear(world):
    srv = world.serve(project_toml("p", "echo hi\n"))
    rid = srv.trigger("p")["id"]
    srv.wait_run(rid)
    for path, status in [("/ws/v1/runs/999/log", 404), ("/ws/v1/projects/nope/log", 404),
                         (f"/ws/v1/runs/{rid}/log?offset=-1", 400),
                         (f"/ws/v1/runs/{rid}/log?offset=999999", 416),
                         (f"/ws/v1/runs/{rid}/log?format=xml", 400)]:
        with pytest.raises(HandshakeError) as e:
            ws(srv, path)
        assert e.value.status == status, (path, e.value)
        assert json.loads(e.value.body)["error"]["message"]
    r = srv.get(f"/ws/v1/runs/{rid}/log")  # plain HTTP
    assert r.status == 426 and "WebSocket" in r.json()["error"]["message"]
