"""`jenky __package-files DIR`: what scripts/package.sh puts in the .deb.

The units must be exactly those `jenky service print` shows for the same
options (one source of truth), and the starter config must be accepted by
`jenky check` and listen on loopback."""

import re
import subprocess


def run(jenky_bin, *args):
    return subprocess.run([jenky_bin, *args], capture_output=True, text=True, timeout=30)


def test_units_are_those_service_print_shows(jenky_bin, tmp_path):
    p = run(jenky_bin, "__package-files", "--binary", "/usr/bin/jenky", str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in tmp_path.iterdir()) == ["jenky.service", "jenky.socket", "jenky.toml"]
    printed = run(jenky_bin, "service", "print", "--binary", "/usr/bin/jenky")
    assert printed.returncode == 0, printed.stderr
    service = (tmp_path / "jenky.service").read_text()
    socket = (tmp_path / "jenky.socket").read_text()
    assert printed.stdout == ("# /etc/systemd/system/jenky.service\n" + service + "\n"
                              "# /etc/systemd/system/jenky.socket\n" + socket)
    assert "ExecStart=/usr/bin/jenky serve --config /etc/jenky/jenky.toml" in service
    assert "StateDirectory=jenky\n" in service
    assert "ListenStream=127.0.0.1:8080\n" in socket


def test_starter_config_is_accepted_and_listens_on_loopback(jenky_bin, tmp_path):
    assert run(jenky_bin, "__package-files", str(tmp_path)).returncode == 0
    config = tmp_path / "jenky.toml"
    text = config.read_text()
    assert 'listen = "127.0.0.1:8080"' in text
    assert 'data_dir = "/var/lib/jenky"' in text
    p = run(jenky_bin, "check", "--config", str(config))
    assert p.returncode == 0, p.stderr
    assert "ok (0 project(s), 0 token(s))" in p.stdout
    # Every commented example is valid too once uncommented.
    example_line = re.compile(r'# (\[\[?[a-z.]+\]\]?|[a-z_0-9]+ = .*|""")$')
    lines, in_script = [], False
    for line in text.splitlines():
        if in_script or example_line.match(line):
            line = line[2:]
            if line.endswith('"""'):
                in_script = not in_script
        lines.append(line)
    uncommented = "\n".join(lines) + "\n"
    example = tmp_path / "example.toml"
    example.write_text(uncommented.replace("<printf %s TOKEN | sha256sum>", "a" * 64))
    p = run(jenky_bin, "check", "--config", str(example))
    assert p.returncode == 0, (p.stderr, uncommented)


def test_is_hidden_and_needs_a_directory(jenky_bin, tmp_path):
    assert "__package-files" not in run(jenky_bin, "--help-all").stdout
    p = run(jenky_bin, "__package-files")
    assert p.returncode != 0
    assert "DIR" in p.stderr
