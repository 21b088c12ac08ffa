"""The deploy recipes in recipes/ (embedded in the binary), end to end through
`jenky serve`: git-pull, static-site, systemd-release (against a fake
systemctl, or real systemd), demo.

A recipe runs as `recipe = "NAME"` with [projects.X.params] when the binary
embeds exactly the text of recipes/NAME.sh; otherwise (a binary built before
the last edit) through a small wrapper script that sets JENKY_PARAM_* (with
the header's defaults) and execs the file, which is what jenky does with an
embedded recipe. JENKY_RECIPES_VIA=recipe|file forces one way. Rollbacks go
through POST /api/v1/projects/X/rollback and `jenky rollback` when the recipe
is embedded; the wrapper sets JENKY_ACTION=rollback itself otherwise.

The systemd-release tests use tests/recipes/fake_systemd.py (a fake systemctl
first on PATH, whose manager runs the app outside the deploy's process tree)
unless JENKY_RECIPES_SYSTEMD=real, which installs real units instead (root,
systemd as PID 1). Without pytest, e.g. in the systemd container:

    python3 tests/e2e/test_recipes.py [--real-systemd] [--jenky BIN] [NAME_PART...]
"""

import json
import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import jenky_harness as h  # noqa: E402

try:
    import pytest
except ImportError:  # the standalone runner below needs no pytest
    pytest = None

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RECIPES_DIR = os.path.join(REPO, "recipes")
FAKE_SYSTEMD = os.path.join(REPO, "tests", "recipes", "fake_systemd.py")
SHELLCHECK = os.path.join(REPO, "tests", "recipes", "shellcheck.sh")
RECIPES = ["demo", "git-pull", "static-site", "systemd-release"]
ROLLBACK_RECIPES = {"static-site", "systemd-release"}
RUN_TIMEOUT = 60

PARAM_LINE = re.compile(r"^# param: (?P<name>[a-z][a-z0-9_]*) "
                        r"(?:(?P<required>required)|optional=(?P<default>\S*)) (?P<desc>\S.*)$")


# --------------------------------------------------------------------------
# Recipes, and projects that run them


def recipe_path(name):
    return os.path.join(RECIPES_DIR, name + ".sh")


def recipe_text(name):
    with open(recipe_path(name)) as f:
        return f.read()


def recipe_header(name):
    """The leading comment block (what jenky reads): list of lines."""
    out = []
    for line in recipe_text(name).split("\n"):
        if not line.startswith("#"):
            break
        out.append(line)
    return out


def recipe_params(name):
    """{name: (required, default)} from the header's `# param:` lines."""
    out = {}
    for line in recipe_header(name):
        m = PARAM_LINE.match(line)
        if m:
            out[m["name"]] = (bool(m["required"]), m["default"] or "")
    return out


_MODES = {}


def recipe_mode(world, name):
    """"recipe" if the binary embeds exactly recipes/NAME.sh, else "file"."""
    forced = os.environ.get("JENKY_RECIPES_VIA", "auto")
    if forced in ("recipe", "file"):
        return forced
    key = (world.binary, name)
    if key not in _MODES:
        p = world.cli("scripts", "show", name)
        _MODES[key] = "recipe" if p.returncode == 0 and p.stdout == recipe_text(name) else "file"
    return _MODES[key]


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    return h.toml_str(v)


def wrapper_script(world, project, recipe, params):
    """What jenky does for `recipe = RECIPE`: JENKY_PARAM_* with the defaults
    applied, then the recipe; plus a rollback switch for the tests."""
    declared = recipe_params(recipe)
    unknown = set(params) - set(declared)
    assert not unknown, f"{recipe} has no parameter(s) {sorted(unknown)}"
    lines = []
    for pname, (required, default) in declared.items():
        if pname not in params:
            assert not required, f"{recipe} needs parameter {pname}"
        value = str(params.get(pname, default))
        lines.append(f"export JENKY_PARAM_{pname.upper()}={shlex.quote(value)}")
    action = action_file(world, project)
    lines.append(f"if [ -f {shlex.quote(action)} ]; then . {shlex.quote(action)}; fi")
    lines.append(f"exec bash -e {shlex.quote(recipe_path(recipe))}")
    return "\n".join(lines) + "\n"


def action_file(world, project):
    return world.path(f"rollback-{project}.sh")


