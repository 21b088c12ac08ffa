#!/usr/bin/env bash
# Every test: installs what is missing, then, each in its own build directory:
#   layers      no #include goes up the layer order       (scripts/check-layers.sh)
#   format      every C++ file matches .clang-format       (scripts/check-format.sh)
#   sizes       no file under src/ over 600 lines, no function over 80
#               (scripts/check-sizes.py)
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

# What failed, in a few lines, repeated at the very end of the output (CI
# keeps only the tail of a long log): each failed CTest test and the lines of
# its output that name a failure (gtest, pytest, node --test, the shell suites).
digest=${JENKY_FAILURE_DIGEST:-build/test-failures.txt}
write_digest() {
  local dir=$1 list=$1/Testing/Temporary/LastTestsFailed.log log=$1/Testing/Temporary/LastTest.log
  [ -s "$list" ] || return 0
  {
    echo "--- failed in $dir: $(cut -d: -f2 "$list" | tr '\n' ' ')"
    # node --test writes an assertion's message on the lines after "error: |-".
    awk 'n > 0 { print; n--; next }
      /^ +error: [|]-$/ { print; n = 4; next }
      /^\[  FAILED  \]|^(FAILED|ERROR) |^not ok |^# (fail|cancelled) [1-9]|FAILED:|^FAIL |AssertionError|^E  +|^ +(error|location|expected|actual):/' "$log" |
      grep -av '^not ok [0-9]* - [^#]*# SKIP' | head -60
  } >>"$digest"
}
: >"$digest" 2>/dev/null || { mkdir -p "$(dirname "$digest")"; : >"$digest"; }

# (Called as an `if` condition, where set -e is off: hence the &&.)
normal() {
  if ! scripts/build.sh --tests; then
    echo "--- the normal build did not compile (its 'error:' lines are above)" >>"$digest"
    return 1
  fi
  (cd build && ctest --output-on-failure --timeout 900 "$@") || { write_digest build; return 1; }
}

sanitized() { scripts/sanitize.sh "$1" || { write_digest "build-$1"; return 1; }; }
fuzzed() {
  scripts/fuzz.sh || {
    echo "--- fuzz findings (build-fuzz/artifacts): $(ls build-fuzz/artifacts 2>/dev/null | tr '\n' ' ')" >>"$digest"
    return 1
  }
}

# Includes never go up the layer order (docs/architecture.md, "Layers").
stage layers scripts/check-layers.sh
stage format scripts/check-format.sh
stage sizes scripts/check-sizes.py
stage build normal "$@"
if [ "${JENKY_QUICK:-0}" = 1 ] && [ "${CI:-}" != true ]; then
  echo "=== test.sh: JENKY_QUICK=1: sanitizer and fuzz stages skipped"
else
  stage asan sanitized asan
  stage tsan sanitized tsan
  stage fuzz fuzzed
fi
if [ "${#failed[@]}" -gt 0 ]; then
  [ -s "$digest" ] && cat "$digest" >&2
  echo "=== test.sh: failed stages: ${failed[*]}" >&2
  exit 1
fi
echo "=== test.sh: every stage passed"
