#!/usr/bin/env bash
# Every test: installs what is missing, builds, runs the unit tests and the
# end-to-end tests (which start the real binary) through CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
cd build
ctest --output-on-failure --timeout 900 "$@"
