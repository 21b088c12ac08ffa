"""The log endpoint: offsets, lines, live follow, pruning."""

import os
import threading

import jenky_harness as h
from jenky_harness import WAIT_GATE, project_toml

# Multi-byte UTF-8, a tab, a carriage return, a long line and no final newline.
LOG_SCRIPT = r"""
printf 'first line\n'
printf 'zweite Zeile: \303\244\303\266\303\274 \342\202\254\n'
printf 'tab\there\r\n'
head -c 5000 /dev/zero | tr '\0' x
printf '\nlast line without newline'
"""


def finished_log(world, srv):
    rid = srv.trigger("p")["id"]
    assert srv.wait_run(rid)["status"] == "succeeded"
    log = srv.log(rid)
    assert log.startswith(b"first line\n") and log.endswith(b"last line without newline")
    return rid, log


def test_log_offset_resumes_exactly_where_asked(world):
    srv = world.serve(project_toml("p", LOG_SCRIPT))
    rid, log = finished_log(world, srv)
    for offset in [0, 1, 11, 12, 13, 30, len(log) // 2, len(log) - 1, len(log)]:
        r = srv.get(f"/api/v1/runs/{rid}/log?offset={offset}")
        assert r.status == 200, (offset, r)
        assert r.body == log[offset:], offset
        assert r.headers["X-Jenky-Log-Offset"] == str(offset)
        assert r.headers["Content-Length"] == str(len(log) - offset)
        assert r.headers["X-Jenky-Run-Status"] == "succeeded"
        assert r.headers["Content-Type"].startswith("text/plain")
    # Pieces fetched by successive offsets rebuild the log byte for byte.
    pieces, offset = [], 0
    for size in [7, 1, 100, 3000, 10**6]:
        body = srv.log(rid, f"?offset={offset}")[:size]
        pieces.append(body)
        offset += len(body)
    assert b"".join(pieces) == log


def test_log_offset_past_the_end_of_a_finished_run_is_416(world):
    srv = world.serve(project_toml("p", "printf 'abc\\n'\n"))
    rid = srv.trigger("p")["id"]
    srv.wait_run(rid)
    r = srv.get(f"/api/v1/runs/{rid}/log?offset=5")
    assert r.status == 416
    assert r.error() == ("offset_out_of_range", "offset 5 is past the end of the log (4 bytes)")


def test_log_rejects_a_bad_offset_or_line(world):
    srv = world.serve(project_toml("p", "echo hi\n"))
    rid = srv.trigger("p")["id"]
    srv.wait_run(rid)
    for bad in ["-1", "abc", "1.5", "", "99999999999999999999999"]:
        r = srv.get(f"/api/v1/runs/{rid}/log?offset={bad}")
        assert r.status == 400, (bad, r)
        assert r.error() == ("bad_request", "offset must be a byte count (0 or more)"), bad
    for bad in ["0", "-3", "x"]:
        r = srv.get(f"/api/v1/runs/{rid}/log?line={bad}")
        assert r.status == 400, (bad, r)
        assert r.error() == ("bad_request", "line must be a line number (1 or more)"), bad
    r = srv.get("/api/v1/runs/4242/log")
    assert r.status == 404
    assert r.error() == ("not_found", "no run with id 4242")


def test_log_line_starts_at_that_line_in_a_long_log(world):
    srv = world.serve(project_toml("p", 'seq -f "line %g" 1 30000\n'))
    rid = srv.trigger("p")["id"]
    assert srv.wait_run(rid)["status"] == "succeeded"
    full = srv.log(rid)
    lines = full.split(b"\n")[:-1]
    assert len(lines) == 30000
    for n in [1, 2, 1024, 1025, 2049, 12345, 29999, 30000]:
        body = srv.log(rid, f"?line={n}")
        assert body.startswith(f"line {n}\n".encode()), n
        assert body == full[len(b"\n".join(lines[:n - 1])) + (1 if n > 1 else 0):], n
    assert srv.log(rid, "?line=30001") == b""
    assert srv.log(rid, "?line=999999") == b""


def test_follow_delivers_bytes_while_the_run_is_still_running(world):
    srv = world.serve(project_toml("p", "echo first\n" + WAIT_GATE + "echo second\n",
                                   env={"GATE": world.gate}))
    rid = srv.trigger("p")["id"]
    stream = srv.stream(f"/api/v1/runs/{rid}/log?follow=1")
    assert stream.status == 200
    assert stream.headers["X-Accel-Buffering"] == "no"
    assert stream.headers["Transfer-Encoding"] == "chunked"
    assert stream.headers["Content-Type"].startswith("text/plain")
    assert stream.read_until(b"first\n") == b"first\n"
    # The script is still waiting for the gate: we saw its output live.
    assert srv.run(rid)["status"] == "running"
    assert not os.path.exists(world.gate)
    world.open_gate()
    assert stream.read_to_end() == b"first\nsecond\n"
    stream.close()
    assert srv.wait_run(rid)["status"] == "succeeded"


def test_follow_from_an_offset_resumes_a_live_stream_without_gap_or_repeat(world):
    srv = world.serve(project_toml("p", "echo aaaa\n" + WAIT_GATE + "echo bbbb\n",
                                   env={"GATE": world.gate}))
    rid = srv.trigger("p")["id"]
    s1 = srv.stream(f"/api/v1/runs/{rid}/log?follow=1")
    got = s1.read_until(b"aaaa\n")
    s1.close()  # a viewer that went away
    s2 = srv.stream(f"/api/v1/runs/{rid}/log?follow=1&offset={len(got)}")
    assert s2.headers["X-Jenky-Log-Offset"] == str(len(got))
    world.open_gate()
    assert s2.read_to_end() == b"bbbb\n"
    s2.close()
    # Mid-line offsets work too.
    s3 = srv.stream(f"/api/v1/runs/{rid}/log?follow=1&offset=2")
    assert s3.read_to_end() == b"aa\nbbbb\n"
    s3.close()


def test_follow_of_a_finished_run_sends_the_log_and_ends(world):
    srv = world.serve(project_toml("p", "echo done\n"))
    rid = srv.trigger("p")["id"]
    srv.wait_run(rid)
    s = srv.stream(f"/api/v1/runs/{rid}/log?follow=1")
    assert s.headers["X-Jenky-Run-Status"] == "succeeded"
    assert s.read_to_end() == b"done\n"
    s.close()


def test_follow_of_a_queued_run_waits_for_it_to_start(world):
    srv = world.serve(project_toml("p", 'echo "run $JENKY_RUN_ID"\n' + WAIT_GATE,
                                   concurrency="queue", env={"GATE": world.gate}))
    first = srv.trigger("p")["id"]
    second = srv.trigger("p")["id"]
    assert srv.run(second)["status"] == "queued"
    s = srv.stream(f"/api/v1/runs/{second}/log?follow=1")
    assert s.status == 200
    assert s.headers["X-Jenky-Run-Status"] == "queued"
    world.open_gate()
    assert s.read_to_end() == f"run {second}\n".encode()
    s.close()
    assert srv.wait_run(first)["status"] == "succeeded"
    assert srv.wait_run(second)["status"] == "succeeded"


def test_many_followers_each_get_the_whole_log(world):
    srv = world.serve(project_toml(
        "p", 'seq 1 2000\n' + WAIT_GATE + 'seq 2001 4000\n', env={"GATE": world.gate}))
    rid = srv.trigger("p")["id"]
    srv.wait_log(rid, "\n2000\n")
    streams = [srv.stream(f"/api/v1/runs/{rid}/log?follow=1") for _ in range(10)]
    results = [None] * len(streams)

    def read(i):
        results[i] = streams[i].read_to_end()

    threads = [threading.Thread(target=read, args=(i,)) for i in range(len(streams))]
    for t in threads:
        t.start()
    world.open_gate()
    for t in threads:
        t.join(20)
    expected = "".join(f"{i}\n" for i in range(1, 4001)).encode()
    for i, r in enumerate(results):
        assert r == expected, f"follower {i} got {len(r or b'')} bytes"
    for s in streams:
        s.close()


def test_keep_runs_prunes_old_logs_but_keeps_history(world):
    srv = world.serve(project_toml("p", 'echo "log of $JENKY_RUN_ID"\n', keep_runs=2))
    ids = []
    for _ in range(4):
        rid = srv.trigger("p")["id"]
        assert srv.wait_run(rid)["status"] == "succeeded"
        ids.append(rid)
    srv.wait_line(r"project=p pruned the logs of")

    runs = srv.get_json("/api/v1/projects/p/runs")
    assert [r["id"] for r in runs] == ids[::-1], "pruning must keep the history"
    pruned = {r["id"]: r["log_pruned"] for r in runs}
    assert pruned == {ids[0]: True, ids[1]: True, ids[2]: False, ids[3]: False}
    assert all(r["status"] == "succeeded" for r in runs)
    for rid in ids[:2]:
        r = srv.get(f"/api/v1/runs/{rid}/log")
        assert r.status == 410
        assert r.error() == ("gone", f"the log of run {rid} was pruned (keep_runs)")
        r = srv.get(f"/api/v1/runs/{rid}/script")
        assert r.status == 410
        assert "pruned" in r.error()[1]
        assert not os.path.exists(os.path.join(world.data_dir, "runs", str(rid)))
        assert srv.run(rid)["log_pruned"] is True
    for rid in ids[2:]:
        assert srv.log(rid) == f"log of {rid}\n".encode()

    p = world.cli("logs", ids[0], server=srv)
    assert p.returncode == 6
    assert "pruned" in p.stderr

    # Still so after a restart.
    srv.stop()
    srv2 = world.server(srv.config_path)
    assert srv2.get(f"/api/v1/runs/{ids[1]}/log").status == 410
    assert [r["id"] for r in srv2.get_json("/api/v1/runs")] == ids[::-1]


def test_follow_can_start_at_a_line(world):
    srv = world.serve(project_toml("p", "printf 'one\\ntwo\\nthree\\n'\n" + WAIT_GATE + "echo four\n",
                                   env={"GATE": world.gate}))
    rid = srv.trigger("p")["id"]
    srv.wait_log(rid, "three\n")
    s = srv.stream(f"/api/v1/runs/{rid}/log?follow=1&line=2")
    assert s.headers["X-Jenky-Log-Offset"] == "4"
    s.read_until(b"three\n")
    world.open_gate()
    assert s.read_to_end() == b"two\nthree\nfour\n"
    s.close()


def test_a_running_runs_log_bytes_follow_its_log(world):
    srv = world.serve(project_toml("p", "seq 1 500\n" + WAIT_GATE + "seq 501 1000\n",
                                   env={"GATE": world.gate}))
    rid = srv.trigger("p")["id"]
    first = "".join(f"{i}\n" for i in range(1, 501)).encode()
    srv.wait_log(rid, first)
    h.wait_until(lambda: srv.run(rid)["log_bytes"] == len(first), 10,
                 what="log_bytes of the running run to reach the log size")
    assert srv.get_json("/api/v1/projects/p")["last_run"]["log_bytes"] == len(first)
    r = srv.get(f"/api/v1/runs/{rid}/log")
    assert r.headers["X-Jenky-Run-Status"] == "running"
    assert r.body == first
    # An offset past the current end of a running log is not an error yet.
    r = srv.get(f"/api/v1/runs/{rid}/log?offset={len(first) + 100}")
    assert r.status == 200 and r.body == b""
    world.open_gate()
    done = srv.wait_run(rid)
    full = "".join(f"{i}\n" for i in range(1, 1001)).encode()
    assert done["log_bytes"] == len(full)
    assert srv.log(rid) == full
