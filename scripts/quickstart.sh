#!/usr/bin/env bash
# Sets up this machine and starts the agent with baseinfo (cpu, mem) running, from a
# fresh Debian/Ubuntu or openEuler/Fedora/RHEL install:
#   1. installs what the build needs and is missing, with the system's package manager
#      (apt-get, dnf or yum): clang, llvm, the libbpf headers and library, bpftool,
#      Node.js + npm (to install Bun), curl, ca-certificates, git; then Bun (npm i -g bun);
#   2. installs the dependencies and builds dist/gala-gopher;
#   3. installs the default configuration under /etc/gala-gopher (keeping an existing one);
#   4. starts the agent in the background. Then: curl localhost:8888/metrics
# Every step is skipped when it is already done, so it can be run again. Needs root (or
# sudo) only when something must be installed, and for /etc and /var/log.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\n==> %s\n' "$*"; }
die() { printf '\nquickstart: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "installing needs root: run this script as root (or install sudo)"
  fi
}

# ---- the system: which package manager, and which package gives each missing piece
[ -r /etc/os-release ] || die "/etc/os-release is missing: cannot tell which system this is (supported: Debian, Ubuntu, openEuler, Fedora, RHEL and their derivatives)"
os_id=$(. /etc/os-release && echo "${ID:-}")
os_like=$(. /etc/os-release && echo "${ID_LIKE:-}")
os_name=$(. /etc/os-release && echo "${PRETTY_NAME:-$os_id}")
family=""
for id in $os_id $os_like; do
  case "$id" in
    debian|ubuntu) family=deb; break ;;
    openEuler|openeuler|fedora|rhel|centos|rocky|almalinux|ol|amzn) family=rpm; break ;;
  esac
done
[ -n "$family" ] || die "unsupported system '$os_name' (ID=$os_id ID_LIKE=$os_like): this script knows apt-get on Debian/Ubuntu and dnf/yum on openEuler/Fedora/RHEL; install clang, llvm, libbpf headers, bpftool, Node.js, npm, curl and git by hand, then run: npm i -g bun && bun install && bun run build"

case "$(uname -m)" in
  x86_64)
    # Every Bun x64 runtime needs x86-64-v2 (SSE4.2, POPCNT); without them it dies with SIGILL.
    for flag in sse4_2 popcnt; do
      grep -qw "$flag" /proc/cpuinfo 2>/dev/null || die "this CPU lacks '$flag', which the Bun runtime needs (x86-64-v2: Intel Nehalem / AMD Bulldozer or newer; in a VM, give the guest a CPU model such as Nehalem or host instead of qemu64)"
    done ;;
  aarch64) ;;
  *) die "unsupported architecture $(uname -m) (x86_64 and aarch64 only)" ;;
esac

has_lib() { ldconfig -p 2>/dev/null | grep -q "^[[:space:]]*$1 " || /sbin/ldconfig -p 2>/dev/null | grep -q "^[[:space:]]*$1 "; }
has_any() { for c in "$@"; do command -v "$c" >/dev/null 2>&1 && return 0; done; return 1; }

if [ "$family" = deb ]; then
  p_clang=clang p_llvm=llvm p_libbpf=libbpf-dev p_bpftool=bpftool p_node=nodejs p_npm=npm
  p_curl=curl p_ca=ca-certificates p_git=git p_elf=libelf1 p_z=zlib1g
else
  p_clang=clang p_llvm=llvm p_libbpf=libbpf-devel p_bpftool=bpftool p_node=nodejs p_npm=npm
  p_curl=curl p_ca=ca-certificates p_git=git p_elf=elfutils-libelf p_z=zlib
fi
missing=()
need() { missing+=("$1"); }
has_any clang clang-16 clang-15 clang-14 || need "$p_clang"
has_any llvm-strip llvm-strip-16 llvm-strip-15 llvm-strip-14 || need "$p_llvm"
{ [ -f /usr/include/bpf/bpf_helpers.h ] && has_lib libbpf.so.1; } || need "$p_libbpf"
has_any bpftool || [ -x /usr/sbin/bpftool ] || need "$p_bpftool"
has_lib libelf.so.1 || need "$p_elf"
has_lib libz.so.1 || need "$p_z"
has_any curl || need "$p_curl"
[ -d /etc/ssl/certs ] && [ -n "$(ls -A /etc/ssl/certs 2>/dev/null)" ] || need "$p_ca"
has_any git || need "$p_git"
if ! has_any bun; then
  has_any node nodejs || need "$p_node"
  has_any npm || need "$p_npm"
fi

if [ ${#missing[@]} -gt 0 ]; then
  say "installing on $os_name: ${missing[*]}"
  if [ "$family" = deb ]; then
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
  elif command -v dnf >/dev/null 2>&1; then
    as_root dnf install -y "${missing[@]}"
  elif command -v yum >/dev/null 2>&1; then
    as_root yum install -y "${missing[@]}"
  else
    die "'$os_name' is an RPM system, but neither dnf nor yum is here"
  fi
else
  say "system packages: everything the build needs is installed"
fi

if ! has_any bun; then
  say "installing Bun (npm i -g bun)"
  as_root npm i -g bun
  hash -r
fi
bun --version >/dev/null 2>&1 || die "bun does not run after 'npm i -g bun' (is npm's global bin directory, $(npm prefix -g 2>/dev/null)/bin, on PATH?)"
say "Bun $(bun --version)"

say "installing dependencies"
bun install --frozen-lockfile
say "building dist/gala-gopher"
bun run build

say "installing configuration in /etc/gala-gopher"
as_root install -d -m 0755 /etc/gala-gopher
[ -f /etc/gala-gopher/gala-gopher.conf ] || as_root install -m 0640 rpm/gala-gopher.conf /etc/gala-gopher/gala-gopher.conf
if ! grep -qv '^\s*\(#\|$\)' /etc/gala-gopher/probes.init 2>/dev/null; then
  as_root install -m 0640 rpm/probes.init /etc/gala-gopher/probes.init
  echo 'baseinfo {"cmd":{"probe":["cpu","mem"]},"params":{"report_period":5},"state":"running"}' | as_root tee -a /etc/gala-gopher/probes.init >/dev/null
fi

pidfile=/var/run/gala_gopher/gala-gopher.pid
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  say "stopping the running agent (pid $(cat "$pidfile"))"
  as_root kill "$(cat "$pidfile")"
  for _ in $(seq 50); do [ -f "$pidfile" ] || break; sleep 0.1; done
fi
say "starting gala-gopher (log: /var/log/gala-gopher/debug/gopher.log)"
as_root install -d -m 0750 /var/log/gala-gopher
as_root sh -c 'nohup ./dist/gala-gopher </dev/null >/var/log/gala-gopher/stdout.log 2>&1 &'
for _ in $(seq 100); do
  if curl -fsS localhost:8888/metrics 2>/dev/null | grep -q '^gala_gopher_mem_'; then
    say "gala-gopher is running (pid $(cat "$pidfile" 2>/dev/null || echo '?')): curl localhost:8888/metrics ; curl localhost:9999/baseinfo"
    exit 0
  fi
  sleep 0.1
done
die "gala-gopher did not serve metrics within 10 s; see /var/log/gala-gopher/stdout.log"
