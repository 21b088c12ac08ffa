"""A listening socket passed by systemd (LISTEN_FDS, as jenky.socket does).

jenky serves without authentication only on a loopback address; a socket
passed to it is bound where jenky.socket says, so the rule must hold for it
too, not only for the config's `listen`."""

import socket
import subprocess


def serve_on_passed_socket(jenky_bin, tmp_path, host, config_text=""):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((host, 0))
    sock.listen()
    config = tmp_path / "jenky.toml"
    config.write_text(config_text)
    fd = sock.fileno()
    # bash (dash takes no fd above 9) becomes jenky (exec), so LISTEN_PID=$$ names jenky; fd 3 is
    # the socket, as systemd passes it.
    script = f'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" serve --config "$1" --data-dir "$2" 3<&{fd}'
    p = subprocess.Popen(["/bin/bash", "-c", script, jenky_bin, str(config), str(tmp_path / "data")],
                         pass_fds=(fd,), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sock.close()
    return p


def test_a_passed_socket_on_all_addresses_without_tokens_is_refused(jenky_bin, tmp_path):
    p = serve_on_passed_socket(jenky_bin, tmp_path, "0.0.0.0")
    try:
        out, _ = p.communicate(timeout=20)
    finally:
        p.kill()
    assert p.returncode == 1, out
    assert "refusing to serve on http://0.0.0.0:" in out, out
    assert "without [[tokens]]" in out and "ListenStream=" in out, out


def test_a_passed_loopback_socket_is_served(jenky_bin, tmp_path):
    p = serve_on_passed_socket(jenky_bin, tmp_path, "127.0.0.1")
    try:
        lines = []
        for line in p.stdout:
            lines.append(line)
            if "listening socket passed by systemd" in line:
                break
        assert any("listening on http://127.0.0.1:" in l for l in lines), lines
    finally:
        p.terminate()
        p.wait(timeout=20)
