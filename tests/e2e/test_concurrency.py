"""Concurrency policies under 20 rapid, concurrent triggers."""

import re
import threading

import jenky_harness as h
from jenky_harness import WAIT_GATE, project_toml

N = 20

# Appends start/end markers (with nanosecond timestamps) to $MARKS. A
# cancelled script writes its end marker from the TERM trap (once: jenky may
# deliver TERM both to the process group and to each process).
MARKED_SCRIPT = r"""
trap 'trap "" TERM; echo "end $JENKY_RUN_ID ${EPOCHREALTIME/./}000 term" >> "$MARKS"; exit 143' TERM
echo "start $JENKY_RUN_ID ${EPOCHREALTIME/./}000" >> "$MARKS"
echo "run $JENKY_RUN_ID"
""" + WAIT_GATE + r"""
sleep 0.02
echo "end $JENKY_RUN_ID ${EPOCHREALTIME/./}000 ok" >> "$MARKS"
"""


def trigger_concurrently(srv, project, n=N):
    """N threads trigger at once; returns the N responses' runs sorted by id."""
    barrier = threading.Barrier(n)
    results, errors = [None] * n, []

    def one(i):
        try:
            barrier.wait(10)
            results[i] = srv.post(f"/api/v1/projects/{project}/runs")
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    for r in results:
        assert r is not None and r.status == 202, r
    runs = sorted((r.json() for r in results), key=lambda run: run["id"])
    ids = [run["id"] for run in runs]
    assert len(set(ids)) == n, f"duplicate run ids: {ids}"
    assert ids == list(range(ids[0], ids[0] + n)), f"run ids are not consecutive: {ids}"
    return runs


def check_marks(path):
    """Checks that no two scripts ran at once; returns the ids in start order
    and the ids that ended normally."""
    with open(path) as f:
        lines = f.read().splitlines()
    current, order, ok, last_ts = None, [], [], 0
    for line in lines:
        parts = line.split()
        kind, rid, ts = parts[0], int(parts[1]), int(parts[2])
        assert ts >= last_ts, f"timestamps go back at {line!r}:\n" + "\n".join(lines)
        last_ts = ts
        if kind == "start":
            assert current is None, f"run {rid} started while run {current} ran:\n" + "\n".join(lines)
            current = rid
            order.append(rid)
        else:
            # A TERM can land after the trap is set but before the start line.
            assert current in (rid, None), f"run {rid} ended while run {current} ran"
            if current is None:
                assert rid not in order
            current = None
            if parts[3] == "ok":
                ok.append(rid)
    assert current is None, f"run {current} never ended"
    return order, ok


class RunningSampler:
    """Samples the project's runs during a test: never two running at once."""

    def __init__(self, srv, project):
        self.srv, self.project = srv, project
        self.max_running, self.samples = 0, 0
        self.stop = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        try:
            while not self.stop.is_set():
                runs = self.srv.get_json(f"/api/v1/projects/{self.project}/runs?limit=100")
                running = [r["id"] for r in runs if r["status"] == "running"]
                self.max_running = max(self.max_running, len(running))
                self.samples += 1
                self.stop.wait(0.01)
        except Exception as e:  # noqa: BLE001
            self.error = e

    def finish(self):
        self.stop.set()
        self.thread.join(10)
        assert self.error is None, self.error
        assert self.samples > 0
        assert self.max_running <= 1, f"{self.max_running} runs were running at once"


def test_coalesce_runs_the_first_and_the_last_of_20_rapid_triggers(world):
    marks = world.path("marks")
    srv = world.serve(project_toml("p", MARKED_SCRIPT, concurrency="coalesce",
                                   env={"GATE": world.gate, "MARKS": marks}))
    sampler = RunningSampler(srv, "p")
    runs = trigger_concurrently(srv, "p")
    first, last = runs[0]["id"], runs[-1]["id"]
    world.open_gate()
    final = {r["id"]: srv.wait_run(r["id"], timeout=30) for r in runs}
    sampler.finish()

    succeeded = sorted(i for i, r in final.items() if r["status"] == "succeeded")
    assert succeeded == [first, last], {i: (r["status"], r["reason"]) for i, r in final.items()}
    for i in range(first + 1, last):
        r = final[i]
        assert r["status"] == "cancelled", r
        # Each pending run was replaced by the very next trigger.
        assert r["reason"] == f"superseded by run {i + 1}", r
        assert r["started_at"] is None, r
    order, ok = check_marks(marks)
    assert order == [first, last]
    assert ok == [first, last]
    assert srv.log(last) == f"run {last}\n".encode()


