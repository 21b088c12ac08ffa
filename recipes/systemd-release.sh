#!/usr/bin/env bash
# Build, copy the artifacts to releases/<run id>, switch `current`, restart the systemd unit, health-check; roll back by itself on failure.
# param: build required Shell command that builds the app, run in the workdir (e.g. "make release").
# param: artifacts required Space-separated files or directories the build produces, relative to the workdir (glob patterns allowed); each is copied into the release under its own base name.
# param: unit required The app's systemd unit; its ExecStart runs from RELEASES/current (`jenky service print --app NAME` prints one).
# param: releases optional= Directory holding releases/ and the current symlink (default: /var/lib/jenky-apps/PROJECT).
# param: health_url optional= URL that must answer 2xx once the new release runs (checked with curl).
# param: health_cmd optional= Shell command that must exit 0 once the new release runs (run in the workdir, with JENKY_RELEASE_DIR set).
# param: health_timeout optional=30 Seconds the new release has to pass its health check before it is rolled back.
# param: keep optional=5 How many releases to keep; the current and the previous one are always kept.
# rollback: supported
#
# Layout: RELEASES/releases/<run id>/ holds each release's artifacts and
# RELEASES/current is a relative symlink to one of them, replaced by
# rename(2). The unit runs the app from RELEASES/current, so "switch the
# link, restart the unit" switches releases and a running binary is never
# overwritten. A release that fails its health check is renamed
# releases/<run id>.failed (kept for a look until the next deploy) and the
# previous release is switched back and restarted.
#
# On a fleet (the project has `targets`; docs/fleet.md, "Recipes on a
# fleet"): jenky runs the build once on its own host, uploads the artifacts
# with rsync into RELEASES/releases/<run id> on every host and moves
# RELEASES/current itself; this script then runs on each host as the step
# JENKY_FLEET_STEP names: prepare (check the unit, make the release
# readable), switch (restart the unit), health (one health check; jenky
# retries it up to health_timeout) and rollback (restart the unit on the
# release `current` points back at).
set -euo pipefail

# Each step is a section (::group::, folded in jenky's web UI, docs/web-ui.md).
# A step that fails is left open, so the run page opens it by itself.
in_step=
step() {
  if [ -n "$in_step" ]; then printf '::endgroup::\n'; fi
  printf '::group::%s\n' "$*"
  in_step=1
}
end_step() {
  local rc=$?
  if [ "$rc" -eq 0 ] && [ -n "$in_step" ]; then printf '::endgroup::\n'; fi
}
trap end_step EXIT
note() { printf '%s\n' "$@"; }
# die MESSAGE [HINT...]: the run fails with MESSAGE; each HINT on its own line.
die() {
  printf 'error: %s\n' "$1" >&2
  shift
  if [ "$#" -gt 0 ]; then printf '  %s\n' "$@" >&2; fi
  exit 1
}

build=${JENKY_PARAM_BUILD:-}
artifacts=${JENKY_PARAM_ARTIFACTS:-}
unit=${JENKY_PARAM_UNIT:-}
base=${JENKY_PARAM_RELEASES:-}
health_url=${JENKY_PARAM_HEALTH_URL:-}
health_cmd=${JENKY_PARAM_HEALTH_CMD:-}
health_timeout=${JENKY_PARAM_HEALTH_TIMEOUT:-30}
keep=${JENKY_PARAM_KEEP:-5}
action=${JENKY_ACTION:-deploy}
run_id=${JENKY_RUN_ID:-}
project=${JENKY_PROJECT:-}

# --- parameters -------------------------------------------------------------

[ -n "$unit" ] || die "params.unit is empty: set it to the app's systemd unit (e.g. \"myapp\")"
unit_re='^[A-Za-z0-9_.:@\][-A-Za-z0-9_.:@\]*$'
[[ $unit =~ $unit_re ]] || die "params.unit '$unit' is not a systemd unit name"
if [ -n "${JENKY_FLEET_STEP:-}" ] && [ -n "${JENKY_DEPLOY_DIR:-}" ]; then
  base=$JENKY_DEPLOY_DIR # where jenky put the releases on this host
fi
if [ -z "$base" ]; then
  [ -n "$project" ] || die "params.releases is empty and JENKY_PROJECT is not set: set params.releases"
  base="/var/lib/jenky-apps/$project"
