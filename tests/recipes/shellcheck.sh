#!/usr/bin/env bash
# Runs Debian's shellcheck on every recipe (recipes/*.sh) and on this
# directory's shell scripts; exits non-zero on any finding.
#   tests/recipes/shellcheck.sh [FILE...]
# Style-level findings count too, with a few optional checks on top.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

if ! command -v shellcheck >/dev/null 2>&1; then
  echo "shellcheck is not installed: apt-get install -y shellcheck" >&2
  exit 2
fi
if [ "$#" -gt 0 ]; then
  files=("$@")
else
  files=("$repo"/recipes/*.sh "$here"/*.sh)
fi

status=0
for f in "${files[@]}"; do
  if shellcheck --shell=bash --severity=style --external-sources \
    --enable=add-default-case,avoid-nullary-conditions,deprecate-which,quote-safe-variables \
    -- "$f"; then
    echo "ok - ${f#"$repo"/}"
  else
    echo "not ok - ${f#"$repo"/}"
    status=1
  fi
done
exit "$status"
