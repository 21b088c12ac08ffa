#!/usr/bin/env bash
# Installs what jenky needs on Debian 12, from Debian's archive only. Safe to
# run again: packages already installed are skipped.
#
#   scripts/setup.sh demo      build and run jenky (scripts/demo.sh)
#   scripts/setup.sh bench     the benchmarks' peers and load (bench/run.sh)
#   scripts/setup.sh package   build and check the Debian package (scripts/package.sh)
#   scripts/setup.sh test      every test (scripts/test.sh): all of the above too
#   scripts/setup.sh           the same as `test`
#
# Several sets may be named at once. The web UI's own packages come from the
# npm registry, pinned by web/package-lock.json (scripts/build-web.sh).
set -euo pipefail

# Building and running jenky, nothing else.
demo=(
  build-essential cmake ninja-build ccache pkg-config
  # libraries (header-only or small; see DESIGN.md "Decisions already taken")
  libboost1.81-dev nlohmann-json3-dev libtomlplusplus-dev libcli11-dev
  libsqlite3-dev libssl-dev zlib1g-dev libfmt-dev
  # outbound HTTP and SMTP for notifications and commit statuses (libcurl,
  # OpenSSL flavour: the same TLS library as the rest of jenky)
  libcurl4-openssl-dev
  # the web UI is built with Debian's Node.js (18.x in Debian 12): the
  # toolchain in web/package-lock.json is chosen to run on it
  nodejs npm
  # npm's downloads are checked against the system's certificate authorities
  ca-certificates
)
bench=(
  # peers and load generators of bench/run.sh
  webhook wrk websocketd gcc python3 procps curl
  # the fleet benchmark's floor (bench/bench_fleet.py): parallel-ssh
  pssh
  # and its other peers: Ansible, Capistrano
  ansible capistrano
)
package=(
  # scripts/package.sh: debhelper builds the .deb, help2man the man page,
  # lintian checks it
  debhelper help2man lintian dpkg-dev
)
test=(
  "${demo[@]}" "${bench[@]}" "${package[@]}"
  # unit tests
  libgtest-dev libgmock-dev
  # sanitizer and fuzz builds (docs/fuzzing.md): gcc's sanitizer runtimes come
  # with g++; the fuzz targets need clang's libFuzzer and sanitizer runtimes
  # and llvm-symbolizer for readable reports
  clang libclang-rt-14-dev llvm
  # the format check (scripts/check-format.sh)
  clang-format
  # end-to-end tests; the web UI's browser tests drive Debian's chromium
  # (openssl: the TLS tests make their certificates with it)
  python3 python3-pytest procps curl chromium shellcheck openssl git
  # schedules' time zones (tests/unit/cron_test.cc reads Europe/Berlin)
  tzdata
  # notification tests: a real SMTP server receiving jenky's mail, and
  # promtool/prometheus checking and scraping /metrics
  python3-aiosmtpd prometheus
  # fault tests: CPU and memory pressure
  stress-ng
  # real systemd in a container for the hosting tests (tests/systemd) and
  # the first-run test (tests/firstrun)
  systemd-container mmdebstrap
  # fleet tests (tests/fleet): real sshd test hosts in network namespaces,
  # reached with the system's ssh; uploads with rsync; tc for netem
  openssh-server openssh-client rsync iproute2
)

sets=("$@")
[ "${#sets[@]}" -gt 0 ] || sets=(test)
packages=()
for s in "${sets[@]}"; do
  case $s in
    demo) packages+=("${demo[@]}") ;;
    bench) packages+=("${bench[@]}") ;;
    package) packages+=("${package[@]}") ;;
    test) packages+=("${test[@]}") ;;
    *) echo "setup: unknown set '$s': name one or more of demo, bench, package, test" >&2; exit 2 ;;
  esac
done

# Debian's nodejs and npm are not needed where a Node.js and npm are already
# installed (from elsewhere), if that Node.js is 18 or newer.
if command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1 \
   && ! dpkg-query -W -f='${Status}' npm 2>/dev/null | grep -q "install ok installed"; then
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  if [ "$major" -lt 18 ]; then
    echo "setup: the web UI needs Node.js 18 or newer; $(command -v node) is $(node --version)" >&2
    echo "setup: remove it (Debian's nodejs is then installed) or put a newer one first in PATH" >&2
    exit 1
  fi
  filtered=()
  for p in "${packages[@]}"; do
    case $p in nodejs|npm) ;; *) filtered+=("$p") ;; esac
  done
  packages=("${filtered[@]}")
fi

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-query >/dev/null 2>&1; then
  echo "setup: this installs Debian 12's packages with apt-get, which this system does not have." >&2
  echo "setup: install these (or your system's equivalents) yourself, then run it again:" >&2
  echo "  ${packages[*]}" >&2
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi

missing=()
declare -A seen=()
for p in "${packages[@]}"; do
  [ -n "${seen[$p]:-}" ] && continue
  seen[$p]=1
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "${#sudo[@]}" -gt 0 ] && ! command -v sudo >/dev/null 2>&1; then
    echo "setup: these Debian packages are missing: ${missing[*]}" >&2
    echo "setup: run this script as root, or install sudo, or install them yourself:" >&2
    echo "  apt-get install --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
else
  echo "setup: all packages present (${sets[*]})"
fi