fi
case $base in
  /*) ;;
  *) die "params.releases must be an absolute path, not '$base'" ;;
esac
while [ "${#base}" -gt 1 ] && [ "${base%/}" != "$base" ]; do base=${base%/}; done
health_timeout=${health_timeout%s}
[[ $health_timeout =~ ^[0-9]+$ ]] || die "params.health_timeout must be a number of seconds, not '${JENKY_PARAM_HEALTH_TIMEOUT:-}'"
[[ $keep =~ ^[1-9][0-9]*$ ]] || die "params.keep must be a whole number of releases, 1 or more, not '$keep'"
[[ $run_id =~ ^[1-9][0-9]*$ ]] || die "JENKY_RUN_ID '$run_id' is not a run id: this recipe runs under jenky"
case $health_url in
  '' | http://* | https://*) ;;
  *) die "params.health_url must be an http:// or https:// URL, not '$health_url'" ;;
esac
if [ -n "$health_url" ] && ! command -v curl >/dev/null 2>&1; then
  die "params.health_url needs curl, which is not installed: install it (apt-get install curl) or use params.health_cmd"
fi
command -v systemctl >/dev/null 2>&1 || die "systemctl not found: the systemd-release recipe needs a machine run by systemd"

rel="$base/releases"
current="$base/current"
if [ -e "$current" ] && [ ! -L "$current" ]; then
  die "$current exists and is not a symlink, so it cannot be switched atomically" \
    "move it away once (mv '$current' '$current.old') and deploy again"
fi

# --- helpers ----------------------------------------------------------------

# systemctl as root: directly when jenky runs as root; otherwise through
# polkit, or else `sudo -n` (a sudoers rule for the jenky user).
sctl() {
  if [ "$(id -u)" -eq 0 ] || ! command -v sudo >/dev/null 2>&1; then
    systemctl --no-ask-password "$@"
    return
  fi
  local out
  if out=$(systemctl --no-ask-password "$@" 2>&1); then
    if [ -n "$out" ]; then printf '%s\n' "$out"; fi
    return 0
  fi
  case $out in
    *"Access denied"* | *"authentication required"* | *"Interactive authentication"*)
      sudo -n systemctl --no-ask-password "$@" ;;
    *)
      printf '%s\n' "$out" >&2
      return 1 ;;
  esac
}

# The run id of the release `current` points at; nothing if none.
current_release() {
  local dest
  dest=$(readlink -- "$current" 2>/dev/null) || return 0
  dest=${dest%/}
  dest=${dest##*/}
  if [[ $dest =~ ^[0-9]+$ ]]; then printf '%s\n' "$dest"; fi
}

# The kept releases, oldest first: "ID" for good ones, "ID.failed" for ones
# that failed their health check.
list_releases() {
  local d
  for d in "$rel"/*/; do
    d=${d%/}
    d=${d##*/}
    if [[ $d =~ ^[0-9]+(\.failed)?$ ]]; then printf '%s\n' "$d"; fi
  done | sort -n
}

kept_list() {
  local ids
  ids=$(list_releases | tr '\n' ' ')
  ids=${ids% }
  printf '%s\n' "${ids:-none}"
}

# switch_to ID: points `current` at release ID with one rename.
switch_to() {
  local tmp="$base/.current.tmp-$run_id"
  rm -f -- "$tmp"
  ln -s -- "releases/$1" "$tmp"
  mv -T -f -- "$tmp" "$current"
  note "$current -> releases/$1"
}

restart_error=
restart_unit() {
  local out rc=0
  # A unit that crashed in a loop may have hit its start limit, and then
  # systemd refuses restarts ("start request repeated too quickly").
  sctl reset-failed -- "$unit" >/dev/null 2>&1 || true
  out=$(sctl restart -- "$unit" 2>&1) || rc=$?
  if [ -n "$out" ]; then printf '%s\n' "$out"; fi
  if [ "$rc" -ne 0 ]; then
    restart_error="systemctl restart $unit exited with status $rc${out:+: ${out%%$'\n'*}}"
    return 1
  fi
}

