#!/usr/bin/env bash
# Configures (once) and builds jenky and its tests into ./build with Ninja and
# ccache. Usage: scripts/build.sh [extra cmake --build args]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE="${JENKY_BUILD_TYPE:-RelWithDebInfo}"
fi
cmake --build build "$@"
