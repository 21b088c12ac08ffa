#!/bin/bash
# Before and after: runs the trigger, capture, idle-memory and listing
# benchmarks on two jenky binaries, alternating them round by round (A B,
# then B A, ...) so that the shared machine's load falls on both alike, and
# prints a Markdown table of each benchmark's headline numbers with the ratio
# after ÷ before. For a change that must not make jenky slower (a refactor):
#
#   bench/compare.sh BEFORE_BIN AFTER_BIN [--rounds N] [--quick]
#
# Build the "before" binary from the older commit in its own worktree
# (git worktree add --detach DIR COMMIT; scripts/build.sh jenky there).
# Needs what bench/run.sh needs (bench/run.sh --setup installs it).
set -euo pipefail
usage() { sed -n '2,12p' "$0"; exit 2; }
[[ $# -ge 2 ]] || usage
before=$1 after=$2
shift 2
rounds=3 quick=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --rounds) rounds=${2:?--rounds needs a number}; shift 2 ;;
    --quick) quick=1; shift ;;
    *) usage ;;
  esac
done
for b in "$before" "$after"; do
  [[ -x $b ]] || { echo "bench/compare.sh: $b is not an executable jenky" >&2; exit 2; }
done
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
results=$(mktemp -d /tmp/jenky-compare.XXXXXX)
trap 'rm -rf "$results"' EXIT
gcc -O2 -Wall -o "$results/spawn_baseline" "$here/spawn_baseline.c"
# Private copies: a rebuild during the run must not change what is measured.
cp "$before" "$results/before"
cp "$after" "$results/after"
if ((quick)); then
  trigger_args=(--iterations 150 --rounds 6 --warmup 5 --phase-iterations 20)
  capture_args=(--bytes $((128 << 20)) --reps 1)
  listing_args=(--rows 200000 --requests 200 --rounds 3 --warmup 20)
  rss_args=(--runs 3)
else
  trigger_args=(--iterations 300 --rounds 10 --warmup 10 --phase-iterations 30)
  capture_args=(--bytes $((256 << 20)) --reps 2)
  listing_args=(--requests 500 --rounds 5 --warmup 50)
  rss_args=()
fi
cat /proc/loadavg > "$results/load_start"
for ((round = 1; round <= rounds; round++)); do
  order=(before after)
  ((round % 2 == 0)) && order=(after before)
  for which in "${order[@]}"; do
    for name in trigger capture rss listing; do
      case $name in
        trigger) args=(--helper "$results/spawn_baseline" "${trigger_args[@]}") ;;
        capture) args=("${capture_args[@]}") ;;
        rss) args=("${rss_args[@]}") ;;
        listing) args=("${listing_args[@]}") ;;
      esac
      echo "== round $round: $name, $which" >&2
      JENKY_BIN=$results/$which timeout -k 10 900 "$py" "$here/bench_$name.py" "${args[@]}" \
        --out "$results/$name.$which.$round.json"
    done
  done
done
cat /proc/loadavg > "$results/load_end"
"$py" - "$results" "$rounds" "$before" "$after" <<'PY'
import json, statistics, sys
results, rounds, before, after = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

def load(name, which):
    return [json.load(open(f"{results}/{name}.{which}.{r}.json")) for r in range(1, rounds + 1)]

def headline(name, r):
    if name == "trigger":
        p = r["peers"]
        return {"trigger → first byte p50 (ms)": p["jenky"]["p50"],
                "trigger → first byte p99 (ms)": p["jenky"]["p99"],
                "jenky p50 ÷ bare spawn p50": p["jenky"]["p50"] / p["spawn-true"]["p50"]}
    if name == "capture":
        return {f"log capture, {k} (MiB/s)": v["jenky"]["mib_per_s"] for k, v in r["kinds"].items()}
    if name == "rss":
        return {"idle server RSS (KiB)": max(r["jenky_startup"]["server"]["vmrss_kib"],
                                             r["jenky_after_runs"]["server"]["vmrss_kib"])}
    if name == "listing":
        return {f"listing {k} p50 (ms)": r["kinds"][k]["p50"] for k in
                ("project_newest", "all_before", "healthz")}

higher_is_better = lambda key: "MiB/s" in key
print(f"| measure (median of {rounds} rounds) | before | after | after ÷ before | |")
print("|---|---:|---:|---:|---|")
for name in ("trigger", "capture", "rss", "listing"):
    b = [headline(name, r) for r in load(name, "before")]
    a = [headline(name, r) for r in load(name, "after")]
    for key in b[0]:
        mb = statistics.median(x[key] for x in b)
        ma = statistics.median(x[key] for x in a)
        ratio = ma / mb if mb else float("nan")
        worse = ratio < 0.9 if higher_is_better(key) else ratio > 1.1
        print(f"| {key} | {mb:.2f} | {ma:.2f} | {ratio:.2f} | {'worse by > 10 %' if worse else ''} |")
print()
print(f"before: `{before}`; after: `{after}`; load average "
      f"{open(results + '/load_start').read().split()[0]} at the start, "
      f"{open(results + '/load_end').read().split()[0]} at the end.")
PY
