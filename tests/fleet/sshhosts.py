"""Test hosts for fleet deploys: real OpenSSH servers, isolated.

Each host is Debian's sshd running in its own network namespace (`ip netns`,
one veth pair to a bridge this module creates in the root namespace) and its
own mount namespace in which /srv is the host's own directory (bind mounted
from HOST.root/srv, so a test can look at a host's files from outside).
Addresses come from 10.251.N.0/24, N chosen so that no address of this
machine is in it; the bridge is 10.251.N.1, host i is 10.251.N.(10+i).
Nothing leaves the machine: the bridge has no route anywhere else.

A host can be made to fail: `kill_sshd()` (every sshd of the host, sessions
included), `link_down()` / `link_up()`, `delay(ms)` (tc netem, where the kernel has
it), `shape(rate)` (tc tbf),
`change_host_key()` (a new key, sshd restarted) and `refuse_login()`
(authorized_keys emptied).

The fleet is root-only (namespaces, bridges). `Fleet.close()` removes every
namespace, link and process it made, also when a test failed; the pytest
fixture in conftest.py calls it.
"""

import os
import shutil
import signal
import subprocess
import time

SSHD = "/usr/sbin/sshd"


def run(*argv, check=True, **kw):
    return subprocess.run(argv, check=check, capture_output=True, text=True, **kw)


def available():
    """'' when real test hosts can be made here, else why not."""
    if os.geteuid() != 0:
        return "fleet test hosts need root (network namespaces, a bridge)"
    for tool in (SSHD, "/usr/bin/ssh", "/usr/bin/rsync", "/usr/sbin/ip", "/usr/bin/unshare",
                 "/usr/bin/ssh-keygen"):
        if not os.access(tool, os.X_OK):
            return f"{tool} is missing: run scripts/setup.sh test (openssh-server, rsync)"
    return ""


def shape_dev(dev, rate):
    """Token bucket on DEV's egress: RATE, bursts of 10 ms of it (at least
    64 KiB), 200 ms of queue."""
    bits = _rate_bits(rate)
    burst = max(64 << 10, bits // 8 // 100)
    run("tc", "qdisc", "replace", "dev", dev, "root", "tbf", "rate", rate, "burst", str(burst),
        "latency", "200ms")


def _rate_bits(rate):
    units = {"kbit": 10**3, "mbit": 10**6, "gbit": 10**9, "bit": 1}
    for unit, factor in units.items():
        if rate.endswith(unit):
            return int(float(rate[: -len(unit)]) * factor)
    raise ValueError(f"a rate in tc's notation (100mbit, 1gbit): {rate!r}")


def _free_subnet():
    used = run("ip", "-4", "-o", "addr").stdout + run("ip", "-4", "route").stdout
    for n in list(range(17, 250)):
        if f"10.251.{n}." not in used:
            return n
    raise RuntimeError("no free 10.251.N.0/24 subnet for the test hosts")


def _pids_in_netns(ns):
    r = run("ip", "netns", "pids", ns, check=False)
    return [int(p) for p in r.stdout.split()]


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def _wait(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Host:
    def __init__(self, fleet, index):
        self.fleet = fleet
        self.index = index
        self.name = f"h{index}"
        self.ns = f"{fleet.prefix}-{index}"
        self.veth = f"{fleet.prefix}v{index}"   # root side, on the bridge
        self.peer = f"{fleet.prefix}p{index}"   # inside the namespace
        self.address = f"10.251.{fleet.subnet}.{10 + index}"
        self.root = os.path.join(fleet.root, self.name)
        self.srv = os.path.join(self.root, "srv")
        self.proc = None

    # -- life cycle

    def create(self):
        os.makedirs(self.srv, exist_ok=True)
        run("ip", "netns", "add", self.ns)
        run("ip", "link", "add", self.veth, "type", "veth", "peer", "name", self.peer)
        run("ip", "link", "set", self.peer, "netns", self.ns)
        run("ip", "link", "set", self.veth, "master", self.fleet.bridge, "up")
        nsx = ["ip", "netns", "exec", self.ns]
        run(*nsx, "ip", "link", "set", "lo", "up")
        run(*nsx, "ip", "addr", "add", f"{self.address}/24", "dev", self.peer)
        run(*nsx, "ip", "link", "set", self.peer, "up")
        run(*nsx, "ip", "route", "add", "default", "via", self.fleet.gateway)
        self._new_host_key()
        self.allow_login()
        self._write_sshd_config()
        self.start_sshd()

    def _new_host_key(self):
        key = os.path.join(self.root, "ssh_host_ed25519_key")
        for p in (key, key + ".pub"):
            if os.path.exists(p):
                os.unlink(p)
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key)

    def _write_sshd_config(self):
        with open(os.path.join(self.root, "sshd_config"), "w") as f:
            f.write(f"""ListenAddress {self.address}
Port 22
HostKey {self.root}/ssh_host_ed25519_key
PidFile {self.root}/sshd.pid
AuthorizedKeysFile {self.root}/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
MaxStartups 100:30:200
MaxSessions 50
LogLevel ERROR
Subsystem sftp internal-sftp
""")

    def start_sshd(self):
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
        log = open(os.path.join(self.root, "sshd.log"), "ab")
        # The host's own mount namespace: /srv is HOST.root/srv there only.
        script = f'mount --bind "$1" /srv && exec {SSHD} -D -e -f "$2"'
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, "unshare", "--mount", "--propagation", "private",
             "sh", "-c", script, "sh", self.srv, os.path.join(self.root, "sshd_config")],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        _wait(self._listening, 10, f"sshd of {self.name} to listen on {self.address}:22")

    def _listening(self):
        if self.proc.poll() is not None:
            with open(os.path.join(self.root, "sshd.log"), errors="replace") as f:
                raise AssertionError(f"sshd of {self.name} exited: {f.read()}")
        r = run("ip", "netns", "exec", self.ns, "ss", "-Htln", f"sport = :22", check=False)
        return self.address in r.stdout

    def sshd_pids(self):
        return [p for p in _pids_in_netns(self.ns) if _comm(p).startswith("sshd")]

    def kill_sshd(self):
        """Kills every sshd of the host (the listener and each session's):
        the host is gone as far as ssh can tell."""
        for p in self.sshd_pids():
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc:
            self.proc.wait(timeout=10)

    def restart_sshd(self):
        self.kill_sshd()
        self.start_sshd()

    # -- faults

    def link_down(self):
        run("ip", "link", "set", self.veth, "down")

    def link_up(self):
        run("ip", "link", "set", self.veth, "up")

    def delay(self, ms):
        run("tc", "qdisc", "replace", "dev", self.veth, "root", "netem", "delay", f"{ms}ms")

    def shape(self, rate):
        """What reaches the host goes at RATE (tc's notation: "100mbit"): a
        link to a real server instead of a veth pair. (tbf, not netem: some
        kernels, this workplace's among them, have no sch_netem.)"""
        shape_dev(self.veth, rate)

    def change_host_key(self):
        self._new_host_key()
        self.restart_sshd()

    def refuse_login(self):
        open(os.path.join(self.root, "authorized_keys"), "w").close()

    def allow_login(self):
        shutil.copyfile(self.fleet.client_key + ".pub", os.path.join(self.root, "authorized_keys"))

    def host_key_line(self):
        with open(os.path.join(self.root, "ssh_host_ed25519_key.pub")) as f:
            return " ".join(f.read().split()[:2])

    def fingerprint(self):
        return run("ssh-keygen", "-l", "-E", "sha256", "-f",
                   os.path.join(self.root, "ssh_host_ed25519_key.pub")).stdout.split()[1]

    # -- looking inside

    def processes(self):
        """(pid, argv) of every process of the host but its sshd: what a
        deploy left running there."""
        out = []
        for p in _pids_in_netns(self.ns):
            if _comm(p).startswith("sshd") or p == (self.proc.pid if self.proc else -1):
                continue
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            out.append((p, [a.decode(errors="replace") for a in argv if a]))
        return out

    def destroy(self):
        for p in _pids_in_netns(self.ns):
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc:
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        run("ip", "netns", "del", self.ns, check=False)
        run("ip", "link", "del", self.veth, check=False)


