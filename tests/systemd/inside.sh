#!/bin/bash
# Runs inside the container as jenky-test.service: runs the bind-mounted check
# script, records its TAP-like output and exit status in the bind-mounted
# results folder, and adds diagnostics. The unit powers the container off
# when this returns, whatever the status.
results=/opt/jenky-test/results
mkdir -p "$results"
exec </dev/null
: > "$results/tap.txt"
echo started > "$results/state"

# RuntimeMaxSec in the unit is the hard limit; keep a softer one here so the
# diagnostics below are still written when the checks hang.
limit=${JENKY_TEST_TIMEOUT:-400}
timeout --kill-after=10 "$limit" /bin/bash /opt/jenky-test/checks.sh \
  > >(tee "$results/tap.txt") 2> "$results/stderr.txt"
status=$?
[ "$status" -eq 124 ] && echo "not ok - checks finished in time: killed after ${limit} s" >> "$results/tap.txt"
sleep 0.2   # let tee finish

{
  echo "### systemctl is-system-running"; systemctl is-system-running
  echo "### systemctl --failed"; systemctl --failed --no-pager
  echo "### systemctl status jenky jenky.socket"; systemctl status --no-pager -l jenky.service jenky.socket
  echo "### /etc/systemd/system/jenky.*"; for f in /etc/systemd/system/jenky.*; do [ -f "$f" ] && { echo "--- $f"; cat "$f"; }; done
  echo "### ps"; ps -eo pid,ppid,stat,cgroup:60,args --forest
} > "$results/diagnostics.txt" 2>&1
journalctl -b --no-pager -o short-precise > "$results/journal.txt" 2>&1
journalctl -b --no-pager -o verbose -u jenky > "$results/journal-jenky-verbose.txt" 2>&1

echo "$status" > "$results/exit"
echo done > "$results/state"
sync
exit 0
