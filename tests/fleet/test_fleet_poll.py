"""Polling over ssh (docs/webhooks.md, "Polling"): a repository on a real
sshd test host, reached with the system's `git ls-remote` through an ssh
config, as a server behind a firewall polls its forge. ssh reads the config
of the user's passwd entry, not $HOME's: the test points GIT_SSH_COMMAND at
its own with -F, as an operator can in the unit's Environment=. A moved head
deploys; an unreachable host is a 502 record with git's message, not a hung
poll."""

import os

import jenky_harness as h

# The git helpers of the e2e polling tests (tests/e2e is on the path: conftest.py).
from test_poll import git  # noqa: E402


def ssh_config(world, fleet1):
    """An ssh config that names the host `forge`: how an operator points
    jenky's git at a server only ssh reaches."""
    host = fleet1[0]
    home = os.path.join(world.root, "home")
    os.makedirs(os.path.join(home, ".ssh"), mode=0o700)
    known = os.path.join(home, ".ssh", "known_hosts")
    with open(known, "w") as f:
        f.write(f"{host.address} {host.host_key_line()}\n")
    with open(os.path.join(home, ".ssh", "config"), "w") as f:
        f.write(f"Host forge\n  HostName {host.address}\n  User root\n"
                f"  IdentityFile {fleet1.client_key}\n  UserKnownHostsFile {known}\n"
                "  StrictHostKeyChecking yes\n  ConnectTimeout 5\n")
    return os.path.join(home, ".ssh", "config")


def test_a_repository_on_an_ssh_host_is_polled_and_deploys(world, fleet1):
    host = fleet1[0]
    # /srv/shop.git on the host: HOST.srv seen from here.
    bare = os.path.join(host.srv, "shop.git")
    git("init", "-q", "--bare", "-b", "main", bare)
    work = os.path.join(world.root, "work")
    git("clone", "-q", bare, work)
    git("checkout", "-q", "-b", "main", cwd=work)
    git("commit", "-q", "--allow-empty", "-m", "first", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)

    world.extra_env["GIT_SSH_COMMAND"] = f"ssh -F {ssh_config(world, fleet1)}"
    srv = world.serve(h.project_toml("app", 'echo "deploying $JENKY_COMMIT"\n'),
                      extra='[projects.app.poll]\nrepo = "forge:/srv/shop.git"\n'
                            'interval = "1s"\n')

    def deliveries():
        return srv.get_json("/api/v1/projects/app/deliveries")
    h.wait_until(lambda: any(d["status"] == 200 for d in deliveries()), timeout=20,
                 what="the first look over ssh")
    first = [d for d in deliveries() if d["status"] == 200][0]
    assert first["reason"].startswith("first look: main at "), first

    git("commit", "-q", "--allow-empty", "-m", "second", cwd=work)
    git("push", "-q", "origin", "main", cwd=work)
    head = git("rev-parse", "HEAD", cwd=work)
    h.wait_until(lambda: srv.get_json("/api/v1/projects/app/runs"), timeout=20,
                 what="a run for the new head")
    run = srv.wait_run(srv.get_json("/api/v1/projects/app/runs")[0]["id"])
    assert run["status"] == "succeeded", run
    assert f"deploying {head}" in srv.log(run["id"]).decode()

    # The host goes away: the poll fails with git's (ssh's) reason and backs off.
    host.link_down()
    h.wait_until(lambda: any(d["status"] == 502 for d in deliveries()), timeout=30,
                 what="a failed poll recorded")
    failed = [d for d in deliveries() if d["status"] == 502][0]
    assert "git ls-remote failed" in failed["reason"] and "next try in" in failed["reason"], failed
    host.link_up()
