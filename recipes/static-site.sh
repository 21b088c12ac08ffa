#!/usr/bin/env bash
# Build a static site and publish it atomically: a new release directory, then one symlink switch; no restart.
# param: build required Shell command that builds the site, run in the workdir (e.g. "npm ci && npm run build").
# param: output required Directory the build produces, relative to the workdir (e.g. "dist").
# param: target required Absolute path of the symlink the web server serves (e.g. /srv/www/site); releases are kept next to it in TARGET.releases/.
# param: keep optional=5 How many releases to keep; the published one is always kept.
# rollback: supported
#
# Layout: TARGET.releases/<run id>/ holds each release; TARGET is a relative
# symlink to one of them, replaced by rename(2), so a reader always finds
# either the old or the new site, never nothing. Rollback (jenky rollback
# PROJECT [--to RUN]) points TARGET at an earlier kept release.
#
# On a fleet (the project has `targets`; docs/fleet.md, "Recipes on a
# fleet"): jenky runs the build once on its own host, uploads OUTPUT's
# contents with rsync into TARGET.releases/releases/<run id> on every host
# and moves TARGET.releases/current itself; TARGET is then a fixed symlink
# to NAME.releases/current, made once by this script's switch step, so
# moving `current` publishes. This script runs on each host as the step
# JENKY_FLEET_STEP names: prepare (check TARGET, make the release readable),
# switch and rollback (make sure TARGET points at current).
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
# die MESSAGE [HINT...]: the run fails with MESSAGE; each HINT on its own line.
die() {
  printf 'error: %s\n' "$1" >&2
  shift
  if [ "$#" -gt 0 ]; then printf '  %s\n' "$@" >&2; fi
  exit 1
}

build=${JENKY_PARAM_BUILD:-}
output=${JENKY_PARAM_OUTPUT:-}
target=${JENKY_PARAM_TARGET:-}
keep=${JENKY_PARAM_KEEP:-5}
action=${JENKY_ACTION:-deploy}
run_id=${JENKY_RUN_ID:-}

# --- parameters -------------------------------------------------------------

[ -n "$target" ] || die "params.target is empty: set it to the absolute path of the symlink to publish (e.g. /srv/www/site)"
case $target in
  /*) ;;
  *) die "params.target must be an absolute path, not '$target'" ;;
esac
while [ "${#target}" -gt 1 ] && [ "${target%/}" != "$target" ]; do target=${target%/}; done
[ "$target" != / ] || die "params.target cannot be /: name the symlink to publish (e.g. /srv/www/site)"
[[ $keep =~ ^[1-9][0-9]*$ ]] || die "params.keep must be a whole number of releases, 1 or more, not '$keep'"
[[ $run_id =~ ^[1-9][0-9]*$ ]] || die "JENKY_RUN_ID '$run_id' is not a run id: this recipe runs under jenky"

releases="$target.releases"
link_base=${releases##*/}     # the symlink's text is relative: NAME.releases/ID
if [ -e "$target" ] && [ ! -L "$target" ]; then
  die "$target exists and is not a symlink, so it cannot be switched atomically" \
    "move it away once (mv '$target' '$target.old') and deploy again; static-site then manages $target as a symlink"
fi

# --- helpers ----------------------------------------------------------------

# The run id of the release TARGET points at; nothing if it points elsewhere.
current_release() {
  local dest
  dest=$(readlink -- "$target" 2>/dev/null) || return 0
  dest=${dest%/}
  dest=${dest##*/}
  if [[ $dest =~ ^[0-9]+$ ]]; then printf '%s\n' "$dest"; fi
}

# The kept releases' run ids, oldest first.
list_releases() {
  local d
  for d in "$releases"/*/; do
    d=${d%/}
    d=${d##*/}
    if [[ $d =~ ^[0-9]+$ ]]; then printf '%s\n' "$d"; fi
  done | sort -n
}

# switch_to ID: points TARGET at release ID with one rename.
switch_to() {
  local tmp="$target.tmp-$run_id"
  rm -f -- "$tmp"
  ln -s -- "$link_base/$1" "$tmp"
  mv -T -f -- "$tmp" "$target"
}

