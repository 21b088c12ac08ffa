"""A deploy script runs as jenky's user. It must not read other projects'
secrets or the API tokens from the server (its /proc environ or memory), from
its supervisor, nor print them unmasked (docs/security.md, "reading other
projects' secrets")."""

import os
import shutil
import tempfile

import pytest

import jenky_harness as h
from jenky_harness import project_toml

TOKEN = "api-token-value-0123456789"
HOOK = "hook-secret-value-0123456789"
OTHER = "other-project-secret-9876543210"
OWN = "own-secret-value-24680"

TOKENS = """
[[tokens]]
name = "ci"
env = "E2E_API_TOKEN"
scopes = ["admin"]
"""


def secrets_env():
    return {"E2E_API_TOKEN": TOKEN, "E2E_HOOK_SECRET": HOOK, "E2E_OTHER": OTHER, "E2E_OWN": OWN}


def environ_of(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        return f.read()


def test_secret_values_leave_the_servers_environment_block(world):
    world.extra_env = secrets_env()
    srv = world.serve(project_toml("p", "echo $E2E_OWN\n", secrets=["E2E_OWN"],
                                   webhook={"provider": "github", "secret_env": "E2E_HOOK_SECRET"}) +
                      project_toml("q", "true\n", secrets=["E2E_OTHER"]), extra=TOKENS)
    block = environ_of(srv.proc.pid)  # the test is root: it may read it
    for value in (TOKEN, HOOK, OTHER, OWN):
        assert value.encode() not in block, value
    # Still known to the server: the token authenticates, the script gets
    # its own secret (masked in the log), a reload reads them all again.
    auth = {"Authorization": f"Bearer {TOKEN}"}
    rid = srv.trigger("p", headers=auth)["id"]
    assert srv.wait_run(rid, headers=auth)["status"] == "succeeded"
    assert srv.log(rid, headers=auth) == b"***\n"
    os.kill(srv.proc.pid, 1)
    srv.wait_line(lambda l: "SIGHUP: configuration reloaded" in l, timeout=10)
    rid = srv.trigger("p", headers=auth)["id"]
    assert srv.wait_run(rid, headers=auth)["status"] == "succeeded"
    assert srv.log(rid, headers=auth) == b"***\n"


def test_every_projects_secrets_and_the_tokens_are_masked_in_every_log(world):
    world.extra_env = secrets_env()
    # The script knows the values by other means (here: written into it).
    script = f'echo "token={TOKEN} hook={HOOK} other={OTHER} own=$E2E_OWN"\n'
    srv = world.serve(project_toml("p", script, secrets=["E2E_OWN"]) +
                      project_toml("q", "true\n", secrets=["E2E_OTHER"],
                                   webhook={"provider": "github", "secret_env": "E2E_HOOK_SECRET"}),
                      extra=TOKENS)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    rid = srv.trigger("p", headers=auth)["id"]
    assert srv.wait_run(rid, headers=auth)["status"] == "succeeded"
    assert srv.log(rid, headers=auth) == b"token=*** hook=*** other=*** own=***\n"


@pytest.fixture
def unprivileged_root():
    """A directory the unprivileged user can reach (pytest's are root's, 0700)."""
    root = tempfile.mkdtemp(prefix="jenky-nobody-", dir="/tmp")
    os.chmod(root, 0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_a_script_cannot_read_the_server_or_its_supervisor(world, unprivileged_root):
    """Run as an ordinary user (nobody), as under systemd: a script of that
    same user may not read the server's or its supervisor's environ or memory."""
    if os.geteuid() != 0 or not shutil.which("setpriv"):
        pytest.skip("needs root and setpriv to run jenky as another user")
    binary = os.path.join(unprivileged_root, "jenky")
    shutil.copy2(world.binary, binary)
    data = os.path.join(unprivileged_root, "data")
    os.makedirs(data)
    os.chown(data, 65534, 65534)
    script = (
        'sup=$PPID; srv=$(awk \'{print $4}\' /proc/$sup/stat)\n'
        'for pid in $srv $sup; do\n'
        '  for f in environ mem; do\n'
        '    if head -c 1 /proc/$pid/$f >/dev/null 2>&1; then echo "read $f of $pid"; '
        'else echo "no $f"; fi\n'
        '  done\n'
        'done\n'
        # The whole process table: no readable environ holds the others' secrets.
        'for e in /proc/[0-9]*/environ; do\n'
        f'  if grep -qa -e "{OTHER}" -e "{TOKEN}" "$e" 2>/dev/null; then echo "leak in $e"; fi\n'
        'done\n')
    config = os.path.join(unprivileged_root, "jenky.toml")
    with open(config, "w") as f:
        f.write(h.SERVER_TOML + TOKENS + project_toml("p", script) +
                project_toml("q", "true\n", secrets=["E2E_OTHER"]))
    env = world.env(**secrets_env(), HOME=unprivileged_root)
    srv = world.server(config, env=env, start=False, data_dir=data, cwd=unprivileged_root)
    srv.binary = binary
    plain_argv = srv.argv
    srv.argv = lambda: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"] + plain_argv()
    srv.start()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    rid = srv.trigger("p", headers=auth)["id"]
    assert srv.wait_run(rid, headers=auth)["status"] == "succeeded"
    assert srv.log(rid, headers=auth) == b"no environ\nno mem\nno environ\nno mem\n"


def test_encoded_and_coloured_forms_of_a_secret_are_masked(world):
    world.extra_env = {"E2E_OWN": OWN, "E2E_URL": "p@ss/word-1357"}
    script = ('printf "deploy:%s" "$E2E_OWN" | base64\n'           # curl -u's header
              'echo "https://u:p%40ss%2fword-1357@git.example"\n'   # lower-case %xx
              'printf "\\033[31m%s\\033[0m%s\\n" "${E2E_OWN:0:6}" "${E2E_OWN:6}"\n')
    srv = world.serve(project_toml("p", script, secrets=["E2E_OWN", "E2E_URL"]))
    rid = srv.trigger("p")["id"]
    assert srv.wait_run(rid)["status"] == "succeeded"
    log = srv.log(rid)
    import base64
    assert base64.b64encode(b"deploy:" + OWN.encode()) not in log
    assert b"https://u:***@git.example" in log
    assert OWN[:6].encode() not in log and OWN[6:].encode() not in log, log
    assert log.count(b"***") == 3, log
    assert b"\x1b[31m***\x1b[0m" in log  # the colours stay