health_error=
unit_failed=
# The app is usually local: never ask a proxy about it.
noproxy=${NO_PROXY:-${no_proxy:-}}
noproxy="${noproxy:+$noproxy,}localhost,127.0.0.1,::1"
# One health check: the unit is active, and health_url / health_cmd pass.
health_once() {
  local state out rc
  unit_failed=
  state=$(systemctl is-active -- "$unit" 2>/dev/null) || {
    health_error="$unit is ${state:-not active}; see journalctl -u $unit"
    # "failed": systemd gave up on it (no Restart=, or its start limit hit).
    if [ "$state" = failed ]; then unit_failed=1; fi
    return 1
  }
  if [ -n "$health_url" ]; then
    out=$(curl --fail --silent --show-error --max-time 5 --output /dev/null --noproxy "$noproxy" \
      --url "$health_url" 2>&1) || {
      health_error="GET $health_url: ${out:-no answer}"
      return 1
    }
  fi
  if [ -n "$health_cmd" ]; then
    rc=0
    out=$(JENKY_RELEASE_DIR="$1" bash -c "$health_cmd" 2>&1) || rc=$?
    if [ "$rc" -ne 0 ]; then
      health_error="health_cmd exited with status $rc${out:+: ${out##*$'\n'}}"
      return 1
    fi
  fi
  return 0
}

