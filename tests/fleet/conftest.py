"""Fixtures for the fleet tests: real sshd test hosts (sshhosts.py) and the
e2e suite's harness (a jenky server, its CLI). Root only: skipped otherwise.
"""

import os
import sys

import pytest

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

import sshhosts  # noqa: E402
from conftest_e2e import *  # noqa: E402,F401,F403  (jenky_bin, world)


def make_fleet(tmp_path, count):
    why = sshhosts.available()
    if why:
        pytest.skip(why)
    return sshhosts.Fleet(tmp_path / "fleet", count)


@pytest.fixture
def fleet3(tmp_path):
    f = make_fleet(tmp_path, 3)
    yield f
    f.close()


@pytest.fixture
def fleet1(tmp_path):
    f = make_fleet(tmp_path, 1)
    yield f
    f.close()
