"""Issue 15, section 1: under CPU contention, a script that double-forks at its
very start (`( setsid bash -c 'exec sleep 1000' & ) &`) used to leave that
process running after the run was reported cancelled or timed out: the
orphan was made while the spare supervisor still read its RunSpec, before it
was a subreaper, and went to init. Here both CPUs are kept busy by stress-ng
while runs that double-fork at once are cancelled at once, time out, and hit
max_log_bytes, many times over; after each run is reported over, no process
of it is left: not by its unique argv, not by its run marker.

JENKY_ESCAPE_CYCLES sets the number of runs of each kind (default 15)."""

import os
import shutil
import signal
import subprocess

import pytest

import jenky_harness as h
from jenky_harness import project_toml

CYCLES = int(os.environ.get("JENKY_ESCAPE_CYCLES", "15"))


def double_fork(tag, rest):
    # First thing the script does; the sleep's argv names the run.
    return (f"( setsid bash -c 'exec -a {tag}-$JENKY_RUN_ID sleep 1000' & ) &\n"
            f"( ( exec -a {tag}-$JENKY_RUN_ID-nohup nohup sleep 1001 >/dev/null 2>&1 & ) & ) \n"
            + rest)


@pytest.fixture
def busy_cpus():
    """stress-ng keeping both CPUs busy for the whole test (its own process
    group, ended by its id at the end)."""
    binary = shutil.which("stress-ng")
    if not binary:
        pytest.skip("stress-ng is not installed (apt-get install stress-ng)")
    proc = subprocess.Popen([binary, "--cpu", str(os.cpu_count() or 2), "--timeout", "900s",
                             "--quiet"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        yield proc
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def survivors(world, tag, rid):
    run_dir = os.path.join(world.data_dir, "runs", str(rid))
    return (h.pids_matching(argv_part=f"{tag}-{rid}".encode()) +
            h.pids_matching(env_entry=f"JENKY_RUN_DIR={run_dir}".encode()))


def test_runs_that_double_fork_at_once_leave_nothing_under_cpu_load(world, busy_cpus):
    tag = "e2e-escape-" + world.tag
    srv = world.serve(
        project_toml("c", double_fork(tag, "echo started\nsleep 1000\n")),
        project_toml("t", double_fork(tag, "echo started\nsleep 1000\n"), timeout="700ms"),
        project_toml("l", double_fork(tag, "yes 'a line of output'\n"), max_log_bytes="4KiB"))
    expected = {"c": "cancelled", "t": "timed_out", "l": "failed"}
    left = []
    for cycle in range(CYCLES):
        for project in ("c", "t", "l"):
            run = srv.trigger(project)
            if project == "c":
                # At once: the script may still be in its first instruction,
                # its supervisor still reading the RunSpec.
                r = srv.post(f"/api/v1/runs/{run['id']}/cancel")
                assert r.status in (202, 409), r
            done = srv.wait_run(run["id"], timeout=60)
            assert done["status"] == expected[project], (cycle, done)
            found = survivors(world, tag, run["id"])
            if found:
                left.append((cycle, project, run["id"], found))
                h.kill_pids(found)
    assert left == [], f"processes outlived their runs: {left}"
    # The whole process table, once more, for anything of any of these runs.
    assert h.pids_matching(argv_part=tag.encode()) == []
