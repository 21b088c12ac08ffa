#!/bin/bash
# The harness's own check, run inside the container before anything
# jenky-specific: systemd is PID 1, boots to multi-user.target, the system is
# running (or degraded), and the bind mounts are there.
n=0
check() { # NAME COMMAND...
  local name=$1; shift
  local out
  if out=$("$@" 2>&1); then echo "ok - $name"; else echo "not ok - $name: $(echo "$out" | tr '\n' ' ' | cut -c1-300)"; n=$((n+1)); fi
}
check "pid 1 is systemd" test "$(cat /proc/1/comm)" = systemd
check "multi-user.target reached" systemctl is-active --quiet multi-user.target
state() {
  local s
  for _ in $(seq 1 100); do
    s=$(systemctl is-system-running 2>/dev/null)
    case $s in running|degraded) echo "$s"; return 0;; esac
    sleep 0.2
  done
  echo "is-system-running says '$s'"; systemctl --failed --no-pager; return 1
}
check "system running or degraded" state
check "jenky binary bind-mounted" /opt/jenky-src/jenky version
check "results folder writable" touch /opt/jenky-test/results/.w
check "loopback only" sh -c 'ls /sys/class/net; [ "$(ls /sys/class/net)" = lo ]'
exit $n
