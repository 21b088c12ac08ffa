#!/usr/bin/env bash
# The Debian package in real systemd: install, a deploy through it, an
# upgrade during a deploy, remove (data kept), reinstall (history found),
# purge (data gone). Boots the same root as run.sh (boot.sh) and runs the
# package_* checks of checks.sh.
#
#   tests/systemd/package.sh [DEB]     (default: the newest build/jenky_*_amd64.deb)
#
# The "newer" package is DEB repacked with a higher version (VERSION+upgradetest):
# the same files and maintainer scripts, so the upgrade goes through exactly
# what an upgrade to a new release would. Needs root, like run.sh.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${JENKY_SYSTEMD_CACHE:-$repo/build/systemd-root}
results=${JENKY_SYSTEMD_RESULTS:-$repo/build/systemd-results}/package
deb=${1:-$(ls -t "$repo"/build/jenky_*_amd64.deb 2>/dev/null | head -n1)}

if [ "$(id -u)" -ne 0 ]; then echo "package: skipped: needs root"; exit 77; fi
[ -f "$deb" ] || { echo "package: no .deb (build one with scripts/package.sh)"; exit 1; }

root=$("$here/make-root.sh" "$cache") || { echo "package: could not build the container root"; exit 1; }
root=$(tail -n 1 <<< "$root")

work=$(mktemp -d /tmp/jenky-package-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
debs=$work/debs
mkdir -p "$debs"
cp "$deb" "$debs/old.deb"
version=$(dpkg-deb -f "$deb" Version)
dpkg-deb -R "$deb" "$work/new"
sed -i "s/^Version: .*/Version: $version+upgradetest/" "$work/new/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz -z1 -b "$work/new" "$debs/new.deb" >/dev/null \
  || { echo "package: could not repack $deb"; exit 1; }
# The binary boot.sh mounts for its smoke checks: the packaged one.
dpkg-deb --fsys-tarfile "$deb" | tar -xf - -C "$work" ./usr/bin/jenky

echo "package: $(basename "$deb") ($version), then $version+upgradetest"
JENKY_BIN=$work/usr/bin/jenky \
JENKY_NSPAWN_ARGS="--bind-ro=$debs:/opt/jenky-debs" \
JENKY_TEST_ENV=$(printf '%s\n' JENKY_CHECKS_SETUP=package_setup JENKY_STEPS=100 \
  "JENKY_CHECKS=package_install package_deploy package_upgrade_keeps_deploy package_remove_keeps_data package_reinstall_finds_history package_purge") \
  "$here/boot.sh" --timeout 420 "$root" "$here/checks.sh" "$results"
rc=$?
passed=$(grep -c '^ok ' "$results/tap.txt" 2>/dev/null)
failed=$(grep -c '^not ok ' "$results/tap.txt" 2>/dev/null)
[ "$rc" -ne 0 ] && echo "package: details in $results (checks.log, journal.txt, diagnostics.txt)"
echo "${passed:-0} passed, ${failed:-0} failed"
exit "$rc"
