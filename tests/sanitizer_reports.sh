#!/usr/bin/env bash
# Fails (printing them) if sanitizer report files exist under DIR: the unit
# tests of a sanitizer build write reports there (see CMakeLists.txt), also
# from supervisor processes whose stderr no test reads.
# Usage: tests/sanitizer_reports.sh DIR
set -euo pipefail
dir=$1
shopt -s nullglob
reports=("$dir"/*)
if [ "${#reports[@]}" -eq 0 ]; then
  echo "no sanitizer reports in $dir"
  exit 0
fi
for r in "${reports[@]}"; do
  echo "--- $r"
  cat "$r"
done
echo "${#reports[@]} sanitizer report(s) in $dir" >&2
exit 1
