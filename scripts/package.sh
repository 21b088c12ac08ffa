#!/usr/bin/env bash
# Builds the Debian package build/jenky_VERSION_amd64.deb (and its debug
# symbols, build/jenky-dbgsym_VERSION_amd64.deb) from a release build, and
# checks it with lintian. docs/packaging.md explains what is in it and why.
#
#   scripts/package.sh                   version from `build/jenky version`
#   scripts/package.sh --version 0.1.0+1 another version (a changelog entry is
#                                        added for it; the upgrade test uses it)
#
# Installs what building jenky and the package needs if missing
# (scripts/setup.sh demo package: debhelper, help2man, lintian...). The binary is build/jenky, built by scripts/build.sh if needed;
# its build type must be a release one (RelWithDebInfo, the default, or
# Release): the package strips it and keeps the symbols apart.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

version=""
while [ $# -gt 0 ]; do
  case $1 in
    --version) version=${2:?--version needs a value, like 0.1.0+1}; shift 2 ;;
    --version=*) version=${1#--version=}; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "package.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [ -n "$version" ] && ! [[ $version =~ ^[0-9][A-Za-z0-9.+~]*$ ]]; then
  echo "package.sh: '$version' is not a Debian version (digits first, then letters, digits, . + ~)" >&2
  exit 2
fi

scripts/setup.sh demo package >/dev/null

if [ -f build/CMakeCache.txt ]; then
  type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' build/CMakeCache.txt)
  sanitize=$(sed -n 's/^JENKY_SANITIZE:[A-Z]*=//p' build/CMakeCache.txt)
  case $type in
    RelWithDebInfo|Release|MinSizeRel) ;;
    *) echo "package.sh: build/ is a '$type' build; the package needs a release build:" >&2
       echo "  rm -rf build && scripts/build.sh jenky   (RelWithDebInfo by default)" >&2
       exit 1 ;;
  esac
  if [ -n "$sanitize" ]; then
    echo "package.sh: build/ is instrumented ($sanitize); package a normal build" >&2
    exit 1
  fi
fi
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
scripts/build.sh jenky

upstream=$(build/jenky version | sed -n 's/^jenky //p')
[ -n "$upstream" ] || { echo "package.sh: build/jenky version did not answer" >&2; exit 1; }
version=${version:-$upstream}
# Reproducible: dates come from the last commit.
SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
export SOURCE_DATE_EPOCH

out=build/deb
stage=$out/jenky-$version
rm -rf "$out"
mkdir -p "$stage"
cp -r packaging/debian "$stage/debian"
cp build/jenky "$stage/jenky"

# The units and the starter config come from the binary itself: the same
# code as `jenky service print` and `jenky service install`.
build/jenky __package-files --binary /usr/bin/jenky "$stage/generated"
mv "$stage/generated/jenky.service" "$stage/generated/jenky.socket" "$stage/debian/"
mv "$stage/generated/jenky.toml" "$stage/jenky.toml"
rmdir "$stage/generated"
build/jenky check --config "$stage/jenky.toml" >/dev/null \
  || { echo "package.sh: jenky check refuses the starter config" >&2; exit 1; }

# jenky(1) from the CLI's own help, every subcommand included.
help2man --no-info --section=1 --name="self-hosted continuous deployment server" \
  --version-string="$upstream" --help-option=--help-all \
  --include=packaging/jenky.1.include --output="$stage/jenky.1.help2man" build/jenky
awk -f packaging/man-sections.awk "$stage/jenky.1.help2man" > "$stage/jenky.1"
rm "$stage/jenky.1.help2man"

if [ "$version" != "$(dpkg-parsechangelog -l packaging/debian/changelog -S Version)" ]; then
  {
    echo "jenky ($version) unstable; urgency=medium"
    echo
    echo "  * Built from $(git log -1 --format='%h: %s' | cut -c1-60)."
    echo
    echo " -- $(dpkg-parsechangelog -l packaging/debian/changelog -S Maintainer)  $(date -u -R -d "@$SOURCE_DATE_EPOCH")"
    echo
    cat packaging/debian/changelog
  } > "$stage/debian/changelog"
fi

echo "package.sh: building the package in $stage"
(cd "$stage" && dpkg-buildpackage --build=binary --unsigned-source --unsigned-changes \
   --no-check-builddeps --no-pre-clean > ../dpkg-buildpackage.log 2>&1) \
  || { tail -n 40 "$out/dpkg-buildpackage.log" >&2; echo "package.sh: dpkg-buildpackage failed (log: $out/dpkg-buildpackage.log)" >&2; exit 1; }

deb=jenky_${version}_amd64.deb
# dpkg-buildpackage names the debug symbols' package .deb (bookworm) or .ddeb.
ddeb=$(cd "$out" && ls jenky-dbgsym_"${version}"_amd64.*deb 2>/dev/null | head -n1)
[ -f "$out/$deb" ] || { echo "package.sh: no $out/$deb" >&2; exit 1; }

# What the package must hold (docs/packaging.md, "What is in it").
contents=$(dpkg-deb -c "$out/$deb" | awk '{print $6}')
for f in ./usr/bin/jenky ./usr/lib/systemd/system/jenky.service ./usr/lib/systemd/system/jenky.socket \
         ./usr/lib/sysusers.d/jenky.conf ./etc/jenky/jenky.toml ./usr/share/man/man1/jenky.1.gz \
         ./usr/share/doc/jenky/copyright ./usr/share/doc/jenky/changelog.gz; do
  grep -qx -- "$f" <<< "$contents" || { echo "package.sh: $deb has no $f" >&2; exit 1; }
done
dpkg-deb -I "$out/$deb" conffiles | grep -qx /etc/jenky/jenky.toml \
  || { echo "package.sh: /etc/jenky/jenky.toml is not a conffile" >&2; exit 1; }
dpkg-deb --fsys-tarfile "$out/$deb" | tar -xOf - ./usr/bin/jenky > "$out/jenky.packaged"
if readelf -S "$out/jenky.packaged" | grep -q '\.debug_info'; then
  echo "package.sh: /usr/bin/jenky in $deb is not stripped" >&2; exit 1
fi
rm "$out/jenky.packaged"

echo "package.sh: lintian $deb"
lintian --fail-on error --info --display-level '>=warning' "$out/$deb" \
  || { echo "package.sh: lintian reports errors (above)" >&2; exit 1; }

rm -f build/jenky_*_amd64.deb build/jenky-dbgsym_*_amd64.*deb
cp "$out/$deb" build/
[ -n "$ddeb" ] && cp "$out/$ddeb" build/
size=$(stat -c %s "build/$deb")
installed=$(dpkg-deb -f "build/$deb" Installed-Size)
binary=$(dpkg-deb --fsys-tarfile "build/$deb" | tar -tvf - ./usr/bin/jenky | awk '{print $3}')
echo "package.sh: build/$deb: $size bytes ($(awk -v b="$size" 'BEGIN{printf "%.2f", b/1048576}') MiB);" \
     "installed size $installed KiB; /usr/bin/jenky $binary bytes, stripped"
[ -n "$ddeb" ] && echo "package.sh: debug symbols: build/$ddeb ($(stat -c %s "build/$ddeb") bytes)"
echo "$repo/build/$deb"
