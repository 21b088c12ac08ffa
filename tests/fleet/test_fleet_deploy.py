"""Fleet deploys end to end: the real jenky, real sshd test hosts
(sshhosts.py), the system's ssh and rsync."""

import json
import os
import re
import subprocess

import jenky_harness as h
import pytest

SECRET = "hunter2-fleet-secret"


def trust_all(world, fleet):
    d = os.path.join(world.data_dir, "ssh")
    os.makedirs(d, mode=0o700, exist_ok=True)
    with open(os.path.join(d, "known_hosts"), "w") as f:
        f.write(fleet.known_hosts())


def fleet_project(script, rollout="", **keys):
    lines = ["[projects.app]", f"script = '''\n{script}'''", 'deploy_dir = "/srv/app"',
             'secrets = ["DB_PASSWORD"]', 'env = { GREETING = "hello from the project" }']
    keys.setdefault("targets", ["web"])
    for k, v in keys.items():
        lines.append(f"{k} = {h.toml_str(v) if isinstance(v, str) else json.dumps(v)}")
    text = "\n".join(lines) + "\n"
    if rollout:
        text += "[projects.app.rollout]\n" + rollout + "\n"
    return text


def serve(world, fleet, project, trust=True):
    if trust:
        trust_all(world, fleet)
    world.extra_env["DB_PASSWORD"] = SECRET
    return world.serve(project, extra=fleet.hosts_toml())


def hosts_of(run):
    return {x["name"]: x for x in run["hosts"]}


def current(host):
    p = os.path.join(host.srv, "app", "current")
    return os.readlink(p) if os.path.islink(p) else None


def test_a_deploy_builds_once_uploads_prepares_and_switches_every_host(world, fleet3):
    # The workdir holds what the build makes and the upload sends.
    srv = serve(world, fleet3, fleet_project(
        'echo "switch on $JENKY_HOST idx=$HOST_INDEX pw=$DB_PASSWORD greet=$GREETING"\n'
        'echo "release=$JENKY_RELEASE_DIR"\ncat dist/app.txt\n',
        rollout='batch = 2\npause = "1s"',
        build='mkdir -p dist && echo "built by run $JENKY_RUN_ID" > dist/app.txt && echo built',
        upload=["dist/app.txt"],
        prepare='test -f dist/app.txt && echo "prepared $(cat dist/app.txt)"',
        health='test "$(cat dist/app.txt)" = "built by run $JENKY_RUN_ID"'))
    run = srv.trigger("app")
    done = srv.wait_run(run["id"], timeout=90)
    log = srv.log(run["id"]).decode()
    assert done["status"] == "succeeded", log
    rid = run["id"]
    assert log.count("built\n") == 1, "the build runs once, here"
    hosts = hosts_of(done)
    assert sorted(hosts) == ["h0", "h1", "h2"]
    for host in fleet3.hosts:
        x = hosts[host.name]
        assert x["status"] == "healthy", x
        assert x["reason"] == ""
        assert current(host) == f"releases/{rid}"
        with open(os.path.join(host.srv, "app", "releases", str(rid), "dist", "app.txt")) as f:
            assert f.read() == f"built by run {rid}\n"
        assert (f"[{host.name}] switch on {host.name} idx={host.index} pw=*** "
                f"greet=hello from the project\n") in log
        assert f"[{host.name}] release=/srv/app/releases/{rid}\n" in log
        host_log = srv.log(rid, f"?host={host.name}").decode()
        assert f"switch on {host.name} idx={host.index} pw=***" in host_log
        assert not any(line.startswith("[") for line in host_log.splitlines()), host_log
    assert "switching batch 1 of 2: h0, h1" in log and "switching batch 2 of 2: h2" in log
    assert "jenky: 3 of 3 host(s) healthy" in log
    # The summary's rows end where their text does (no reason: no padding).
    assert re.search(r"^jenky: h0 +healthy$", log, re.M), log
    assert "link-dest" not in log, "rsync's warning of the first deploy (no current) is dropped"
    # The secret is in no log on disk, merged or per host.
    for root, _, files in os.walk(os.path.join(world.data_dir, "runs", str(rid))):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                assert SECRET.encode() not in f.read(), os.path.join(root, name)
    r = srv.get(f"/api/v1/runs/{rid}/log?host=nope")
    assert r.status == 404, r
    # A second deploy sends only what changed, and moves current on.
    run2 = srv.trigger("app")
    done2 = srv.wait_run(run2["id"], timeout=90)
    assert done2["status"] == "succeeded", srv.log(run2["id"]).decode()
    assert all(current(x) == f"releases/{run2['id']}" for x in fleet3.hosts)


