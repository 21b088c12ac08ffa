#!/usr/bin/env bash
# Configures (once) and builds jenky and its tests into ./build with Ninja and
# ccache. Usage: scripts/build.sh [extra cmake --build args]
# Builds on a shared machine take turns on JENKY_BUILD_LOCK (a flock file).
set -euo pipefail
cd "$(dirname "$0")/.."
lock=${JENKY_BUILD_LOCK:-/tmp/jenky-build.lock}
if [ ! -f build/build.ninja ]; then
  # The dev preset (CMakePresets.json): Ninja, ccache, the tests, build/.
  flock "$lock" cmake --preset dev -DCMAKE_BUILD_TYPE="${JENKY_BUILD_TYPE:-RelWithDebInfo}"
fi
flock "$lock" cmake --build build "$@"
