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
    return h.prepare_binary(source, str(tmp_path_factory.mktemp("bin")))


@pytest.fixture
def world(jenky_bin, tmp_path):
    """A fresh data dir, config files, servers and CLI calls for one test;
    every process started from it is killed at the end, pass or fail."""
    w = h.World(jenky_bin, tmp_path)
    yield w
    w.cleanup()
