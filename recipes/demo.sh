#!/usr/bin/env bash
# A few seconds of coloured, progressing output: what `jenky serve --demo` runs.
set -euo pipefail

steps=("fetch" "build" "test" "release" "restart")
bold=$'\e[1m' green=$'\e[32m' yellow=$'\e[33m' blue=$'\e[34m' dim=$'\e[2m' reset=$'\e[0m'

printf '%s==> deploying %s%s (run %s, trigger %s)\n' "$bold" "${JENKY_PROJECT:-demo}" "$reset" \
  "${JENKY_RUN_ID:-?}" "${JENKY_TRIGGER:-manual}"
for i in "${!steps[@]}"; do
  step=${steps[$i]}
  # Each step is a section that folds in the web UI (docs/web-ui.md).
  printf '::group::%s\n' "$step"
  printf '%s==> %s%s\n' "$blue$bold" "$step" "$reset"
  for pct in 20 40 60 80 100; do
    bar=$(printf '%*s' $((pct / 5)) '' | tr ' ' '#')
    printf '  %s[%-20s]%s %3d%% %s%s%s\n' "$yellow" "$bar" "$reset" "$pct" "$dim" "$step" "$reset"
    sleep 0.1
  done
  printf '  %s✔ %s done%s\n' "$green" "$step" "$reset"
  if [ "$i" -eq 2 ]; then
    printf '  %swarning:%s 0 tests skipped, 42 passed\n' "$yellow" "$reset" >&2
  fi
  printf '::endgroup::\n'
done
printf '%s%s==> deployed%s in %ss\n' "$green" "$bold" "$reset" "$SECONDS"