# Milliseconds since the epoch, in $now.
now_ms() {
  local t=${EPOCHREALTIME/[.,]/}
  now=$((10#$t / 1000))
}

# wait_healthy RELEASE_DIR: retries the health check until it passes (0) or
# health_timeout seconds have gone by (1, with health_error set).
wait_healthy() {
  local now start deadline next_note ms
  now_ms
  start=$now
  deadline=$((start + health_timeout * 1000))
  next_note=$((start + 1000))
  while :; do
    if health_once "$1"; then
      if [ -z "$health_url" ] && [ -z "$health_cmd" ]; then
        # Only `is-active` to go by: make sure it stays up for a moment.
        sleep 2
        if ! health_once "$1"; then continue; fi
      fi
      now_ms
      ms=$((now - start))
      note "healthy after $((ms / 1000)).$((ms % 1000 / 100))s"
      return 0
    fi
    now_ms
    if [ "$now" -ge "$deadline" ] || [ -n "$unit_failed" ]; then return 1; fi
    if [ "$now" -ge "$next_note" ]; then
      note "not healthy yet ($(((deadline - now + 999) / 1000))s left): $health_error"
      next_note=$((now + 5000))
    fi
    if [ $((now - start)) -lt 2000 ]; then sleep 0.2; else sleep 0.5; fi
  done
}

# restart_and_check ID: restarts the unit on release ID and health-checks it.
restart_and_check() {
  step "restart $unit"
  if ! restart_unit; then
    health_error=$restart_error
    return 1
  fi
  step "health check ($(health_desc); up to ${health_timeout}s)"
  wait_healthy "$rel/$1"
}

health_desc() {
  local d="systemctl is-active $unit"
  if [ -n "$health_url" ]; then d="$d, GET $health_url"; fi
  if [ -n "$health_cmd" ]; then d="$d, health_cmd"; fi
  printf '%s\n' "$d"
}

# prune [PREVIOUS]: keeps the newest $keep good releases, always including
# the current one and PREVIOUS; failed releases go, except one that failed in
# this very run (kept for a look).
prune() {
  local cur prev=${1:-} entries=() keepers=' ' removed=() e i d count=0
  cur=$(current_release)
  mapfile -t entries < <(list_releases)
  for e in "$cur" "$prev"; do
    if [ -n "$e" ] && [[ $keepers != *" $e "* ]]; then
      keepers+="$e "
      count=$((count + 1))
    fi
  done
  for ((i = ${#entries[@]} - 1; i >= 0; i--)); do
    e=${entries[i]}
    if [[ $e == *.failed || $keepers == *" $e "* ]]; then continue; fi
    if [ "$count" -lt "$keep" ]; then
      keepers+="$e "
      count=$((count + 1))
    fi
  done
  for e in "${entries[@]}"; do
    if [[ $keepers == *" $e "* || $e == "$run_id.failed" ]]; then continue; fi
    rm -rf -- "${rel:?}/$e"
    removed+=("$e")
  done
  for d in "$rel"/.tmp-*; do
    if [ -e "$d" ] && [ "$d" != "$rel/.tmp-$run_id" ]; then rm -rf -- "$d"; fi
  done
  if [ "${#removed[@]}" -gt 0 ]; then
    note "removed release(s) ${removed[*]}; kept $(kept_list) (keep = $keep)"
  else
    note "nothing to prune; kept $(kept_list) (keep = $keep)"
  fi
}

check_unit() {
  local load out
  if ! load=$(systemctl show --property=LoadState --value -- "$unit" 2>&1); then
    die "cannot ask systemd about $unit: $load"
  fi
  case $load in
    loaded) ;;
    not-found)
      die "there is no systemd unit '$unit'" \
        "create one that runs the app from $current, e.g.:" \
        "  jenky service print --app $unit --releases $base --exec 'APP ARGS' > /etc/systemd/system/$unit.service" \
        "  systemctl daemon-reload && systemctl enable $unit" ;;
    masked) die "the systemd unit '$unit' is masked: unmask it (systemctl unmask $unit)" ;;
    *) die "the systemd unit '$unit' could not be loaded (LoadState=$load): see systemctl status $unit" ;;
  esac
  out=$(systemctl cat -- "$unit" 2>/dev/null || true)
  if [[ $out != *"$current"* ]]; then
    note "warning: $unit never mentions $current (systemctl cat $unit), so restarting it may not run the new release"
  fi
}

# --- deploy -----------------------------------------------------------------

deploy() {
  [ -n "$build" ] || die "params.build is empty: set it to the command that builds the app (e.g. \"make release\")"
  [ -n "$artifacts" ] || die "params.artifacts is empty: name the files the build produces, relative to the workdir (e.g. \"bin/app config.toml\")"
  local prev rc=0
  check_unit
  prev=$(current_release)
  if [ -z "$health_url" ] && [ -z "$health_cmd" ]; then
    note "warning: no health_url or health_cmd: the only health check is that $unit stays active"
  fi

  step "build: $build"
  bash -eo pipefail -c "$build" || rc=$?
  if [ "$rc" -ne 0 ]; then
    die "the build command exited with status $rc; nothing was switched ($unit still runs release ${prev:-none})"
  fi

  step "copy artifacts to $rel/$run_id"
  if ! mkdir -p -- "$rel" 2>/dev/null; then
    die "cannot create $rel as user $(id -un)" \
      "create it and let jenky write there: sudo install -d -o $(id -un) '$base'"
  fi
  local tmp="$rel/.tmp-$run_id" patterns=() matches=() pat m name
  local -A seen=()
  rm -rf -- "$tmp"
  mkdir -- "$tmp"
  read -r -d '' -a patterns <<<"$artifacts" || true
  for pat in "${patterns[@]}"; do
    matches=()
    if [[ $pat == *[*?[]* ]]; then
      mapfile -t matches < <(compgen -G "$pat" || true)
    elif [ -e "$pat" ] || [ -L "$pat" ]; then
      matches=("$pat")
    fi
    if [ "${#matches[@]}" -eq 0 ]; then
      rm -rf -- "$tmp"
      die "the artifact '$pat' is not in $PWD after the build; nothing was switched" \
        "check params.artifacts: paths relative to the workdir, separated by spaces"
    fi
    for m in "${matches[@]}"; do
      name=${m%/}
      name=${name##*/}
      if [ -n "${seen[$name]:-}" ]; then
        rm -rf -- "$tmp"
        die "two artifacts would both be releases/$run_id/$name ('${seen[$name]}' and '$m')" \
          "rename one, or list the directory that holds them"
      fi
      seen[$name]=$m
      cp -a -- "$m" "$tmp/$name"
      note "$m -> releases/$run_id/$name"
    done
  done
  # The app may run as another user than jenky (User= in its unit).
  chmod -R a+rX -- "$tmp"
  if [ "$prev" = "$run_id" ]; then
    rm -rf -- "$tmp"
    die "release $run_id is the current one: deploy with a new run"
  fi
  rm -rf -- "${rel:?}/$run_id" "${rel:?}/$run_id.failed"
  mv -T -- "$tmp" "$rel/$run_id"

  step "switch $current to release $run_id (was: ${prev:-nothing})"
  switch_to "$run_id"

  if restart_and_check "$run_id"; then
    step "prune old releases"
    prune "$prev"
    step "done: $unit runs release $run_id"
    return 0
  fi

  local failure=$health_error
  printf 'release %s failed its health check: %s\n' "$run_id" "$failure" >&2
  if [ -z "$prev" ] || [ ! -d "$rel/$prev" ]; then
    die "release $run_id failed its health check ($failure); there is no earlier release to roll back to, so $current still points at it" \
      "fix the app (journalctl -u $unit) and deploy again"
  fi
  step "roll back to release $prev"
  switch_to "$prev"
  mv -T -- "$rel/$run_id" "$rel/$run_id.failed"
  note "kept the failed release as $rel/$run_id.failed until the next deploy"
  if restart_and_check "$prev"; then
    step "prune old releases"
    prune
    die "release $run_id failed its health check ($failure); rolled back to release $prev"
  fi
  die "release $run_id failed its health check ($failure); rolled back to release $prev, but that fails too ($health_error)" \
    "see systemctl status $unit and journalctl -u $unit"
}

# --- rollback ---------------------------------------------------------------

rollback() {
  local cur to entries=() e
  check_unit
  cur=$(current_release)
  mapfile -t entries < <(list_releases)
  if [ -n "${JENKY_ROLLBACK_TO:-}" ]; then
    to=$JENKY_ROLLBACK_TO
    [[ $to =~ ^[0-9]+$ ]] || die "JENKY_ROLLBACK_TO '$to' is not a run id"
    if [ -d "$rel/$to.failed" ]; then
      die "release $to failed its health check when it was deployed; deploy a fixed version instead"
    fi
    if [ ! -d "$rel/$to" ]; then
      die "there is no release $to in $rel (kept: $(kept_list))" \
        "it was pruned (keep = $keep), or run $to made no release of its own (it was a rollback)"
    fi
  else
    [ -n "$cur" ] || die "$current does not point at a release: nothing to roll back from (deploy first)"
    to=
    for e in "${entries[@]}"; do
      if [[ $e != *.failed ]] && [ "$e" -lt "$cur" ]; then to=$e; fi
    done
    [ -n "$to" ] || die "no release older than the current one ($cur) is kept in $rel (kept: $(kept_list)); nothing to roll back to"
  fi
  if [ "$to" = "$cur" ]; then
    step "release $to is already current: nothing to switch"
    if restart_and_check "$to"; then return 0; fi
    die "release $to failed its health check ($health_error)"
  fi

  step "switch $current to release $to (was: ${cur:-nothing})"
  switch_to "$to"
  if restart_and_check "$to"; then
    step "done: $unit runs release $to"
    return 0
  fi
  local failure=$health_error
  if [ -z "$cur" ] || [ ! -d "$rel/$cur" ]; then
    die "release $to failed its health check ($failure); there was no current release to go back to"
  fi
  step "release $to failed its health check: back to release $cur"
  switch_to "$cur"
  if restart_and_check "$cur"; then
    die "release $to failed its health check ($failure); went back to release $cur"
  fi
  die "release $to failed its health check ($failure); went back to release $cur, but that fails too ($health_error)" \
    "see systemctl status $unit and journalctl -u $unit"
}

# --- one step on a fleet host ----------------------------------------------

fleet_step() {
  local release=${JENKY_RELEASE_DIR:-}
  [ -n "$release" ] || die "JENKY_RELEASE_DIR is not set: the fleet steps run under jenky's fleet driver"
  case $1 in
    prepare)
      check_unit
      # The app may run as another user than jenky (User= in its unit).
      chmod -R a+rX -- "$release"
      note "release $run_id ready for $unit: $(find "$release" -mindepth 1 -maxdepth 1 -printf '%f ')" ;;
    switch | rollback)
      if ! restart_unit; then die "$restart_error"; fi
      note "restarted $unit on release ${release##*/}" ;;
    health)
      if ! health_once "$release"; then die "$health_error"; fi
      if [ -z "$health_url" ] && [ -z "$health_cmd" ]; then
        # Only `is-active` to go by: make sure it stays up for a moment.
        sleep 2
        if ! health_once "$release"; then die "$health_error"; fi
      fi
      note "healthy: $(health_desc)" ;;
    *) die "unknown JENKY_FLEET_STEP '$1': expected prepare, switch, health or rollback" ;;
  esac
}

if [ -n "${JENKY_FLEET_STEP:-}" ]; then
  fleet_step "$JENKY_FLEET_STEP"
  exit 0
fi

case $action in
  deploy) deploy ;;
  rollback) rollback ;;
  *) die "unknown JENKY_ACTION '$action': expected deploy or rollback" ;;
esac
