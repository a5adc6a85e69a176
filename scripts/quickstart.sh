#!/usr/bin/env bash
# Sets up this machine and starts the agent with baseinfo (cpu, mem) running:
# installs Bun and the dependencies, builds dist/gala-gopher, installs the default
# configuration under /etc/gala-gopher (keeping an existing one) and starts the agent
# in the background. Then: curl localhost:8888/metrics
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '\n==> %s\n' "$*"; }

if ! command -v bun >/dev/null 2>&1; then
  say "installing Bun (npm i -g bun)"
  npm i -g bun
fi
say "installing dependencies"
bun install --frozen-lockfile
say "building dist/gala-gopher"
bun run build

say "installing configuration in /etc/gala-gopher"
install -d -m 0755 /etc/gala-gopher
[ -f /etc/gala-gopher/gala-gopher.conf ] || install -m 0640 rpm/gala-gopher.conf /etc/gala-gopher/gala-gopher.conf
if ! grep -qv '^\s*\(#\|$\)' /etc/gala-gopher/probes.init 2>/dev/null; then
  install -m 0640 rpm/probes.init /etc/gala-gopher/probes.init
  echo 'baseinfo {"cmd":{"probe":["cpu","mem"]},"params":{"report_period":5},"state":"running"}' >> /etc/gala-gopher/probes.init
fi

if [ -f /var/run/gala_gopher/gala-gopher.pid ] && kill -0 "$(cat /var/run/gala_gopher/gala-gopher.pid)" 2>/dev/null; then
  say "stopping the running agent (pid $(cat /var/run/gala_gopher/gala-gopher.pid))"
  kill "$(cat /var/run/gala_gopher/gala-gopher.pid)"
  for _ in $(seq 50); do [ -f /var/run/gala_gopher/gala-gopher.pid ] || break; sleep 0.1; done
fi
say "starting gala-gopher (log: /var/log/gala-gopher/debug/gopher.log)"
install -d -m 0750 /var/log/gala-gopher
nohup ./dist/gala-gopher >/var/log/gala-gopher/stdout.log 2>&1 &
for _ in $(seq 100); do
  if curl -fsS localhost:8888/metrics 2>/dev/null | grep -q '^gala_gopher_mem_'; then
    say "gala-gopher is running (pid $!): curl localhost:8888/metrics ; curl localhost:9999/baseinfo"
    exit 0
  fi
  sleep 0.1
done
echo "gala-gopher did not serve metrics within 10 s; see /var/log/gala-gopher/stdout.log" >&2
exit 1
