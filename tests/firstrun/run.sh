#!/usr/bin/env bash
# The README's first command, run as a newcomer would: from a fresh clone of
# this repository's HEAD, in a minbase Debian 12 container (nothing installed
# but what `mmdebstrap --variant=minbase` puts there), as root. Then, from the
# host: waits for jenky's "listening on" line, runs the README's next
# commands (`build/jenky deploy demo --follow` must exit 0 and stream the
# coloured log), loads / in Debian's chromium (the browser tests' browser) and
# checks that the UI rendered the demo project, and stops the demo.
#
#   tests/firstrun/run.sh [--no-ccache] [--port-taken] [--command CMD]
#
# --no-ccache     compile from scratch (the newcomer's time, for
#                 docs/benchmarks.md); by default the container keeps a ccache
#                 of its own between runs, so CI stays cheap
# --port-taken    hold 127.0.0.1:8080 meanwhile: the demo must say so and
#                 take another port (the README's commands then get it in
#                 JENKY_SERVER, as the demo's banner says)
# --command CMD   run CMD (another README command, e.g. "bench/run.sh --setup")
#                 in the same fresh container instead; it must exit 0
#
# Cached between runs under JENKY_CI_CACHE (default /var/cache/jenky-ci): the
# container's root (roots/), apt's downloaded packages (apt-archives/, bind
# -mounted at /var/cache/apt/archives) and the container's ccache. The
# container shares the host's network: apt and npm reach their registries,
# jenky listens on the host's loopback. npm trusts the host's CAs
# (NODE_EXTRA_CA_CERTS). The C++ build inside takes the host's build lock.
#
# Exits 0 when every step worked; prints each phase's time.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${JENKY_CI_CACHE:-/var/cache/jenky-ci}
lock=${JENKY_BUILD_LOCK:-/tmp/jenky-build.lock}
ca=${JENKY_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
ccache=1 command="" port_taken=0
while [ $# -gt 0 ]; do
  case $1 in
    --no-ccache) ccache=0; shift ;;
    --port-taken) port_taken=1; shift ;;
    --command) command=${2:?--command needs a command}; shift 2 ;;
    *) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
done