def test_queue_runs_all_20_rapid_triggers_in_order_one_at_a_time(world):
    marks = world.path("marks")
    srv = world.serve(project_toml("p", MARKED_SCRIPT, concurrency="queue",
                                   env={"GATE": world.gate, "MARKS": marks}))
    sampler = RunningSampler(srv, "p")
    runs = trigger_concurrently(srv, "p")
    ids = [r["id"] for r in runs]
    # Everything but the first is waiting while the gate is shut.
    queued = [r for r in srv.get_json("/api/v1/projects/p/runs?limit=100") if r["status"] == "queued"]
    assert len(queued) == N - 1
    world.open_gate()
    final = [srv.wait_run(i, timeout=60) for i in ids]
    sampler.finish()

    assert [r["status"] for r in final] == ["succeeded"] * N, [(r["id"], r["status"], r["reason"]) for r in final]
    order, ok = check_marks(marks)
    assert order == ids
    assert ok == ids
    # Start times follow the ids, and each starts after the previous finished.
    for a, b in zip(final, final[1:]):
        assert a["finished_at"] <= b["started_at"], (a, b)


def test_cancel_previous_cancels_the_running_one_and_only_the_last_succeeds(world):
    marks = world.path("marks")
    srv = world.serve(project_toml("p", MARKED_SCRIPT, concurrency="cancel-previous",
                                   env={"GATE": world.gate, "MARKS": marks}))
    first = srv.trigger("p")
    srv.wait_run(first["id"], "running")
    h.wait_until(lambda: h.os.path.exists(marks), 10, what="the first run's start mark")
    sampler = RunningSampler(srv, "p")
    runs = trigger_concurrently(srv, "p")
    last = runs[-1]["id"]
    # The last trigger's run gets to run; only then open the gate.
    srv.wait_run(last, "running", timeout=30)
    world.open_gate()
    final = {r["id"]: srv.wait_run(r["id"], timeout=30) for r in [first] + runs}
    sampler.finish()

    succeeded = [i for i, r in final.items() if r["status"] == "succeeded"]
    assert succeeded == [last], {i: (r["status"], r["reason"]) for i, r in final.items()}
    for i, r in final.items():
        if i == last:
            continue
        assert r["status"] == "cancelled", r
        m = re.fullmatch(r"superseded by run (\d+)", r["reason"] or "")
        assert m and int(m.group(1)) > i, r
    # The first run was running when the burst came: it was cancelled.
    assert final[first["id"]]["started_at"] is not None
    order, ok = check_marks(marks)
    assert order[0] == first["id"] and order[-1] == last
    assert ok == [last]


def test_queue_beyond_max_queued_is_429(world):
    srv = world.serve(project_toml("p", WAIT_GATE, concurrency="queue", max_queued=2,
                                   env={"GATE": world.gate}))
    a = srv.trigger("p")
    b = srv.trigger("p")
    c = srv.trigger("p")
    r = srv.post("/api/v1/projects/p/runs")
    assert r.status == 429, r
    code, msg = r.error()
    assert code == "queue_full"
    assert "max_queued" in msg and "'p'" in msg
    # The refused trigger created no run and burned no id.
    ids = [x["id"] for x in srv.get_json("/api/v1/projects/p/runs")]
    assert ids == [c["id"], b["id"], a["id"]]
    world.open_gate()
    for x in (a, b, c):
        assert srv.wait_run(x["id"])["status"] == "succeeded"
    d = srv.trigger("p")
    assert d["id"] == c["id"] + 1


def test_different_projects_run_at_the_same_time(world):
    srv = world.serve(project_toml("a", "echo a\n" + WAIT_GATE, env={"GATE": world.gate}),
                      project_toml("b", "echo b\n" + WAIT_GATE, env={"GATE": world.gate}))
    ra = srv.trigger("a")
    rb = srv.trigger("b")
    srv.wait_run(ra["id"], "running")
    srv.wait_run(rb["id"], "running")
    world.open_gate()
    assert srv.wait_run(ra["id"])["status"] == "succeeded"
    assert srv.wait_run(rb["id"])["status"] == "succeeded"
