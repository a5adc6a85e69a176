#!/usr/bin/env bash
# Records the http2 parser's fixtures from real peers: curl (nghttp2) and a Go net/http client
# against a Go h2c server, and a Go gRPC client against a Go gRPC server, through the loopback
# recording proxy (../record.ts). Each client's own tally goes next to its fixture as
# <name>.expect.json: the tests compare the parser with what the client saw.
#   Needs: go (>= 1.24), curl with HTTP/2, bun. Run from anywhere: testdata/http2/record.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
record="$here/../record.ts"
export PATH=$PATH:/usr/local/go/bin
bin=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$bin"; }
trap cleanup EXIT
(cd "$here" && go build -o "$bin/peers" .)

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; echo "port $1 not up" >&2; exit 1; }
start() { "$@" & pids+=($!); }
proxy() { start bun "$record" "$1" "$2" "$here/$3.jsonl"; wait_port "$1"; }

# curl writes "<method> <url> <status>" per request; this turns those lines into a tally.
tally_curl() {
  awk '{ split($2, u, "?"); sub(/^http:\/\/[^\/]*/, "", u[1]); api = $1 " " u[1]; n[api]++;
         if ($3 >= 400 && $3 < 500) c[api]++; if ($3 >= 500) s[api]++ }
       END { printf "{"; sep = ""; for (a in n) { printf "%s\n  \"%s\": {\"count\": %d, \"client\": %d, \"server\": %d}", sep, a, n[a], c[a] + 0, s[a] + 0; sep = "," } print "\n}" }'
}

# 1. curl over h2c, one request per connection (curl 7.88.1 fails with "Error in the HTTP2
#    framing layer" when it reuses an h2c prior-knowledge connection, against any server).
start "$bin/peers" h2c-server 127.0.0.1:38201
wait_port 38201
proxy 38202 38201 curl
w='%{method} %{url_effective} %{http_code}\n'
{
  for i in $(seq 10); do curl -s --http2-prior-knowledge -w "$w" -o /dev/null "http://127.0.0.1:38202/ok?i=$i"; done
  for p in missing missing missing fail fail big big; do curl -s --http2-prior-knowledge -w "$w" -o /dev/null "http://127.0.0.1:38202/$p"; done
  head -c 50000 /dev/zero | tr '\0' x | curl -s --http2-prior-knowledge -w "$w" -o /dev/null --data-binary @- http://127.0.0.1:38202/echo
} | tally_curl > "$here/curl.expect.json"
sleep 0.3

# 2. Go's HTTP/2 client, 8 concurrent workers on one connection, announcing
#    SETTINGS_HEADER_TABLE_SIZE 256 (the server's encoder must shrink its table).
start "$bin/peers" h2c-server 127.0.0.1:38203
wait_port 38203
proxy 38204 38203 go-client
"$bin/peers" h2-client 127.0.0.1:38204 256 > "$here/go-client.expect.json"
sleep 0.3

# 3. gRPC: unary, server/client/bidi streaming, status errors, an unimplemented method.
start "$bin/peers" grpc-server 127.0.0.1:38205
wait_port 38205
proxy 38206 38205 grpc
"$bin/peers" grpc-client 127.0.0.1:38206 > "$here/grpc.expect.json"
sleep 0.3
wc -l "$here"/*.jsonl
