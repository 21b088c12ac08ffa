"""Watching a fleet run host by host (docs/fleet.md, "Watching it"): a host's
own log over the WebSocket (?host=NAME) live and resumable, its errors, and
the CLI's `logs --host` and per-host summary table. Real sshd test hosts
(sshhosts.py), the real jenky and the system's ssh; root only."""

import json
import os
import re
import time

from wsclient import Closed, HandshakeError, WebSocket

# Each host waits for a gate file in its own /srv, so the test decides when
# it moves on (one host switched at a time: batch 1).
GATED = """
[projects.app]
targets = ["web"]
deploy_dir = "/srv/app"
script = '''
echo "waiting on $JENKY_HOST"
while [ ! -e /srv/gate ]; do sleep 0.1; done
echo "through the gate on $JENKY_HOST"
'''
"""


def serve(world, fleet):
    d = os.path.join(world.data_dir, "ssh")
    os.makedirs(d, mode=0o700, exist_ok=True)
    with open(os.path.join(d, "known_hosts"), "w") as f:
        f.write(fleet.known_hosts())
    return world.serve(GATED, extra=fleet.hosts_toml())


def gate(host):
    open(os.path.join(host.srv, "gate"), "w").close()


def until(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def host_status(srv, rid, name):
    return {x["name"]: x for x in srv.run(rid).get("hosts", [])}.get(name, {}).get("status")


def ws(srv, path):
    return WebSocket(f"ws://127.0.0.1:{srv.port}{path}", timeout=30)


def read_until(sock, pred, what, timeout=30):
    """Log messages until PRED(joined data) holds; returns (messages, data)."""
    msgs, data = [], ""
    end = time.monotonic() + timeout
    while not pred(data):
        assert time.monotonic() < end, f"no {what} within {timeout}s; got {data!r}"
        m = sock.recv_json()
        msgs.append(m)
        if m["type"] == "log":
            data += m["data"]
    return msgs, data


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_hosts_log_streams_live_over_the_websocket_and_resumes(world, fleet3):
    srv = serve(world, fleet3)
    rid = srv.trigger("app")["id"]
    until(lambda: host_status(srv, rid, "h0") == "switching", 60, "h0 switching")

    sock = ws(srv, f"/ws/v1/runs/{rid}/log?host=h0")
    first = sock.recv_json()
    assert first["type"] == "run" and first["run"]["id"] == rid
    assert [x["name"] for x in first["run"]["hosts"]] == ["h0", "h1", "h2"]
    msgs, data = read_until(sock, lambda d: "waiting on h0\n" in d, "h0's first line")
    logs = [m for m in msgs if m["type"] == "log"]
    assert all(m["host"] == "h0" and m["run"] == rid for m in logs), logs
    assert logs[0]["offset"] == 0 and logs[0]["line"] == 0
    assert not any(line.startswith("[") for line in data.splitlines()), data

    # Waiting at the gate, the viewer costs the server nothing: no timer,
    # no polling of the file (a busy loop would burn CPU here).
    before = cpu_seconds(srv.proc.pid)
    time.sleep(2)
    idle = cpu_seconds(srv.proc.pid) - before
    assert idle < 0.2, f"jenky used {idle:.2f}s of CPU in 2s with one idle host viewer"

    # h0 goes on: its next line arrives live, while the run still runs (h1
    # waits at its own gate), within a second.
    gate(fleet3[0])
    t0 = time.monotonic()
    msgs, more = read_until(sock, lambda d: "through the gate on h0\n" in d, "h0's live line")
    latency = time.monotonic() - t0
    assert srv.run(rid)["status"] == "running"
    assert latency < 5, f"the line took {latency:.1f}s"
    data += more
    # Each change of a host's state comes as a status message with the
    # hosts (h0 healthy, h1 switching), while the run runs.
    seen = msgs
    while not any(m["type"] == "status" and m["run"]["hosts"][1]["status"] == "switching"
                  for m in seen):
        m = sock.recv_json()
        seen.append(m)
        if m["type"] == "log":
            data += m["data"]
    hosts = [m for m in seen if m["type"] == "status"][-1]["run"]["hosts"]
    assert [(x["name"], x["status"]) for x in hosts] == [
        ("h0", "healthy"), ("h1", "switching"), ("h2", "prepared")], hosts
    assert all(m["run"]["status"] == "running" for m in seen if m["type"] == "status")
    msgs = seen
    # Offsets are contiguous across messages.
    offsets = [(m["offset"], m["next"]) for m in logs + [m for m in msgs if m["type"] == "log"]]
    assert all(a[1] == b[0] for a, b in zip(offsets, offsets[1:])), offsets

    # The rest of the fleet: the host's stream ends with the run.
    gate(fleet3[1])
    gate(fleet3[2])
    rest, code, reason = [], None, None
    try:
        while True:
            rest.append(sock.recv_json())
    except Closed as c:
        code, reason = c.code, c.reason
    assert (code, reason) == (1000, "run finished")
    assert rest[-1]["type"] == "status" and rest[-1]["run"]["status"] == "succeeded"
    data += "".join(m["data"] for m in rest if m["type"] == "log")
    whole = srv.log(rid, "?host=h0").decode()
    assert data == whole, (data, whole)
    assert "jenky: healthy" in whole

    # Resume at an offset (mid-log): the rest, whole, numbered from its line.
    cut = whole.index("through the gate")
    sock = ws(srv, f"/ws/v1/runs/{rid}/log?host=h0&offset={cut}")
    sock.recv_json()
    msgs, code = [], None
    try:
        while True:
            msgs.append(sock.recv_json())
    except Closed as c:
        code = c.code
    logs = [m for m in msgs if m["type"] == "log"]
    assert code == 1000
    assert "".join(m["data"] for m in logs) == whole[cut:]
    assert logs[0]["offset"] == cut and logs[0]["line"] == whole[:cut].count("\n")

    # Raw frames: the bytes alone.
    sock = ws(srv, f"/ws/v1/runs/{rid}/log?host=h1&format=raw")
    raw = ""
    try:
        while True:
            raw += sock.recv()[1].decode()
    except Closed:
        pass
    assert raw == srv.log(rid, "?host=h1").decode() and "through the gate on h1" in raw


def test_websocket_host_errors_say_what_is_wrong(world, fleet1):
    srv = serve(world, fleet1)
    gate(fleet1[0])
    rid = srv.trigger("app")["id"]
    srv.wait_run(rid, timeout=60)
    http = srv.get(f"/api/v1/runs/{rid}/log?host=nope")
    assert http.status == 404
    assert http.json()["error"]["message"] == f"run {rid} has no host named 'nope'"
    for path, status, message in [
        (f"/ws/v1/runs/{rid}/log?host=nope", 404, http.json()["error"]["message"]),
        ("/ws/v1/projects/app/log?host=h0", 400, "host cannot be used with a project's stream"),
        (f"/ws/v1/runs/{rid}/log?host=h0&offset=999999", 416, "offset 999999 is past the end"),
    ]:
        try:
            ws(srv, path)
            raise AssertionError(f"{path} was accepted")
        except HandshakeError as e:
            assert e.status == status, (path, e.status, e.body)
            body = json.loads(e.body)
            assert message in body["error"]["message"], (path, body)


def test_the_cli_prints_a_hosts_log_and_ends_a_followed_run_with_the_hosts_table(world, fleet3):
    srv = serve(world, fleet3)
    for host in fleet3:
        gate(host)
    # deploy --follow: the merged log on stdout, the hosts' table on stderr.
    p = world.cli("deploy", "app", "--follow", server=srv, timeout=120, check_rc=0)
    assert "[h1] through the gate on h1\n" in p.stdout
    rows = [line.split() for line in p.stderr.splitlines()]
    assert ["HOST", "STATUS", "REASON"] in rows, p.stderr
    assert ["h0", "healthy"] in rows and ["h1", "healthy"] in rows and ["h2", "healthy"] in rows
    rid = int(re.search(r"jenky: run (\d+)", p.stderr).group(1))

    # logs --host: that host's own log, as the API serves it.
    p = world.cli("logs", rid, "--host", "h2", server=srv, check_rc=0)
    assert p.stdout == srv.log(rid, "?host=h2").decode()
    assert "through the gate on h2\n" in p.stdout and "[h2]" not in p.stdout
    p = world.cli("logs", rid, "--host", "h2", "--follow", server=srv, check_rc=0)
    assert p.stdout == srv.log(rid, "?host=h2").decode()
    assert "HOST" in p.stderr and "h2" in p.stderr
    # logs --follow of the merged log ends with the same table.
    p = world.cli("logs", rid, "--follow", server=srv, check_rc=0)
    assert p.stdout == srv.log(rid).decode()
    assert [line.split()[:2] for line in p.stderr.splitlines()] == [
        ["HOST", "STATUS"], ["h0", "healthy"], ["h1", "healthy"], ["h2", "healthy"]], p.stderr
    # An unknown host: the API's message, and a failing exit.
    p = world.cli("logs", rid, "--host", "nope", server=srv)
    assert p.returncode != 0 and f"run {rid} has no host named 'nope'" in p.stderr, p.stderr


def test_a_queued_runs_host_log_is_empty_until_the_host_starts_then_streams(world, fleet1):
    # Before its driver starts, a run has no host states: its project's
    # hosts say which it will have (a viewer opening the run page of a
    # queued fleet run asked for ?host= and got a 404).
    srv = serve(world, fleet1)
    first = srv.trigger("app")["id"]
    until(lambda: host_status(srv, first, "h0") == "switching", 60, "the first run at the gate")
    second = srv.trigger("app")["id"]
    assert srv.run(second)["status"] == "queued"
    http = srv.get(f"/api/v1/runs/{second}/log?host=h0")
    assert http.status == 200, http.body
    assert http.body == b""
    nope = srv.get(f"/api/v1/runs/{second}/log?host=nope")
    assert nope.status == 404
    assert nope.json()["error"]["message"] == f"run {second} has no host named 'nope'"
    sock = ws(srv, f"/ws/v1/runs/{second}/log?host=h0")
    try:
        gate(fleet1[0])
        _, data = read_until(sock, lambda d: "through the gate on h0" in d, "the host's own lines")
        assert "waiting on h0" in data
    finally:
        sock.close()
    assert srv.wait_run(second, timeout=60)["status"] == "succeeded"
