#!/bin/bash
# The systemd integration checks. Runs inside the container, as root, with
# real systemd as PID 1 (see boot.sh). One function per behaviour; each
# prints `ok - NAME` or `not ok - NAME: why` and the host counts them.
#
#   checks.sh              run every check in order (they build on each other:
#                          install first, uninstall last)
#   checks.sh --one NAME   run one check function (used by the loop below, so
#                          each check has its own time limit)
#   JENKY_CHECKS="a b"     run only these checks (plus setup), in this order
#
# The jenky binary is bind-mounted read-only at /opt/jenky-src/jenky. It is
# copied to /root/build/jenky first, as if freshly built, and installed from
# there by `jenky service install` (which copies it to /usr/local/bin/jenky).
# A trace of every check is in results/checks.log.

set -u
SRC=/opt/jenky-src/jenky
BUILD=/root/build/jenky          # "the binary the user just built"
INSTALLED=/usr/local/bin/jenky   # where `service install` puts it
# The package's checks (JENKY_CHECKS_SETUP=package_setup): the .debs are
# bind-mounted in this folder, and jenky is installed by them.
DEBS=${JENKY_DEBS:-/opt/jenky-debs}

CONFIG=/etc/jenky/jenky.toml
DATA=/var/lib/jenky
URL=http://127.0.0.1:8080
RESULTS=${JENKY_TEST_RESULTS:-/opt/jenky-test/results}
STATE=/run/jenky-checks          # values one check leaves for a later one
UNIT=/etc/systemd/system/jenky.service
SOCKET=/etc/systemd/system/jenky.socket
if [ "${JENKY_CHECKS_SETUP:-setup}" = package_setup ]; then
  INSTALLED=/usr/bin/jenky BUILD=/usr/bin/jenky
  UNIT=/usr/lib/systemd/system/jenky.service SOCKET=/usr/lib/systemd/system/jenky.socket
fi
STEPS=${JENKY_STEPS:-40}         # the slow project prints step 1..STEPS, 0.1 s apart
export JENKY_SERVER=$URL
export SYSTEMD_PAGER= SYSTEMD_COLORS=0 PAGER=cat

# --- helpers --------------------------------------------------------------

# fail WHY: the check fails with this reason and stops here.
# problem WHY: the check fails with this reason but goes on looking.
fail() { printf '%s\n' "$*" >> "$STATE/reason"; echo "FAIL: $*" >&2; exit 1; }
problem() { printf '%s\n' "$*" >> "$STATE/reason"; echo "PROBLEM: $*" >&2; }
note() { echo "# $*" >> "$STATE/notes"; echo "NOTE: $*" >&2; }

# wait_for SECONDS COMMAND...: polls every 0.2 s until COMMAND succeeds.
wait_for() {
  local t=$1; shift
  local end=$(( $(date +%s%N) + t * 1000000000 ))
  while :; do
    "$@" >/dev/null 2>&1 && return 0
    [ "$(date +%s%N)" -ge "$end" ] && return 1
    sleep 0.2
  done
}

# The jenky CLI: the installed one once it exists.
jenky() {
  if [ -x "$INSTALLED" ]; then "$INSTALLED" "$@"; else "$BUILD" "$@"; fi
}

main_pid() { systemctl show -p MainPID --value jenky.service 2>/dev/null; }
active() { [ "$(systemctl is-active jenky.service 2>/dev/null)" = active ]; }
healthz() { curl -fsS --max-time 5 "$URL/healthz" >/dev/null; }
has_command() { "$BUILD" --help 2>&1 | grep -qE "^ +$1( |$)"; }

# needs_service: stop a check early, with a clear reason, when there is no
# running jenky.service to check against.
needs_service() {
  has_command service || fail "this jenky has no 'service' command (jenky --help lists none)"
  [ -f "$UNIT" ] || fail "$UNIT is missing (service install failed or did not run)"
  # Each check has its own budget of starts: the checks restart jenky far
  # more often than StartLimitBurst= allows (5 in 10 s by default), and
  # reset-failed resets that counter.
  systemctl reset-failed jenky.service jenky.socket 2>/dev/null
  # Wait only while systemd is still getting there.
  local s; s=$(systemctl is-active jenky.service)
  case $s in activating|reloading|deactivating) wait_for 30 active; s=$(systemctl is-active jenky.service) ;; esac
  if [ "$s" != active ]; then
    # An earlier check left it down: start it, so this check tests its own
    # behaviour rather than repeat that failure.
    note "jenky.service was $s at the start of this check; starting it ($(last_journal))"
    systemctl start jenky.socket jenky.service 2>/dev/null
  fi
  active || fail "jenky.service is not active: $(systemctl is-active jenky.service) ($(last_journal))"
  wait_for 10 healthz || fail "jenky.service is active but GET /healthz does not answer"
}

last_journal() { journalctl -u jenky.service -n 3 --no-pager -o cat 2>/dev/null | tr '\n' ' ' | cut -c1-300; }

# json FILE_OR_- EXPR: evaluates a Python expression on the JSON as `j`.
json() { python3 -c 'import json,sys; j=json.load(open(sys.argv[1]) if sys.argv[1]!="-" else sys.stdin); r=eval(sys.argv[2]); print("" if r is None else r)' "$@"; }
run_field() { curl -fsS --max-time 5 "$URL/api/v1/runs/$1" | json - "j.get('$2')"; }

# start_slow_run: triggers the slow project; waits until its script is
# running and has printed a few steps; prints the run id.
start_slow_run() {
  local id
  id=$(jenky deploy slow 2>>"$STATE/deploy.err") || fail "jenky deploy slow failed: $(tail -n 2 "$STATE/deploy.err")"
  [[ $id =~ ^[0-9]+$ ]] || fail "jenky deploy slow printed '$id', not a run id"
  wait_for 20 log_has "$id" "step 3" || fail "run $id did not start printing (status $(run_field "$id" status))"
  echo "$id"
}
log_has() { curl -fsS --max-time 5 "$URL/api/v1/runs/$1/log" | grep -qx "$2"; }

