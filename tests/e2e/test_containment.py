"""A run's processes never escape, and what a run used is recorded
(docs/security.md, "Processes left behind"; docs/run_dir.md, exit.json)."""

import json
import os
import re

import jenky_harness as h
from jenky_harness import WAIT_GATE, project_toml


def cgroup_tree(srv):
    """The cgroup tree the server put its runs in, or None (it logs which)."""
    line = srv.wait_line(r"each run gets a cgroup in |runs get no cgroup: ")
    m = re.search(r"each run gets a cgroup in (\S+) \(controllers:(.*)\)", line)
    return (m.group(1), m.group(2)) if m else (None, "")


def busy_script(marker):
    return f"""
( setsid bash -c 'exec -a {marker}-a sleep 500' & ) &
for ((i = 0; i < 100000; i++)); do :; done
echo spun
"""


def test_a_finished_run_reports_what_it_used_and_leaves_no_cgroup(world):
    marker = "e2e-resources-" + world.tag
    srv = world.serve(project_toml("p", busy_script(marker)))
    tree, controllers = cgroup_tree(srv)
    run = srv.trigger("p")
    done = srv.wait_run(run["id"])
    # The double-forked sleep was left behind: stopped, and the run says so.
    assert done["status"] == "succeeded", done
    assert done["reason"] == "stopped 1 process the script left running", done
    assert h.pids_matching(argv_part=marker.encode()) == []

    res = done["resources"]
    assert 0.02 < res["cpu_seconds"] < 120, res
    if tree:
        # Counted in the run's cgroup: bash, the subshells and the sleep.
        assert res["processes_peak"] >= 1, res
        assert ("memory_peak_bytes" in res) == ("memory" in controllers), (res, controllers)
        # The supervisor removed the run's cgroup as it ended.
        with open(os.path.join(world.data_dir, "runs", str(run["id"]), "supervisor.json")) as f:
            path = json.load(f)["cgroup"]
        assert path.startswith(tree + "/sup-"), path
        assert not os.path.exists(path)
    else:
        assert "memory_peak_bytes" not in res
    with open(os.path.join(world.data_dir, "runs", str(run["id"]), "exit.json")) as f:
        assert json.load(f)["resources"] == res

    # Kept with the run: in lists, and after a restart (from the database).
    assert srv.get_json("/api/v1/projects/p/runs")[0]["resources"] == res
    srv.stop()
    again = world.server()
    assert again.run(run["id"])["resources"] == res


def test_a_running_or_cancelled_before_start_run_has_no_resources(world):
    srv = world.serve(project_toml("p", WAIT_GATE, env={"GATE": world.gate}))
    run = srv.trigger("p")
    assert "resources" not in srv.wait_run(run["id"], "running")
    world.open_gate()
    assert "resources" in srv.wait_run(run["id"])


def test_each_run_is_in_its_own_cgroup_which_the_supervisor_is_not_in(world):
    srv = world.serve(project_toml("p", 'cat /proc/self/cgroup\n' + WAIT_GATE,
                                   env={"GATE": world.gate}))
    tree, _ = cgroup_tree(srv)
    if not tree:
        import pytest
        pytest.skip("no writable cgroup v2 on this host (the server's log says why)")
    run = srv.trigger("p")
    srv.wait_log(run["id"], "0::")
    sup = h.read_supervisor_pid(world.data_dir, run["id"])
    with open(os.path.join(world.data_dir, "runs", str(run["id"]), "supervisor.json")) as f:
        path = json.load(f)["cgroup"]
    mount = tree[:tree.rfind("/jenky")] if tree.endswith("/jenky") else None
    script_cgroup = srv.log(run["id"]).decode().split("0::", 1)[1].split("\n", 1)[0]
    assert path.endswith(script_cgroup), (path, script_cgroup)
    with open(f"/proc/{sup}/cgroup") as f:
        assert script_cgroup not in f.read()
    assert mount is None or path.startswith(mount)
    world.open_gate()
    srv.wait_run(run["id"])
    h.wait_until(lambda: not os.path.exists(path), 5, what="the run's cgroup to be removed")


def test_limits_the_host_cannot_apply_are_refused_at_start_saying_why(world):
    srv = world.serve(project_toml("p", "true\n"))
    tree, controllers = cgroup_tree(srv)
    srv.stop()
    path = world.config(project_toml("p", "true\n", memory_max="256MiB", tasks_max=64))
    if tree and "memory" in controllers and "pids" in controllers:
        # This host can: the limits are applied to the run's cgroup.
        srv = world.server(path)
        run = srv.trigger("p")
        assert srv.wait_run(run["id"])["status"] == "succeeded"
        return
    srv = world.server(path, start=False).spawn()
    rc, stderr = srv.run_to_exit()
    assert rc == 1
    # `jenky check` on this host says the same.
    p = world.cli("check", "--config", path)
    assert p.returncode == 1, p
    assert f"error: {path}: projects.p." in p.stderr, p.stderr
    missing = [c for c in ("memory", "pids") if c not in controllers]
    for controller in missing:
        key = "memory_max" if controller == "memory" else "tasks_max"
        assert (f"projects.p.{key} needs the cgroup v2 {controller} controller, which jenky "
                f"cannot use here: ") in stderr or \
            f"projects.p.{key} needs a cgroup v2 for each run" in stderr, stderr
        assert f"remove projects.p.{key} or fix that" in stderr