# Keeps the newest $keep releases, always including the published one.
prune() {
  local cur ids=() keepers=() removed=() id i d
  cur=$(current_release)
  mapfile -t ids < <(list_releases)
  if [ -n "$cur" ]; then keepers=("$cur"); fi
  for ((i = ${#ids[@]} - 1; i >= 0; i--)); do
    id=${ids[i]}
    if [ "$id" = "$cur" ]; then continue; fi
    if [ "${#keepers[@]}" -lt "$keep" ]; then
      keepers+=("$id")
    else
      rm -rf -- "${releases:?}/$id"
      removed+=("$id")
    fi
  done
  # Leftovers of runs that were killed half-way.
  for d in "$releases"/.tmp-*; do
    if [ -e "$d" ] && [ "$d" != "$releases/.tmp-$run_id" ]; then rm -rf -- "$d"; fi
  done
  for d in "$target".tmp-*; do
    if [ -L "$d" ]; then rm -f -- "$d"; fi
  done
  if [ "${#removed[@]}" -gt 0 ]; then
    printf 'removed release(s) %s; kept %s (keep = %s)\n' "${removed[*]}" "$(kept_list)" "$keep"
  else
    printf 'nothing to prune; kept %s (keep = %s)\n' "$(kept_list)" "$keep"
  fi
}

kept_list() {
  local ids
  ids=$(list_releases | tr '\n' ' ' | sed 's/ $//')
  printf '%s\n' "${ids:-none}"
}

# --- deploy -----------------------------------------------------------------

deploy() {
  [ -n "$build" ] || die "params.build is empty: set it to the command that builds the site (e.g. \"npm ci && npm run build\")"
  [ -n "$output" ] || die "params.output is empty: set it to the directory the build produces, relative to the workdir (e.g. \"dist\")"
  local prev rc=0
  prev=$(current_release)

  step "build: $build"
  bash -eo pipefail -c "$build" || rc=$?
  if [ "$rc" -ne 0 ]; then
    die "the build command exited with status $rc; nothing was published (${target} still serves release ${prev:-none})"
  fi
  if [ ! -d "$output" ]; then
    die "the build did not produce the directory '$output' (in $PWD); nothing was published" \
      "check params.output: it names the build's output directory, relative to the workdir"
  fi

  step "copy $output to $releases/$run_id"
  if ! mkdir -p -- "$releases" 2>/dev/null; then
    die "cannot create $releases as user $(id -un)" \
      "create it and let jenky write there: sudo install -d -o $(id -un) '$releases'"
  fi
  chmod a+rx -- "$releases" 2>/dev/null || true
  local tmp="$releases/.tmp-$run_id"
  rm -rf -- "$tmp"
  mkdir -- "$tmp"
  cp -a -- "$output/." "$tmp/"
  # The web server usually runs as another user: a site is public by nature.
  chmod -R a+rX -- "$tmp"
  if [ -e "$releases/$run_id" ]; then
    # The same run once more (run ids are never reused by jenky): replace it.
    if [ "$prev" = "$run_id" ]; then die "release $run_id is the one published; deploy with a new run"; fi
    rm -rf -- "${releases:?}/$run_id"
  fi
  mv -T -- "$tmp" "$releases/$run_id"
  printf '%s files in release %s\n' "$(find "$releases/$run_id" -type f | wc -l)" "$run_id"

  step "publish release $run_id at $target (was: ${prev:-nothing})"
  switch_to "$run_id"
  printf '%s -> %s\n' "$target" "$(readlink -- "$target")"

  step "prune old releases"
  prune
  step "done: $target serves release $run_id"
}

# --- rollback ---------------------------------------------------------------

rollback() {
  local cur to ids=() id
  cur=$(current_release)
  mapfile -t ids < <(list_releases)
  if [ -n "${JENKY_ROLLBACK_TO:-}" ]; then
    to=$JENKY_ROLLBACK_TO
    [[ $to =~ ^[0-9]+$ ]] || die "JENKY_ROLLBACK_TO '$to' is not a run id"
    if [ ! -d "$releases/$to" ]; then
      die "there is no release $to in $releases (kept: $(kept_list))" \
        "it was pruned (keep = $keep), or run $to published no release of its own (a rollback, or a failed run)"
    fi
  else
    [ -n "$cur" ] || die "$target does not point at a release in $releases: nothing to roll back from (deploy first)"
    to=
    for id in "${ids[@]}"; do
      if [ "$id" -lt "$cur" ]; then to=$id; fi
    done
    [ -n "$to" ] || die "no release older than the published one ($cur) is kept in $releases (kept: $(kept_list)); nothing to roll back to"
  fi
  if [ "$to" = "$cur" ]; then
    step "release $to is already published at $target: nothing to do"
    return 0
  fi
  step "roll back $target from release ${cur:-none} to release $to"
  switch_to "$to"
  printf '%s -> %s\n' "$target" "$(readlink -- "$target")"
  step "done: $target serves release $to"
}

# --- one step on a fleet host ----------------------------------------------

fleet_step() {
  local release=${JENKY_RELEASE_DIR:-} want="$link_base/current" tmp
  [ -n "$release" ] || die "JENKY_RELEASE_DIR is not set: the fleet steps run under jenky's fleet driver"
  case $1 in
    prepare)
      [ -d "${target%/*}/" ] || die "${target%/*} does not exist on this host: create it (the directory holding $target)"
      # The web server usually runs as another user: a site is public by nature.
      chmod a+rx -- "$releases" "$releases/releases" 2>/dev/null || true
      chmod -R a+rX -- "$release"
      printf '%s files in release %s\n' "$(find "$release" -type f | wc -l)" "$run_id" ;;
    switch | rollback)
      if [ "$(readlink -- "$target" 2>/dev/null || true)" != "$want" ]; then
        tmp="$target.tmp-$run_id"
        rm -f -- "$tmp"
        ln -s -- "$want" "$tmp"
        mv -T -f -- "$tmp" "$target"
      fi
      printf '%s -> %s -> %s\n' "$target" "$want" "$(readlink -- "$releases/current")" ;;
    health) ;;
    *) die "unknown JENKY_FLEET_STEP '$1': expected prepare, switch or rollback" ;;
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