# check_complete_run ID WHAT: `jenky logs ID --follow` exits 0, the log has
# every line in order, the run is recorded as succeeded.
check_complete_run() {
  local id=$1 what=$2 rc log=$STATE/run-$1.log
  timeout 60 jenky logs "$id" --follow > "$log" 2> "$STATE/follow-$id.err"; rc=$?
  [ "$rc" -eq 0 ] || fail "run $id ($what): jenky logs --follow exited $rc: $(tr '\n' ' ' < "$STATE/follow-$id.err" | cut -c1-200); status $(run_field "$id" status), reason '$(run_field "$id" reason)'"
  local want
  want=$( echo "start run $id"; seq -f 'step %g' 1 "$STEPS"; echo "finished run $id" )
  if [ "$(cat "$log")" != "$want" ]; then
    fail "run $id ($what): log is not complete: $(diff <(echo "$want") "$log" | head -n 5 | tr '\n' ' ')"
  fi
  local status exit_code bytes
  status=$(run_field "$id" status); exit_code=$(run_field "$id" exit_code); bytes=$(run_field "$id" log_bytes)
  [ "$status" = succeeded ] || fail "run $id ($what) is recorded as '$status' (reason '$(run_field "$id" reason)'), not succeeded"
  [ "$exit_code" = 0 ] || fail "run $id ($what) succeeded with exit_code '$exit_code'"
  [ "$bytes" = "$(stat -c %s "$log")" ] || fail "run $id ($what): log_bytes $bytes but the log has $(stat -c %s "$log") bytes"
  # The command line agrees.
  jenky runs slow --json | json - "[r['status'] for r in j if r['id']==$id][0]" | grep -qx succeeded \
    || fail "run $id ($what): jenky runs --json does not list it as succeeded"
}

# --- checks ---------------------------------------------------------------

setup() {
  mkdir -p /root/build
  cp "$SRC" "$BUILD" && chmod 755 "$BUILD" || fail "cannot copy $SRC"
  "$BUILD" version | grep -q '^jenky ' || fail "$BUILD version does not print 'jenky ...'"
  mkdir -p /etc/jenky
  cat > "$CONFIG" <<EOF
[server]
listen = "127.0.0.1:8080"
data_dir = "$DATA"

[projects.slow]
description = "prints $STEPS steps, 0.1 s apart"
script = """
echo "start run \$JENKY_RUN_ID"
for i in \$(seq 1 $STEPS); do echo "step \$i"; sleep 0.1; done
echo "finished run \$JENKY_RUN_ID"
"""

[projects.selfup]
description = "a deploy that upgrades jenky itself"
script = """
echo "upgrading jenky from run \$JENKY_RUN_ID"
sudo -n /usr/local/bin/jenky upgrade /root/new/jenky
echo "upgrade exited \$?"
"""

[projects.contain]
description = "a deploy that double-forks, then waits to be cancelled"
script = """
cat /proc/self/cgroup
( setsid bash -c 'exec -a jenky-contain-\$JENKY_RUN_ID sleep 1000' & ) &
wait
echo forked
sleep 1000
"""

[projects.privs]
description = "what a deploy script may do"
script = """
grep '^NoNewPrivs:' /proc/self/status
sudo -n true && echo "sudo works"
echo "umask \$(umask)"
server=\$(systemctl show -p MainPID --value jenky.service)
if cat /proc/\$server/environ >/dev/null 2>&1; then echo "read the server's environ"; fi
if sudo -n cat /proc/\$server/environ >/dev/null 2>&1; then echo "sudo read the server's environ"; else echo "the server's environ is hidden even from sudo"; fi
"""
EOF
  # Deploy scripts often need root for a step (systemctl restart app, or
  # replacing jenky itself): the usual way is a sudoers rule for the user
  # jenky runs as.
  echo 'jenky ALL=(root) NOPASSWD: ALL' > /etc/sudoers.d/jenky
  chmod 440 /etc/sudoers.d/jenky
  chmod 644 "$CONFIG"
  # "The new build" for the upgrades: a copy of the same binary.
  mkdir -p /root/new && cp "$SRC" /root/new/jenky && chmod 755 /root/new/jenky
  "$BUILD" check --config "$CONFIG" >&2 || fail "jenky check rejects the test config"
  echo "jenky $("$BUILD" version)" >&2
}

service_print() {
  has_command service || fail "this jenky has no 'service' command (jenky --help lists none)"
  local out=$STATE/print.txt
  "$BUILD" service print > "$out" 2>&1 || fail "jenky service print exited $?: $(head -c 200 "$out")"
  local want
  for want in '^Type=notify' '^Restart=always' '^WatchdogSec=' '^ExecStart=/usr/local/bin/jenky serve' \
              '^User=' '^WantedBy=multi-user.target' '/etc/jenky/jenky.toml' '/var/lib/jenky' '^Environment=.*PATH='; do
    grep -qE -- "$want" "$out" || fail "service print has no line matching '$want'"
  done
  grep -qE '^KillMode=(process|mixed|none)' "$out" || grep -qE '^Delegate=' "$out" \
    || fail "service print has no KillMode= keeping deploys alive across restarts (default control-group kills them)"
  # Changes nothing.
  [ ! -e "$UNIT" ] || fail "service print wrote $UNIT"
}

