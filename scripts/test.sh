#!/usr/bin/env bash
# Every test: installs what is missing, then, each in its own build directory:
#   layers      no #include goes up the layer order       (scripts/check-layers.sh)
#   format      every C++ file matches .clang-format       (scripts/check-format.sh)
#   build       the normal build; unit, e2e, web UI, browser, systemd tests (CTest)
#   asan        ASan + UBSan build; unit and e2e tests      (scripts/sanitize.sh)
#   tsan        TSan build; unit and e2e tests              (scripts/sanitize.sh)
#   fuzz        each libFuzzer target on its corpus, JENKY_FUZZ_SECONDS each
#               (scripts/fuzz.sh)
# Every stage runs even if an earlier one failed; the exit code says whether
# any did. Arguments go to the normal build's ctest.
#
# JENKY_QUICK=1 runs only the normal build's stage (local use; ignored when
# CI=true: CI runs every stage).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
# CI clones into a new directory each run: with paths hashed relative to the
# clone, ccache still finds the objects of the last run on this machine.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD} CCACHE_NOHASHDIR=${CCACHE_NOHASHDIR:-1}

failed=()
stage() {
  local name=$1 start=$SECONDS
  shift
  echo "=== test.sh: stage $name"
  if "$@"; then
    echo "=== test.sh: stage $name passed in $((SECONDS - start))s"
  else
    echo "=== test.sh: stage $name FAILED after $((SECONDS - start))s" >&2
    failed+=("$name")
  fi
}

# (Called as an `if` condition, where set -e is off: hence the &&.)
normal() {
  scripts/build.sh --tests && (cd build && ctest --output-on-failure --timeout 900 "$@")
}

# Includes never go up the layer order (docs/architecture.md, "Layers").
stage layers scripts/check-layers.sh
stage format scripts/check-format.sh
stage build normal "$@"
if [ "${JENKY_QUICK:-0}" = 1 ] && [ "${CI:-}" != true ]; then
  echo "=== test.sh: JENKY_QUICK=1: sanitizer and fuzz stages skipped"
else
  stage asan scripts/sanitize.sh asan
  stage tsan scripts/sanitize.sh tsan
  stage fuzz scripts/fuzz.sh
fi
if [ "${#failed[@]}" -gt 0 ]; then
  echo "=== test.sh: failed stages: ${failed[*]}" >&2
  exit 1
fi
echo "=== test.sh: every stage passed"
