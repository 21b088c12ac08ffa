#!/usr/bin/env bash
# Configures (once) and builds jenky into ./build with Ninja and ccache.
#
#   scripts/build.sh                  everything: jenky and its tests
#   scripts/build.sh jenky            only these targets
#   scripts/build.sh --no-tests jenky configure without the tests (no GoogleTest
#                                     needed: what scripts/demo.sh does)
#   scripts/build.sh --tests          turn the tests back on
#
# A build directory keeps its choice of --tests/--no-tests until told
# otherwise. Builds on a shared machine take turns on JENKY_BUILD_LOCK (a
# flock file, default /tmp/jenky-build.lock). JENKY_BUILD_TYPE picks the
# CMake build type of a new build directory (default RelWithDebInfo).
set -euo pipefail
cd "$(dirname "$0")/.."
lock=${JENKY_BUILD_LOCK:-/tmp/jenky-build.lock}

tests=""
targets=()
for arg in "$@"; do
  case $arg in
    --tests) tests=ON ;;
    --no-tests) tests=OFF ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build.sh: unknown option '$arg' (use --tests, --no-tests or target names)" >&2; exit 2 ;;
    *) targets+=("$arg") ;;
  esac
done

configure=()
if [ ! -f build/build.ninja ]; then
  configure=(-DCMAKE_BUILD_TYPE="${JENKY_BUILD_TYPE:-RelWithDebInfo}")
fi
if [ -n "$tests" ] && ! grep -qx "JENKY_BUILD_TESTS:BOOL=$tests" build/CMakeCache.txt 2>/dev/null; then
  configure+=(-DJENKY_BUILD_TESTS="$tests")
fi
if [ "${#configure[@]}" -gt 0 ]; then
  flock "$lock" cmake -S . -B build -G Ninja "${configure[@]}"
fi
if [ "${#targets[@]}" -gt 0 ]; then
  flock "$lock" cmake --build build --target "${targets[@]}"
else
  flock "$lock" cmake --build build
fi