snapshot() { # what install may touch
  { set +x

    ls -la --time-style=+%s /etc/systemd/system /etc/systemd/system/*.wants /usr/local/bin /etc/jenky 2>&1
    ls -la "$DATA" 2>&1
    getent passwd jenky; getent group jenky
    md5sum "$CONFIG"
    systemctl list-unit-files 'jenky*' --no-legend
  } 2>&1
}

install_dry_run() {
  has_command service || fail "this jenky has no 'service' command (jenky --help lists none)"
  local before after out=$STATE/dry-run.txt
  before=$(snapshot)
  "$BUILD" service install --dry-run > "$out" 2>&1 || fail "service install --dry-run exited $?: $(head -c 300 "$out")"
  after=$(snapshot)
  [ "$before" = "$after" ] || fail "--dry-run changed something: $(diff <(echo "$before") <(echo "$after") | head -n 6 | tr '\n' ' ')"
  local want
  for want in 'useradd' '/usr/local/bin/jenky' '/etc/systemd/system/jenky.service' 'daemon-reload' 'enable'; do
    grep -q -- "$want" "$out" || fail "--dry-run does not show the step with '$want': $(tr '\n' '|' < "$out" | cut -c1-300)"
  done
  [ "$(grep -cE '^(would )?[0-9]+\.' "$out")" -ge 4 ] || note "dry run steps are not numbered"
}

install() {
  has_command service || fail "this jenky has no 'service' command (jenky --help lists none)"
  local out=$STATE/install.txt
  # As an ordinary user: refused, and the message names the fix.
  setpriv --reuid=nobody --regid=nogroup --clear-groups "$BUILD" service install > "$STATE/install-nonroot.txt" 2>&1 \
    && fail "service install as user nobody succeeded"
  grep -qiE 'root|sudo' "$STATE/install-nonroot.txt" \
    || fail "service install as non-root does not say to run as root: $(head -c 200 "$STATE/install-nonroot.txt")"
  # Without systemd running: refused, and the message says so.
  unshare --mount sh -c "mount -t tmpfs none /run/systemd && exec '$BUILD' service install" > "$STATE/install-nosystemd.txt" 2>&1 \
    && problem "service install succeeded with /run/systemd/system hidden"
  grep -qi 'systemd' "$STATE/install-nosystemd.txt" && grep -qiE 'not running|no systemd|not booted' "$STATE/install-nosystemd.txt" \
    || problem "service install without systemd does not say that systemd is not running: $(head -c 200 "$STATE/install-nosystemd.txt")"
  [ -e "$UNIT" ] && fail "a refused service install wrote $UNIT"
  # The real thing, from the build directory.
  (cd /root/build && timeout 60 ./jenky service install) > "$out" 2>&1 \
    || fail "service install exited $?: $(tail -n 3 "$out" | tr '\n' ' ')"
  [ -f "$UNIT" ] || fail "$UNIT was not written"
  [ -x "$INSTALLED" ] || fail "$INSTALLED was not installed"
  cmp -s "$BUILD" "$INSTALLED" || fail "$INSTALLED differs from the binary that installed it"
  local files=("$UNIT"); [ -f "$SOCKET" ] && files+=("$SOCKET")
  # --man=no: the root has no man(1), so verify's man page check would fail
  # for any Documentation=man:... Whether the page exists is checked apart.
  systemd-analyze verify --man=no "${files[@]}" > "$STATE/verify.txt" 2>&1 \
    || problem "systemd-analyze verify rejects the units: $(tr '\n' ' ' < "$STATE/verify.txt" | cut -c1-300)"
  local page
  for page in $(sed -n 's/^Documentation=//p' "${files[@]}" | tr ' ' '\n' | sed -n 's/^man:\(jenky[^(]*\)(\([0-9]\))$/\1.\2/p'); do
    ls /usr/share/man/man*/"$page"* /usr/local/share/man/man*/"$page"* >/dev/null 2>&1 \
      || problem "the units name the man page ${page%.*}(${page##*.}) in Documentation= but it is not installed, so systemd-analyze verify fails on a host with man-db (install the page, or name a URL)"
  done
  [ -s "$STATE/verify.txt" ] && note "systemd-analyze verify said: $(tr '\n' ' ' < "$STATE/verify.txt" | cut -c1-300)"
  [ "$(systemctl is-enabled jenky.service)" = enabled ] || problem "jenky.service is not enabled: $(systemctl is-enabled jenky.service)"
  wait_for 20 active || fail "jenky.service is not active: $(systemctl is-active jenky.service) ($(last_journal))"
  [ "$(systemctl show -p Type --value jenky.service)" = notify ] || problem "jenky.service is not Type=notify"
  wait_for 10 healthz || fail "GET /healthz does not answer after install"
  local st; st=$(systemctl show -p StatusText --value jenky.service)
  [[ $st =~ [0-9]+\ running\ deploy ]] || problem "StatusText '$st' does not give the number of running deploys"
  # Runs as its own user, from the installed binary.
  local pid; pid=$(main_pid)
  [ "$(stat -c %U "/proc/$pid")" = jenky ] || problem "jenky runs as $(stat -c %U "/proc/$pid"), not as user jenky"
  [ "$(readlink "/proc/$pid/exe")" = "$INSTALLED" ] || problem "MainPID runs $(readlink "/proc/$pid/exe"), not $INSTALLED"
  [ -d "$DATA" ] && [ "$(stat -c %U "$DATA")" = jenky ] || problem "$DATA is missing or not owned by jenky"
  cat "$UNIT" "${files[@]:1}" >&2
}

ready_means_listening() {
  needs_service
  # READY=1 only when listening: right after `systemctl restart` returns
  # (it waits for READY with Type=notify) the server must answer at once.
  # Without socket activation the port is jenky's own, so this checks that
  # READY comes after listen(); with it, that requests are answered.
  systemctl restart jenky.service || fail "systemctl restart jenky failed: $(last_journal)"
  curl -fsS --max-time 2 "$URL/healthz" >/dev/null || fail "GET /healthz failed right after systemctl restart returned"
  active || fail "not active after restart"
}

status_counts_deploys() {
  needs_service
  local id st
  id=$(start_slow_run) || exit 1
  st=$(systemctl show -p StatusText --value jenky.service)
  [[ $st =~ (^|[^0-9])1\ running\ deploy ]] || fail "StatusText '$st' while run $id runs does not say 1 running deploy"
  timeout 30 jenky logs "$id" --follow >/dev/null 2>&1
  wait_for 5 bash -c '[[ $(systemctl show -p StatusText --value jenky.service) =~ (^|[^0-9])0\ running\ deploy ]]' \
    || fail "StatusText '$(systemctl show -p StatusText --value jenky.service)' after the run does not say 0 running deploys"
}

kill9_restarts() {
  needs_service
  local pid new restarts
  pid=$(main_pid); restarts=$(systemctl show -p NRestarts --value jenky.service)
  kill -9 "$pid" || fail "kill -9 $pid failed"
  wait_for 20 bash -c "p=\$(systemctl show -p MainPID --value jenky.service); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ] && [ \"\$(systemctl is-active jenky.service)\" = active ]" \
    || fail "after kill -9 of $pid: MainPID $(main_pid), $(systemctl is-active jenky.service) ($(last_journal))"
  new=$(main_pid)
  [ "$(systemctl show -p NRestarts --value jenky.service)" -gt "$restarts" ] || fail "NRestarts did not grow"
  wait_for 10 healthz || fail "GET /healthz does not answer after the restart"
  echo "MainPID $pid -> $new" >&2
}

deploy_survives_restart() {
  needs_service
  local id old
  id=$(start_slow_run) || exit 1
  old=$(main_pid)
  systemctl restart jenky.service || fail "systemctl restart jenky failed: $(last_journal)"
  [ "$(main_pid)" != "$old" ] || fail "MainPID did not change on restart"
  local st; st=$(run_field "$id" status)
  [ "$st" = running ] || note "run $id was already '$st' when the restart finished: the restart was slower than the script"
  check_complete_run "$id" "across systemctl restart"
  echo "$id" > "$STATE/restart-run-id"
}

journal_fields() {
  needs_service
  local id; id=$(cat "$STATE/restart-run-id" 2>/dev/null)
  if [ -z "$id" ]; then
    id=$(start_slow_run) || exit 1
    timeout 30 jenky logs "$id" --follow >/dev/null 2>&1
  fi
  journalctl --sync 2>/dev/null
  local n
  n=$(journalctl -u jenky --no-pager -o cat "JENKY_RUN_ID=$id" | wc -l)
  [ "$n" -gt 0 ] || fail "journalctl -u jenky JENKY_RUN_ID=$id finds nothing; jenky's last lines: $(last_journal)"
  journalctl -u jenky --no-pager -o cat "JENKY_RUN_ID=$id" >&2
  n=$(journalctl -u jenky --no-pager -o cat "JENKY_RUN_ID=$id" JENKY_PROJECT=slow | wc -l)
  [ "$n" -gt 0 ] || fail "run $id's events have no JENKY_PROJECT=slow field"
  # The run spans two jenky processes (before and after the restart): the new
  # one's events about it (adopted, finished) are tagged as well.
  n=$(journalctl -u jenky --no-pager -o export "JENKY_RUN_ID=$id" | grep '^_PID=' | sort -u | wc -l)
  [ "$n" -ge 2 ] || note "run $id's tagged events come from $n jenky process(es); the process that adopted it tagged none"
  # Priorities: the entries carry one (journal API or <N> prefixes), and the
  # prefixes are not left in the text.
  journalctl -u jenky --no-pager -o cat | grep -qE '^<[0-7]>' && fail "journal messages start with a literal <N> priority prefix"
  journalctl -u jenky --no-pager -o export "JENKY_RUN_ID=$id" | grep -q '^PRIORITY=' || fail "run $id's entries have no PRIORITY"
  true
}

upgrade_keeps_deploy() {
  needs_service
  has_command upgrade || fail "this jenky has no 'upgrade' command (jenky --help lists none)"
  local id old out=$STATE/upgrade.txt
  id=$(start_slow_run) || exit 1
  old=$(main_pid)
  timeout 60 "$INSTALLED" upgrade /root/new/jenky > "$out" 2>&1 \
    || fail "jenky upgrade exited $?: $(tail -n 3 "$out" | tr '\n' ' ')"
  cat "$out" >&2
  [ -f "$INSTALLED.prev" ] || fail "no $INSTALLED.prev after the upgrade"
  cmp -s "$INSTALLED" /root/new/jenky || fail "$INSTALLED is not the new binary"
  active || fail "jenky not active after the upgrade"
  if [ "$(main_pid)" = "$old" ]; then
    if journalctl -u jenky --no-pager -o cat --since "-60s" | grep -q 're-executing'; then
      problem "jenky re-executed itself in place (MainPID $old kept) instead of restarting through systemd: did jenky upgrade see systemd? ($(grep -m1 -iE 'ask|re-exec|restart' "$out"))"
    else
      problem "MainPID did not change: jenky was not restarted"
    fi
  fi
  [ "$(readlink "/proc/$(main_pid)/exe")" = "$INSTALLED" ] || problem "jenky runs $(readlink "/proc/$(main_pid)/exe") after the upgrade"
  local st; st=$(run_field "$id" status)
  [ "$st" = running ] || note "run $id was already '$st' when the upgrade finished"
  check_complete_run "$id" "across jenky upgrade"
  # No temporary files left next to the binary.
  local left; left=$(ls -a /usr/local/bin | grep -vxE '\.|\.\.|jenky|jenky\.prev' | tr '\n' ' ')
  [ -z "$left" ] || fail "left in /usr/local/bin after the upgrade: $left"
}

deploy_scripts_can_use_sudo() {
  needs_service
  # The unit's hardening must leave deploy scripts able to gain privileges:
  # several sandboxing options imply NoNewPrivileges=yes for a non-root
  # User=, and then sudo in a deploy script cannot work.
  local id rc log=$STATE/privs.log
  id=$(jenky deploy privs 2>/dev/null)
  [[ $id =~ ^[0-9]+$ ]] || fail "jenky deploy privs printed '$id'"
  timeout 30 jenky logs "$id" --follow > "$log" 2>&1; rc=$?
  cat "$log" >&2
  if ! grep -q '^NoNewPrivs:[[:space:]]*0' "$log"; then
    # Control: the same user outside jenky's unit (this check's own unit has
    # no sandboxing) may gain privileges, so it is jenky's unit that forbids it.
    local control
    control=$(setpriv --reuid=jenky --regid=jenky --init-groups grep '^NoNewPrivs:' /proc/self/status | tr -s '\t ' ' ')
    problem "deploy scripts run with $(grep -m1 NoNewPrivs "$log" | tr -s '\t ' ' ') (user jenky outside the unit: $control): jenky.service's sandboxing options imply NoNewPrivileges=yes for a non-root User= ($(systemctl show -p NoNewPrivileges jenky.service) is only the explicit setting)"
  fi
  grep -q '^sudo works' "$log" || problem "sudo fails in a deploy script: $(grep -m1 -i sudo "$log")"
  # The unit's other hardening (docs/security.md): the server is not
  # dumpable, and without CAP_SYS_PTRACE in the bounding set not even sudo
  # reads its memory or environ; UMask=0027.
  grep -q "^read the server's environ" "$log" && problem "a deploy script reads the server's environ"
  grep -q "^the server's environ is hidden even from sudo" "$log" \
    || problem "a deploy script's sudo reads the server's environ (CapabilityBoundingSet without CAP_SYS_PTRACE?)"
  grep -q '^umask 0027' "$log" || problem "deploy scripts run with $(grep -m1 '^umask' "$log"), not UMask=0027"
}

unit_exposure_is_no_worse() {
  needs_service
  # systemd-analyze's overall exposure of the installed unit: 9.0 before the
  # hardening of the safe-by-default issue, 7.7 with it (docs/systemd.md).
  local out score
  out=$(systemd-analyze security --no-pager jenky.service 2>&1)
  score=$(sed -n 's/.*Overall exposure level for jenky.service: \([0-9.]*\).*/\1/p' <<< "$out")
  [ -n "$score" ] || fail "no exposure level in: $(tail -2 <<< "$out")"
  echo "exposure $score" >&2
  awk -v s="$score" 'BEGIN { exit !(s <= 7.7) }' || problem "jenky.service's exposure is $score, worse than 7.7"
}

deploy_upgrades_jenky_itself() {
  needs_service
  has_command upgrade || fail "this jenky has no 'upgrade' command (jenky --help lists none)"
  # The author's own use: the deploy script runs `sudo jenky upgrade NEW`
  # (replacing /usr/local/bin/jenky and restarting the service need root).
  # The run is recorded as succeeded, and jenky runs the new binary.
  local id rc log=$STATE/selfup.log old sum
  old=$(main_pid)
  id=$(jenky deploy selfup 2>/dev/null)
  [[ $id =~ ^[0-9]+$ ]] || fail "jenky deploy selfup printed '$id'"
  timeout 60 jenky logs "$id" --follow > "$log" 2>"$STATE/selfup.err"; rc=$?
  cat "$log" >&2
  [ "$rc" -eq 0 ] || problem "jenky logs $id --follow exited $rc$([ $rc = 124 ] && echo ' (hung)'): $(tr '\n' ' ' < "$STATE/selfup.err" | cut -c1-200)"
  wait_for 30 bash -c "[ \"\$(curl -fsS --max-time 5 $URL/api/v1/runs/$id | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"status\"])')\" != running ]"
  local st; st=$(run_field "$id" status)
  [ "$st" = succeeded ] || problem "run $id is recorded as '$st' (reason '$(run_field "$id" reason)')"
  curl -fsS --max-time 5 "$URL/api/v1/runs/$id/log" | grep -q '^upgrade exited 0$' \
    || problem "the script's jenky upgrade did not exit 0: $(curl -fsS --max-time 5 "$URL/api/v1/runs/$id/log" | tail -n 3 | tr '\n' ' ')"
  wait_for 30 active || problem "jenky is not active after upgrading itself: $(systemctl is-active jenky.service) ($(last_journal))"
  [ "$(main_pid)" != "$old" ] || problem "jenky was not restarted by the upgrade"
  local mode; mode=$(stat -c %a "$INSTALLED")
  [ "$mode" = 755 ] || problem "$INSTALLED has mode $mode after an upgrade from a deploy script (umask of the unit applied?)"
  systemctl is-active --quiet jenky.service || { systemctl reset-failed jenky.service; cp /root/new/jenky "$INSTALLED"; chmod 755 "$INSTALLED"; systemctl restart jenky.service; }
  true
}

broken_upgrade_rolls_back() {
  needs_service
  has_command upgrade || fail "this jenky has no 'upgrade' command (jenky --help lists none)"
  mkdir -p /root/broken
  cat > /root/broken/jenky <<'EOF'
#!/bin/sh
# A jenky that answers `version` but cannot serve.
case "$1" in
  version) echo "jenky 9.9.9-broken" ;;
  *) echo "broken jenky: cannot $1" >&2; exit 1 ;;
