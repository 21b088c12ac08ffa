#!/usr/bin/env bash
# Builds jenky and its tests with a sanitizer preset (CMakePresets.json) and
# runs the unit and end-to-end tests under it: any report fails the test that
# caused it (docs/security.md, "Sanitizers and fuzzing").
#
# Usage: scripts/sanitize.sh asan|tsan [ctest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
preset=${1:?usage: scripts/sanitize.sh asan|tsan [ctest args...]}
shift
lock=${JENKY_BUILD_LOCK:-/tmp/jenky-build.lock}
# Builds share the machine: one at a time (the lock is free on CI).
# Configuring each time applies changes to the preset (it is quick when
# nothing changed).
flock "$lock" cmake --preset "$preset" >/dev/null
flock "$lock" cmake --build --preset "$preset"
nice ctest --preset "$preset" "$@"
