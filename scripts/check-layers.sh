#!/usr/bin/env bash
# Fails when an #include in src/ goes up the layer order written in
# docs/architecture.md ("Layers"): a directory may include from its own layer
# and from those below it, never from one above. With a strict order there can
# be no include cycle between directories either.
# Usage: scripts/check-layers.sh   (prints each violation as FILE:LINE)
set -euo pipefail
cd "$(dirname "$0")/.."

# Bottom first. Keep in step with docs/architecture.md.
layers=(util net config core store exec webhook notify server http service app cli)

declare -A rank
for i in "${!layers[@]}"; do rank[${layers[$i]}]=$i; done

bad=0
while IFS= read -r file; do
  dir=${file#src/}
  dir=${dir%%/*}
  if [ -z "${rank[$dir]+x}" ]; then
    echo "$file: directory src/$dir/ has no place in the layer order (scripts/check-layers.sh, docs/architecture.md)"
    bad=1
    continue
  fi
  while IFS=: read -r line target; do
    to=${target%%/*}
    [ -n "${rank[$to]+x}" ] || continue  # generated headers (embedded data) and the like
    if [ "${rank[$to]}" -gt "${rank[$dir]}" ]; then
      echo "$file:$line: $dir/ includes $target, from $to/, a layer above it"
      bad=1
    fi
  done < <(grep -n '^#include "[a-z_]*/' "$file" | sed 's/^\([0-9]*\):#include "\([^"]*\)".*/\1:\2/')
done < <(find src -name '*.h' -o -name '*.cc' | sort)

if [ "$bad" -ne 0 ]; then
  echo "check-layers: includes go up the layer order: ${layers[*]} (bottom first)" >&2
  exit 1
fi
echo "check-layers: ok (${layers[*]}, bottom first)"
