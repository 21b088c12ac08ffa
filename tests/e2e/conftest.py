"""Fixtures for jenky's end-to-end tests.

JENKY_BIN names the binary (default /work/main/build/jenky). The suite copies
it once, so a rebuild while the tests run cannot swap it under a test.
JENKY_SLOW=1 also runs the tests marked slow.
"""

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import jenky_harness as h  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes tens of seconds; runs only with JENKY_SLOW=1")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("JENKY_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="slow test: set JENKY_SLOW=1 to run it")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def jenky_bin(tmp_path_factory):
    source = os.environ.get("JENKY_BIN", "/work/main/build/jenky")
    path = h.prepare_binary(source, str(tmp_path_factory.mktemp("bin")))
    yield path
    os.unlink(path)  # 50 MB; pytest keeps the last few temp dirs


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def world(request, jenky_bin, tmp_path):
    """A fresh data dir, config files, servers and CLI calls for one test;
    every process started from it is killed at the end, pass or fail."""
    w = h.World(jenky_bin, tmp_path)
    yield w
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        for i, s in enumerate(w.servers):
            code = s.proc.poll() if s.proc else None
            note = ""
            if code is not None and not s.signalled:
                note = " -- the test never signalled it: killed from outside the test?"
            print(f"--- server {i} ({s.url}, exit code {code}{note}) stderr:\n{s.stderr()}")
    w.cleanup()