esac
EOF
  chmod 755 /root/broken/jenky
  local sum out=$STATE/broken.txt rc start
  sum=$(sha256sum < "$INSTALLED")
  start=$(date +%s)
  timeout 120 "$INSTALLED" upgrade /root/broken/jenky > "$out" 2>&1; rc=$?
  cat "$out" >&2
  [ "$rc" -ne 0 ] || fail "jenky upgrade to a broken binary exited 0"
  [ "$rc" -ne 124 ] || fail "jenky upgrade to a broken binary did not finish in 120 s"
  grep -qiE 'roll(ed|ing)? ?back' "$out" || fail "the failed upgrade does not say it rolled back: $(tail -n 2 "$out" | tr '\n' ' ')"
  [ "$(sha256sum < "$INSTALLED")" = "$sum" ] || fail "$INSTALLED is not the old binary after the rollback"
  wait_for 30 active || fail "jenky is not active after the rollback: $(systemctl is-active jenky.service) ($(last_journal))"
  wait_for 10 healthz || fail "GET /healthz does not answer after the rollback"
  local pid; pid=$(main_pid)
  [ "$(sha256sum < "/proc/$pid/exe")" = "$sum" ] || fail "the running jenky (pid $pid) is not the old binary"
  # Still running after a while (not restarting in a loop, not start-limit-hit).
  sleep 3
  [ "$(main_pid)" = "$pid" ] && active || fail "jenky does not stay up after the rollback: MainPID $(main_pid), $(systemctl is-active jenky.service)"
  echo "rollback took $(( $(date +%s) - start )) s" >&2
}

