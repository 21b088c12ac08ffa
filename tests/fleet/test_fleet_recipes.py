"""The systemd-release and static-site recipes on a fleet (docs/fleet.md,
"Recipes on a fleet"): real jenky, real sshd test hosts (sshhosts.py), the
system's ssh and rsync.

The test hosts run no systemd. For systemd-release each host gets a
`systemctl` stand-in (SYSTEMCTL below) on its PATH, through the host's `env`
in the config (PATH = "/srv/bin:..."): it knows one unit, `app`, whose
service is Python's http.server started in /srv/app/current, on
127.0.0.1:8080 of the host's own network namespace. Everything else is the
recipe as shipped: its build runs once here, its artifacts go to every host
with rsync, and on each host the recipe checks the unit, restarts it and
health-checks it over HTTP with curl.
"""

import os

import pytest
from test_fleet_deploy import hosts_of, trust_all

SYSTEMCTL = r"""#!/bin/sh
# systemctl stand-in for the fleet test hosts (no systemd there): one unit,
# "app", that serves /srv/app/current on 127.0.0.1:8080.
echo "$*" >> /srv/systemctl.log
args=
for a in "$@"; do
  case $a in -*) ;; *) args="$args $a" ;; esac
done
set -- $args
cmd=$1 unit=${2:-}
if [ "$unit" != app ]; then
  if [ "$cmd" = show ]; then echo not-found; exit 0; fi
  echo "Unit $unit.service could not be found." >&2
  exit 4
fi
running() { [ -f /srv/app.pid ] && kill -0 "$(cat /srv/app.pid)" 2>/dev/null; }
case $cmd in
  show) echo loaded ;;
  cat) echo "ExecStart=/usr/bin/python3 -m http.server 8080 (in /srv/app/current)" ;;
  reset-failed) ;;
  restart)
    if running; then
      old=$(cat /srv/app.pid)
      kill "$old"
      while kill -0 "$old" 2>/dev/null; do sleep 0.05; done
    fi
    cd /srv/app/current || exit 1
    env -u JENKY_STEP setsid python3 -m http.server 8080 --bind 127.0.0.1 \
      </dev/null >/dev/null 2>&1 &
    echo $! > /srv/app.pid
    echo "$(pwd -P)" >> /srv/restarts ;;
  is-active)
    if running; then echo active; else echo inactive; exit 3; fi ;;
  *) echo "systemctl stand-in: $cmd is not supported" >&2; exit 1 ;;
esac
"""

HOST_PATH = "/srv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def read(path):
    with open(path) as f:
        return f.read()


def restarts(host):
    p = os.path.join(host.srv, "restarts")
    return read(p).split() if os.path.exists(p) else []


def stop_services(fleet):
    for x in fleet.hosts:
        p = os.path.join(x.srv, "app.pid")
        if os.path.exists(p):
            try:
                os.kill(int(read(p)), 9)
            except (OSError, ValueError):
                pass


@pytest.fixture
def app_hosts(fleet3):
    for x in fleet3.hosts:
        os.makedirs(os.path.join(x.srv, "bin"), exist_ok=True)
        path = os.path.join(x.srv, "bin", "systemctl")
        with open(path, "w") as f:
            f.write(SYSTEMCTL)
        os.chmod(path, 0o755)
    yield fleet3
    stop_services(fleet3)


def serve(world, fleet, project, **hosts_kw):
    trust_all(world, fleet)
    return world.serve(project, extra=fleet.hosts_toml(**hosts_kw))