def recipe_project(world, name, recipe, params, mode, **opts):
    """A [projects.NAME] table running RECIPE with PARAMS."""
    lines = [f"[projects.{name}]"]
    if mode == "recipe":
        lines.append(f"recipe = {h.toml_str(recipe)}")
    else:
        lines.append(f"script = {h.toml_str(wrapper_script(world, name, recipe, params))}")
    for k, v in opts.items():
        lines.append(f"{k} = {toml_value(v)}")
    if mode == "recipe" and params:
        lines.append(f"[projects.{name}.params]")
        for k, v in params.items():
            lines.append(f"{k} = {toml_value(v)}")
    return "\n".join(lines) + "\n"


class Project:
    """Deploys and rollbacks of one project, each waited for."""

    def __init__(self, world, srv, name, recipe, mode):
        self.world, self.srv, self.name, self.recipe, self.mode = world, srv, name, recipe, mode

    def finish(self, run_id, expect):
        run = self.srv.wait_run(run_id, timeout=RUN_TIMEOUT)
        run["log"] = self.srv.log(run_id).decode("utf-8", "replace")
        assert run["status"] == expect, (
            f"run {run_id} of {self.name} is {run['status']} ({run['reason']}), not {expect}; "
            f"log:\n{run['log']}")
        return run

    def deploy(self, expect="succeeded", **body):
        run = self.srv.trigger(self.name, body or None)
        return self.finish(run["id"], expect)

    def rollback(self, to=None, expect="succeeded", cli=False):
        if self.mode == "recipe":
            if cli:
                args = ["rollback", self.name] + (["--to", to] if to else [])
                p = self.world.cli(*args, server=self.srv)
                assert p.returncode == 0, p
                run_id = int(p.stdout)
            else:
                r = self.srv.post(f"/api/v1/projects/{self.name}/rollback",
                                  json_body={"to": to} if to else None)
                assert r.status == 202, r
                run_id = r.json()["id"]
            run = self.finish(run_id, expect)
            assert run.get("action", "rollback") == "rollback", run
            return run
        path = action_file(self.world, self.name)
        with open(path, "w") as f:
            f.write(f"export JENKY_ACTION=rollback JENKY_ROLLBACK_TO={to or ''}\n")
        try:
            return self.deploy(expect)
        finally:
            os.unlink(path)


def git(*args, cwd=None):
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com",
               GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    p = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, f"git {args}: {p.stderr}"
    return p.stdout.strip()