socket_queues_during_restart() {
  needs_service
  [ -f "$SOCKET" ] || fail "no $SOCKET: without socket activation connections fail while jenky restarts"
  [ "$(systemctl is-active jenky.socket)" = active ] || fail "jenky.socket is not active"
  # jenky serves on systemd's socket: the listening socket for 127.0.0.1:8080
  # in jenky's fds is the one PID 1 holds.
  local inode pid
  inode=$(awk '$2=="0100007F:1F90" && $4=="0A" {print $10; exit}' /proc/net/tcp)
  [ -n "$inode" ] || fail "nothing listens on 127.0.0.1:8080"
  pid=$(main_pid)
  ls -l "/proc/$pid/fd" 2>/dev/null | grep -q "socket:\[$inode\]" || fail "jenky (pid $pid) does not hold the listening socket"
  ls -l /proc/1/fd 2>/dev/null | grep -q "socket:\[$inode\]" || fail "the listening socket is jenky's own, not systemd's (no socket activation)"
  # Requests while restarting: none may fail.
  # Three clients, each one request after another, while jenky restarts
  # ten times (dropped connections show up in about one restart of ten).
  local stop=$STATE/stop-loop fails=$STATE/loop-fails oks=$STATE/loop-oks restarts=10
  rm -f "$stop" "$fails.why"; : > "$fails"; : > "$oks"
  local loops=() i
  for i in 1 2 3; do
    (
      while [ ! -e "$stop" ]; do
        if curl -fsS --max-time 20 "$URL/healthz" >/dev/null 2>>"$fails.why"; then echo >> "$oks"; else echo >> "$fails"; fi
      done
    ) &
    loops+=($!)
  done
  sleep 0.5
  for ((i = 0; i < restarts; i++)); do
    systemctl reset-failed jenky.service 2>/dev/null   # not a start-limit test
    systemctl restart jenky.service || { touch "$stop"; wait "${loops[@]}"; fail "systemctl restart jenky failed: $(last_journal)"; }
    sleep 0.3
  done
  sleep 0.5; touch "$stop"; wait "${loops[@]}"
  local nf no; nf=$(wc -l < "$fails"); no=$(wc -l < "$oks")
  echo "$no requests answered, $nf failed" >&2
  [ "$nf" -eq 0 ] || fail "$nf of $((nf + no)) requests failed during $restarts restarts: $(sort "$fails.why" | uniq -c | head -n 3 | tr -s '\n ' ' ')"
  [ "$no" -ge 20 ] || fail "only $no requests were made"
}

reload_keeps_old_config_on_error() {
  needs_service
  local pid; pid=$(main_pid)
  cp "$CONFIG" "$STATE/config.good"
  # A good reload: SIGHUP via systemctl reload.
  systemctl reload jenky.service || fail "systemctl reload jenky failed: $(last_journal)"
  wait_for 10 active || fail "not active after a reload"
  [ "$(main_pid)" = "$pid" ] || fail "systemctl reload restarted jenky (MainPID $pid -> $(main_pid))"
  # A bad config is rejected; the old one stays in force.
  printf '[server\nlisten = \n' >> "$CONFIG"
  systemctl reload jenky.service
  sleep 1
  cp "$STATE/config.good" "$CONFIG"
  wait_for 10 active || fail "not active after reloading a bad config: $(systemctl is-active jenky.service)"
  [ "$(main_pid)" = "$pid" ] || fail "a bad config restarted or stopped jenky (MainPID $pid -> $(main_pid))"
  healthz || fail "GET /healthz fails after a bad config was reloaded"
  curl -fsS --max-time 5 "$URL/api/v1/projects/slow" >/dev/null || fail "project slow is gone after a bad config was reloaded"
  journalctl -u jenky --no-pager -o cat --since "-30s" | grep -qiE 'config|toml' \
    || fail "the journal says nothing about the rejected config"
  # ... as an error (journal priority err or worse), not as plain output.
  journalctl -u jenky --no-pager -o cat --since "-30s" -p err | grep -qiE 'config|toml' \
    || problem "the rejected config is not logged with priority err: $(journalctl -u jenky --no-pager -o json --since '-30s' | python3 -c 'import json,sys
for l in sys.stdin:
    e=json.loads(l)
    if "config" in str(e.get("MESSAGE","")).lower(): print("PRIORITY=%s %s" % (e.get("PRIORITY"), e.get("MESSAGE"))); break')"
}

