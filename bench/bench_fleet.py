#!/usr/bin/env python3
"""Fleet deploy benchmark: jenky against the parallel-ssh floor, Ansible
and Capistrano.

20 real sshd test hosts (tests/fleet/sshhosts.py: network and mount
namespaces; root only). The work on each host, for both: upload a 50 MiB
artifact (an uncompressed tar of random data), unpack it into a new release
directory, switch `current`, restart a small service (a Python HTTP server
serving the release, in the host's own network namespace), and health-check it with
curl. Timed: a first deploy, then a second one with 64 KiB of the artifact
changed (the artifact mostly unchanged: rsync sends jenky's as a delta against
the current release; parallel-scp sends it whole).

  parallel-ssh floor: parallel-scp the artifact to every host, then one
    parallel-ssh running unpack + switch + restart + health check, -p 20.
  Ansible: a playbook of the same steps (copy, file, unarchive, shell,
    shell, uri), forks = 20, its default ssh (ControlPersist 60s).
  Capistrano: a task over every host in parallel (SSHKit's upload! and
    execute; its stock deploy flow wants a git repository on each host).
  jenky: one project with targets = all 20 hosts, upload = the artifact,
    prepare = unpack, script = restart, health = curl; rollout batch = 20
    (all at once, like the peers), pause 0; then the same with batch "25%".

Prints a Markdown table. Wall time is trigger to run end (jenky) and first
command to last exit (pssh); CPU is user+system of every process involved
(jenky: the run's `resources.cpu_seconds`, its cgroup, ssh and rsync
included; pssh: its children's rusage). RSS: the fleet driver's peak
(VmHWM), and its growth per host from a 1-host run.

--link 100mbit puts each host behind such a link (tc tbf on its veth, for
every peer alike); --uplink 1gbit puts this machine behind one shared link
to all of them (tbf on the bridge). On the bare veth pairs
the network is nearly free and the 2 CPUs the hosts share are what is
measured, which a real fleet is not.

usage: sudo bench/bench_fleet.py [--hosts N] [--mib M] [--peers ansible,capistrano]
                                 [--link RATE] [--uplink RATE]
"""

import argparse
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "fleet"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

import jenky_harness as h  # noqa: E402
import sshhosts  # noqa: E402

SERVICE = r"""
cd /srv/app/current
if [ -f /srv/app.pid ]; then kill "$(cat /srv/app.pid)" 2>/dev/null || true; fi
ADDR=127.0.0.1
setsid python3 -m http.server 8080 </dev/null >/dev/null 2>&1 &
echo $! > /srv/app.pid
for i in $(seq 1 100); do curl -fsS -o /dev/null "http://$ADDR:8080/" && exit 0; sleep 0.05; done
exit 1
"""
HEALTH = "curl -fsS -o /dev/null http://127.0.0.1:8080/payload.bin"