def test_a_host_failing_its_health_check_rolls_back_every_switched_host(world, fleet3):
    srv = serve(world, fleet3, fleet_project(
        'echo "switched $JENKY_HOST to $JENKY_RELEASE_DIR"\n',
        health='! test -e /srv/broken',
        rollout='health_timeout = "2s"'))
    first = srv.wait_run(srv.trigger("app")["id"], timeout=60)
    assert first["status"] == "succeeded", srv.log(first["id"]).decode()
    open(os.path.join(fleet3[2].srv, "broken"), "w").close()  # only h2's
    second = srv.wait_run(srv.trigger("app")["id"], timeout=90)
    log = srv.log(second["id"]).decode()
    assert second["status"] == "failed", log
    hosts = hosts_of(second)
    assert hosts["h0"]["status"] == "rolled back", hosts
    assert hosts["h1"]["status"] == "rolled back", hosts
    assert hosts["h2"]["status"] == "failed", hosts
    assert "health check still failing" in hosts["h2"]["reason"]
    assert "rolled back to its previous release" in hosts["h2"]["reason"]
    assert "max_failures is 0" in hosts["h0"]["reason"]
    # The run's reason names the failed host and why, in its JSON and its log.
    reason = second["reason"]
    assert reason.startswith("1 of 3 hosts failed: h2: health check still failing"), reason
    assert reason.endswith("; 2 rolled back (the rollout stopped: 1 host(s) failed, "
                           "max_failures is 0)"), reason
    assert f"jenky: {reason}\n" in log
    for x in fleet3.hosts:  # the fleet ends on one version: the first
        assert current(x) == f"releases/{first['id']}", x.name
        assert not os.path.exists(os.path.join(x.srv, "app", "releases", str(second["id"])))


def test_jenky_rollback_takes_every_host_back_to_the_previous_release(world, fleet3):
    srv = serve(world, fleet3, fleet_project(
        'echo "now $(basename $JENKY_RELEASE_DIR) action=$JENKY_ACTION"\n', rollout="batch = 3"))
    first = srv.wait_run(srv.trigger("app")["id"], timeout=60)
    second = srv.wait_run(srv.trigger("app")["id"], timeout=60)
    assert first["status"] == second["status"] == "succeeded"
    assert all(current(x) == f"releases/{second['id']}" for x in fleet3.hosts)
    r = world.cli("rollback", "app", "--follow", server=srv, timeout=60)
    assert r.returncode == 0, r.stderr
    for x in fleet3.hosts:
        assert current(x) == f"releases/{first['id']}"
        assert f"[{x.name}] now {first['id']} action=rollback" in r.stdout
    assert "HOST" in r.stderr and "healthy" in r.stderr, r.stderr  # the host table


def test_a_host_that_vanishes_mid_deploy_fails_with_its_reason_and_the_rest_go_on(world, fleet3):
    gate = os.path.join(world.root, "gate-vanish")
    srv = serve(world, fleet3, fleet_project(
        f'echo started\nwhile [ ! -e {gate} ]; do sleep 0.05; done\necho done\n',
        rollout='batch = 3\non_failure = "continue"\nmax_failures = 1'))
    run = srv.trigger("app")
    for x in fleet3.hosts:
        srv.wait_log(run["id"], f"[{x.name}] started", timeout=60)
    fleet3[1].kill_sshd()
    open(gate, "w").close()
    done = srv.wait_run(run["id"], timeout=60)
    hosts = hosts_of(done)
    assert done["status"] == "failed"
    assert hosts["h1"]["status"] == "failed"
    assert hosts["h1"]["reason"].startswith(f"switch: lost the connection to h1 ({fleet3[1].address}"
                                            ":22)"), hosts["h1"]
    assert hosts["h0"]["status"] == hosts["h2"]["status"] == "healthy"


def test_a_slow_host_still_deploys(world, fleet3):
    try:
        fleet3[2].delay(150)  # tc netem on its link
    except subprocess.CalledProcessError as e:
        pytest.skip(f"tc netem is not available on this kernel: {e.stderr.strip()}")
    srv = serve(world, fleet3, fleet_project('echo ok\n', rollout="batch = 3"))
    done = srv.wait_run(srv.trigger("app")["id"], timeout=90)
    assert done["status"] == "succeeded", srv.log(done["id"]).decode()
    h2 = hosts_of(done)["h2"]
    assert h2["status"] == "healthy"