watchdog_restarts_hung() {
  needs_service
  local usec; usec=$(systemctl show -p WatchdogUSec --value jenky.service)
  [ -n "$usec" ] && [ "$usec" != 0 ] && [ "$usec" != infinity ] || fail "jenky.service has no WatchdogSec ($usec)"
  # The installed watchdog (often 30 s or more) is shortened with a drop-in
  # to keep the test short; jenky must follow $WATCHDOG_USEC, whatever it is.
  local wd=3
  mkdir -p /etc/systemd/system/jenky.service.d
  printf '[Service]\nWatchdogSec=%s\n' "$wd" > /etc/systemd/system/jenky.service.d/zz-test-watchdog.conf
  systemctl daemon-reload
  systemctl restart jenky.service || fail "restart with WatchdogSec=$wd failed: $(last_journal)"
  local pid; pid=$(main_pid)
  # A healthy jenky pings: it is still the same process after 3 watchdog periods.
  sleep $(( wd * 3 ))
  [ "$(main_pid)" = "$pid" ] && active \
    || fail "a healthy jenky was restarted with WatchdogSec=$wd (MainPID $pid -> $(main_pid)): does it send WATCHDOG=1 every WATCHDOG_USEC/2? $(last_journal)"
  # A hung one is restarted.
  local t0; t0=$(date +%s)
  kill -STOP "$pid"
  wait_for $(( wd + 15 )) bash -c "p=\$(systemctl show -p MainPID --value jenky.service); [ \"\$p\" != 0 ] && [ \"\$p\" != $pid ] && [ \"\$(systemctl is-active jenky.service)\" = active ]"
  local ok=$?
  kill -CONT "$pid" 2>/dev/null
  rm -f /etc/systemd/system/jenky.service.d/zz-test-watchdog.conf
  rmdir /etc/systemd/system/jenky.service.d 2>/dev/null
  systemctl daemon-reload
  [ $ok -eq 0 ] || fail "a SIGSTOPped jenky was not restarted within $((wd + 15)) s (MainPID $(main_pid), $(systemctl is-active jenky.service))"
  echo "restarted after $(( $(date +%s) - t0 )) s" >&2
  journalctl -u jenky --no-pager -o cat | grep -qi watchdog || fail "the journal does not mention the watchdog"
  wait_for 10 healthz || fail "GET /healthz does not answer after the watchdog restart"
}

uninstall() {
  needs_service
  local before after
  before=$(snapshot)
  "$INSTALLED" service uninstall --dry-run > "$STATE/uninstall-dry.txt" 2>&1 || fail "service uninstall --dry-run exited $?"
  after=$(snapshot)
  [ "$before" = "$after" ] && active || fail "service uninstall --dry-run changed something"
  "$INSTALLED" service uninstall > "$STATE/uninstall.txt" 2>&1 || fail "service uninstall exited $?: $(tail -n 2 "$STATE/uninstall.txt")"
  [ ! -e "$UNIT" ] && [ ! -e "$SOCKET" ] || fail "units left in /etc/systemd/system"
  [ "$(systemctl is-active jenky.service)" != active ] || fail "jenky still active after uninstall"
  ! curl -fsS --max-time 2 "$URL/healthz" >/dev/null 2>&1 || fail "something still answers on $URL after uninstall"
  [ -d "$DATA" ] && [ -f "$CONFIG" ] || fail "uninstall removed the data or the config"
}

# The systemd-release recipe against real systemd: the recipe tests of
# tests/e2e/test_recipes.py in their --real-systemd mode (deploy, failed health
# check rolled back, rollback to a run, pruning), run as root inside here.
systemd_release_recipe() {
  [ -f /opt/jenky-repo/tests/e2e/test_recipes.py ] || fail "repository tests not bind-mounted"
  python3 /opt/jenky-repo/tests/e2e/test_recipes.py --real-systemd --jenky /opt/jenky-src/jenky \
    systemd_release > "$STATE/recipes.out" 2>&1
  local rc=$?
  cat "$STATE/recipes.out" >&2
  grep -q "^0 failed\|, 0 failed$" "$STATE/recipes.out" || fail "recipe tests: $(tail -1 "$STATE/recipes.out")"
  [ $rc -eq 0 ] || fail "recipe tests exited $rc"
}

# Delegate=yes: each run in a cgroup of its own under the unit's, which the
# cancel kills as a whole and the supervisor removes; jenky itself not in it.
runs_get_a_cgroup_under_the_unit() {
  needs_service
  [ "$(systemctl show -p Delegate --value jenky.service)" = yes ] || fail "jenky.service is not Delegate=yes"
  local unit_cg; unit_cg=$(systemctl show -p ControlGroup --value jenky.service)
  journalctl -u jenky.service -o cat --no-pager | grep -q "each run gets a cgroup in /sys/fs/cgroup.*$unit_cg" \
    || fail "jenky did not put runs under $unit_cg: $(journalctl -u jenky.service -o cat --no-pager | grep -E 'cgroup' | tail -n 1)"
  local id
  id=$(jenky deploy contain 2>>"$STATE/deploy.err") || fail "jenky deploy contain failed"
  wait_for 20 log_has "$id" forked || fail "run $id did not start (status $(run_field "$id" status))"
  local cg; cg=$(curl -fsS "$URL/api/v1/runs/$id/log" | sed -n 's/^0:://p')
  case $cg in "$unit_cg"/sup-*) ;; *) fail "run $id's script is in cgroup '$cg', not in one under $unit_cg";; esac
  grep -q "^0::$unit_cg\$" /proc/"$(main_pid)"/cgroup || fail "jenky's main process is not in $unit_cg itself: $(cat /proc/"$(main_pid)"/cgroup)"
  local path; path=$(json "$DATA/runs/$id/supervisor.json" "j.get('cgroup')")
  [ -d "$path" ] || fail "the run's cgroup $path (supervisor.json) does not exist"
  grep -q . "$path/cgroup.procs" || fail "the run's cgroup $path is empty while the run runs"
  jenky cancel "$id" >/dev/null || fail "jenky cancel $id failed"
  wait_for 20 sh -c "[ \"\$(curl -fsS $URL/api/v1/runs/$id | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"status\"])')\" = cancelled ]" \
    || fail "run $id is '$(run_field "$id" status)' after the cancel"
  pgrep -f "jenky-contain-$id" >/dev/null && fail "the double-forked sleep of run $id outlived the cancel"
  [ -d "$path" ] && fail "the run's cgroup $path outlived the run"
  local cpu; cpu=$(curl -fsS "$URL/api/v1/runs/$id" | json - "j['resources']['cpu_seconds']")
  [ -n "$cpu" ] || fail "run $id has no resources.cpu_seconds"
  return 0
}

