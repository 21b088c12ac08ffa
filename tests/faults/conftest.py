"""The fault tests share the end-to-end suite's harness and fixtures
(tests/e2e/conftest.py: JENKY_BIN, the `world` fixture, JENKY_SLOW)."""

import importlib.util
import os
import sys

E2E = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e")
sys.path.insert(0, E2E)

_spec = importlib.util.spec_from_file_location("e2e_conftest", os.path.join(E2E, "conftest.py"))
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)

# Fixtures and hooks are found by name in this module.
pytest_configure = _e2e.pytest_configure
pytest_collection_modifyitems = _e2e.pytest_collection_modifyitems
pytest_runtest_makereport = _e2e.pytest_runtest_makereport
jenky_bin = _e2e.jenky_bin
world = _e2e.world
