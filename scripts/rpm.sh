#!/usr/bin/env bash
# Builds the gala-gopher RPM with rpmbuild from this tree:
#   1. bun run build                  -> dist/gala-gopher (skipped with --no-build)
#   2. source tarball gala-gopher-<version>.tar.gz: the project's files (git ls-files:
#      tracked, plus untracked files that are not ignored) and dist/gala-gopher
#   3. rpmbuild -bb gala-gopher.spec   -> <out>/gala-gopher-<version>-<release>.<arch>.rpm
# The last line printed is the path of the package.
#
# Usage: bash scripts/rpm.sh [--release N] [--version V] [--no-build] [--out DIR] [--topdir DIR]
# The same as environment: GG_RPM_RELEASE, GG_RPM_VERSION, GG_RPM_NO_BUILD=1, GG_RPM_OUT,
# GG_RPM_TOPDIR. Defaults: version from package.json, release 1, out dist/, topdir rpmbuild/.
# Needs rpmbuild (Debian: apt-get install rpm; openEuler/Fedora: dnf install rpm-build).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

release=${GG_RPM_RELEASE:-1}
version=${GG_RPM_VERSION:-}
no_build=${GG_RPM_NO_BUILD:-0}
out=${GG_RPM_OUT:-$repo/dist}
top=${GG_RPM_TOPDIR:-$repo/rpmbuild}
while [ $# -gt 0 ]; do
  case "$1" in
    --release) release=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --no-build) no_build=1; shift ;;
    --out) out=$2; shift 2 ;;
    --topdir) top=$2; shift 2 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "rpm.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$version" ]; then
  version=$(sed -n 's/^[[:space:]]*"version":[[:space:]]*"\([^"]*\)".*/\1/p' package.json | head -n1)
fi
case "$version$release" in
  *[!A-Za-z0-9._+~^]*|'') echo "rpm.sh: bad version '$version' or release '$release'" >&2; exit 2 ;;
esac
if ! command -v rpmbuild >/dev/null 2>&1; then
  echo "rpm.sh: rpmbuild not found (Debian: apt-get install rpm; openEuler/Fedora: dnf install rpm-build)" >&2
  exit 1
fi

t0=$(date +%s%N)
if [ "$no_build" != 1 ]; then
  bun run build >&2
fi
bin=$repo/dist/gala-gopher
if [ ! -x "$bin" ]; then
  echo "rpm.sh: $bin is missing: run 'bun run build' first (or drop --no-build)" >&2
  exit 1
fi
# A stripped Bun executable has lost its program and behaves like plain `bun`.
if ! "$bin" --version 2>/dev/null | grep -q '^gala-gopher '; then
  echo "rpm.sh: $bin does not answer --version like gala-gopher (stripped or broken?)" >&2
  exit 1
fi

# Oldest glibc it runs on: the newest GLIBC_x.y version named anywhere in the file
# (the executable's imports and any shared library embedded in it).
glibc=$(grep -aoE 'GLIBC_2\.[0-9]+' "$bin" | sed 's/^GLIBC_//' | sort -t. -k1,1n -k2,2n | tail -n1)
glibc=${glibc:-2.17}

top=$(mkdir -p "$top" && cd "$top" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "$top/BUILD" "$top/BUILDROOT" "$top/SOURCES" "$top/RPMS" "$top/SRPMS" "$top/stage" "$top/tmp"
mkdir -p "$top/SOURCES" "$top/tmp"
stage=$top/stage/gala-gopher-$version
mkdir -p "$stage/dist"

# The project's files: from git when this is a work tree, else everything but build output.
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$repo" ls-files -z --cached --others --exclude-standard |
    while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
    tar -C "$repo" --null -T - -cf - | tar -C "$stage" -xf -
else
  tar -C "$repo" --exclude=./node_modules --exclude=./dist --exclude=./rpmbuild --exclude='*.rpm' -cf - . | tar -C "$stage" -xf -
fi
for f in gala-gopher.spec LICENSE rpm/gala-gopher.service rpm/gala-gopher.conf rpm/probes.init rpm/gala-gopher-custom.json README.md docs/packaging.md; do
  [ -f "$stage/$f" ] || { echo "rpm.sh: $f is missing from the tree" >&2; exit 1; }
done
cp -p "$bin" "$stage/dist/gala-gopher"
tar -C "$top/stage" -cf - "gala-gopher-$version" | gzip -1 > "$top/SOURCES/gala-gopher-$version.tar.gz"
rm -rf "$top/stage"

rpmbuild -bb --quiet \
  --define "_topdir $top" \
  --define "_tmppath $top/tmp" \
  --define "gg_version $version" \
  --define "gg_release $release" \
  --define "gg_glibc $glibc" \
  "$repo/gala-gopher.spec" >&2

rpm_file=$(find "$top/RPMS" -name "gala-gopher-$version-$release*.rpm" | head -n1)
if [ -z "$rpm_file" ]; then
  echo "rpm.sh: rpmbuild produced no package under $top/RPMS" >&2
  exit 1
fi
cp "$rpm_file" "$out/"
rm -rf "$top/BUILD" "$top/BUILDROOT" "$top/tmp"
t1=$(date +%s%N)
echo "rpm.sh: built in $(( (t1 - t0) / 1000000 )) ms" >&2
echo "$out/$(basename "$rpm_file")"
