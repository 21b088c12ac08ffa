"""No [[tokens]] means loopback only, whoever made the listening socket:
jenky itself (--listen, tests in test_config.py), systemd (socket
activation), or `jenky service install` writing the socket unit."""

import os
import signal
import socket
import subprocess

import jenky_harness as h
from jenky_harness import project_toml

TOKEN = "a-token-0123456789abcdef"
TOKENS = f"""
[[tokens]]
name = "admin"
sha256 = "{h.sha256_hex(TOKEN)}"
scopes = ["admin"]
"""


def activated(world, config_path, address):
    """Starts `jenky serve` the way systemd's socket activation does: a
    listening socket on fd 3, LISTEN_FDS=1, LISTEN_PID = its own pid."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((address, 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    fd = sock.fileno()
    env = world.env(LISTEN_FDS="1")
    argv = ["/bin/bash", "-c", f'exec 3<&{fd}; export LISTEN_PID=$$; exec "$@"', "sh",
            world.binary, "serve", "--config", config_path, "--data-dir", world.data_dir]
    p = subprocess.Popen(argv, pass_fds=(fd,), env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         cwd=world.root, start_new_session=True)
    sock.close()
    return p, port


def test_an_inherited_socket_on_all_addresses_without_tokens_is_refused(world):
    path = world.config(project_toml("p", "echo hi\n"))
    p, _ = activated(world, path, "0.0.0.0")
    try:
        _, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert p.returncode == 1, err
    assert "refusing to serve on 0.0.0.0 (a socket passed by systemd) without [[tokens]]" in err
    assert "Add a [[tokens]] entry to" in err and "ListenStream=127.0.0.1:" in err


def test_an_inherited_loopback_socket_or_one_with_tokens_is_served(world):
    path = world.config(project_toml("p", "echo hi\n"))
    p, port = activated(world, path, "127.0.0.1")
    try:
        h.wait_until(lambda: h.http_request(port, "GET", "/healthz", timeout=2).status == 200
                     if p.poll() is None else True, 15, what="jenky on its loopback socket")
        assert p.poll() is None
        assert h.http_request(port, "GET", "/api/v1/projects").status == 200
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()

    path = world.config(project_toml("p", "echo hi\n"), extra=TOKENS, name="tokens.toml")
    p, port = activated(world, path, "0.0.0.0")
    try:
        h.wait_until(lambda: h.http_request(port, "GET", "/healthz", timeout=2).status == 200
                     if p.poll() is None else True, 15, what="jenky on 0.0.0.0 with tokens")
        assert p.poll() is None
        assert h.http_request(port, "GET", "/api/v1/projects").status == 401
        # A reload that drops the tokens is refused; the old config keeps serving.
        world.config(project_toml("p", "echo hi\n"), name="tokens.toml")
        os.kill(p.pid, signal.SIGHUP)
        h.wait_until(lambda: h.http_request(port, "GET", "/api/v1/version",
                                            headers={"Authorization": f"Bearer {TOKEN}"}).status
                     == 200, 5, what="serving after the refused reload")
        os.killpg(p.pid, signal.SIGTERM)
        _, err = p.communicate(timeout=15)
        assert "SIGHUP: refusing to serve on 0.0.0.0" in err, err
        assert "keeping the current configuration" in err
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def test_service_install_refuses_a_public_socket_without_tokens(world):
    missing = world.path("nowhere/jenky.toml")
    out = world.cli("service", "install", "--listen", "0.0.0.0:8080", "--config", missing,
                    "--dry-run")
    assert out.returncode == 1, out
    assert "refusing to listen on 0.0.0.0:8080 without [[tokens]]" in out.stderr, out.stderr
    assert "would" not in out.stdout  # not one step was shown as if it would happen
    no_tokens = world.config(project_toml("p", "echo hi\n"), name="open.toml")
    out = world.cli("service", "install", "--listen", "[::]:8080", "--config", no_tokens,
                    "--dry-run")
    assert out.returncode == 1 and "without [[tokens]]" in out.stderr, out
    with_tokens = world.config(project_toml("p", "echo hi\n"), extra=TOKENS, name="closed.toml")
    out = world.cli("service", "install", "--listen", "0.0.0.0:8080", "--config", with_tokens,
                    "--dry-run")
    assert out.returncode == 0, out
    assert "dry run" in out.stdout
    # Loopback needs no tokens.
    out = world.cli("service", "install", "--listen", "127.0.0.1:8080", "--config", missing,
                    "--dry-run")
    assert out.returncode == 0, out