def test_an_unreachable_host_fails_with_its_reason_and_the_rest_follow_the_policy(world, fleet3):
    fleet3[1].kill_sshd()
    srv = serve(world, fleet3, fleet_project(
        'echo ok\n', rollout='on_failure = "continue"\nmax_failures = 1\nbatch = 3'))
    run = srv.wait_run(srv.trigger("app")["id"], timeout=60)
    hosts = hosts_of(run)
    assert run["status"] == "failed"
    assert hosts["h1"]["status"] == "failed"
    assert hosts["h1"]["reason"] == (f"connection to h1 ({fleet3[1].address}:22) refused: is its "
                                     "sshd running on that port?")
    assert hosts["h0"]["status"] == hosts["h2"]["status"] == "healthy"


def test_past_max_failures_before_any_switch_nothing_is_switched_and_releases_are_cleaned(
        world, fleet3):
    fleet3[2].refuse_login()
    srv = serve(world, fleet3, fleet_project('echo switched\n'))
    run = srv.wait_run(srv.trigger("app")["id"], timeout=60)
    hosts = hosts_of(run)
    assert hosts["h2"]["status"] == "failed"
    assert hosts["h2"]["reason"].startswith("login to h2 as root was refused"), hosts["h2"]
    for name in ("h0", "h1"):
        assert hosts[name]["status"] == "skipped", hosts
        assert "failed to prepare" in hosts[name]["reason"]
    for x in fleet3.hosts[:2]:
        assert current(x) is None
        assert os.listdir(os.path.join(x.srv, "app", "releases")) == []


def test_an_untrusted_or_changed_host_key_fails_that_host_with_the_fingerprint(world, fleet3):
    # h0 never trusted; h1 trusted, then its key changes; h2 trusted.
    old_h1 = f"jenky:h1 {fleet3[1].host_key_line()}\n"
    fleet3[1].change_host_key()
    d = os.path.join(world.data_dir, "ssh")
    os.makedirs(d, mode=0o700, exist_ok=True)
    with open(os.path.join(d, "known_hosts"), "w") as f:
        f.write(old_h1 + f"jenky:h2 {fleet3[2].host_key_line()}\n")
    srv = serve(world, fleet3, fleet_project('echo hi\n', rollout='on_failure = "continue"\n'
                                             'max_failures = 3'), trust=False)
    run = srv.wait_run(srv.trigger("app")["id"], timeout=60)
    hosts = hosts_of(run)
    assert hosts["h0"]["status"] == hosts["h1"]["status"] == "failed"
    assert hosts["h0"]["reason"] == (
        f"host key of h0 ({fleet3[0].address}:22) is not trusted yet (it offers "
        f"{fleet3[0].fingerprint()}): check it and run `jenky hosts trust h0`")
    assert hosts["h1"]["reason"].startswith(
        f"host key of h1 ({fleet3[1].address}:22) has CHANGED: it now offers "
        f"{fleet3[1].fingerprint()}, not the key jenky trusts"), hosts["h1"]
    assert hosts["h2"]["status"] == "healthy"


def test_cancel_ends_the_remote_process_tree_on_every_host(world, fleet3):
    srv = serve(world, fleet3, fleet_project(
        'sleep 300 &\nsetsid sleep 301 &\necho started\nwait\n', rollout="batch = 3"))
    run = srv.trigger("app")
    for x in fleet3.hosts:
        srv.wait_log(run["id"], f"[{x.name}] started", timeout=60)
    assert all(any("sleep" in " ".join(a) for _, a in x.processes()) for x in fleet3.hosts)
    r = srv.post(f"/api/v1/runs/{run['id']}/cancel")
    assert r.status == 202
    done = srv.wait_run(run["id"], timeout=30)
    assert done["status"] == "cancelled"
    for x in fleet3.hosts:  # nothing of the deploy is left on any host
        h.wait_until(lambda: x.processes() == [], 15, what=f"{x.name} to have no processes left")
        assert hosts_of(done)[x.name]["status"] == "failed"
        assert hosts_of(done)[x.name]["reason"] == "cancelled"


def test_a_timeout_ends_the_remote_process_tree_on_every_host(world, fleet3):
    srv = serve(world, fleet3, fleet_project(
        'sleep 300 &\nsetsid sleep 301 &\necho started\nwait\n', rollout="batch = 3",
        timeout="20s"))
    run = srv.trigger("app")
    # The timeout must find every host's tree started: preparing three hosts
    # took over 4 s under ASan with both CPUs busy (CI), hence 20 s.
    h.wait_until(lambda: all(f"[{x.name}] started" in srv.log(run["id"]).decode()
                             for x in fleet3.hosts), 20, what="every host started")
    done = srv.wait_run(run["id"], timeout=60)
    assert done["status"] == "timed_out", done
    for x in fleet3.hosts:
        assert f"[{x.name}] started" in srv.log(run["id"]).decode()
        h.wait_until(lambda: x.processes() == [], 15, what=f"{x.name} to have no processes left")


