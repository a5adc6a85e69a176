#!/usr/bin/env bash
# Records the HTTP/1.x fixtures of this folder from real traffic: a private nginx on
# loopback (static files, a 404, gzip = chunked for HTTP/1.1 and connection-close for
# HTTP/1.0, a proxied POST with 100-continue), real clients (curl, ab, Bun fetch, a raw
# pipelining socket) going through testdata/record.ts. The request count and the 4xx/5xx
# count of each fixture come from nginx's access log, not from the parser, into
# expected.json. Run as root from anywhere: bash .../testdata/http/record.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
record="$here/../record.ts"
dir="$(mktemp -d /tmp/l7-http-rec.XXXXXX)"
trap 'kill $(cat "$dir/nginx.pid" 2>/dev/null) 2>/dev/null || true; rm -rf "$dir"' EXIT
. "$here/../record-lib.sh"
front=$(free_port); back=$(free_port); proxy=$(free_port)
mkdir -p "$dir/www/gz" "$dir/tmp"
python3 - "$dir/www" <<'PY'
import sys, random
root = sys.argv[1]
random.seed(15)
open(f"{root}/index.html", "w").write("<!doctype html><title>l7</title>" + "<p>hello</p>" * 40 + "\n")
open(f"{root}/big.bin", "wb").write(bytes(random.getrandbits(8) for _ in range(120_000)))
words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta"]
open(f"{root}/gz/text.txt", "w").write(" ".join(random.choice(words) for _ in range(60_000)) + "\n")
PY
cat > "$dir/nginx.conf" <<CONF
user root;
worker_processes 1;
error_log $dir/error.log;
pid $dir/nginx.pid;
events { worker_connections 256; }
http {
  log_format l7 '\$server_port \$request_method \$uri \$status';
  access_log $dir/access.log l7;
  client_body_temp_path $dir/tmp/body; proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fcgi; uwsgi_temp_path $dir/tmp/uwsgi; scgi_temp_path $dir/tmp/scgi;
  keepalive_requests 100000;
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$front;
    root $dir/www;
    location /gz/ { gzip on; gzip_types text/plain; gzip_min_length 1; gzip_http_version 1.0; default_type text/plain; }
    location /echo { proxy_pass http://127.0.0.1:$back; proxy_http_version 1.1; }
  }
  server { listen 127.0.0.1:$back; location / { return 200 "posted\n"; } }
}
CONF
nginx -p "$dir" -c "$dir/nginx.conf"
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$front/index.html" && break; sleep 0.1; done
base="http://127.0.0.1:$proxy"
expected="{}"

# run <fixture> <command…>: records the command's traffic, then counts nginx's log lines for it
run() {
  local name="$1"; shift
  : > "$dir/access.log"
  kill -USR1 "$(cat "$dir/nginx.pid")"; sleep 0.2
  bun "$record" "$proxy" "$front" "$here/$name.jsonl" 2>/dev/null & local rec=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$proxy) 2>/dev/null && break; sleep 0.1; done
  : > "$here/$name.jsonl"   # the readiness probe above was a connection without bytes: start clean
  "$@"
  sleep 0.5; kill $rec; wait $rec 2>/dev/null || true
  expected=$(python3 - "$expected" "$name" "$front" "$dir/access.log" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
lines = [l.split() for l in open(sys.argv[4]) if l.split()[0] == sys.argv[3]]
apis = {}
for _, method, uri, status in lines:
    apis[f"{method} {uri}"] = apis.get(f"{method} {uri}", 0) + 1
d[sys.argv[2]] = {
    "countedBy": "nginx access log",
    "requests": len(lines),
    "clientErrors": sum(1 for l in lines if 400 <= int(l[3]) < 500),
    "serverErrors": sum(1 for l in lines if int(l[3]) >= 500),
    "apis": apis,
}
print(json.dumps(d, indent=1, sort_keys=True))
PY
)
  echo "$name: $(grep -c "^$front " "$dir/access.log") requests in nginx's log"
}

# 1. curl, one keep-alive connection: 300 x 200 (query strings vary) and 30 x 404
{ for i in $(seq 1 300); do echo "url = \"$base/index.html?i=$i\""; echo 'output = "/dev/null"'; if (( i % 10 == 0 )); then echo "url = \"$base/missing-$i\""; echo 'output = "/dev/null"'; fi; done; } > "$dir/curl.cfg"
run nginx-curl-keepalive curl -s -K "$dir/curl.cfg"

# 2. ab, keep-alive, 4 concurrent connections
run nginx-ab bash -c "ab -q -k -n 200 -c 4 $base/index.html | grep -E '^(Complete|Failed|Non-2xx)'"

# 3. curl: big Content-Length body, HEAD, gzip (chunked), 100-continue POST, then HTTP/1.0 gzip (ends at close)
head -c 5000 /dev/zero | tr '\0' 'p' > "$dir/post.txt"
run nginx-curl-mixed bash -c "curl -s -o /dev/null $base/big.bin --next -s -I -o /dev/null $base/index.html --next -s --compressed -o /dev/null $base/gz/text.txt --next -s -o /dev/null -H 'Expect: 100-continue' --data-binary @$dir/post.txt $base/echo --next -s -o /dev/null -X DELETE $base/index.html; curl -s --http1.0 --compressed -o /dev/null $base/gz/text.txt"

# 4. Bun fetch: keep-alive pool, GET 200/404, POST with bodies, HEAD
cat > "$dir/fetch.ts" <<TS
const base = "$base";
for (let i = 0; i < 40; i++) await (await fetch(base + (i % 4 === 3 ? "/nope" : "/index.html") + "?n=" + i)).arrayBuffer();
for (let i = 0; i < 5; i++) await (await fetch(base + "/echo", { method: "POST", body: "x".repeat(100 * (i + 1)) })).arrayBuffer();
await (await fetch(base + "/index.html", { method: "HEAD" })).arrayBuffer();
await (await fetch(base + "/gz/text.txt", { headers: { "accept-encoding": "gzip" } })).arrayBuffer();
TS
run nginx-bun-fetch bun "$dir/fetch.ts"

# 5. pipelining: 20 requests in one write before any response (GET, HEAD, 404), the last one closes
cat > "$dir/pipeline.ts" <<TS
let reqs = "";
for (let i = 0; i < 20; i++) {
  const method = i % 5 === 1 ? "HEAD" : "GET";
  const path = i % 5 === 2 ? "/missing" : "/index.html";
  reqs += method + " " + path + "?p=" + i + " HTTP/1.1\r\nHost: l7\r\n" + (i === 19 ? "Connection: close\r\n" : "") + "\r\n";
}
const done = Promise.withResolvers<void>();
await Bun.connect({ hostname: "127.0.0.1", port: $proxy, socket: { open(s) { s.write(reqs); }, data() {}, close() { done.resolve(); } } });
await done.promise;
TS
run nginx-pipelined bun "$dir/pipeline.ts"

echo "$expected" > "$here/expected.json"
ls -la "$here"
