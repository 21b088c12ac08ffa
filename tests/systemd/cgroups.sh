# shellcheck shell=bash
# Sourced by boot.sh and tests/firstrun/run.sh: a cgroup of our own for a
# systemd-nspawn container, in each hierarchy systemd uses.
#
# systemd is not PID 1 on the host, so nothing delegates a cgroup to us:
# with --keep-unit nspawn uses the cgroup it is started in, which is the root
# of the hierarchy here, and would leave its payload/ and supervisor/ there
# (shared by concurrent runs). Each run gets its own cgroup, removed after.
# The container gets the unified hierarchy (cgroup v2, as on a real bookworm
# host) unless SYSTEMD_NSPAWN_UNIFIED_HIERARCHY says otherwise; the host here
# is hybrid (v1 controllers + name=systemd + cgroup2 at /sys/fs/cgroup/unified).
export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=${SYSTEMD_NSPAWN_UNIFIED_HIERARCHY:-1}

# cgroups_for NAME: sets the array `cgroups` to NAME's cgroup in each hierarchy.
cgroups_for() {
  local h own
  cgroups=()
  for h in /sys/fs/cgroup/unified /sys/fs/cgroup/systemd /sys/fs/cgroup; do
    [ -f "$h/cgroup.procs" ] || continue
    # /sys/fs/cgroup itself only when it is the (pure v2) hierarchy
    [ "$h" = /sys/fs/cgroup ] && [ "$(stat -fc %T /sys/fs/cgroup)" != cgroup2fs ] && continue
    # Start from our own cgroup in that hierarchy.
    if [ "$(stat -fc %T "$h")" = cgroup2fs ]; then
      own=$(sed -n 's/^0:://p' /proc/self/cgroup)
    else
      own=$(sed -n 's/^[0-9]*:name=systemd://p' /proc/self/cgroup)
    fi
    cgroups+=("$h${own%/}/$1")
  done
}

# enter_cgroups: moves the calling (sub)shell into them; call it in the
# subshell that then execs systemd-nspawn.
enter_cgroups() {
  local cg
  for cg in "${cgroups[@]}"; do
    mkdir -p "$cg" && echo "$BASHPID" > "$cg/cgroup.procs" \
      || echo "cannot use cgroup $cg; continuing in the current one" >&2
  done
}

# kill_cgroups: SIGKILL to whatever is left in them (a container's init may
# outlive nspawn in its own PID namespace).
kill_cgroups() {
  local cg
  for cg in "${cgroups[@]}"; do
    [ -d "$cg" ] || continue
    # shellcheck disable=SC2038  # cgroup.procs holds only PIDs
    find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | xargs -r kill -KILL 2>/dev/null
  done
}

remove_cgroups() {
  local cg
  for cg in "${cgroups[@]}"; do
    [ -d "$cg" ] && find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
  done
  return 0
}
