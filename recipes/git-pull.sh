#!/usr/bin/env bash
# Fetch and hard-reset the workdir to exactly the pushed commit (or the branch head); refuses to run on a dirty tree.
# param: remote optional=origin The git remote to fetch from.
# param: branch optional= The branch to deploy (default: the pushed branch, else the one checked out).
# param: allow_dirty optional=false Set to true to reset even over local changes and untracked files in the way (they are lost).
# param: url optional= Repository to clone into the workdir when it is still empty (the first deploy).
#
# The workdir must be the top level of a git clone (or empty, with params.url
# set). A deploy fetches REMOTE, then checks out exactly JENKY_COMMIT when the
# run names one (e.g. a push webhook), else REMOTE/BRANCH, as local branch
# BRANCH. Local changes stop it, unless allow_dirty = true. Untracked files
# are left alone, except those the new commit would overwrite (those stop it
# too). Ignored files (build output, caches) are never touched.
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
# describe COMMIT: "abc1234 subject"
describe() { git log -1 --no-color --format='%h %s' "$1" --; }

remote=${JENKY_PARAM_REMOTE:-origin}
branch=${JENKY_PARAM_BRANCH:-${JENKY_BRANCH:-}}
allow_dirty=${JENKY_PARAM_ALLOW_DIRTY:-false}
url=${JENKY_PARAM_URL:-}
commit=${JENKY_COMMIT:-}
action=${JENKY_ACTION:-deploy}
dir=$(pwd -P)
# Never wait for a password nobody can type.
export GIT_TERMINAL_PROMPT=0 GIT_ASKPASS=/bin/false SSH_ASKPASS=/bin/false
export GIT_SSH_COMMAND="${GIT_SSH_COMMAND:-ssh -o BatchMode=yes}"

case $action in
  deploy) ;;
  rollback)
    die "the git-pull recipe keeps no releases to roll back to" \
      "deploy the commit you want instead: jenky deploy ${JENKY_PROJECT:-PROJECT} --commit SHA" ;;
  *) die "unknown JENKY_ACTION '$action': expected deploy" ;;
esac
case $allow_dirty in
  true | yes | 1) allow_dirty=true ;;
  false | no | 0 | '') allow_dirty=false ;;
  *) die "params.allow_dirty must be true or false, not '$allow_dirty'" ;;
esac
# Values from a webhook reach git as arguments: make sure they are what they say.
if [ -n "$commit" ] && ! [[ $commit =~ ^[0-9a-fA-F]{4,64}$ ]]; then
  die "JENKY_COMMIT '$commit' is not a commit id (4 to 64 hex digits)"
fi
if [ -n "$branch" ] && { [[ $branch == -* ]] || ! git check-ref-format --branch "$branch" >/dev/null 2>&1; }; then
  die "'$branch' is not a valid branch name (params.branch, else the run's branch)"
fi
if [[ $remote == -* || -z $remote ]]; then die "params.remote '$remote' is not a remote name"; fi

# --- the clone ----------------------------------------------------------------

step "check the workdir $dir"
if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  if [ -z "$url" ]; then
    die "the workdir $dir is not a git repository" \
      "clone it there once (git clone URL '$dir'), or set params.url so the first deploy clones it"
  fi
  if [ -n "$(ls -A)" ]; then
    die "the workdir $dir is neither empty nor a git repository, so params.url cannot be cloned into it" \
      "empty it (its files would be lost), or clone by hand"
  fi
  step "clone $url"
  git clone --no-checkout --origin "$remote" -- "$url" .
  fresh=1
else
  fresh=
fi
top=$(git rev-parse --show-toplevel)
if [ "$(cd "$top" && pwd -P)" != "$dir" ]; then
  die "the workdir $dir is inside the git repository $top but is not its top level" \
    "set the project's workdir to $top (git-pull resets the whole repository)"
fi
if ! remote_url=$(git remote get-url -- "$remote" 2>/dev/null); then
  die "the repository in $dir has no remote '$remote'" \
    "add it (git -C '$dir' remote add $remote URL), or set params.remote to one of: $(git remote | tr '\n' ' ')"
fi
if [ -n "$url" ] && [ "$url" != "$remote_url" ]; then
  note "note: remote '$remote' is $remote_url, not params.url ($url); fetching from $remote_url"
fi

