#!/usr/bin/env bash
# Regenerates the pgsql parser's fixtures from a real PostgreSQL 15 and real clients, through
# the recording proxy (../record.ts). Run as root from anywhere; needs postgresql-15 (initdb,
# postgres, psql, pgbench) and Go (the extended-protocol client in ./client, built from the Go
# module proxy). The server runs as `nobody` in a temporary directory on 127.0.0.1 with trust
# auth for `postgres` and scram-sha-256 for the role `scram`.
#
# Fixtures (one .jsonl each, every line one read of the proxy):
#   psql-simple   psql -f simple.sql (simple query protocol, failing statements, COPY in/out,
#                 a notice, an aborted transaction, a statement timeout), then psql -c with
#                 two statements in one Query
#   scram-ext     the Go client (client/main.go) logging in with SCRAM-SHA-256: extended
#                 protocol, a named prepared statement, pipeline mode with an error; its JSON
#                 tally is written to scram-ext.expect.json
#   pgbench-ext   pgbench -M extended, pgbench -M prepared, pgbench -M extended with
#                 \startpipeline/\endpipeline (libpq pipeline mode); transactions are in
#                 pgbench.out
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin=/usr/lib/postgresql/15/bin
export PATH="$PATH:/usr/local/go/bin"
. "$here/../record-lib.sh"

tmp="$(mktemp -d)"
chmod 755 "$tmp"
chown nobody "$tmp"
pg_port="$(free_port)"
cleanup() {
  [[ -n "${proxy:-}" ]] && kill "$proxy" 2>/dev/null || true
  runuser -u nobody -- "$bin/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
cd "$tmp"
echo scram-password > "$tmp/pw"
runuser -u nobody -- "$bin/initdb" -D "$tmp/data" -U postgres -A trust >/dev/null
cat > "$tmp/data/pg_hba.conf" <<HBA
local all all trust
host all scram 127.0.0.1/32 scram-sha-256
host all all 127.0.0.1/32 trust
HBA
runuser -u nobody -- "$bin/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $pg_port -k $tmp -c log_min_duration_statement=0 -c password_encryption=scram-sha-256" start >/dev/null
"$bin/psql" -h "$tmp" -p "$pg_port" -U postgres -d postgres -qc "CREATE ROLE scram LOGIN PASSWORD 'scram-password'; GRANT ALL ON SCHEMA public TO scram;"

start_proxy "$pg_port" "$here/psql-simple.jsonl"
"$bin/psql" "host=127.0.0.1 port=$port user=postgres dbname=postgres sslmode=prefer" -X -q -f "$here/simple.sql" >/dev/null 2>"$tmp/psql.err" || true
"$bin/psql" "host=127.0.0.1 port=$port user=postgres dbname=postgres" -X -q -c "SELECT 1; SELECT 2" >/dev/null
stop_proxy
echo "psql errors reported: $(grep -c ERROR "$tmp/psql.err")"

start_proxy "$pg_port" "$here/scram-ext.jsonl"
(cd "$here/client" && GOFLAGS=-mod=mod go run . "postgres://scram:scram-password@127.0.0.1:$port/postgres?sslmode=disable") > "$here/scram-ext.expect.json"
stop_proxy
cat "$here/scram-ext.expect.json"

"$bin/psql" -h "$tmp" -p "$pg_port" -U postgres -d postgres -qc "CREATE TABLE pgb (v int)"
printf '%s\n' '\set v random(1, 1000)' 'SELECT :v;' 'INSERT INTO pgb VALUES (:v);' 'SELECT count(*) FROM pgb;' > "$tmp/plain.sql"
printf '%s\n' '\set v random(1, 1000)' '\startpipeline' 'SELECT :v;' 'INSERT INTO pgb VALUES (:v);' 'SELECT count(*) FROM pgb;' '\endpipeline' > "$tmp/pipe.sql"
start_proxy "$pg_port" "$here/pgbench-ext.jsonl"
{
  "$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -M extended -t 20 -f "$tmp/plain.sql" postgres
  "$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -M prepared -t 20 -f "$tmp/plain.sql" postgres
  "$bin/pgbench" -h 127.0.0.1 -p "$port" -U postgres -n -M extended -t 20 -f "$tmp/pipe.sql" postgres
} 2>&1 | grep -E "query mode|transactions actually processed" > "$here/pgbench.out"
stop_proxy
cat "$here/pgbench.out"
echo "server log: $(grep -c 'duration: .* statement: ' "$tmp/server.log") simple statements, $(grep -c 'duration: .* execute ' "$tmp/server.log") executes, $(grep -c 'duration: .* parse ' "$tmp/server.log") parses, $(grep -c ' ERROR: ' "$tmp/server.log") errors"
cp "$tmp/server.log" /tmp/pgsql-server.log
