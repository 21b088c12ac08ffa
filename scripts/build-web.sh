#!/usr/bin/env bash
# Builds the web UI into OUT_DIR (called by CMake from web/). Installs the
# npm packages pinned by package-lock.json when they are missing or stale, and
# precompresses the result (scripts/compress-web.mjs).
#
#   scripts/build-web.sh OUT_DIR    install if needed, then build
#   scripts/build-web.sh --deps     only install (scripts/demo.sh times it)
set -euo pipefail
out=$1
cd "$(dirname "$0")/../web"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error --progress=false
fi
[ "$out" = --deps ] && exit 0
npm run --silent build -- --outDir "$out" --emptyOutDir
# Brotli and gzip copies beside each file, embedded and served by Accept-Encoding.
node ../scripts/compress-web.mjs "$out"