old=
if [ -z "$fresh" ]; then old=$(git rev-parse --verify --quiet 'HEAD^{commit}' || true); fi
if [ -z "$branch" ] && [ -n "$commit" ] && [[ ${JENKY_REF:-} == refs/tags/* ]]; then
  note "deploying tag ${JENKY_REF#refs/tags/}: HEAD will be detached at its commit"
elif [ -z "$branch" ]; then
  # The branch checked out (in a fresh clone: the remote's default branch).
  branch=$(git symbolic-ref --quiet --short HEAD || true)
fi
if [ -z "$branch" ] && [ -z "$commit" ]; then
  # Detached (e.g. by a tag deploy) and nothing named: the remote's default branch.
  branch=$(git symbolic-ref --quiet --short "refs/remotes/$remote/HEAD" 2>/dev/null || true)
  branch=${branch#"$remote/"}
  if [ -z "$branch" ]; then
    die "nothing names what to deploy: the run has no commit or branch, and HEAD is detached" \
      "set params.branch, or trigger the run with a commit"
  fi
fi

# --- local changes --------------------------------------------------------------

if [ -z "$fresh" ]; then
  step "check for local changes"
  changes=$(git status --porcelain --untracked-files=no)
  if [ -n "$changes" ]; then
    if [ "$allow_dirty" = true ]; then
      note "warning: discarding local changes (allow_dirty = true):" "$changes"
    else
      printf '%s\n' "$changes" >&2
      die "the workdir $dir has uncommitted changes (above) that a hard reset would destroy" \
        "commit and push them, stash them (git -C '$dir' stash), or discard them (git -C '$dir' reset --hard);" \
        "or set allow_dirty = \"true\" in [projects.${JENKY_PROJECT:-NAME}.params] to always discard them"
    fi
  else
    note "no local changes"
  fi
fi

# --- fetch ------------------------------------------------------------------------

step "fetch $remote ($remote_url)"
git fetch --prune -- "$remote"
if [ -n "$branch" ] && ! git rev-parse --verify --quiet "refs/remotes/$remote/$branch" >/dev/null; then
  # A single-branch clone, or a branch outside the remote's fetch refspec.
  git fetch -- "$remote" "+refs/heads/$branch:refs/remotes/$remote/$branch" 2>/dev/null || true
fi

if [ -n "$commit" ]; then
  if ! target=$(git rev-parse --verify --quiet "$commit^{commit}"); then
    # Not on any branch head (any more): ask for the commit itself.
    git fetch --quiet -- "$remote" "$commit" 2>/dev/null || true
    target=$(git rev-parse --verify --quiet "$commit^{commit}") ||
      die "commit $commit is not in $remote ($remote_url), even after fetching it" \
        "was it pushed? A force-push may have dropped it. To deploy the branch head, trigger the run without a commit"
  fi
  wanted="commit $commit"
else
  target=$(git rev-parse --verify --quiet "refs/remotes/$remote/$branch^{commit}") ||
    die "there is no branch '$branch' on $remote ($remote_url)" \
      "push it, or set params.branch to one of: $(git for-each-ref --format='%(refname:lstrip=3)' "refs/remotes/$remote/" | grep -vx HEAD | tr '\n' ' ')"
  wanted="$remote/$branch"
fi
note "$wanted is $(describe "$target")"

# --- untracked files in the way ---------------------------------------------------

if [ -z "$fresh" ]; then
  step "check for untracked files the new commit would overwrite"
  in_the_way=$(LC_ALL=C comm -12 \
    <(git ls-files --others --exclude-standard | LC_ALL=C sort) \
    <(git ls-tree -r --name-only "$target" | LC_ALL=C sort))
  if [ -n "$in_the_way" ]; then
    if [ "$allow_dirty" = true ]; then
      note "warning: overwriting untracked files (allow_dirty = true):" "$in_the_way"
    else
      printf '%s\n' "$in_the_way" >&2
      die "untracked files in $dir (above) would be overwritten by the files of the same name in $wanted" \
        "move them away, or delete them; or set allow_dirty = \"true\" to let deploys overwrite them"
    fi
  else
    note "none"
  fi
  if [ -n "$old" ] && [ "$old" != "$target" ] &&
    [ -z "$(git for-each-ref --count=1 --contains "$old" "refs/remotes/$remote/")" ]; then
    note "warning: the old commit $(describe "$old") is on no branch of $remote; it stays reachable through git reflog"
  fi
fi

# --- reset ------------------------------------------------------------------------

step "reset to $wanted"
if [ -n "$branch" ]; then
  git checkout --quiet --force -B "$branch" "$target" --
  if git rev-parse --verify --quiet "refs/remotes/$remote/$branch" >/dev/null; then
    git branch --quiet --set-upstream-to="$remote/$branch" 2>/dev/null || true
  fi
else
  git checkout --quiet --force --detach "$target" --
fi
git reset --quiet --hard "$target" --
if [ -f .gitmodules ]; then
  step "update submodules"
  git submodule sync --recursive --quiet
  git submodule update --init --recursive --force
fi
now=$(git rev-parse HEAD)
[ "$now" = "$target" ] || die "HEAD is $now after the reset, not $target: see git -C '$dir' status"

step "done"
if [ -n "$old" ]; then note "old commit: $(describe "$old")"; else note "old commit: none (fresh clone)"; fi
note "new commit: $(describe "$now")${branch:+ (branch $branch)}"
if [ "$old" = "$now" ]; then note "already at that commit: nothing changed"; fi