# A jenky started in a systemd cgroup that is not delegated (this check's
# own unit) never writes it: it says so once, and a run that double-forks is
# still ended whole by the supervisor's other two nets.
runs_without_delegation_still_end_whole() {
  local dir=/tmp/nodeleg url=http://127.0.0.1:8091
  rm -rf "$dir"; mkdir -p "$dir"
  cat > "$dir/jenky.toml" <<CONF
[server]
listen = "127.0.0.1:8091"
data_dir = "$dir/data"
kill_grace = "1s"

[projects.c]
script = """
( setsid bash -c 'exec -a nodeleg-\$JENKY_RUN_ID sleep 1000' & ) &
wait
echo forked
sleep 1000
"""
CONF
  "$BUILD" serve --config "$dir/jenky.toml" > "$dir/stderr" 2>&1 &
  local pid=$!
  wait_for 15 curl -fsS "$url/healthz" || fail "a jenky outside the unit did not start: $(tail -n 3 "$dir/stderr")"
  grep -q "runs get no cgroup: the cgroup jenky runs in, .* is systemd's and not delegated to jenky" "$dir/stderr" \
    || { kill "$pid"; fail "no 'not delegated' line: $(grep -i cgroup "$dir/stderr")"; }
  local id
  id=$(JENKY_SERVER=$url jenky deploy c) || { kill "$pid"; fail "deploy failed"; }
  wait_for 20 sh -c "curl -fsS $url/api/v1/runs/$id/log | grep -qx forked" || { kill "$pid"; fail "run $id did not start"; }
  pgrep -f "nodeleg-$id" >/dev/null || { kill "$pid"; fail "the double-forked sleep of run $id is not there"; }
  JENKY_SERVER=$url jenky cancel "$id" >/dev/null || { kill "$pid"; fail "cancel failed"; }
  wait_for 20 sh -c "curl -fsS $url/api/v1/runs/$id | grep -q '\"status\":\"cancelled\"'" \
    || { kill "$pid"; fail "run $id not cancelled: $(curl -fsS $url/api/v1/runs/$id)"; }
  if pgrep -f "nodeleg-$id" >/dev/null; then
    kill "$pid"
    fail "the double-forked sleep of run $id outlived the cancel"
  fi
  kill "$pid"; wait "$pid"
  return 0
}

# --- the Debian package (tests/systemd/package.sh) -------------------------
# DEBS holds old.deb (the package under test) and new.deb (the same with a
# higher version). These checks run in their own container, in this order.

SLOW_PROJECT="[projects.slow]
description = \"prints $STEPS steps, 0.1 s apart\"
script = \"\"\"
echo \"start run \$JENKY_RUN_ID\"
for i in \$(seq 1 $STEPS); do echo \"step \$i\"; sleep 0.1; done
echo \"finished run \$JENKY_RUN_ID\"
\"\"\""

package_setup() {
  [ -f "$DEBS/old.deb" ] && [ -f "$DEBS/new.deb" ] || fail "no old.deb and new.deb in $DEBS"
  ! id jenky >/dev/null 2>&1 || fail "the root already has a user jenky"
  [ ! -e /var/lib/jenky ] || fail "the root already has /var/lib/jenky"
}

# apt-get VERB ARGS...: no network in here; local .debs only.
apt_get() {
  DEBIAN_FRONTEND=noninteractive timeout 120 apt-get -y -q -o Dpkg::Options::=--force-confold "$@" \
    > "$STATE/apt.out" 2>&1 || fail "apt-get $* exited $?: $(tail -n 5 "$STATE/apt.out" | tr '\n' ' ')"
  cat "$STATE/apt.out" >&2
}

package_version() { dpkg-query -W -f='${Version}' jenky 2>/dev/null; }

package_install() {
  cp "$DEBS/old.deb" /root/jenky_old.deb
  apt_get install /root/jenky_old.deb
  [ -x /usr/bin/jenky ] || fail "no /usr/bin/jenky"
  for u in jenky.service jenky.socket; do
    [ -f "/usr/lib/systemd/system/$u" ] || fail "no /usr/lib/systemd/system/$u"
  done
  diff <(/usr/bin/jenky service print --binary /usr/bin/jenky | grep -v '^# /') \
       <(cat /usr/lib/systemd/system/jenky.service; echo; cat /usr/lib/systemd/system/jenky.socket) >&2 \
    || problem "the packaged units differ from \`jenky service print --binary /usr/bin/jenky\`"
  wait_for 30 active || fail "jenky.service is $(systemctl is-active jenky.service) after the install"
  systemctl is-active --quiet jenky.socket || fail "jenky.socket is not active"
  systemctl is-enabled --quiet jenky.service || problem "jenky.service is not enabled"
  wait_for 10 healthz || fail "/healthz does not answer"
  id jenky >/dev/null 2>&1 || fail "no user jenky (sysusers.d)"
  [ "$(stat -c %U /var/lib/jenky)" = jenky ] || fail "/var/lib/jenky belongs to $(stat -c %U /var/lib/jenky)"
  [ "$(ps -o user= -p "$(main_pid)")" = jenky ] || fail "jenky runs as $(ps -o user= -p "$(main_pid)")"
  dpkg-query -W -f='${Conffiles}' jenky | grep -q '/etc/jenky/jenky.toml' \
    || fail "/etc/jenky/jenky.toml is not a conffile"
  [ "$(stat -c %U:%G:%a /etc/jenky/jenky.toml)" = root:jenky:640 ] \
    || problem "/etc/jenky/jenky.toml is $(stat -c %U:%G:%a /etc/jenky/jenky.toml), not root:jenky:640"
  /usr/bin/jenky check --config /etc/jenky/jenky.toml >&2 || fail "jenky check refuses the starter config"
  # For docs/benchmarks.md ("Install"): the installed service's memory, idle.
  sleep 2
  note "idle $(grep -E '^VmRSS' "/proc/$(main_pid)/status" | tr -s '\t ' ' ') of jenky.service (MainPID $(main_pid))"
  grep -q '^listen = "127.0.0.1:' /etc/jenky/jenky.toml || fail "the starter config does not listen on loopback"
  [ -f /usr/share/man/man1/jenky.1.gz ] || [ -f /usr/share/man/man1/jenky.1 ] || note "no man page (the root drops /usr/share/man)"
  [ -f /usr/share/doc/jenky/copyright ] || note "no copyright file (the root drops /usr/share/doc)"
}