def test_a_restart_of_jenky_mid_deploy_loses_nothing(world, fleet3):
    gate = os.path.join(world.root, "fleet-gate")
    srv = serve(world, fleet3, fleet_project(
        f'while [ ! -e {gate} ]; do sleep 0.05; done\necho through\n',
        rollout="batch = 3"))
    run = srv.trigger("app")
    h.wait_until(lambda: [x["status"] for x in srv.run(run["id"]).get("hosts", [])] ==
                 ["switching"] * 3, 60, what="every host switching")
    srv.kill9()
    srv2 = world.server(srv.config_path)
    open(gate, "w").close()
    done = srv2.wait_run(run["id"], timeout=60)
    assert done["status"] == "succeeded", srv2.log(run["id"]).decode()
    assert all(x["status"] == "healthy" for x in done["hosts"])
    assert srv2.log(run["id"]).decode().count("through\n") == 3


def test_hosts_commands_check_trust_and_explain_each_failure(world, fleet3):
    cfg = world.config(extra=fleet3.hosts_toml() + '\n[hosts.ghost]\naddress = "nohost.invalid"\n')
    args = ["--config", cfg, "--data-dir", world.data_dir]
    out = world.cli("hosts", "list", *args, check_rc=0).stdout
    assert "h0" in out and "no" in out
    r = world.cli("hosts", "check", "h0", *args, check_rc=1)
    assert f"not trusted yet (it offers {fleet3[0].fingerprint()})" in r.stdout, r.stdout
    r = world.cli("hosts", "trust", "h0", "--fingerprint", "SHA256:wrong", *args, check_rc=1)
    assert "offers no key with fingerprint SHA256:wrong: nothing recorded" in r.stderr
    r = world.cli("hosts", "trust", "h0", *args, check_rc=2)
    assert "pass --fingerprint FP" in r.stderr
    r = world.cli("hosts", "trust", "h0", "--fingerprint", fleet3[0].fingerprint(), *args,
                  check_rc=0)
    assert fleet3[0].fingerprint() in r.stdout
    world.cli("hosts", "trust", "h1", "--yes", *args, check_rc=0)
    world.cli("hosts", "trust", "h2", "--yes", *args, check_rc=0)
    assert "ok (reached as root" in world.cli("hosts", "check", "h0", *args, check_rc=0).stdout
    fleet3[0].change_host_key()
    fleet3[1].refuse_login()
    fleet3[2].kill_sshd()
    r = world.cli("hosts", "check", *args, check_rc=1, timeout=60)
    lines = {ln.split()[0]: ln for ln in r.stdout.splitlines()}
    assert f"has CHANGED: it now offers {fleet3[0].fingerprint()}" in lines["h0"], r.stdout
    assert "login to h1 as root was refused" in lines["h1"], r.stdout
    assert "refused: is its sshd running" in lines["h2"], r.stdout
    assert "cannot resolve the address of ghost ('nohost.invalid')" in lines["ghost"], r.stdout
    fleet3[2].start_sshd()
    fleet3[2].link_down()
    r = world.cli("hosts", "check", "h2", *args, check_rc=1, timeout=60)
    assert "timed out" in r.stdout, r.stdout
    r = world.cli("hosts", "check", "nope", *args, check_rc=2)
    assert "no host named 'nope'" in r.stderr


def test_jenky_check_reports_an_unknown_target(world, fleet1):
    cfg = world.config(fleet_project("echo\n", targets=["web", "db"]), extra=fleet1.hosts_toml())
    r = world.cli("check", "--config", cfg, check_rc=1)
    assert "projects.app.targets: 'db' is neither a host nor a tag of one (hosts: h0)" in r.stderr


@pytest.fixture(autouse=True)
def _no_sshd_leftovers(world):
    yield
    # Every control master of a run is closed when the run ends. Only this
    # test's (its ssh config is in its data dir): a benchmark or another
    # suite on the same machine has its own.
    out = subprocess.run(["pgrep", "-af", "HostKeyAlias=jenky:"], capture_output=True,
                         text=True).stdout
    mine = [line for line in out.splitlines() if world.root in line]
    assert mine == [], mine
