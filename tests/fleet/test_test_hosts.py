"""The test hosts themselves: real, separate, and breakable on demand."""

import os
import subprocess

import sshhosts


def ssh(fleet, host, *cmd, known=None, timeout=20):
    kh = os.path.join(fleet.root, "kh")
    with open(kh, "w") as f:
        f.write(known if known is not None else fleet.known_hosts())
    argv = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={kh}", "-o", f"HostKeyAlias=jenky:{host.name}",
            "-o", "ConnectTimeout=3", "-i", fleet.client_key, "-l", "root", host.address, *cmd]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def test_each_host_is_its_own_sshd_with_its_own_srv(fleet3):
    for h in fleet3.hosts:
        r = ssh(fleet3, h, f"echo {h.name} > /srv/who && cat /srv/who && hostname -I")
        assert r.returncode == 0, r.stderr
        assert r.stdout.split() == [h.name, h.address]
    for h in fleet3.hosts:
        with open(os.path.join(h.srv, "who")) as f:
            assert f.read() == h.name + "\n"


def test_a_host_can_be_broken_each_way(fleet3):
    a, b, c = fleet3.hosts
    b.kill_sshd()
    r = ssh(fleet3, b, "true")
    assert r.returncode == 255 and "Connection refused" in r.stderr, r.stderr
    b.start_sshd()
    assert ssh(fleet3, b, "true").returncode == 0

    c.link_down()
    r = ssh(fleet3, c, "true")
    assert r.returncode == 255 and "timed out" in r.stderr, r.stderr
    c.link_up()

    old = fleet3.known_hosts()
    a.change_host_key()
    r = ssh(fleet3, a, "true", known=old)
    assert r.returncode == 255 and "HOST IDENTIFICATION HAS CHANGED" in r.stderr, r.stderr
    assert ssh(fleet3, a, "true").returncode == 0
    a.refuse_login()
    r = ssh(fleet3, a, "true", known=f"jenky:{a.name} {a.host_key_line()}\n")
    assert r.returncode == 255 and "Permission denied" in r.stderr, r.stderr


def test_closing_removes_every_namespace_and_link(tmp_path):
    f = sshhosts.Fleet(tmp_path / "f", 2) if not sshhosts.available() else None
    if f is None:
        import pytest
        pytest.skip(sshhosts.available())
    names = [h.ns for h in f.hosts]
    f.close()
    ns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    for n in names:
        assert n not in ns
    assert f.prefix not in links
