#!/usr/bin/env bash
# The newcomer's command: install what is missing, build, and start jenky on
# 127.0.0.1:8080 with the demo project. Then, in another terminal:
#   build/jenky deploy demo --follow      (or open http://127.0.0.1:8080)
#
#   scripts/demo.sh [jenky serve options...]   e.g. --listen 127.0.0.1:9000
#
# When 8080 is taken (and no --listen is given), the demo takes the next free
# port and says which. `--listen 127.0.0.1:0` lets the kernel pick one.
set -euo pipefail
cd "$(dirname "$0")/.."
case ${1:-} in
  -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

phase_start=$SECONDS
timings=""
phase_done() { # NAME: how long the phase that just ended took
  local took=$((SECONDS - phase_start))
  echo "demo: $1 took $took s"
  timings+="${timings:+, }$1 $took s"
  phase_start=$SECONDS
}

# Something accepts connections on 127.0.0.1:PORT.
listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Before the minutes of building: is the address free?
listen=""
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case ${args[i]} in
    --listen) listen=${args[i + 1]:-} ;;
    --listen=*) listen=${args[i]#--listen=} ;;
  esac
done
if [ -z "$listen" ]; then
  port=8080
  if listening 8080; then
    for ((port = 8081; port < 8200; port++)); do listening "$port" || break; done
    [ "$port" -lt 8200 ] || port=0   # the kernel's choice; jenky prints it
    echo "demo: 127.0.0.1:8080 is taken (something already listens on it); using 127.0.0.1:$port instead."
    echo "demo: to choose the address yourself: scripts/demo.sh --listen 127.0.0.1:PORT"
    echo "demo: (scripts/demo.sh --listen 127.0.0.1:0 takes any free port)"
  fi
  listen=127.0.0.1:$port
  args+=(--listen "$listen")
elif [ "${listen%:*}" = 127.0.0.1 ] && [ "${listen##*:}" != 0 ] && listening "${listen##*:}"; then
  echo "demo: ${listen} is taken (something already listens on it)." >&2
  echo "demo: pick another port: scripts/demo.sh --listen 127.0.0.1:PORT," >&2
  echo "demo: or let the kernel pick a free one: scripts/demo.sh --listen 127.0.0.1:0" >&2
  exit 1
fi

scripts/setup.sh demo
phase_done apt
scripts/build-web.sh --deps
phase_done npm
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
scripts/build.sh jenky
phase_done build
echo "demo: built in $SECONDS s ($timings)"

if [ "${listen##*:}" = 0 ]; then
  url="the address in the 'listening on' line below"
  server=" --server URL"
else
  url=http://$listen
  server=""
  [ "$listen" = 127.0.0.1:8080 ] || server=" --server $url"
fi
echo
echo "jenky is starting on $url with a demo project."
echo "Deploy it from another terminal:   build/jenky deploy demo --follow$server"
echo "Stop with Ctrl-C (a running deploy finishes on its own)."
echo
exec build/jenky serve --demo "${args[@]}"