def write(path, text, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    if mode is not None:
        os.chmod(path, mode)


def read(path):
    with open(path) as f:
        return f.read()


# --------------------------------------------------------------------------
# The recipes' text


def test_recipes_declare_a_description_their_params_and_strict_mode():
    for name in RECIPES:
        text = recipe_text(name)
        lines = text.split("\n")
        assert lines[0] == "#!/usr/bin/env bash", name
        assert lines[1].startswith("# ") and len(lines[1]) > 12 and not lines[1].startswith("# param:"), name
        header = recipe_header(name)
        # Every `# param:` line is in the header and well formed.
        for i, line in enumerate(lines):
            if line.startswith("# param:"):
                assert line in header, f"{name}:{i + 1}: param line after the header block"
                assert PARAM_LINE.match(line), f"{name}:{i + 1}: malformed: {line!r}"
        assert ("# rollback: supported" in header) == (name in ROLLBACK_RECIPES), name
        assert "\nset -euo pipefail\n" in text, name
    assert recipe_params("git-pull") == {
        "remote": (False, "origin"), "branch": (False, ""), "allow_dirty": (False, "false"),
        "url": (False, "")}
    assert recipe_params("static-site") == {
        "build": (True, ""), "output": (True, ""), "target": (True, ""), "keep": (False, "5")}
    assert recipe_params("systemd-release") == {
        "build": (True, ""), "artifacts": (True, ""), "unit": (True, ""), "releases": (False, ""),
        "health_url": (False, ""), "health_cmd": (False, ""), "health_timeout": (False, "30"),
        "keep": (False, "5")}
    assert recipe_params("demo") == {}


def test_recipes_are_shellcheck_clean():
    if not shutil.which("shellcheck"):
        skip("shellcheck is not installed (apt-get install shellcheck)")
    p = subprocess.run([SHELLCHECK], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr


def test_the_binary_lists_the_recipes_with_their_params(world):
    p = world.cli("scripts", "list")
    assert p.returncode == 0, p
    missing = [n for n in RECIPES if recipe_mode(world, n) != "recipe"]
    if missing:
        skip(f"testing recipes/{', '.join(missing)} from the files, not as embedded (the binary "
             f"embeds older versions, or JENKY_RECIPES_VIA=file)")
    for name in RECIPES:
        summary = recipe_header(name)[1][2:]
        assert re.search(rf"^{re.escape(name)} +{re.escape(summary)}$", p.stdout, re.M), p.stdout
        for pname, (required, default) in recipe_params(name).items():
            kind = "required" if required else f"default '{default}'"
            assert re.search(rf"^ +{pname} +{re.escape(kind)} ", p.stdout, re.M), (pname, p.stdout)


def test_missing_and_unknown_recipe_params_are_config_errors(world):
    if recipe_mode(world, "static-site") != "recipe":
        skip("testing recipes/static-site.sh from the file, not as embedded")
    path = world.config('[projects.site]\nrecipe = "static-site"\n'
                        '[projects.site.params]\nbuild = "make"\noutput = "dist"\ntagret = "/srv/x"\n')
    p = world.cli("check", "--config", path)
    assert p.returncode == 1, p
    assert re.search(rf"{re.escape(path)}:\d+:\d+: .*'tagret'", p.stderr), p.stderr
    assert re.search(rf"{re.escape(path)}:\d+:\d+: .*'target'", p.stderr), p.stderr


# --------------------------------------------------------------------------
# demo


def test_demo_prints_coloured_steps_in_a_few_seconds(world):
    mode = recipe_mode(world, "demo")
    srv = world.serve(recipe_project(world, "demo", "demo", {}, mode))
    t0 = time.monotonic()
    run = Project(world, srv, "demo", "demo", mode).deploy()
    took = time.monotonic() - t0
    assert 1 < took < 15, took
    log = run["log"]
    for s in ("fetch", "build", "test", "release", "restart"):
        assert f"==> {s}" in log, log
    assert "\x1b[32m" in log and "100%" in log and "==> deployed" in log, log


# --------------------------------------------------------------------------
# git-pull


class Repo:
    """A bare repository (the remote) and a clone that pushes to it."""

    def __init__(self, world):
        self.bare = world.path("remote.git")
        self.seed = world.path("seed")
        git("init", "--quiet", "--bare", "--initial-branch=main", self.bare)
        git("clone", "--quiet", self.bare, self.seed)
        git("checkout", "--quiet", "-B", "main", cwd=self.seed)

    def commit(self, files, message, push=True):
        for name, text in files.items():
            write(os.path.join(self.seed, name), text)
        git("add", "--all", cwd=self.seed)
        git("commit", "--quiet", "-m", message, cwd=self.seed)
        if push:
            git("push", "--quiet", "origin", "main", cwd=self.seed)
        return git("rev-parse", "HEAD", cwd=self.seed)


def short(sha):
    return sha[:7]


def test_git_pull_clones_then_resets_to_exactly_the_commit_or_the_branch_head(world):
    repo = Repo(world)
    c1 = repo.commit({"app.txt": "v1\n"}, "first")
    c2 = repo.commit({"app.txt": "v2\n"}, "second")
    work = world.path("work")
    mode = recipe_mode(world, "git-pull")
    srv = world.serve(recipe_project(world, "app", "git-pull", {"url": repo.bare}, mode, workdir=work))
    app = Project(world, srv, "app", "git-pull", mode)

    # The older commit first, by JENKY_COMMIT: the empty workdir is cloned.
    run = app.deploy(commit=c1)
    assert git("rev-parse", "HEAD", cwd=work) == c1
    assert read(os.path.join(work, "app.txt")) == "v1\n"
    assert "::group::clone " in run["log"]
    assert "old commit: none (fresh clone)" in run["log"]
    assert f"new commit: {short(c1)}" in run["log"] and "first" in run["log"]

    run = app.deploy(commit=c2, ref="main")
    assert git("rev-parse", "HEAD", cwd=work) == c2
    assert git("symbolic-ref", "--short", "HEAD", cwd=work) == "main"
    assert read(os.path.join(work, "app.txt")) == "v2\n"
    assert f"old commit: {short(c1)} first" in run["log"]
    assert f"new commit: {short(c2)} second" in run["log"]
    assert re.search(r"^::group::fetch origin ", run["log"], re.M)

    # Back to the older one: exactly the commit asked for, not the branch head.
    app.deploy(commit=c1)
    assert git("rev-parse", "HEAD", cwd=work) == c1

    # Without a commit: the branch head.
    c3 = repo.commit({"app.txt": "v3\n", "lib/new.txt": "new\n"}, "third")
    run = app.deploy()
    assert git("rev-parse", "HEAD", cwd=work) == c3
    assert read(os.path.join(work, "lib", "new.txt")) == "new\n"
    assert "origin/main is " in run["log"]
    run = app.deploy()  # again: nothing to do, still fine
    assert "already at that commit: nothing changed" in run["log"]

    # A tag: HEAD detached at its commit; the next plain deploy is the
    # default branch's head again.
    git("tag", "v1", c1, cwd=repo.seed)
    git("push", "--quiet", "origin", "v1", cwd=repo.seed)
    run = app.deploy(ref="refs/tags/v1", commit=c1)
    assert git("rev-parse", "HEAD", cwd=work) == c1
    assert "HEAD will be detached" in run["log"]
    assert subprocess.run(["git", "symbolic-ref", "-q", "HEAD"], cwd=work).returncode == 1
    app.deploy()
    assert git("rev-parse", "HEAD", cwd=work) == c3
    assert git("symbolic-ref", "--short", "HEAD", cwd=work) == "main"

    # A commit the remote does not have.
    run = app.deploy(expect="failed", commit="0123456789abcdef0123456789abcdef01234567")
    assert "error: commit 0123456789abcdef0123456789abcdef01234567 is not in origin" in run["log"]
    assert run["reason"] == "script exited with status 1"
    assert git("rev-parse", "HEAD", cwd=work) == c3
    # (Something that is no commit id never gets this far: the API answers 400.)


def test_git_pull_refuses_a_dirty_tree_unless_allow_dirty(world):
    repo = Repo(world)
    c1 = repo.commit({"app.txt": "v1\n", ".gitignore": "*.log\n"}, "first")
    c2 = repo.commit({"app.txt": "v2\n", "new.txt": "from git\n"}, "second")
    work = world.path("work")
    mode = recipe_mode(world, "git-pull")
    srv = world.serve(
        recipe_project(world, "app", "git-pull", {"url": repo.bare}, mode, workdir=work),
        recipe_project(world, "force", "git-pull", {"allow_dirty": "true"}, mode, workdir=work),
        recipe_project(world, "plain", "git-pull", {}, mode, workdir=world.path("plain")))
    app = Project(world, srv, "app", "git-pull", mode)
    force = Project(world, srv, "force", "git-pull", mode)
    app.deploy(commit=c1)
    app_txt = os.path.join(work, "app.txt")

    # A local edit stops the deploy, and is left as it was.
    write(app_txt, "edited on the server\n")
    run = app.deploy(expect="failed", commit=c2)
    assert " M app.txt" in run["log"]
    assert "has uncommitted changes" in run["log"] and "allow_dirty" in run["log"], run["log"]
    assert run["reason"] == "script exited with status 1"
    assert read(app_txt) == "edited on the server\n"
    assert git("rev-parse", "HEAD", cwd=work) == c1

    # An untracked file the new commit would overwrite stops it too; other
    # untracked and ignored files do not.
    git("checkout", "--", "app.txt", cwd=work)
    write(os.path.join(work, "new.txt"), "mine\n")
    write(os.path.join(work, "notes.local"), "keep me\n")
    write(os.path.join(work, "build.log"), "ignored\n")
    run = app.deploy(expect="failed", commit=c2)
    assert "new.txt" in run["log"] and "would be overwritten" in run["log"], run["log"]
    assert "notes.local" not in run["log"]
    assert read(os.path.join(work, "new.txt")) == "mine\n"
    os.unlink(os.path.join(work, "new.txt"))
    app.deploy(commit=c2)
    assert git("rev-parse", "HEAD", cwd=work) == c2
    assert read(os.path.join(work, "notes.local")) == "keep me\n"
    assert read(os.path.join(work, "build.log")) == "ignored\n"

    # allow_dirty = true: local changes are discarded, with a warning.
    write(app_txt, "edited again\n")
    run = force.deploy(commit=c1)
    assert "warning: discarding local changes" in run["log"] and " M app.txt" in run["log"]
    assert read(app_txt) == "v1\n"
    assert git("rev-parse", "HEAD", cwd=work) == c1
    assert git("status", "--porcelain", "--untracked-files=no", cwd=work) == ""

    # No clone and no url: says how to set it up.
    run = Project(world, srv, "plain", "git-pull", mode).deploy(expect="failed")
    assert "is not a git repository" in run["log"] and "params.url" in run["log"], run["log"]


# --------------------------------------------------------------------------
# static-site


class LinkWatcher:
    """Reads TARGET/index.html in a loop and counts every time it is missing."""

    def __init__(self, target):
        self.target = target
        self.reads = 0
        self.errors = []
        self.seen = set()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop.is_set():
            try:
                self.seen.add(os.readlink(self.target))
                with open(os.path.join(self.target, "index.html")) as f:
                    f.read()
                self.reads += 1
            except OSError as e:
                self.errors.append(repr(e))

    def finish(self):
        self.stop.set()
        self.thread.join(10)


def test_static_site_publishes_releases_atomically_prunes_and_rolls_back(world):
    src = world.path("site")
    www = world.path("www")
    os.makedirs(www)
    target = os.path.join(www, "site")
    releases = target + ".releases"
    index = os.path.join(src, "index.html")
    mode = recipe_mode(world, "static-site")
    params = {"build": "sleep 0.2; rm -rf public; mkdir -p public/css; cp index.html public/; "
                       "echo 'body{}' > public/css/site.css; echo built",
              "output": "public", "target": target, "keep": "2"}
    srv = world.serve(recipe_project(world, "site", "static-site", params, mode, workdir=src))
    site = Project(world, srv, "site", "static-site", mode)

    write(index, "v1\n")
    r1 = site.deploy()["id"]
    assert os.readlink(target) == f"site.releases/{r1}"  # relative: the tree can move
    assert read(os.path.join(target, "index.html")) == "v1\n"
    assert read(os.path.join(target, "css", "site.css")) == "body{}\n"
    mode_bits = os.stat(os.path.join(releases, str(r1), "index.html")).st_mode
    assert mode_bits & stat.S_IROTH, oct(mode_bits)  # the web server may be another user

    # Three more deploys while a reader keeps reading the site: never missing.
    watcher = LinkWatcher(target)
    ids = [r1]
    try:
        for v in ("v2", "v3", "v4"):
            write(index, v + "\n")
            run = site.deploy()
            ids.append(run["id"])
            assert read(os.path.join(target, "index.html")) == v + "\n"
            assert f"::group::publish release {run['id']} at {target}" in run["log"]
    finally:
        watcher.finish()
    assert watcher.errors == [], watcher.errors[:5]
    assert watcher.reads > 50, watcher.reads
    assert len(watcher.seen) >= 3, watcher.seen

    # keep = 2: the two newest releases are left.
    assert sorted(os.listdir(releases)) == sorted(str(i) for i in ids[-2:])
    assert [p for p in os.listdir(www) if p not in ("site", "site.releases")] == []

    # Rollback to the previous release, then there is nothing older left.
    run = site.rollback()
    assert os.readlink(target) == f"site.releases/{ids[-2]}"
    assert read(os.path.join(target, "index.html")) == "v3\n"
    assert f"from release {ids[-1]} to release {ids[-2]}" in run["log"]
    run = site.rollback(expect="failed")
    assert "nothing to roll back to" in run["log"], run["log"]
    # ... and forward again, to a given run's release (with `jenky rollback`).
    site.rollback(to=ids[-1], cli=True)
    assert read(os.path.join(target, "index.html")) == "v4\n"
    run = site.rollback(to=ids[0], expect="failed")
    assert f"there is no release {ids[0]}" in run["log"] and "pruned" in run["log"], run["log"]
    assert read(os.path.join(target, "index.html")) == "v4\n"

    # A new deploy after the rollbacks is the newest release again.
    write(index, "v5\n")
    r5 = site.deploy()["id"]
    assert os.readlink(target) == f"site.releases/{r5}"
    assert sorted(os.listdir(releases)) == sorted([str(ids[-1]), str(r5)])


def test_static_site_failures_publish_nothing_and_say_why(world):
    src = world.path("site")
    os.makedirs(src)
    www = world.path("www")
    os.makedirs(os.path.join(www, "plain-dir"))
    mode = recipe_mode(world, "static-site")

    def project(name, **params):
        p = {"build": "mkdir -p out && echo hi > out/index.html", "output": "out",
             "target": os.path.join(www, name)}
        p.update(params)
        return recipe_project(world, name, "static-site", p, mode, workdir=src)

    srv = world.serve(project("badbuild", build="echo compiling; exit 3"),
                      project("noout", output="dist"),
                      project("plain-dir"),
                      project("relative", target="www/site"))

    def fails(name):
        return Project(world, srv, name, "static-site", mode).deploy(expect="failed")["log"]

    log = fails("badbuild")
    assert "compiling" in log and "the build command exited with status 3; nothing was published" in log
    log = fails("noout")
    assert "did not produce the directory 'dist'" in log and "params.output" in log
    log = fails("plain-dir")
    assert "is not a symlink" in log and "mv " in log
    assert "must be an absolute path" in fails("relative")
    assert sorted(os.listdir(www)) == ["plain-dir"]


# --------------------------------------------------------------------------
# systemd-release


APP = r'''#!/usr/bin/env python3
"""The test app: serves "release VERSION from DIR"; /health is 500 for a
VERSION starting with "broken"; a VERSION starting with "crash" exits."""
import http.server
import os
import sys

here = os.path.dirname(os.path.realpath(__file__))
with open(os.path.join(here, "VERSION")) as f:
    version = f.read().strip()
if version.startswith("crash"):
    sys.exit("crashing on purpose")
port = int(sys.argv[sys.argv.index("--port") + 1])


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 500 if self.path == "/health" and version.startswith("broken") else 200
        body = f"release {version} from {here}\n".encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer.allow_reuse_address = True
http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
'''


class FakeSystemd:
    """tests/recipes/fake_systemd.py: a manager process (outside jenky's
    process tree, like PID 1) and a `systemctl` for the scripts' PATH."""

    real = False

    def __init__(self, world):
        self.world = world
        self.dir = world.path("fake-systemd")
        os.makedirs(self.dir)
        self.proc = subprocess.Popen([sys.executable, FAKE_SYSTEMD, "manager", self.dir],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=world.env(), start_new_session=True)
        line = self.proc.stdout.readline()
        assert line == b"ready\n", (line, self.proc.stdout.read() if self.proc.poll() is not None else b"")

    def server_env(self):
        return self.world.env(PATH=os.path.join(self.dir, "bin") + ":" + os.environ["PATH"])

    def install_unit(self, name, text):
        write(os.path.join(self.dir, "units", name + ".service"), text)

    def restarts(self, name):
        n = 0
        with open(os.path.join(self.dir, "calls.log")) as f:
            for line in f:
                argv = [a for a in json.loads(line)["argv"] if not a.startswith("-")]
                if argv[:1] == ["restart"] and name in (argv[1:] + [a + ".service" for a in argv[1:]]):
                    n += 1
        return n

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


class RealSystemd:
    """Units in /etc/systemd/system, real systemctl (root, systemd as PID 1)."""

    real = True

    def __init__(self, world):
        if os.geteuid() != 0 or not os.path.isdir("/run/systemd/system"):
            raise h.JenkyTestError("JENKY_RECIPES_SYSTEMD=real needs root on a machine run by systemd")
        self.world = world
        self.units = []

    def server_env(self):
        return self.world.env()

    def install_unit(self, name, text):
        write(f"/etc/systemd/system/{name}.service", text)
        self.units.append(name)
        subprocess.run(["systemctl", "daemon-reload"], check=True, timeout=60)

    def restarts(self, name):
        return None

    def close(self):
        for name in self.units:
            subprocess.run(["systemctl", "stop", name], timeout=60)
            os.unlink(f"/etc/systemd/system/{name}.service")
        if self.units:
            subprocess.run(["systemctl", "daemon-reload"], timeout=60)
            subprocess.run(["systemctl", "reset-failed"], timeout=60)


def make_systemd(world):
    if os.environ.get("JENKY_RECIPES_SYSTEMD") == "real":
        return RealSystemd(world)
    return FakeSystemd(world)


def app_unit(world, name, releases, port):
    """The app's unit: `jenky service print --app` when the binary has it."""
    p = world.cli("service", "print", "--app", name, "--releases", releases,
                  "--exec", f"app.py --port {port}")
    if p.returncode == 0 and f"{releases}/current" in p.stdout:
        return p.stdout
    return (f"[Unit]\nDescription={name} (test app)\n\n[Service]\n"
            f"WorkingDirectory={releases}/current\nExecStart={releases}/current/app.py --port {port}\n"
            f"Restart=on-failure\nRestartSec=1s\n")


def get(url):
    """(status, body) of GET URL; (None, error) when nothing answers."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except OSError as e:
        return None, str(e)


class App:
    """The app's source in a workdir, and where it is deployed."""

    def __init__(self, world, name):
        self.name = name
        self.src = world.path(name + "-src")
        self.base = world.path(name + "-releases")
        self.port = h.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        write(os.path.join(self.src, "app.py"), APP, mode=0o755)

    def version(self, v):
        write(os.path.join(self.src, "VERSION"), v + "\n")

    def serving(self):
        status, body = get(self.url + "/")
        return body if status == 200 else None

    def current(self):
        return os.readlink(os.path.join(self.base, "current"))

    def releases(self):
        return sorted(os.listdir(os.path.join(self.base, "releases")), key=lambda s: int(s.split(".")[0]))

    def params(self, **extra):
        p = {"build": "python3 -m py_compile app.py && echo compiled", "artifacts": "app.py VERS*",
             "unit": self.name, "releases": self.base, "health_url": self.url + "/health",
             "health_timeout": "5", "keep": "3"}
        p.update(extra)
        return p


def systemd_fixture_body(world):
    sd = make_systemd(world)
    try:
        yield sd
    finally:
        sd.close()


def test_systemd_release_switches_checks_health_rolls_back_and_prunes(world, systemd):
    app = App(world, "jenkyapp")
    systemd.install_unit(app.name, app_unit(world, app.name, app.base, app.port))
    mode = recipe_mode(world, "systemd-release")
    srv = world.serve(recipe_project(world, "app", "systemd-release", app.params(), mode, workdir=app.src),
                      env=systemd.server_env())
    p = Project(world, srv, "app", "systemd-release", mode)

    def serves(version, release):
        body = h.wait_until(app.serving, 10, what=f"{app.url} to answer")
        assert body == f"release {version} from {app.base}/releases/{release}\n", body
        assert app.current() == f"releases/{release}"

    # Two healthy releases: each switched to and serving.
    app.version("v1")
    run = p.deploy()
    r1 = run["id"]
    serves("v1", r1)
    for s in ("build", "copy artifacts", "switch", "restart", "health check", "prune", "done"):
        assert f"::group::{s}" in run["log"], (s, run["log"])
    app.version("v2")
    r2 = p.deploy()["id"]
    serves("v2", r2)

    # A third that fails its health check: rolled back, the second serves.
    app.version("broken-v3")
    t0 = time.monotonic()
    run = p.deploy(expect="failed")
    r3 = run["id"]
    assert time.monotonic() - t0 >= 5  # health_timeout
    assert (f"error: release {r3} failed its health check (GET {app.url}/health: "
            f"curl: (22) The requested URL returned error: 500); rolled back to release {r2}") in run["log"]
    serves("v2", r2)
    assert app.releases() == [str(r1), str(r2), f"{r3}.failed"]

    # `jenky rollback --to` the first.
    run = p.rollback(to=r1, cli=True)
    serves("v1", r1)
    assert f"switch {app.base}/current to release {r1} (was: {r2})" in run["log"]

    # A fourth: healthy; the failed one is pruned, keep = 3 keeps the rest.
    app.version("v4")
    r4 = p.deploy()["id"]
    serves("v4", r4)
    assert app.releases() == [str(r1), str(r2), str(r4)]

    # Rollback to "the previous release": the newest good one before current.
    p.rollback()
    serves("v2", r2)

    # A fifth: the oldest one goes (never current or previous).
    app.version("v5")
    r5 = p.deploy()["id"]
    serves("v5", r5)
    assert app.releases() == [str(r2), str(r4), str(r5)]
    run = p.rollback(to=r1, expect="failed")
    assert f"there is no release {r1}" in run["log"] and "pruned" in run["log"], run["log"]
    serves("v5", r5)

    restarts = systemd.restarts(app.name + ".service")
    if restarts is not None:
        # 1 + 1 + 2 (the failed one and back) + 1 + 1 + 1 + 1; none for the refused rollback.
        assert restarts == 8, restarts


def test_systemd_release_failures_before_and_after_the_switch(world, systemd):
    ok = App(world, "jenkyok")          # no health_url: only `systemctl is-active`
    crash = App(world, "jenkycrash")    # health_cmd; its very first release fails
    systemd.install_unit(ok.name, app_unit(world, ok.name, ok.base, ok.port))
    systemd.install_unit(crash.name, app_unit(world, crash.name, crash.base, crash.port))
    mode = recipe_mode(world, "systemd-release")
    srv = world.serve(
        recipe_project(world, "ok", "systemd-release", ok.params(health_url=""), mode, workdir=ok.src),
        recipe_project(world, "crash", "systemd-release",
                       crash.params(health_url="", health_timeout="1",
                                    health_cmd='test "$(cat "$JENKY_RELEASE_DIR/VERSION")" = good'),
                       mode, workdir=crash.src),
        recipe_project(world, "nounit", "systemd-release", ok.params(unit="jenky-no-such-unit"), mode,
                       workdir=ok.src),
        recipe_project(world, "badbuild", "systemd-release", ok.params(build="echo making; exit 3"), mode,
                       workdir=ok.src),
        recipe_project(world, "noartifact", "systemd-release", ok.params(artifacts="app.py bin/app"), mode,
                       workdir=ok.src),
        env=systemd.server_env())

    def run(name, expect):
        return Project(world, srv, name, "systemd-release", mode).deploy(expect=expect)["log"]

    ok.version("v1")
    log = run("ok", "succeeded")
    assert "warning: no health_url or health_cmd" in log
    assert h.wait_until(ok.serving, 10, what="the app") == f"release v1 from {ok.base}/releases/1\n"

    log = run("nounit", "failed")
    assert "there is no systemd unit 'jenky-no-such-unit'" in log and "jenky service print --app" in log
    log = run("badbuild", "failed")
    assert "making" in log and "the build command exited with status 3; nothing was switched" in log
    log = run("noartifact", "failed")
    assert "the artifact 'bin/app' is not in" in log
    assert ok.current() == "releases/1" and ok.releases() == ["1"]
    assert ok.serving() == f"release v1 from {ok.base}/releases/1\n"

    # A release whose process dies: rolled back (at once when the unit is
    # "failed"; under real systemd with Restart=on-failure, at the deadline).
    ok.version("crash-v2")
    log = run("ok", "failed")
    assert re.search(r"error: release (\d+) failed its health check \(jenkyok is (failed|activating)\b.*\); "
                     r"rolled back to release 1\n", log), log
    assert h.wait_until(ok.serving, 10, what="the app") == f"release v1 from {ok.base}/releases/1\n"
    assert ok.current() == "releases/1"

    crash.version("bad")
    log = run("crash", "failed")
    assert re.search(r"release \d+ failed its health check \(health_cmd exited with status 1\); "
                     r"there is no earlier release to roll back to", log), log


# --------------------------------------------------------------------------
# pytest glue, and a runner without pytest (for the systemd container)


def skip(reason):
    if pytest is not None:
        pytest.skip(reason)
    raise SkipTest(reason)


class SkipTest(Exception):
    pass


if pytest is not None:
    @pytest.fixture
    def systemd(world):
        yield from systemd_fixture_body(world)


def main(argv):
    """python3 test_recipes.py [--real-systemd] [--jenky BIN] [NAME_PART...]"""
    import inspect
    import tempfile

    args = list(argv)
    binary = os.environ.get("JENKY_BIN", os.path.join(REPO, "build", "jenky"))
    if "--real-systemd" in args:
        args.remove("--real-systemd")
        os.environ["JENKY_RECIPES_SYSTEMD"] = "real"
    if "--jenky" in args:
        i = args.index("--jenky")
        binary = args[i + 1]
        del args[i:i + 2]
    tmp = tempfile.mkdtemp(prefix="jenky-recipes-")
    binary = h.prepare_binary(binary, tmp)
    tests = [(n, f) for n, f in sorted(globals().items())
             if n.startswith("test_") and callable(f) and (not args or any(a in n for a in args))]
    passed = failed = 0
    for name, fn in tests:
        root = tempfile.mkdtemp(prefix=name[:40] + "-", dir=tmp)
        world = h.World(binary, root)
        gen = None
        try:
            kwargs = {}
            params = inspect.signature(fn).parameters
            if "world" in params:
                kwargs["world"] = world
            if "systemd" in params:
                gen = systemd_fixture_body(world)
                kwargs["systemd"] = next(gen)
            fn(**kwargs)
            print(f"ok - {name}", flush=True)
            passed += 1
        except SkipTest as e:
            print(f"ok - {name} # SKIP {e}", flush=True)
        except Exception as e:  # noqa: BLE001 - report every failure and go on
            import traceback
            print(f"not ok - {name}: {e.__class__.__name__}: {str(e)[:2000]}", flush=True)
            traceback.print_exc()
            for s in world.servers:
                print(f"# server stderr:\n{s.stderr()}")
            failed += 1
        finally:
            if gen is not None:
                gen.close()
            world.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