def test_systemd_release_on_a_fleet_builds_once_uploads_restarts_and_rolls_back(world, app_hosts):
    work = os.path.join(world.root, "work")
    os.makedirs(work)
    mode = os.path.join(work, "mode")
    with open(mode, "w") as f:
        f.write("good")
    project = f"""[projects.app]
recipe = "systemd-release"
workdir = "{work}"
targets = ["web"]
[projects.app.params]
build = 'mkdir -p out && echo "$(cat mode)-$JENKY_RUN_ID" > out/version.txt && echo x > out/extra-1.txt && echo built'
artifacts = "out/version.txt out/extra-*.txt"
unit = "app"
releases = "/srv/app"
health_url = "http://127.0.0.1:8080/version.txt"
health_cmd = 'curl -fsS http://127.0.0.1:8080/version.txt | cmp -s - "$JENKY_RELEASE_DIR/version.txt" && ! grep -q broken "$JENKY_RELEASE_DIR/version.txt"'
health_timeout = 3
"""
    srv = serve(world, app_hosts, project, env={"PATH": HOST_PATH})
    first = srv.wait_run(srv.trigger("app")["id"], timeout=90)
    log = srv.log(first["id"]).decode()
    assert first["status"] == "succeeded", log
    rid = first["id"]
    assert log.count("built\n") == 1, "the build runs once, here"
    for x in app_hosts.hosts:
        assert hosts_of(first)[x.name]["status"] == "healthy"
        release = os.path.join(x.srv, "app", "releases", str(rid))
        # Each artifact under its base name, as the recipe does here.
        assert read(os.path.join(release, "version.txt")) == f"good-{rid}\n"
        assert os.path.exists(os.path.join(release, "extra-1.txt"))
        assert os.readlink(os.path.join(x.srv, "app", "current")) == f"releases/{rid}"
        # Restarted once, from the new release (the stand-in records where).
        assert restarts(x) == [f"/srv/app/releases/{rid}"], restarts(x)
        assert f"[{x.name}] restarted app on release {rid}\n" in log
        assert f"[{x.name}] healthy: systemctl is-active app, GET http" in log

    # A release that fails its health check: the first host is rolled back
    # (the unit restarted on the previous release), the others untouched.
    with open(mode, "w") as f:
        f.write("broken")
    second = srv.wait_run(srv.trigger("app")["id"], timeout=90)
    log = srv.log(second["id"]).decode()
    assert second["status"] == "failed", log
    hosts = hosts_of(second)
    assert hosts["h0"]["status"] == "failed", hosts
    assert hosts["h1"]["status"] == hosts["h2"]["status"] == "skipped", hosts
    reason = second["reason"]
    assert reason.startswith("1 of 3 hosts failed: h0: health check still failing"), reason
    assert "error: health_cmd exited with status 1" in reason, reason
    assert "rolled back to its previous release; 2 skipped" in reason, reason
    for x in app_hosts.hosts:
        assert os.readlink(os.path.join(x.srv, "app", "current")) == f"releases/{rid}"
        assert not os.path.exists(os.path.join(x.srv, "app", "releases", str(second["id"])))
    assert restarts(app_hosts[0]) == [f"/srv/app/releases/{rid}",
                                      f"/srv/app/releases/{second['id']}",
                                      f"/srv/app/releases/{rid}"], restarts(app_hosts[0])
    assert restarts(app_hosts[1]) == [f"/srv/app/releases/{rid}"]


def test_systemd_release_on_a_fleet_fails_a_host_whose_unit_is_missing(world, app_hosts):
    work = os.path.join(world.root, "work")
    os.makedirs(work)
    project = f"""[projects.app]
recipe = "systemd-release"
workdir = "{work}"
targets = ["web"]
params = {{ build = "echo a > a.bin", artifacts = "a.bin", unit = "nope", releases = "/srv/app" }}
"""
    srv = serve(world, app_hosts, project, env={"PATH": HOST_PATH})
    run = srv.wait_run(srv.trigger("app")["id"], timeout=90)
    assert run["status"] == "failed"
    # Prepare fails everywhere, so nothing is switched.
    assert run["reason"].startswith("3 of 3 hosts failed: h0: prepare: prepare exited with "
                                    "status 1: error: there is no systemd unit 'nope'"), run
    for x in app_hosts.hosts:
        assert not os.path.exists(os.path.join(x.srv, "app", "current"))
        assert restarts(x) == []


def test_static_site_on_a_fleet_publishes_through_one_symlink_and_rolls_back(world, fleet3):
    work = os.path.join(world.root, "work")
    os.makedirs(work)
    for x in fleet3.hosts:
        os.makedirs(os.path.join(x.srv, "www"))
    # h2's target is a real directory: it cannot be switched atomically.
    os.makedirs(os.path.join(fleet3[2].srv, "www", "site"))
    project = f"""[projects.app]
recipe = "static-site"
workdir = "{work}"
targets = ["web"]
params = {{ build = 'mkdir -p dist/css && echo "page $JENKY_RUN_ID" > dist/index.html && echo c > dist/css/a.css', output = "dist", target = "/srv/www/site" }}
[projects.app.rollout]
batch = 3
"""
    srv = serve(world, fleet3, project)
    bad = srv.wait_run(srv.trigger("app")["id"], timeout=90)
    assert bad["status"] == "failed"
    assert bad["reason"].startswith("1 of 3 hosts failed: h2: prepare: prepare exited with "
                                    "status 1: error: /srv/www/site exists and is not a "
                                    "symlink"), bad["reason"]
    assert not os.path.lexists(os.path.join(fleet3[0].srv, "www", "site")), "nothing switched"
    os.rmdir(os.path.join(fleet3[2].srv, "www", "site"))

    ids = []
    for _ in range(2):
        run = srv.wait_run(srv.trigger("app")["id"], timeout=90)
        assert run["status"] == "succeeded", srv.log(run["id"]).decode()
        ids.append(run["id"])
    for x in fleet3.hosts:
        www = os.path.join(x.srv, "www")
        assert os.readlink(os.path.join(www, "site")) == "site.releases/current"
        assert os.readlink(os.path.join(www, "site.releases", "current")) == f"releases/{ids[1]}"
        # The output's contents are the release: the site is at the link.
        assert read(os.path.join(www, "site", "index.html")) == f"page {ids[1]}\n"
        assert read(os.path.join(www, "site", "css", "a.css")) == "c\n"
    r = world.cli("rollback", "app", "--follow", server=srv, timeout=60)
    assert r.returncode == 0, r.stderr
    for x in fleet3.hosts:
        assert read(os.path.join(x.srv, "www", "site", "index.html")) == f"page {ids[0]}\n"
