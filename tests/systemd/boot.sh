#!/usr/bin/env bash
# Boots real systemd in a container and runs one check script inside it.
#
#   tests/systemd/boot.sh [--timeout SECONDS] ROOT CHECK_SCRIPT RESULTS_DIR
#
# ROOT          a root made by make-root.sh (never changed: --volatile=overlay)
# CHECK_SCRIPT  bash script run inside as root by jenky-test.service, at
#               /opt/jenky-test/checks.sh; prints "ok - NAME" / "not ok - NAME: why"
# RESULTS_DIR   host folder, bind-mounted at /opt/jenky-test/results; gets
#               tap.txt, exit, stderr.txt, diagnostics.txt, journal*.txt,
#               console.txt (the container's console, written here on the host)
#
# Environment: JENKY_BIN (default build/jenky), bind-mounted read-only at
# /opt/jenky-src/jenky. Anything in JENKY_TEST_ENV (lines VAR=value) is passed
# to the check script. JENKY_NSPAWN_ARGS: more systemd-nspawn options.
#
# Prints the check output and exits 0 when the script exited 0 and no check
# said "not ok", 1 when checks failed, 2 when the container did not boot, did
# not run the script, or hung (it is then killed).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
timeout=420
if [ "${1:-}" = --timeout ]; then timeout=$2; shift 2; fi
if [ $# -ne 3 ]; then
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
root=$1 script=$2 results=$3
bin=${JENKY_BIN:-$repo/build/jenky}

die() { echo "boot: $*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "must run as root (systemd-nspawn needs it)"
command -v systemd-nspawn >/dev/null || die "systemd-nspawn missing: apt-get install systemd-container"
[ -x "$root/lib/systemd/systemd" ] || die "$root is not a root with systemd; make it with tests/systemd/make-root.sh"
[ -f "$script" ] || die "no check script $script"
[ -x "$bin" ] || die "no jenky binary at $bin (set JENKY_BIN)"

mkdir -p "$results"
rm -f "$results"/{tap.txt,exit,state,stderr.txt,diagnostics.txt,journal.txt,journal-jenky-verbose.txt,console.txt}
# The inner time limit leaves room for diagnostics and poweroff.
{
  echo "JENKY_TEST_TIMEOUT=$(( timeout - 40 > 30 ? timeout - 40 : 30 ))"
  [ -n "${JENKY_TEST_ENV:-}" ] && printf '%s\n' "$JENKY_TEST_ENV"
} > "$results/env"

machine=jenky-test-$$
args=(
  --quiet
  --directory="$root"
  --machine="$machine"
  --boot
  --register=no          # no systemd-machined on the host (systemd is not PID 1)
  --keep-unit            # no scope unit of our own either, same reason
  --private-network      # loopback only
  --volatile=overlay     # the root stays pristine; writes go to a tmpfs
  --console=read-only
  --bind-ro="$bin:/opt/jenky-src/jenky"
  --bind-ro="$script:/opt/jenky-test/checks.sh"
  --bind-ro="$here/inside.sh:/opt/jenky-test/inside.sh"
  --bind-ro="$here/jenky-test.service:/etc/systemd/system/jenky-test.service"
  --bind="$results:/opt/jenky-test/results"
  --bind-ro="$here/../../tests:/opt/jenky-repo/tests"
  --bind-ro="$here/../../recipes:/opt/jenky-repo/recipes"
)
# More systemd-nspawn options (e.g. --bind-ro=...) for experiments.
if [ -n "${JENKY_NSPAWN_ARGS:-}" ]; then read -ra extra <<< "$JENKY_NSPAWN_ARGS"; args+=("${extra[@]}"); fi
# Extra arguments after the root are PID 1's command line, which systemd in
# a container reads as its kernel command line.
init_args=(systemd.wants=jenky-test.service systemd.show_status=auto)

# A cgroup of our own in each hierarchy (see cgroups.sh).
# shellcheck source=tests/systemd/cgroups.sh
. "$here/cgroups.sh"
cgroups_for "jenky-systemd-test-$$"

start=$(date +%s.%N)
(
  enter_cgroups
  exec setsid systemd-nspawn "${args[@]}" "${init_args[@]}"
) > "$results/console.txt" 2>&1 < /dev/null &
pid=$!

wait_gone() { # SECONDS: until nspawn has exited
  local i
  for ((i = 0; i < $1 * 5; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
}

cleanup() {
  # Ask nicely, then insist: the first SIGTERM halts the container, the second
  # kills its init; SIGKILL to nspawn's whole process group last.
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null; wait_gone 10
    kill -TERM "$pid" 2>/dev/null; wait_gone 5
    kill -KILL -- "-$pid" 2>/dev/null
    # The container's init is in another PID namespace and may outlive
    # nspawn: kill whatever is left in our cgroups.
    kill_cgroups
    sleep 1
  fi
  wait "$pid" 2>/dev/null
  rm -rf "/run/systemd/nspawn/propagate/$machine" 2>/dev/null
  remove_cgroups
}
trap 'cleanup; exit 2' INT TERM

hung=0
deadline=$(( $(date +%s) + timeout ))
while kill -0 "$pid" 2>/dev/null; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    hung=1
    echo "boot: container still running after ${timeout} s: killing it" >&2
    break
  fi
  sleep 0.5
done
cleanup
wait "$pid" 2>/dev/null; nspawn_status=$?
elapsed=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN{printf "%.1f", e-s}')

[ -f "$results/tap.txt" ] && cat "$results/tap.txt"
echo "boot: container ran ${elapsed} s (systemd-nspawn exit ${nspawn_status})" >&2

if [ ! -f "$results/state" ]; then
  echo "boot: the check script never started; the container's console:" >&2
  tail -n 40 "$results/console.txt" | sed 's/\x1b\[[0-9;]*m//g' >&2
  exit 2
fi
if [ ! -f "$results/exit" ]; then
  echo "boot: the check script did not finish (state: $(cat "$results/state"))" >&2
  tail -n 40 "$results/console.txt" | sed 's/\x1b\[[0-9;]*m//g' >&2
  exit 2
fi
[ "$hung" -eq 1 ] && exit 2
status=$(cat "$results/exit")
if [ "$status" != 0 ] || grep -q '^not ok' "$results/tap.txt"; then
  exit 1
fi
exit 0