t0=$SECONDS
die() { echo "firstrun: FAILED: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (mmdebstrap and systemd-nspawn)"
for c in systemd-nspawn mmdebstrap chromium git; do
  command -v "$c" >/dev/null || die "$c is missing: scripts/setup.sh test installs it"
done
[ -f "$ca" ] || die "no CA bundle at $ca (set JENKY_CA_BUNDLE)"

# The README's commands: the first line of its first ```sh block is the
# newcomer's command; the next block's lines (comments dropped) come after.
readarray -t blocks < <(awk '
  /^```sh/ { n++; inside = 1; next }
  /^```/ { inside = 0; next }
  inside && n <= 2 { sub(/[ \t]+#.*$/, ""); if ($0 != "") print n "\t" $0 }' "$repo/README.md")
first="" then=()
for b in "${blocks[@]}"; do
  if [ "${b%%$'\t'*}" = 1 ]; then [ -z "$first" ] && first=${b#*$'\t'}; else then+=("${b#*$'\t'}"); fi
done
[ -n "$first" ] || die "README.md has no \`\`\`sh block"
if [ -n "$command" ]; then
  first=$command
  echo "firstrun: the command: $first"
else
  echo "firstrun: the README's first command: $first"
fi

mkdir -p "$cache/apt-archives" "$cache/ccache"
root=$(JENKY_APT_ARCHIVES=$cache/apt-archives "$repo/tests/systemd/make-root.sh" --bare "$cache/roots") \
  || die "could not build the minbase root"
root=$(tail -n 1 <<< "$root")

work=$(mktemp -d /var/tmp/jenky-firstrun.XXXXXX)
clone=$work/jenky
git clone --quiet "$repo" "$clone" || die "git clone of $repo"
echo "firstrun: fresh clone of $(git -C "$clone" log --oneline -1) in $clone"
touch "$lock"

# shellcheck source=tests/systemd/cgroups.sh
. "$repo/tests/systemd/cgroups.sh"
cgroups_for "jenky-firstrun-$$"
machine=jenky-firstrun-$$
args=(
  --quiet --directory="$root" --machine="$machine"
  --register=no --keep-unit          # systemd is not PID 1 on the host
  --volatile=overlay                 # the root stays pristine; writes go to a tmpfs
  --resolv-conf=copy-host            # the host's network and DNS, for apt and npm
  --as-pid2                          # a stub init reaps what jenky leaves
  --bind="$clone:/root/jenky" --chdir=/root/jenky
  --bind="$cache/apt-archives:/var/cache/apt/archives"
  --bind="$lock:/tmp/jenky-build.lock"
  --bind-ro="$ca:/usr/local/share/host-ca.crt"
  --setenv=NODE_EXTRA_CA_CERTS=/usr/local/share/host-ca.crt
  --setenv=HOME=/root --setenv=TERM=dumb
)
[ "$ccache" = 1 ] && args+=(--bind="$cache/ccache:/root/.cache/ccache")

# Something else on 8080 (unless something already is).
holder=""
if [ "$port_taken" = 1 ] && ! (exec 3<>/dev/tcp/127.0.0.1/8080) 2>/dev/null; then
  python3 -c 'import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 8080)); s.listen(); print("held", flush=True); time.sleep(3600)' \
    > "$work/holder.out" 2>&1 &
  holder=$!
  for _ in $(seq 1 50); do grep -q held "$work/holder.out" && break; sleep 0.1; done
  grep -q held "$work/holder.out" || die "could not hold 127.0.0.1:8080: $(cat "$work/holder.out")"
fi

log=$work/demo.log
t_command=$SECONDS
(
  enter_cgroups
  exec setsid systemd-nspawn "${args[@]}" /bin/bash -c "$first"
) > "$log" 2>&1 < /dev/null &
pid=$!

# jenky_pid: the demo's `jenky serve`, found in this run's cgroups.
jenky_pid() {
  local cg p found=""
  for cg in "${cgroups[@]}"; do
    while read -r p; do
      [ "$(tr '\0' ' ' < "/proc/$p/cmdline" 2>/dev/null | cut -d' ' -f1-2)" = "build/jenky serve" ] && found=$p
    done < <(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null)
  done
  [ -n "$found" ] && echo "$found"
}

# ctrl_c: stops the demo as the newcomer does, with SIGINT to jenky; true
# when the container then ended on its own.
ctrl_c() {
  local p
  p=$(jenky_pid) || return 1
  kill -INT "$p"
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  return 1
}

stop() {
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null
    kill_cgroups
  fi
  wait "$pid" 2>/dev/null
  rm -rf "/run/systemd/nspawn/propagate/$machine" 2>/dev/null
  remove_cgroups
}
finish() {
  stop
  [ -n "$holder" ] && kill "$holder" 2>/dev/null && wait "$holder" 2>/dev/null
  sed -n 's/^demo: .* took .*/firstrun: &/p; s/^demo: built in.*/firstrun: &/p' "$log"
  echo "firstrun: $((SECONDS - t0)) s in all"
  rm -rf "$work"
}
trap finish EXIT
trap 'exit 1' INT TERM

# Another command: it must end, and end well.
if [ -n "$command" ]; then
  wait "$pid"; rc=$?
  tail -n 15 "$log"
  [ "$rc" -eq 0 ] || die "\`$first\` exited $rc after $((SECONDS - t_command)) s (its output is above)"
  echo "firstrun: ok: \`$first\` works on a minbase Debian 12 ($((SECONDS - t_command)) s)"
  exit 0
fi

# Wait for the listening line (the build is the long part).
url=""
deadline=$((SECONDS + ${JENKY_FIRSTRUN_TIMEOUT:-1500}))
while [ -z "$url" ]; do
  url=$(grep -o 'listening on http://[0-9.:]*' "$log" | head -n1 | sed 's/^listening on //')
  [ -n "$url" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    tail -n 60 "$log" >&2
    die "\`$first\` ended before jenky listened (its output is above)"
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    tail -n 60 "$log" >&2
    die "no 'listening on' line after ${JENKY_FIRSTRUN_TIMEOUT:-1500} s"
  fi
  sleep 1
done
echo "firstrun: the demo listens on $url $((SECONDS - t_command)) s after \`$first\` started"
grep '^demo: ' "$log"
if [ "$port_taken" = 1 ]; then
  grep -q '^demo: 127.0.0.1:8080 is taken' "$log" || die "the demo did not say that 8080 is taken"
  grep -q 'demo.sh --listen 127.0.0.1:0' "$log" || die "the demo did not suggest --listen 127.0.0.1:0"
  [ "$url" != http://127.0.0.1:8080 ] || die "the demo listens on the taken 8080"
  grep -q "deploy demo --follow --server $url" "$log" || die "the demo's banner does not give the deploy command for $url"
fi

# The demo installed only what building and running need: nothing of the
# test command's set (asked inside the container, in jenky's mount namespace).
if jpid=$(jenky_pid); then
  test_only=(chromium clang llvm mmdebstrap systemd-container webhook wrk websocketd shellcheck
             stress-ng python3-pytest libgtest-dev lintian debhelper)
  extra=$(nsenter -t "$jpid" -m -- dpkg-query -W -f='${Package} ${Status}\n' "${test_only[@]}" 2>/dev/null \
          | awk '/install ok installed/ {print $1}' | tr '\n' ' ')
  [ -z "$extra" ] || die "the demo installed packages only the tests need: $extra"
  echo "firstrun: the demo installed none of: ${test_only[*]}"
else
  die "no jenky serve process in the container"
fi

# The README's next commands, from the clone, against the demo's address.
export JENKY_SERVER=$url
for cmd in "${then[@]}"; do
  out=$work/cmd.out
  echo "firstrun: \$ $cmd"
  (cd "$clone" && timeout 120 bash -c "$cmd") > "$out" 2>&1
  rc=$?
  sed 's/^/  | /' "$out" | tail -n 40
  [ "$rc" -eq 0 ] || die "\`$cmd\` exited $rc"
  if [[ $cmd == *"deploy demo --follow"* ]]; then
    echo "firstrun: a fresh clone to a deploy streamed in the demo: $((SECONDS - t_command)) s (from the container's start)"
    grep -q $'\e\\[' "$out" || die "\`$cmd\` streamed no coloured output"
    [ "$(wc -l < "$out")" -ge 5 ] || die "\`$cmd\` streamed fewer than 5 lines"
  fi
done

# The UI in the browser tests' chromium: the page's script must have run
# and listed the demo project.
profile=$work/chromium
dom=$work/dom.html
timeout 60 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$profile" \
  --virtual-time-budget=10000 --dump-dom "$url/" > "$dom" 2> "$work/chromium.err" \
  || { tail -n 20 "$work/chromium.err" >&2; die "chromium could not load $url/"; }
grep -q 'demo' "$dom" \
  || { head -c 2000 "$dom" >&2; die "chromium loaded $url/ but the UI did not list the demo project"; }
echo "firstrun: chromium rendered $url/ ($(wc -c < "$dom") bytes of DOM, the demo project listed)"

ctrl_c || die "jenky did not stop on Ctrl-C (SIGINT) within 20 s"
echo "firstrun: stopped with Ctrl-C: $(grep -m1 -i 'SIGINT' "$log" || tail -n 1 "$log")"
echo "firstrun: ok: \`$first\` works on a minbase Debian 12"
