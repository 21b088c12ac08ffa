"""The e2e suite's fixtures (tests/e2e/conftest.py), shared with the fleet
tests without making them a package."""

import importlib.util
import os

_spec = importlib.util.spec_from_file_location(
    "e2e_conftest", os.path.join(os.path.dirname(__file__), "..", "e2e", "conftest.py"))
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)

jenky_bin = _mod.jenky_bin
world = _mod.world
pytest_runtest_makereport = _mod.pytest_runtest_makereport
