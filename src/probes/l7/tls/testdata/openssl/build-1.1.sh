#!/usr/bin/env bash
# Builds OpenSSL 1.1.1 (libssl.so.1.1, libcrypto.so.1.1) for the l7 TLS tests, since Debian 12
# no longer packages it. The sources come from the crates registry through cargo: the
# `openssl-src` crate, version 111.x, bundles the OpenSSL 1.1.1 release tree. Result in
# $1 (default /var/tmp/gg-openssl-1.1.1): lib/, include/; built once, reused after.
# Exit 3 with a reason on stderr when a tool is missing or the registry refuses.
# `build-1.1.sh --check [OUT]` stops after the (fast, cached) fetch: exit 0 when a build can go on.
set -euo pipefail
CHECK=0
if [[ ${1:-} == --check ]]; then CHECK=1; shift; fi
OUT=${1:-/var/tmp/gg-openssl-1.1.1}
CRATE_VERSION=111.28.2+1.1.1w
if [[ -f $OUT/lib/libssl.so.1.1 && -f $OUT/include/openssl/ssl.h ]]; then [[ $CHECK == 1 ]] || echo "$OUT"; exit 0; fi
for t in cargo make perl cc; do
  command -v $t >/dev/null || { echo "build-1.1.sh: $t not installed" >&2; exit 3; }
done
work=$(mktemp -d /var/tmp/gg-openssl-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/fetch/src"
cat >"$work/fetch/Cargo.toml" <<TOML
[package]
name = "gg-fetch-openssl"
version = "0.0.0"
edition = "2021"
[dependencies]
openssl-src = "=$CRATE_VERSION"
TOML
: >"$work/fetch/src/lib.rs"
if ! (cd "$work/fetch" && cargo fetch --quiet) 2>"$work/fetch.err"; then
  echo "build-1.1.sh: cargo could not fetch openssl-src $CRATE_VERSION: $(tail -3 "$work/fetch.err")" >&2
  exit 3
fi
src=$(cd "$work/fetch" && cargo metadata --format-version 1 --quiet | perl -ne 'print $1 if /"manifest_path":"([^"]*openssl-src-[^"]*)\/Cargo\.toml"/')
[[ -d $src/openssl ]] || { echo "build-1.1.sh: openssl-src has no openssl/ tree at $src" >&2; exit 3; }
if [[ $CHECK == 1 ]]; then exit 0; fi
cp -r "$src/openssl" "$work/openssl"
cd "$work/openssl"
./config shared no-tests --prefix="$OUT" --openssldir="$OUT/ssl" -Wl,-rpath,"$OUT/lib" >/dev/null
make -j"$(nproc)" build_libs >/dev/null 2>"$work/make.err" || { tail -20 "$work/make.err" >&2; exit 1; }
mkdir -p "$OUT/lib" "$OUT/include"
cp -a libssl.so* libcrypto.so* "$OUT/lib/"
cp -r include/openssl "$OUT/include/"
echo "$OUT"