def make_artifact(workdir, mib, seed_change=False):
    os.makedirs(os.path.join(workdir, "pkg"), exist_ok=True)
    payload = os.path.join(workdir, "pkg", "payload.bin")
    if not os.path.exists(payload):
        with open(payload, "wb") as f:
            f.write(os.urandom(mib << 20))
    if seed_change:
        with open(payload, "r+b") as f:
            f.seek((mib << 20) // 2)
            f.write(os.urandom(64 << 10))
    subprocess.run(["tar", "cf", os.path.join(workdir, "app.tar"), "-C",
                    os.path.join(workdir, "pkg"), "payload.bin"], check=True)


def peak_rss_watch(stop, out):
    """Keeps the largest VmHWM of any `jenky __fleet` process in OUT."""
    while not stop.is_set():
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    cmd = f.read()
                if not cmd.endswith(b"__fleet\0"):
                    continue
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            out[0] = max(out[0], int(line.split()[1]))
            except OSError:
                pass
        time.sleep(0.01)


def machine_busy_seconds():
    """CPU seconds this machine's CPUs have been busy, all of them, since
    boot (/proc/stat: everything but idle and iowait): with the hosts on
    the same CPUs, what a deploy costs the machine as a whole."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    busy = sum(fields) - fields[3] - fields[4]
    return busy / os.sysconf("SC_CLK_TCK")


def jenky_runs(binary, fleet, root, batch, runs=2, hosts=None, mib=50):
    hosts = hosts or fleet.hosts
    world = h.World(binary, root)
    try:
        os.makedirs(os.path.join(world.data_dir, "ssh"), mode=0o700, exist_ok=True)
        with open(os.path.join(world.data_dir, "ssh", "known_hosts"), "w") as f:
            f.write(fleet.known_hosts())
        workdir = os.path.join(root, "work")
        os.makedirs(workdir, exist_ok=True)
        names = ", ".join(f'"{x.name}"' for x in hosts)
        project = f"""[projects.app]
targets = [{names}]
workdir = "{workdir}"
deploy_dir = "/srv/app"
upload = ["app.tar"]
prepare = "tar xf app.tar"
script = '''{SERVICE}'''
health = '''{HEALTH}'''
[projects.app.rollout]
batch = {batch}
parallel = 20
"""
        srv = world.serve(project, extra=fleet.hosts_toml())
        results = []
        for i in range(runs):
            make_artifact(workdir, mib, seed_change=i > 0)
            stop, peak = threading.Event(), [0]
            t = threading.Thread(target=peak_rss_watch, args=(stop, peak), daemon=True)
            t.start()
            start, busy = time.monotonic(), machine_busy_seconds()
            run = srv.trigger("app")
            done = srv.wait_run(run["id"], timeout=600)
            wall = time.monotonic() - start
            busy = machine_busy_seconds() - busy
            stop.set()
            t.join()
            assert done["status"] == "succeeded", srv.log(run["id"]).decode()[-3000:]
            results.append({"wall": wall, "cpu": done.get("resources", {}).get("cpu_seconds"),
                            "rss_kib": peak[0], "machine_busy": busy})
        return results
    finally:
        world.cleanup()


def pssh_runs(fleet, root, runs=2, mib=50):
    hostfile = os.path.join(root, "pssh-hosts")
    with open(hostfile, "w") as f:
        for x in fleet.hosts:
            f.write(f"root@{x.address}\n")
    kh = os.path.join(root, "pssh-known")
    with open(kh, "w") as f:
        f.write("".join(f"{x.address} {x.host_key_line()}\n" for x in fleet.hosts))
    opts = ["-O", f"UserKnownHostsFile={kh}", "-O", "StrictHostKeyChecking=yes",
            "-O", f"IdentityFile={fleet.client_key}", "-O", "BatchMode=yes"]
    workdir = os.path.join(root, "pssh-work")
    os.makedirs(workdir, exist_ok=True)
    # The same steps as jenky's prepare, switch, script and health, in one
    # command per host.
    script = ("set -e; R=/srv/app/releases/$(date +%s%N); mkdir -p $R; tar xf /srv/app.tar -C $R; "
              "ln -sfn $R /srv/app/current.tmp; mv -T /srv/app/current.tmp /srv/app/current; "
              "sh -c " + shlex.quote(SERVICE) + "; " + HEALTH)
    results = []
    for i in range(runs):
        make_artifact(workdir, mib, seed_change=i > 0)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.monotonic()
        subprocess.run(["parallel-scp", "-h", hostfile, "-p", "20", *opts,
                        os.path.join(workdir, "app.tar"), "/srv/app.tar"], check=True,
                       capture_output=True)
        subprocess.run(["parallel-ssh", "-h", hostfile, "-p", "20", "-t", "300", *opts,
                        script], check=True, capture_output=True)
        wall = time.monotonic() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        results.append({"wall": wall, "cpu": cpu})
    return results


# Ansible: one play, forks = 20, the same steps as the floor's command, each
# a module (copy, file, unarchive, shell, uri); ssh through Ansible's own
# defaults (ControlPersist 60s, no pipelining).
PLAYBOOK = """- hosts: all
  gather_facts: false
  vars:
    rel: "/srv/app/releases/{{ release }}"
  tasks:
    - name: upload the artifact
      copy: {src: "{{ artifact }}", dest: /srv/app.tar}
    - name: release directory
      file: {path: "{{ rel }}", state: directory}
    - name: unpack
      unarchive: {src: /srv/app.tar, dest: "{{ rel }}", remote_src: true}
    - name: switch current
      shell: ln -sfn {{ rel }} /srv/app/current.tmp && mv -T /srv/app/current.tmp /srv/app/current
    - name: restart the service
      shell: "{{ service }}"
    - name: health check
      uri: {url: "http://127.0.0.1:8080/payload.bin", method: HEAD}
"""


def ansible_runs(fleet, root, runs=2, mib=50):
    d = os.path.join(root, "ansible")
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    kh = os.path.join(d, "known_hosts")
    with open(kh, "w") as f:
        f.write("".join(f"{x.address} {x.host_key_line()}\n" for x in fleet.hosts))
    with open(os.path.join(d, "inventory"), "w") as f:
        for x in fleet.hosts:
            f.write(f"{x.name} ansible_host={x.address} ansible_user=root\n")
    with open(os.path.join(d, "ansible.cfg"), "w") as f:
        f.write(f"""[defaults]
inventory = {d}/inventory
forks = 20
private_key_file = {fleet.client_key}
remote_tmp = /srv/.ansible-tmp
local_tmp = {d}/tmp
interpreter_python = /usr/bin/python3
stdout_callback = minimal
[ssh_connection]
ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile={kh} -o StrictHostKeyChecking=yes -o BatchMode=yes
control_path_dir = {d}/cp
""")
    with open(os.path.join(d, "deploy.yml"), "w") as f:
        f.write(PLAYBOOK)
    env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(d, "ansible.cfg"), HOME=d)
    workdir = os.path.join(root, "ansible-work")
    os.makedirs(workdir, exist_ok=True)
    results = []
    for i in range(runs):
        make_artifact(workdir, mib, seed_change=i > 0)
        extra = json.dumps({"release": f"a{i}", "artifact": os.path.join(workdir, "app.tar"),
                            "service": SERVICE})
        results.append(timed([
            "ansible-playbook", "-e", extra, os.path.join(d, "deploy.yml")], env=env))
    end_processes_mentioning(d)  # its ControlPersist masters outlive the run
    return results


def end_processes_mentioning(text):
    """Ends, by pid, the processes this benchmark started whose command line
    holds TEXT (a directory of its own)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if text.encode() in f.read():
                    os.kill(int(pid), 15)
        except OSError:
            pass


# Capistrano: its deploy flow fetches from an SCM (git) on each host; the
# same work here is a Capistrano task over every host in parallel with
# SSHKit's upload! (net-scp) and execute, Capistrano's own building blocks.
CAPFILE = """require "capistrano/setup"
require "capistrano/deploy"
require "capistrano/scm/git"  # (loaded by every stage; bench_deploy uses no SCM)
install_plugin Capistrano::SCM::Git
require "shellwords"
set :ssh_options, {keys: [ENV["BENCH_KEY"]], user: "root", auth_methods: ["publickey"],
                   user_known_hosts_file: ENV["BENCH_KNOWN"], verify_host_key: :always}
task :bench_deploy do
  rel = "/srv/app/releases/" + ENV["BENCH_RELEASE"]
  on roles(:app), in: :parallel do
    upload! ENV["BENCH_ARTIFACT"], "/srv/app.tar"
    execute :mkdir, "-p", rel
    execute :tar, "xf", "/srv/app.tar", "-C", rel
    execute "ln -sfn #{rel} /srv/app/current.tmp && mv -T /srv/app/current.tmp /srv/app/current"
    execute :sh, "-c", ENV["BENCH_SERVICE"].shellescape
    execute "curl -fsS -o /dev/null http://127.0.0.1:8080/payload.bin"
  end
end
"""


def capistrano_runs(fleet, root, runs=2, mib=50):
    d = os.path.join(root, "cap")
    os.makedirs(os.path.join(d, "config", "deploy"), exist_ok=True)
    with open(os.path.join(d, "Capfile"), "w") as f:
        f.write(CAPFILE)
    with open(os.path.join(d, "config", "deploy.rb"), "w") as f:
        f.write('set :application, "bench"\nset :format, :dot\nset :log_level, :warn\n')
    with open(os.path.join(d, "config", "deploy", "bench.rb"), "w") as f:
        for x in fleet.hosts:
            f.write(f'server "{x.address}", roles: %w[app]\n')
    kh = os.path.join(d, "known_hosts")
    with open(kh, "w") as f:
        f.write("".join(f"{x.address} {x.host_key_line()}\n" for x in fleet.hosts))
    workdir = os.path.join(root, "cap-work")
    os.makedirs(workdir, exist_ok=True)
    results = []
    for i in range(runs):
        make_artifact(workdir, mib, seed_change=i > 0)
        env = dict(os.environ, BENCH_KEY=fleet.client_key, BENCH_KNOWN=kh,
                   BENCH_RELEASE=f"c{i}", BENCH_ARTIFACT=os.path.join(workdir, "app.tar"),
                   BENCH_SERVICE=SERVICE, HOME=d)
        results.append(timed(["cap", "bench", "bench_deploy"], env=env, cwd=d))
    return results


def timed(argv, **kw):
    """Runs ARGV; its wall time and the CPU time of it and its children."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        sys.exit(f"bench_fleet: {argv[0]} failed ({r.returncode}):\n{r.stdout[-3000:]}\n"
                 f"{r.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall": wall, "cpu": cpu}


def fresh(fleet):
    """Every host as before any deploy: no service, no releases."""
    kill_services(fleet)
    for x in fleet.hosts:
        shutil.rmtree(os.path.join(x.srv, "app"), ignore_errors=True)
        for name in ("app.tar", "app.pid"):
            if os.path.exists(os.path.join(x.srv, name)):
                os.unlink(os.path.join(x.srv, name))


def kill_services(fleet):
    for x in fleet.hosts:
        pid_file = os.path.join(x.srv, "app.pid")
        if os.path.exists(pid_file):
            try:
                os.kill(int(open(pid_file).read()), 9)
            except (OSError, ValueError):
                pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=20)
    ap.add_argument("--mib", type=int, default=50)
    ap.add_argument("--peers", default="ansible,capistrano",
                    help="peers beside parallel-ssh (comma-separated; '' for none)")
    ap.add_argument("--link", default="",
                    help="RATE: what reaches each host goes at RATE (tc's notation, e.g. "
                         "100mbit; tc tbf on its veth); default: the veth pair as it is")
    ap.add_argument("--uplink", default="",
                    help="RATE: what this machine sends to all hosts together goes at RATE "
                         "(one shared uplink: tc tbf on the bridge)")
    ap.add_argument("--jenky", default=os.environ.get("JENKY_BIN", os.path.join(HERE, "..",
                                                                                 "build", "jenky")))
    a = ap.parse_args()
    why = sshhosts.available()
    if why or not shutil.which("parallel-ssh"):
        sys.exit(f"bench_fleet: {why or 'parallel-ssh is missing (scripts/setup.sh bench)'}")
    for peer, tool in (("ansible", "ansible-playbook"), ("capistrano", "cap")):
        if peer in a.peers and not shutil.which(tool):
            sys.exit(f"bench_fleet: {tool} is missing: install {peer} (scripts/setup.sh bench), "
                     f"or leave it out with --peers")
    root = tempfile.mkdtemp(prefix="jenky-bench-fleet-")
    binary = h.prepare_binary(os.path.abspath(a.jenky), root)
    fleet = sshhosts.Fleet(os.path.join(root, "fleet"), a.hosts)
    try:
        for host in fleet.hosts if a.link else []:
            host.shape(a.link)
        if a.uplink:
            fleet.shape_uplink(a.uplink)
        pssh = pssh_runs(fleet, root, mib=a.mib)
        fresh(fleet)
        ansible = ansible_runs(fleet, root, mib=a.mib) if "ansible" in a.peers else None
        fresh(fleet)
        cap = capistrano_runs(fleet, root, mib=a.mib) if "capistrano" in a.peers else None
        fresh(fleet)
        jk = jenky_runs(binary, fleet, os.path.join(root, "j1"), a.hosts, mib=a.mib)
        kill_services(fleet)
        jk25 = jenky_runs(binary, fleet, os.path.join(root, "j2"), '"25%"', runs=1, mib=a.mib)
        kill_services(fleet)
        one = jenky_runs(binary, fleet, os.path.join(root, "j3"), 1, runs=1,
                         hosts=fleet.hosts[:1], mib=a.mib)
        kill_services(fleet)
    finally:
        fleet.close()
        shutil.rmtree(root, ignore_errors=True)
    print(f"| {a.hosts} hosts, {a.mib} MiB artifact | wall, first | wall, second | CPU, first | "
          "CPU, second | fleet driver peak RSS |")
    print("|---|---|---|---|---|---|")
    print(f"| parallel-ssh + parallel-scp (floor) | {pssh[0]['wall']:.2f} s | {pssh[1]['wall']:.2f} s"
          f" | {pssh[0]['cpu']:.2f} s | {pssh[1]['cpu']:.2f} s | - |")
    for name, r in (("Ansible (forks = 20)", ansible), ("Capistrano (SSHKit, parallel)", cap)):
        if r:
            print(f"| {name} | {r[0]['wall']:.2f} s | {r[1]['wall']:.2f} s | {r[0]['cpu']:.2f} s | "
                  f"{r[1]['cpu']:.2f} s | - |")
    print(f"| jenky, one batch | {jk[0]['wall']:.2f} s | {jk[1]['wall']:.2f} s | {jk[0]['cpu']} s | "
          f"{jk[1]['cpu']} s | {jk[0]['rss_kib'] / 1024:.1f} MiB |")
    print(f"| jenky, batch = \"25%\" | {jk25[0]['wall']:.2f} s | - | {jk25[0]['cpu']} s | - | "
          f"{jk25[0]['rss_kib'] / 1024:.1f} MiB |")
    per_host = (jk[0]["rss_kib"] - one[0]["rss_kib"]) / max(1, a.hosts - 1)
    cpus = os.cpu_count()
    for label, r in (("first", jk[0]), ("second", jk[1])):
        print(f"jenky's {label} deploy: the machine's {cpus} CPUs busy {r['machine_busy']:.1f} s of "
              f"{r['wall'] * cpus:.1f} s ({r['machine_busy'] / (r['wall'] * cpus):.0%}); jenky's run "
              f"(driver, ssh, rsync) {r['cpu']} s of it, the hosts and the rest the remainder")
    print(f"\nfleet driver RSS: {one[0]['rss_kib']} KiB with 1 host, {jk[0]['rss_kib']} KiB with "
          f"{a.hosts}: {per_host:.0f} KiB per host")
    floor, first, second = pssh[0]["wall"], jk[0]["wall"], jk[1]["wall"]
    print(f"\nratios: jenky first / floor first = {first / floor:.2f} (goal <= 1.2); "
          f"jenky second / jenky first = {second / first:.2f} (goal <= 0.5)")
    if ansible:
        print(f"Ansible first / jenky first = {ansible[0]['wall'] / first:.2f} (goal >= 5)")
    if cap:
        print(f"Capistrano first / jenky first = {cap[0]['wall'] / first:.2f}")
    print(json.dumps({"pssh": pssh, "ansible": ansible, "capistrano": cap, "jenky": jk,
                      "jenky_25": jk25, "jenky_1": one}))


if __name__ == "__main__":
    main()
