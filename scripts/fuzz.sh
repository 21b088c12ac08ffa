#!/usr/bin/env bash
# Builds the libFuzzer targets (preset fuzz, clang, ASan + UBSan) and runs
# each on its seed corpus for a bounded time; fails on any finding (crash,
# sanitizer report, timeout, leak, out-of-memory).
#
# Usage: scripts/fuzz.sh [TARGET...]     (default: every tests/fuzz/*_fuzz.cc)
#   JENKY_FUZZ_SECONDS  seconds per target (default 30)
#
# New inputs the fuzzer finds go to build-fuzz/corpus/TARGET, not into the
# repository; a crashing input is written to build-fuzz/artifacts/ and its
# path printed. To keep one as a regression, fix the bug and copy it to
# tests/fuzz/corpus/TARGET/regress-NAME.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${JENKY_FUZZ_SECONDS:-30}
lock=${JENKY_BUILD_LOCK:-/tmp/jenky-build.lock}

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in tests/fuzz/*_fuzz.cc; do
    t=$(basename "$f" .cc)
    targets+=("${t%_fuzz}")
  done
fi

# Builds share the machine: one at a time (the lock is free on CI).
flock "$lock" cmake --preset fuzz >/dev/null
flock "$lock" cmake --build --preset fuzz

mkdir -p build-fuzz/artifacts
failed=()
for t in "${targets[@]}"; do
  seeds=tests/fuzz/corpus/$t
  work=build-fuzz/corpus/$t
  mkdir -p "$work"
  args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
        -artifact_prefix="build-fuzz/artifacts/$t-"
        # jenky's own log lines (rejected requests) go to stderr; libFuzzer
        # and the sanitizers keep a copy of it for their reports.
        -close_fd_mask=2)
  [ -f "tests/fuzz/$t.dict" ] && args+=(-dict="tests/fuzz/$t.dict")
  echo "fuzz: $t for ${seconds}s on $seeds"
  start=$SECONDS
  if ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} nice "build-fuzz/${t}_fuzz" "${args[@]}" \
       "$work" "$seeds" >"build-fuzz/$t.log" 2>&1; then
    echo "fuzz: $t: no findings in $((SECONDS - start))s ($(grep -o 'stat::number_of_executed_units: [0-9]*' "build-fuzz/$t.log" | grep -o '[0-9]*$') inputs)"
  else
    echo "fuzz: $t: FAILED; the end of build-fuzz/$t.log:" >&2
    tail -n 60 "build-fuzz/$t.log" >&2
    failed+=("$t")
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} passed, 0 failed"
