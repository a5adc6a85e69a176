#!/usr/bin/env bash
# Records the mongo parser's fixture from a real server speaking the MongoDB wire protocol:
# FerretDB 1.24 (a Go module; MongoDB itself is not packaged by Debian) over a PostgreSQL 15
# started in a temporary directory, and the official Go driver (main.go), through the
# loopback recording proxy (../record.ts). The client's own tally goes to client.expect.json.
#   Needs: go (>= 1.24), PostgreSQL 15 (/usr/lib/postgresql/15/bin), bun; run as root (the
#   database runs as the postgres user). FERRETDB=<path> skips building FerretDB.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export PATH=$PATH:/usr/local/go/bin
pgbin=/usr/lib/postgresql/15/bin
tmp=$(mktemp -d)
chmod 755 "$tmp"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$tmp/pg/postmaster.pid" ] && su postgres -c "$pgbin/pg_ctl -D $tmp/pg -m fast stop" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
wait_port() { for _ in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 not up" >&2; exit 1; }

ferretdb=${FERRETDB:-}
if [ -z "$ferretdb" ]; then
  # FerretDB's build reads its version from build/version/version.txt, absent from the module.
  (cd "$tmp" && go mod download -json github.com/FerretDB/FerretDB@v1.24.0 > mod.json)
  src=$(sed -n 's/.*"Dir": "\(.*\)".*/\1/p' "$tmp/mod.json")
  cp -r "$src" "$tmp/ferretsrc" && chmod -R u+w "$tmp/ferretsrc"
  echo v1.24.0 > "$tmp/ferretsrc/build/version/version.txt"
  (cd "$tmp/ferretsrc" && go build -o "$tmp/ferretdb" ./cmd/ferretdb)
  ferretdb=$tmp/ferretdb
fi
(cd "$here" && go build -o "$tmp/client" .)

mkdir "$tmp/pg" && chown postgres "$tmp/pg"
su postgres -c "$pgbin/initdb -A trust -U postgres -D $tmp/pg" >/dev/null
su postgres -c "$pgbin/pg_ctl -D $tmp/pg -o '-p 54329 -k $tmp/pg -c listen_addresses=127.0.0.1' -l $tmp/pg/log start" >/dev/null
wait_port 54329
su postgres -c "$pgbin/createdb -h 127.0.0.1 -p 54329 ferretdb"
"$ferretdb" --handler=postgresql --postgresql-url=postgres://postgres@127.0.0.1:54329/ferretdb \
  --listen-addr=127.0.0.1:27117 --telemetry=disable --state-dir="$tmp" --log-level=error &
pids+=($!)
wait_port 27117
bun "$here/../record.ts" 27118 27117 "$here/client.jsonl" &
pids+=($!)
wait_port 27118
"$tmp/client" 127.0.0.1:27118 > "$here/client.expect.json"
sleep 0.3
wc -l "$here/client.jsonl"
