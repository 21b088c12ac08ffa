#!/usr/bin/env bash
# The newcomer's command: install what is missing, build, and start jenky on
# its embedded default (127.0.0.1:8080) with the demo project. Then, in another
# terminal:  build/jenky deploy demo --follow   (or open http://127.0.0.1:8080)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh jenky
echo
echo "jenky is starting on http://127.0.0.1:8080 with a demo project."
echo "Deploy it from another terminal:   build/jenky deploy demo --follow"
echo "Stop with Ctrl-C (a running deploy finishes on its own)."
echo
exec build/jenky serve --demo "$@"
