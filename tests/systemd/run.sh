#!/usr/bin/env bash
# The systemd integration test, CTest's entry point:
#   tests/systemd/run.sh
# Builds (once, cached) a Debian root, boots real systemd in systemd-nspawn
# twice: the harness's own smoke check, then checks.sh against the jenky
# binary. Prints every check and a final `N passed, M failed`; exits 0 only
# when all passed.
#
# Environment:
#   JENKY_BIN              the binary to test (default build/jenky); copied first
#   JENKY_SYSTEMD_CACHE    where roots are cached (default build/systemd-root)
#   JENKY_SYSTEMD_RESULTS  where results go (default build/systemd-results)
#   JENKY_CHECKS           run only these checks of checks.sh ("install kill9_restarts")
# Needs root and Debian's systemd-container and mmdebstrap.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
bin=${JENKY_BIN:-$repo/build/jenky}
cache=${JENKY_SYSTEMD_CACHE:-$repo/build/systemd-root}
results=${JENKY_SYSTEMD_RESULTS:-$repo/build/systemd-results}
t0=$(date +%s)

finish() { # PASSED FAILED
  echo "systemd: $(( $(date +%s) - t0 )) s in all; results in $results"
  echo "$1 passed, $2 failed"
  [ "$2" -eq 0 ] && [ "$1" -gt 0 ]
  exit $?
}

if [ "$(id -u)" -ne 0 ]; then
  echo "systemd: skipped: booting systemd in systemd-nspawn needs root"
  exit 77
fi
missing=()
command -v systemd-nspawn >/dev/null || missing+=(systemd-container)
command -v mmdebstrap >/dev/null || command -v debootstrap >/dev/null || missing+=(mmdebstrap)
if [ ${#missing[@]} -gt 0 ]; then
  echo "systemd: missing packages: ${missing[*]} (scripts/setup.sh installs them)"
  finish 0 1
fi
[ -x "$bin" ] || { echo "systemd: no jenky binary at $bin (build first, or set JENKY_BIN)"; finish 0 1; }

mr=$("$here/make-root.sh" "$cache" 2>&1) || { echo "$mr"; echo "systemd: could not build the container root"; finish 0 1; }
root=$(tail -n 1 <<< "$mr"); sed '$d' <<< "$mr"

# One run at a time per results folder (the other waits).
mkdir -p "$results"
exec 8>"$results/.lock"
flock -w 900 8 || { echo "systemd: another run holds $results/.lock"; finish 0 1; }

# The binary is rebuilt from time to time: test a copy.
work=$(mktemp -d "$results/.bin.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp "$bin" "$work/jenky"
export JENKY_BIN=$work/jenky
export JENKY_TEST_ENV=${JENKY_CHECKS:+JENKY_CHECKS=$JENKY_CHECKS}

passed=0 failed=0
count() { # TAP file
  local p f
  p=$(grep -c '^ok ' "$1" 2>/dev/null); f=$(grep -c '^not ok ' "$1" 2>/dev/null)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
}

echo "systemd: smoke: booting $root"
"$here/boot.sh" --timeout 90 "$root" "$here/smoke.sh" "$results/smoke" 2>&1
rc=$?
count "$results/smoke/tap.txt"
if [ $rc -ge 2 ] || [ ! -s "$results/smoke/tap.txt" ]; then
  echo "not ok - container boots and runs the checks: see $results/smoke/console.txt"
  finish "$passed" $((failed + 1))
fi
if [ $rc -ne 0 ]; then
  echo "systemd: the harness's smoke check failed; not running jenky's checks"
  finish "$passed" "$failed"
fi

echo "systemd: jenky checks ($("$JENKY_BIN" version 2>&1))"
"$here/boot.sh" --timeout 480 "$root" "$here/checks.sh" "$results/checks" 2>&1
rc=$?
count "$results/checks/tap.txt"
if [ $rc -ge 2 ]; then
  echo "not ok - the checks' container ran to the end: see $results/checks/console.txt"
  failed=$((failed + 1))
fi
[ "$failed" -gt 0 ] && echo "systemd: details: $results/checks/checks.log, journal.txt, diagnostics.txt"
finish "$passed" "$failed"
