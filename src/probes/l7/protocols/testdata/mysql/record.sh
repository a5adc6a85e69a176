#!/usr/bin/env bash
# Regenerates the mysql parser's fixtures from a real MariaDB and real clients, through the
# recording proxy (../record.ts). Run as root; needs mariadb-server + mariadb-client, Go
# (the binary-protocol client in ./client, from the Go module proxy) and python3-venv (PyPI's
# mysql-connector-python for client.py). The server runs as
# `nobody` in a temporary datadir on 127.0.0.1 with its general query log on: the log is
# the independent count of the commands each client sent.
#
# Fixtures (one .jsonl each, every line one read of the proxy):
#   mariadb-cli   the mariadb client: `mariadb --force < simple.sql` (COM_QUERY, COM_INIT_DB,
#                 failing statements, a 100 kB row, 5000 rows, SQL-level PREPARE/EXECUTE),
#                 logging in as a mysql_native_password user; then `mariadb -e` as an ed25519
#                 user (an auth switch); expectation (expect.ts) from the command packets
#                 the client wrote and the errors it printed: mariadb-cli.expect.json
#   mariadb-compressed  `mariadb --compress`: CLIENT_COMPRESS, which the parser does not
#                 parse (no records)
#   go-binary     the Go client (client/main.go): COM_STMT_PREPARE/EXECUTE/CLOSE, binary
#                 result sets (MariaDB skipping cached metadata), multi-statements, COM_PING,
#                 errors; its own tally in go-binary.expect.json
#   python-classic  mysql-connector-python (pure, classic EOF packets; client.py): COM_STMT_RESET,
#                 COM_STMT_SEND_LONG_DATA, a cursor with COM_STMT_FETCH, COM_STATISTICS,
#                 COM_INIT_DB, COM_PING, COM_RESET_CONNECTION, COM_CHANGE_USER, LOAD DATA LOCAL INFILE; its own tally in python-classic.expect.json
#   big-packet    a 17 MB query and its 17 MB row (16 MiB continuation packets), gzipped;
#                 expectation from expect.ts
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export PATH="$PATH:/usr/local/go/bin"
. "$here/../record-lib.sh"

tmp="$(mktemp -d)"
chmod 755 "$tmp"
chown nobody "$tmp"
my_port="$(free_port)"
cleanup() {
  [[ -n "${proxy:-}" ]] && kill "$proxy" 2>/dev/null || true
  [[ -n "${server:-}" ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
mariadb-install-db --no-defaults --datadir="$tmp/data" --user=nobody --auth-root-authentication-method=socket --skip-test-db >/dev/null
runuser -u nobody -- mariadbd --no-defaults --datadir="$tmp/data" --socket="$tmp/sock" --port="$my_port" \
  --bind-address=127.0.0.1 --skip-name-resolve --skip-log-bin --max-allowed-packet=64M \
  --general-log --general-log-file="$tmp/general.log" --pid-file="$tmp/pid" 2>"$tmp/server.err" &
server=$!
for _ in $(seq 100); do [[ -S "$tmp/sock" ]] && break; sleep 0.1; done
mariadb --no-defaults -S "$tmp/sock" -uroot <<SQL
INSTALL SONAME 'auth_ed25519';
CREATE USER 'app'@'127.0.0.1' IDENTIFIED BY 'app-password';
CREATE USER 'edu'@'127.0.0.1' IDENTIFIED VIA ed25519 USING PASSWORD('edu-password');
CREATE USER 'other'@'127.0.0.1' IDENTIFIED BY 'other-password';
GRANT ALL ON *.* TO 'other'@'127.0.0.1';
GRANT ALL ON *.* TO 'app'@'127.0.0.1';
GRANT ALL ON *.* TO 'edu'@'127.0.0.1';
CREATE DATABASE test;
SQL

start_proxy "$my_port" "$here/mariadb-cli.jsonl"
mariadb --no-defaults -h127.0.0.1 -P"$port" -uapp -papp-password --force test < "$here/simple.sql" > /dev/null 2> "$tmp/cli.err" || true
mariadb --no-defaults -h127.0.0.1 -P"$port" -uedu -pedu-password -e "SELECT CURRENT_USER(); SELECT 1 FROM DUAL WHERE 1 = 0" > /dev/null 2>> "$tmp/cli.err"
stop_proxy
sleep 0.5
bun "$here/expect.ts" "$here/mariadb-cli.jsonl" "$tmp/cli.err" "$tmp/general.log" > "$here/mariadb-cli.expect.json"

# The compressed protocol is not parsed: this connection must yield no records.
start_proxy "$my_port" "$here/mariadb-compressed.jsonl"
mariadb --no-defaults -h127.0.0.1 -P"$port" -uapp -papp-password --compress -e "SELECT 1; SELECT REPEAT('c', 5000)" test > /dev/null
stop_proxy
cat "$tmp/cli.err"; cat "$here/mariadb-cli.expect.json"

start_proxy "$my_port" "$here/go-binary.jsonl"
(cd "$here/client" && GOFLAGS=-mod=mod go run . "app:app-password@tcp(127.0.0.1:$port)/test?multiStatements=true") > "$here/go-binary.expect.json"
stop_proxy
sleep 0.5
cat "$here/go-binary.expect.json"

start_proxy "$my_port" "$here/python-classic.jsonl"
python3 -m venv "$tmp/venv" && "$tmp/venv/bin/pip" install -q mysql-connector-python==26.10.0
printf '%s\n' '100,from a file,' '101,from a file too,' > "$tmp/items.csv"
chmod 644 "$tmp/items.csv"
"$tmp/venv/bin/python" "$here/client.py" "$port" "$tmp/items.csv" > "$here/python-classic.expect.json"
stop_proxy
cat "$here/python-classic.expect.json"
echo "command packets on the wire: $(bun "$here/expect.ts" "$here/python-classic.jsonl" /dev/null)"

start_proxy "$my_port" "$tmp/big-packet.jsonl"
python3 -c "print(\"SELECT LENGTH('\" + 'q' * 17000000 + \"') AS n, REPEAT('r', 17000000) AS big;\")" > "$tmp/big.sql"
mariadb --no-defaults -h127.0.0.1 -P"$port" -uapp -papp-password --max-allowed-packet=64M test < "$tmp/big.sql" | wc -c
stop_proxy
gzip -9 < "$tmp/big-packet.jsonl" > "$here/big-packet.jsonl.gz"
bun "$here/expect.ts" "$tmp/big-packet.jsonl" /dev/null > "$here/big-packet.expect.json"
cat "$here/big-packet.expect.json"
