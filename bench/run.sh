#!/bin/bash
# Runs every jenky benchmark and rewrites docs/benchmarks.md with the results.
#
#   bench/run.sh            full run  (~3 minutes)
#   bench/run.sh --quick    smaller sizes (~1.5 minutes)
#   bench/run.sh --setup    only install and build what they need, then exit
#
# Installs what it needs, like the README's other commands: its Debian
# packages (scripts/setup.sh bench: webhook, wrk, websocketd, gcc, python3)
# and, when JENKY_BIN is not set, build/jenky (scripts/setup.sh demo and
# scripts/build.sh jenky).
# Every benchmark uses fresh temporary data dirs, ends every process it starts
# and is bounded by `timeout`.
set -euo pipefail

quick=0 setup_only=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    --setup) setup_only=1 ;;
    -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
    *) echo "bench/run.sh: unknown argument '$arg' (use --quick, --setup or nothing)" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cd "$repo"
py=/usr/bin/python3
if [[ -z ${JENKY_BIN:-} ]]; then
  "$repo/scripts/setup.sh" demo bench
  CCACHE_BASEDIR=${CCACHE_BASEDIR:-$repo} "$repo/scripts/build.sh" jenky
else
  "$repo/scripts/setup.sh" bench
fi
export JENKY_BIN=${JENKY_BIN:-$repo/build/jenky}

missing=()
[[ -x $JENKY_BIN ]] || missing+=("$JENKY_BIN (JENKY_BIN names no executable)")
command -v webhook >/dev/null || missing+=("webhook (apt-get install webhook)")
command -v gcc >/dev/null || missing+=("gcc (apt-get install gcc)")
[[ -x $py ]] || missing+=("$py (apt-get install python3)")
command -v wrk >/dev/null || missing+=("wrk (apt-get install wrk)")
command -v websocketd >/dev/null || missing+=("websocketd (apt-get install websocketd)")
if ((${#missing[@]})); then
  printf 'bench/run.sh: missing %s\n' "${missing[@]}" >&2
  exit 2
fi
if ((setup_only)); then
  echo "bench/run.sh: everything the benchmarks need is here ($JENKY_BIN, webhook, wrk, websocketd, gcc, python3)"
  exit 0
fi

results=$(mktemp -d /tmp/jenky-bench-results.XXXXXX)
trap 'rm -rf "$results"' EXIT
cat /proc/loadavg > "$results/load_start"
date -u +%Y-%m-%dT%H:%M:%SZ > "$results/date"
gcc -O2 -Wall -o "$results/spawn_baseline" "$here/spawn_baseline.c"
# Benchmark a private copy: a rebuild of build/jenky during the run must not
# change (or break) the binary under test.
cp "$JENKY_BIN" "$results/jenky"
{
  echo "path=$JENKY_BIN"
  echo "built=$(date -u -d "@$(stat -c %Y "$JENKY_BIN")" +%Y-%m-%dT%H:%M:%SZ)"
  echo "sha256=$(sha256sum "$results/jenky" | cut -c1-12)"
} > "$results/jenky_info"
export JENKY_BIN=$results/jenky

if ((quick)); then
  trigger_args=(--iterations 200 --rounds 10 --warmup 5 --phase-iterations 30)
  capture_args=(--bytes $((256 << 20)) --reps 2)
  listing_args=(--requests 250 --rounds 5 --warmup 20)
else
  trigger_args=(--iterations 300 --rounds 20 --warmup 10)
  capture_args=(--bytes $((1 << 30)) --reps 3)
  listing_args=(--requests 1000 --rounds 20 --warmup 50)
fi

failed=0
bench() {  # NAME TIME_LIMIT_S ARGS...
  local name=$1 limit=$2
  shift 2
  echo "== $name" >&2
  local start=$SECONDS rc=0
  cut -d' ' -f1 /proc/loadavg > "$results/$name.load"
  timeout -k 10 "$limit" "$py" "$here/bench_$name.py" "$@" --out "$results/$name.json" || rc=$?
  echo "$((SECONDS - start))" > "$results/$name.seconds"
  cut -d' ' -f1 /proc/loadavg >> "$results/$name.load"
  if ((rc != 0)); then
    echo "$rc" > "$results/$name.failed"
    echo "bench/run.sh: $name failed (exit $rc)" >&2
    failed=1
  fi
}

bench trigger 300 --helper "$results/spawn_baseline" "${trigger_args[@]}"
bench capture 600 "${capture_args[@]}"
bench rss 120
bench listing 300 "${listing_args[@]}"
# Trigger latency with three notifiers (one never answering) and a commit
# status, against none (issue 19); results in notify.json.
if ((quick)); then notify_args=(--iterations 100 --rounds 5); else notify_args=(); fi
bench notify 300 "${notify_args[@]}"

cat /proc/loadavg > "$results/load_end"
"$py" "$here/report.py" --results "$results" --command "bench/run.sh $*" \
  --out "$repo/docs/benchmarks.md"
echo "wrote docs/benchmarks.md" >&2

# Webhooks (issue 3) and live-log fan-out (issue 4), side by side with webhook
# and websocketd; bench/sections.py writes their own two sections of
# docs/benchmarks.md and keeps the rest as report.py wrote it.
# Needs wrk and websocketd (apt-get install wrk websocketd); about 7 minutes
# (--quick: about 3).
if command -v wrk >/dev/null && command -v websocketd >/dev/null; then
  gcc -O2 -Wall -o "$results/ws_load" "$here/ws_load.c"
  if ((quick)); then
    webhook_args=(--duration 5 --rounds 2 --deliveries 200 --delivery-rounds 4)
    fanout_args=(--measure 5 --jenky-counts "" --bytes $((256 << 20)) --reps 1)
  else
    webhook_args=()
    fanout_args=()
  fi
  bench webhook 600 "${webhook_args[@]}"
  bench fanout 1200 --ws-load "$results/ws_load" "${fanout_args[@]}"
  "$py" "$here/sections.py" --webhook "$results/webhook.json" --fanout "$results/fanout.json" \
    --doc "$repo/docs/benchmarks.md"
  echo "wrote the Webhooks and Live logs sections of docs/benchmarks.md" >&2
else
  echo "bench/run.sh: webhook and fan-out benchmarks skipped: missing wrk or websocketd" \
    "(apt-get install wrk websocketd)" >&2
  failed=1
fi
exit "$failed"
