#!/usr/bin/env bash
# Installs what jenky needs to build, test and benchmark on Debian 12.
# Only Debian's archive is used. Safe to run again: apt-get skips what is there.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build ccache pkg-config git
  # libraries (all header-only or small; see DESIGN.md "Decisions already taken")
  libboost1.81-dev nlohmann-json3-dev libtomlplusplus-dev libcli11-dev
  libsqlite3-dev libssl-dev zlib1g-dev libfmt-dev libgtest-dev libgmock-dev
  # sanitizer and fuzz builds (docs/fuzzing.md): gcc's sanitizer runtimes come
  # with g++; the fuzz targets need clang's libFuzzer and sanitizer runtimes
  # and llvm-symbolizer for readable reports
  clang libclang-rt-14-dev llvm
  # end-to-end tests; the web UI's browser tests drive Debian's chromium
  # (openssl: the TLS tests make their certificates with it)
  python3 python3-pytest procps curl chromium shellcheck git openssl
  # real systemd in a container for the hosting tests (tests/systemd)
  systemd-container mmdebstrap
  # benchmarks' peers and load
  webhook wrk
)

# The web UI is built with npm (packages from the npm registry, pinned by
# web/package-lock.json). Use the machine's Node.js if it has one.
if ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all packages present"
fi