package_deploy() {
  needs_service
  printf '\n%s\n' "$SLOW_PROJECT" >> /etc/jenky/jenky.toml
  /usr/bin/jenky check --config /etc/jenky/jenky.toml >&2 || fail "jenky check refuses the config with a project"
  local old; old=$(main_pid)
  systemctl reload jenky.service || fail "systemctl reload jenky failed"
  [ "$(main_pid)" = "$old" ] || problem "reload changed the MainPID"
  local id rc out=$STATE/deploy.out
  timeout 60 jenky deploy slow --follow > "$out" 2>&1; rc=$?
  [ "$rc" -eq 0 ] || fail "jenky deploy slow --follow exited $rc: $(tail -n 3 "$out" | tr '\n' ' ')"
  grep -qx "step $STEPS" "$out" || fail "the followed log has no 'step $STEPS'"
}

package_upgrade_keeps_deploy() {
  needs_service
  local id old before
  before=$(package_version)
  id=$(start_slow_run) || exit 1
  old=$(main_pid)
  cp "$DEBS/new.deb" /root/jenky_new.deb
  apt_get install /root/jenky_new.deb
  [ "$(package_version)" != "$before" ] || fail "the package is still version $before"
  wait_for 30 active || fail "jenky.service is $(systemctl is-active jenky.service) after the upgrade"
  [ "$(main_pid)" != "$old" ] || fail "MainPID $old did not change: the upgrade did not restart jenky"
  local st; st=$(run_field "$id" status)
  [ "$st" = running ] || problem "run $id was already '$st' when the upgrade finished (the check proves nothing)"
  check_complete_run "$id" "across the package upgrade"
  journalctl -u jenky --no-pager -o cat | grep -qi "adopt" || note "the journal does not mention adopting run $id"
}

package_remove_keeps_data() {
  needs_service
  local runs; runs=$(jenky runs slow --json | json - 'len(j)')
  echo "$runs" > "$STATE/runs_before_remove"
  apt_get remove jenky
  ! systemctl is-active --quiet jenky.service || fail "jenky.service still active after remove"
  [ ! -e /usr/bin/jenky ] || fail "/usr/bin/jenky still there after remove"
  [ -d /var/lib/jenky ] || fail "remove deleted /var/lib/jenky"
  find /var/lib/jenky -name '*.db' | grep -q . || fail "no database left in /var/lib/jenky: $(ls /var/lib/jenky)"
  [ -f /etc/jenky/jenky.toml ] || fail "remove deleted the conffile /etc/jenky/jenky.toml"
}

package_reinstall_finds_history() {
  cp "$DEBS/new.deb" /root/jenky_new.deb
  apt_get install /root/jenky_new.deb
  wait_for 30 active || fail "jenky.service is $(systemctl is-active jenky.service) after reinstalling"
  wait_for 10 healthz || fail "/healthz does not answer after reinstalling"
  local want runs; want=$(cat "$STATE/runs_before_remove")
  runs=$(jenky runs slow --json | json - 'len(j)')
  [ "$runs" = "$want" ] && [ "$runs" -ge 2 ] || fail "after reinstalling, jenky runs lists $runs slow runs, not the $want from before"
  grep -q '^\[projects.slow\]' /etc/jenky/jenky.toml || fail "the edited config was not kept"
}

package_purge() {
  apt_get purge jenky
  [ ! -e /var/lib/jenky ] || fail "purge left /var/lib/jenky: $(ls /var/lib/jenky | tr '\n' ' ')"
  [ ! -e /etc/jenky/jenky.toml ] || fail "purge left /etc/jenky/jenky.toml"
  [ ! -e /usr/lib/systemd/system/jenky.service ] || fail "purge left jenky.service"
  ! systemctl is-active --quiet jenky.service || fail "jenky.service active after purge"
  dpkg-query -W -f='${Status}' jenky 2>/dev/null | grep -q 'not-installed\|^$' \
    || [ -z "$(dpkg-query -W -f='${Status}' jenky 2>/dev/null)" ] || fail "dpkg still knows jenky: $(dpkg-query -W -f='${Status}' jenky)"
}

all_checks=(
  service_print install_dry_run install ready_means_listening status_counts_deploys
  deploy_survives_restart runs_get_a_cgroup_under_the_unit runs_without_delegation_still_end_whole journal_fields kill9_restarts upgrade_keeps_deploy
  deploy_scripts_can_use_sudo unit_exposure_is_no_worse deploy_upgrades_jenky_itself broken_upgrade_rolls_back socket_queues_during_restart
  reload_keeps_old_config_on_error watchdog_restarts_hung uninstall systemd_release_recipe
)

# --- driver ---------------------------------------------------------------

if [ "${1:-}" = --one ]; then
  # A check that does not exist must not pass.
  declare -F "$2" >/dev/null || fail "there is no check named '$2' in checks.sh"
  set -x
  "$2"
  [ -s "$STATE/reason" ] && exit 1
  exit 0
fi

mkdir -p "$STATE" "$RESULTS"
log=$RESULTS/checks.log
: > "$log"
failed=0
run_check() { # NAME [TIMEOUT]
  local name=$1 limit=${2:-90} rc t0
  rm -f "$STATE/reason" "$STATE/notes"
  t0=$(date +%s%N)
  echo "### $name" >> "$log"
  timeout -k 5 "$limit" bash "$0" --one "$name" >> "$log" 2>&1; rc=$?
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  echo "### $name: exit $rc in $ms ms" >> "$log"
  if [ $rc -eq 0 ]; then
    echo "ok - $name"
  else
    local why
    if [ $rc -ge 124 ] && [ ! -s "$STATE/reason" ]; then why="did not finish within $limit s"
    else why=$(paste -sd'|' "$STATE/reason" 2>/dev/null | sed 's/|/; /g'); why=${why:-exit $rc (see checks.log)}; fi
    echo "not ok - $name: $why"
    failed=$((failed + 1))
  fi
  [ -f "$STATE/notes" ] && sed "s/^# /# $name: /" "$STATE/notes"
  return 0
}

run_check "${JENKY_CHECKS_SETUP:-setup}" 30
if [ -n "${JENKY_CHECKS:-}" ]; then read -ra all_checks <<< "$JENKY_CHECKS"; fi
for c in "${all_checks[@]}"; do
  case $c in
    broken_upgrade_rolls_back) run_check "$c" 150 ;;
    systemd_release_recipe) run_check "$c" 240 ;;
    *) run_check "$c" 90 ;;
  esac
done
exit $(( failed > 0 ))
