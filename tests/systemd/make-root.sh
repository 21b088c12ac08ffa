#!/usr/bin/env bash
# Builds (or reuses) a minimal Debian bookworm root for booting real systemd
# in systemd-nspawn:  tests/systemd/make-root.sh [--bare] DIR
#
# --bare: a minbase root and nothing more (no systemd, curl, python3, sudo),
# like a fresh Debian 12 machine; tests/firstrun runs the README's first
# command in one. JENKY_APT_ARCHIVES (a folder) keeps the downloaded .debs
# between builds.
#
# DIR is a cache folder (default: build/systemd-root). The root itself is
# DIR/<key>/root, where <key> is a hash of the package list and of the
# customisation's revision number, so a changed package list or customisation
# builds a new root and an unchanged one is reused at once. The path of the root is printed on stdout.
#
# The root is never changed by a test: boot.sh runs it with
# --volatile=overlay (writes go to a tmpfs), so one root serves every run.
# Only generic things are customised here; the test unit comes from boot.sh.
#
# Uses the machine's own apt sources (mmdebstrap's default); needs root and
# Debian's mmdebstrap (or debootstrap).
set -euo pipefail

bare=0
if [ "${1:-}" = --bare ]; then bare=1; shift; fi
cache=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build/systemd-root}
suite=bookworm

# Everything the checks inside use: systemd itself, curl for /healthz,
# procps for ps/pgrep, python3 for JSON, sudo for deploy scripts that need
# root (as on a real host).
packages=(systemd systemd-sysv dbus curl procps python3 sudo)
[ "$bare" = 1 ] && packages=()

# Bump when the customisation below changes (the package list is hashed).
revision=2
key=$(printf '%s\n' "$suite" "$revision" "bare=$bare" "${packages[@]}" | sha256sum | cut -c1-16)
dir="$cache/$key"
root="$dir/root"
# What a finished root has: systemd, or (--bare) at least apt.
if [ "$bare" = 1 ]; then marker=usr/bin/apt-get; else marker=lib/systemd/systemd; fi

if [ -f "$dir/ok" ] && [ -x "$root/$marker" ]; then
  echo "$root"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "make-root: must run as root (mmdebstrap and systemd-nspawn need it)" >&2
  exit 2
fi

mkdir -p "$cache"
# One builder at a time for a given cache.
exec 9>"$cache/.lock"
flock 9
if [ -f "$dir/ok" ] && [ -x "$root/$marker" ]; then
  echo "$root"
  exit 0
fi

tmp="$cache/.build-$key.$$"
rm -rf "$tmp" "$dir"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

include=$(IFS=,; echo "${packages[*]}")
start=$(date +%s)
echo "make-root: building a $suite root in $dir (one-off, ~90 s)" >&2
if command -v mmdebstrap >/dev/null 2>&1; then
  hooks=()
  if [ -n "${JENKY_APT_ARCHIVES:-}" ]; then
    mkdir -p "$JENKY_APT_ARCHIVES"
    # shellcheck disable=SC2016  # $1 is mmdebstrap's, expanded by its hook
    hooks=(--setup-hook='mkdir -p "$1"/var/cache/apt/archives'
           --setup-hook="sync-in $JENKY_APT_ARCHIVES /var/cache/apt/archives"
           --customize-hook="sync-out /var/cache/apt/archives $JENKY_APT_ARCHIVES"
           --skip=download/empty)
  fi
  mmdebstrap --quiet --mode=root --variant=minbase ${include:+--include="$include"} "${hooks[@]}" \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    "$suite" "$tmp/root" >&2
elif command -v debootstrap >/dev/null 2>&1; then
  # debootstrap wants a mirror; take the one this machine's apt uses.
  mirror=$(apt-get indextargets --format '$(REPO_URI)' 'Created-By: Packages' 2>/dev/null \
           | grep -v security | head -n1)
  if [ -z "$mirror" ]; then
    echo "make-root: debootstrap needs a mirror and none was found in apt's sources" >&2
    exit 2
  fi
  debootstrap --variant=minbase ${include:+--include="$include"} "$suite" "$tmp/root" "$mirror" >&2
else
  echo "make-root: install mmdebstrap (apt-get install mmdebstrap systemd-container)" >&2
  exit 2
fi

r="$tmp/root"

# --- customisation -------------------------------------------------------
if [ "$bare" = 1 ]; then echo jenky-firstrun > "$r/etc/hostname"; else echo jenky-systemd-test > "$r/etc/hostname"; fi
: > "$r/etc/machine-id"          # systemd makes one at first boot (transient)
# The installer writes /etc/hosts on a real machine; mmdebstrap does not, and
# without it "localhost" does not resolve.
[ -s "$r/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' > "$r/etc/hosts"
# apt caches are not needed inside.
rm -rf "$r"/var/cache/apt/*.bin "$r"/var/lib/apt/lists/* 2>/dev/null || true

# The test unit itself is not baked in: boot.sh bind-mounts it at boot and
# enables it with systemd.wants= on PID 1's command line, so changing the
# harness never rebuilds the root.
mkdir -p "$r/opt/jenky-test" "$r/opt/jenky-src"

# Units that only slow a test boot down or cannot work in a container.
[ "$bare" = 1 ] || for u in systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer \
         e2scrub_all.timer fstrim.timer man-db.timer dpkg-db-backup.timer \
         getty@tty1.service console-getty.service; do
  ln -sf /dev/null "$r/etc/systemd/system/$u"
done
# ------------------------------------------------------------------------

touch "$tmp/ok"
mv "$tmp" "$dir"
trap - EXIT
echo "make-root: built in $(( $(date +%s) - start )) s" >&2
# Roots of other package lists are stale: remove them (~200 MB each).
for old in "$cache"/*/; do
  old=${old%/}
  [ "$old" = "$dir" ] || { echo "make-root: removing the stale root $old" >&2; rm -rf "$old"; }
done
echo "$root"