class Fleet:
    """COUNT hosts h0..h(COUNT-1) on one bridge; ROOT is a test directory."""

    def shape_uplink(self, rate):
        """What this machine sends to all hosts together goes at RATE: one
        shared uplink (tbf on the bridge), where Host.shape() is each host's
        own link."""
        shape_dev(self.bridge, rate)

    def __init__(self, root, count):
        self.root = str(root)
        self.prefix = f"jf{os.getpid() % 100000}"
        self.bridge = f"{self.prefix}br"
        self.subnet = _free_subnet()
        self.gateway = f"10.251.{self.subnet}.1"
        self.client_key = os.path.join(self.root, "client_ed25519")
        self.hosts = []
        os.makedirs(self.root, exist_ok=True)
        try:
            for old in (self.client_key, self.client_key + ".pub"):
                if os.path.exists(old):
                    os.unlink(old)
            run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.client_key)
            run("ip", "link", "add", self.bridge, "type", "bridge")
            run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            run("ip", "link", "set", self.bridge, "up")
            for i in range(count):
                h = Host(self, i)
                self.hosts.append(h)
                h.create()
        except BaseException:
            self.close()
            raise

    def __getitem__(self, i):
        return self.hosts[i]

    def __len__(self):
        return len(self.hosts)

    def known_hosts(self):
        """known_hosts lines trusting every host under its jenky name
        (HostKeyAlias jenky:NAME, as jenky records them)."""
        return "".join(f"jenky:{h.name} {h.host_key_line()}\n" for h in self.hosts)

    def hosts_toml(self, tags=None, port=22, user="root", extra="", env=None):
        out = []
        more = "".join(f', {k} = "{v}"' for k, v in (env or {}).items())
        for h in self.hosts:
            t = (tags or {}).get(h.name, ["web"])
            out.append(f"""[hosts.{h.name}]
address = "{h.address}"
user = "{user}"
port = {port}
identity_file = "{self.client_key}"
tags = [{", ".join(f'"{x}"' for x in t)}]
env = {{ HOST_INDEX = "{h.index}"{more} }}
{extra}
""")
        return "\n".join(out)

    def close(self):
        for h in self.hosts:
            h.destroy()
        run("ip", "link", "del", self.bridge, check=False)
