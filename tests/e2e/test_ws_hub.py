"""The WebSocket hub from the outside: many viewers of one live log, shared
compressed frames, frames that arrive with the upgrade request, viewer
limits, protocol errors and shutdown. The client is the suite's own
(wsclient.py) or raw sockets, never the server's code."""

import base64
import os
import signal
import socket
import struct
import time
import zlib

import pytest

from jenky_harness import WAIT_GATE, project_toml
from wsclient import Closed, HandshakeError, WebSocket
from test_websocket import FAST_WS, collect, log_bytes_of, ws

LIVE = ("for i in $(seq 1 300); do echo \"line $i $(head -c 60 /dev/zero | tr '\\0' y)\"; "
        "if [ $i = 100 ]; then " + WAIT_GATE.strip() + "; fi; done\n")


def masked(opcode, payload, rsv1=False):
    mask = os.urandom(4)
    first = 0x80 | (0x40 if rsv1 else 0) | opcode
    assert len(payload) < 126
    return (struct.pack("!BB", first, 0x80 | len(payload)) + mask +
            bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))


def handshake(port, path, key=None, version=b"13"):
    key = key or base64.b64encode(os.urandom(16))
    return (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1:" + str(port).encode() +
            b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
            b"\r\nSec-WebSocket-Version: " + version + b"\r\n\r\n")


def test_many_viewers_of_one_live_log_each_get_every_byte_once(world):
    srv = world.serve(project_toml("p", LIVE), env=world.env(GATE=world.gate))
    rid = srv.trigger("p")["id"]
    # Half compressed, half plain, half joining before the gate and half after.
    early = [ws(srv, f"/ws/v1/runs/{rid}/log", deflate=i % 2 == 0) for i in range(40)]
    # Each early viewer has its first message (it is attached) and the run
    # waits at line 100 before the gate opens.
    for sock in early:
        assert sock.recv_json()["type"] == "run"
    srv.wait_log(rid, "line 100 ")
    world.open_gate()
    late = [ws(srv, f"/ws/v1/runs/{rid}/log", deflate=i % 2 == 0) for i in range(40)]
    for sock in late:
        assert sock.recv_json()["type"] == "run"
    srv.wait_run(rid)
    full = srv.log(rid)
    assert len(full.splitlines()) == 300
    for sock in early + late:
        msgs, code, reason = collect(sock)
        assert code == 1000, reason
        data, nxt = log_bytes_of(msgs, rid)
        assert data == full and nxt == len(full)
        assert msgs[-1]["type"] == "status" and msgs[-1]["run"]["status"] == "succeeded"
    assert all(s.deflate for s in early[::2]) and not any(s.deflate for s in early[1::2])


def test_a_frame_sent_together_with_the_upgrade_request_is_read(world):
    srv = world.serve(project_toml("p", "echo hi\n" + WAIT_GATE), env=world.env(GATE=world.gate))
    rid = srv.trigger("p")["id"]
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    # One write: the request and, right behind it, a masked text "ping".
    s.sendall(handshake(srv.port, f"/ws/v1/runs/{rid}/log") + masked(0x1, b"ping"))
    got = b""
    deadline = time.monotonic() + 10
    while b'{"type":"pong"}' not in got and time.monotonic() < deadline:
        got += s.recv(65536)
    assert got.startswith(b"HTTP/1.1 101 ")
    assert b'{"type":"pong"}' in got
    s.close()
    world.open_gate()


def test_compressed_client_messages_are_understood(world):
    srv = world.serve(project_toml("p", "echo hi\n" + WAIT_GATE), env=world.env(GATE=world.gate))
    rid = srv.trigger("p")["id"]
    sock = ws(srv, f"/ws/v1/runs/{rid}/log", deflate=True)
    assert sock.deflate and sock.server_no_context_takeover
    z = zlib.compressobj(wbits=-15)
    payload = z.compress(b"ping") + z.flush(zlib.Z_SYNC_FLUSH)
    assert payload.endswith(b"\x00\x00\xff\xff")
    sock._send_frame(0x1, payload[:-4], rsv1=True)
    sock.sock.settimeout(10)
    while True:
        m = sock.recv_json()
        if m["type"] == "pong":
            break
    world.open_gate()
    sock.close()


@pytest.mark.parametrize("frame,code", [
    (struct.pack("!BB", 0x81, 4) + b"ping", 1002),          # not masked
    (masked(0x1, b"\xc3\x28"), 1007),                        # text that is not UTF-8
    (masked(0x3, b"x"), 1002),                               # reserved opcode
    (struct.pack("!BBQ", 0x82, 0x80 | 127, 1 << 40) + b"mask", 1009),  # 1 TiB message
])
def test_protocol_errors_close_with_the_matching_code(world, frame, code):
    srv = world.serve(project_toml("p", WAIT_GATE), env=world.env(GATE=world.gate))
    rid = srv.trigger("p")["id"]
    sock = ws(srv, f"/ws/v1/runs/{rid}/log")
    assert sock.recv_json()["type"] == "run"
    sock.sock.sendall(frame)
    with pytest.raises(Closed) as e:
        sock.sock.settimeout(10)
        while True:
            sock.recv()
    assert e.value.code == code
    assert e.value.reason
    world.open_gate()


