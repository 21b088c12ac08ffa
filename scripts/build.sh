#!/usr/bin/env bash
# Configures (once) and builds jenky into ./build with Ninja and ccache.
#
#   scripts/build.sh                  everything: jenky and its tests
#   scripts/build.sh jenky            only these targets
#   scripts/build.sh --no-tests       configure without the tests (no GoogleTest)
#   scripts/build.sh --tests          with the tests (scripts/test.sh)
#
# A new build directory gets the tests when it builds everything or is told
# --tests, not when it builds named targets (scripts/demo.sh, bench/run.sh
# and scripts/package.sh build `jenky` alone, without GoogleTest installed).
# Then it keeps its choice until told otherwise.
#
# Builds on a shared machine take turns on JENKY_BUILD_LOCK (a flock file,
# default /tmp/jenky-build.lock). JENKY_BUILD_TYPE picks the CMake build type
# of a new build directory (default RelWithDebInfo).
set -euo pipefail
cd "$(dirname "$0")/.."
lock=${JENKY_BUILD_LOCK:-/tmp/jenky-build.lock}

tests=""
targets=()
for arg in "$@"; do
  case $arg in
    --tests) tests=ON ;;
    --no-tests) tests=OFF ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "build.sh: unknown option '$arg' (use --tests, --no-tests or target names)" >&2; exit 2 ;;
    *) targets+=("$arg") ;;
  esac
done

configure=()
if [ ! -f build/build.ninja ]; then
  configure=(-DCMAKE_BUILD_TYPE="${JENKY_BUILD_TYPE:-RelWithDebInfo}")
  if [ -z "$tests" ]; then
    if [ "${#targets[@]}" -gt 0 ]; then tests=OFF; else tests=ON; fi
  fi
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