def test_viewer_limits_refuse_with_503_and_say_which(world):
    server = FAST_WS + "ws_max_viewers = 3\nws_max_viewers_per_run = 2\n"
    srv = world.serve(project_toml("p", WAIT_GATE), project_toml("q", WAIT_GATE),
                      env=world.env(GATE=world.gate), server_toml=server)
    a = srv.trigger("p")["id"]
    b = srv.trigger("q")["id"]
    keep = [ws(srv, f"/ws/v1/runs/{a}/log"), ws(srv, f"/ws/v1/runs/{a}/log")]
    with pytest.raises(HandshakeError) as e:
        ws(srv, f"/ws/v1/runs/{a}/log")
    assert e.value.status == 503 and "ws_max_viewers_per_run" in e.value.body
    assert e.value.headers.get("retry-after")
    keep.append(ws(srv, f"/ws/v1/runs/{b}/log"))
    with pytest.raises(HandshakeError) as e:
        ws(srv, f"/ws/v1/runs/{b}/log")
    assert e.value.status == 503 and "ws_max_viewers" in e.value.body
    # A viewer that leaves makes room.
    keep.pop(0).close()
    deadline = time.monotonic() + 10
    while True:
        try:
            keep.append(ws(srv, f"/ws/v1/runs/{a}/log"))
            break
        except HandshakeError:
            assert time.monotonic() < deadline, "room never freed"
            time.sleep(0.05)
    world.open_gate()


def test_bad_handshakes_are_refused_before_the_upgrade(world):
    srv = world.serve(project_toml("p", "echo hi\n"))
    rid = srv.trigger("p")["id"]
    srv.wait_run(rid)
    path = f"/ws/v1/runs/{rid}/log"
    for req, status in [(handshake(srv.port, path, key=b"short"), 400),
                        (handshake(srv.port, path, version=b"8"), 426)]:
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        s.sendall(req)
        head = s.recv(65536)
        assert head.startswith(f"HTTP/1.1 {status} ".encode()), head[:80]
        if status == 426:
            assert b"Sec-WebSocket-Version: 13" in head
        s.close()


def test_stopping_the_server_closes_viewers_with_1012_and_where_to_resume(world):
    srv = world.serve(project_toml("p", "echo started\n" + WAIT_GATE),
                      env=world.env(GATE=world.gate))
    rid = srv.trigger("p")["id"]
    sock = ws(srv, f"/ws/v1/runs/{rid}/log")
    msgs = []
    while not any(m["type"] == "log" for m in msgs):
        msgs.append(sock.recv_json())
    _, nxt = log_bytes_of(msgs)
    srv.stop()
    with pytest.raises(Closed) as e:
        sock.sock.settimeout(10)
        while True:
            sock.recv()
    assert e.value.code == 1012  # service restart: reconnect (to the next server)
    assert f"?offset={nxt}" in e.value.reason
    world.open_gate()


def test_on_stop_idle_keep_alive_connections_close_at_once_and_requests_in_flight_say_close(world):
    """For ~2 s after SIGTERM the old server used to keep answering on open
    keep-alive connections while refusing new ones."""
    srv = world.serve(project_toml("p", "echo started\n" + WAIT_GATE),
                      env=world.env(GATE=world.gate))
    rid = srv.trigger("p")["id"]
    # A follower keeps the server draining after SIGTERM (up to 2 s).
    follow = srv.stream(f"/api/v1/runs/{rid}/log?follow=1")
    follow.read_until(b"started")
    idle = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    idle.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n\r\n".encode())
    assert idle.recv(4096).startswith(b"HTTP/1.1 200 ")
    half = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    half.sendall(f"GET /api/v1/projects HTTP/1.1\r\nHost: 127.0.0.1:{srv.port}\r\n".encode())
    srv.send_signal(signal.SIGTERM)
    srv.wait_line(lambda l: "SIGTERM: stopping" in l)
    # The idle one is closed now, while the server is still draining.
    assert idle.recv(4096) == b""
    assert srv.proc.poll() is None
    # The one in flight is answered, with Connection: close, then closed.
    half.sendall(b"\r\n")
    answer = b""
    while True:
        chunk = half.recv(65536)
        if not chunk:
            break
        answer += chunk
    head = answer.split(b"\r\n\r\n")[0].decode().lower()
    assert head.startswith("http/1.1 200 ") and "connection: close" in head, head
    follow.close()
    world.open_gate()
