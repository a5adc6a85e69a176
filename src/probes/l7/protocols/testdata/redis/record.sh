#!/usr/bin/env bash
# Records the Redis fixtures of this folder from real traffic: a private redis-server on a
# free loopback port and real clients (redis-cli --pipe, redis-cli, redis-benchmark)
# going through testdata/record.ts. What each fixture must count comes from the server,
# not from the parser: INFO commandstats (calls + rejected_calls per command, CONFIG
# RESETSTAT before each run) and INFO errorstats, into expected.json. Commands the server
# does not know are not in commandstats: the fixtures name theirs in "unknownCommands".
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
record="$here/../record.ts"
dir="$(mktemp -d /tmp/l7-redis-rec.XXXXXX)"
. "$here/../record-lib.sh"
server=$(free_port); proxy=$(free_port)
redis-server --bind 127.0.0.1 --port "$server" --save "" --appendonly no --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
trap 'redis-cli -p "$server" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
for _ in $(seq 50); do redis-cli -p "$server" ping >/dev/null 2>&1 && break; sleep 0.1; done
expected="{}"

# run <fixture> <unknown-commands> <command…>
run() {
  local name="$1" unknown="$2"; shift 2
  redis-cli -p "$server" config resetstat >/dev/null
  bun "$record" "$proxy" "$server" "$here/$name.jsonl" 2>/dev/null & local rec=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$proxy) 2>/dev/null && break; sleep 0.1; done
  sleep 0.1; : > "$here/$name.jsonl"   # the readiness probe was a connection without bytes
  "$@"
  sleep 0.5; kill $rec; wait $rec 2>/dev/null || true
  redis-cli -p "$server" info commandstats > "$dir/cmd.txt"
  redis-cli -p "$server" info errorstats > "$dir/err.txt"
  expected=$(python3 - "$expected" "$name" "$unknown" "$dir/cmd.txt" "$dir/err.txt" <<'PY'
import json, re, sys
d = json.loads(sys.argv[1])
apis = {}
for m in re.finditer(r"cmdstat_([^:]+):calls=(\d+),.*?rejected_calls=(\d+)", open(sys.argv[4]).read()):
    name = m.group(1).upper().replace("|", " ")
    n = int(m.group(2)) + int(m.group(3))
    if name == "CONFIG RESETSTAT": n -= 1  # ours, sent directly before the run
    if n: apis[name] = n
unknown = int(sys.argv[3])
errors = sum(int(x) for x in re.findall(r"errorstat_[^:]+:count=(\d+)", open(sys.argv[5]).read()))
d[sys.argv[2]] = {"countedBy": "redis INFO commandstats/errorstats", "requests": sum(apis.values()) + unknown, "unknownCommands": unknown, "errors": errors, "apis": apis}
print(json.dumps(d, indent=1, sort_keys=True))
PY
)
  echo "$name: $(python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]]["requests"])' "$expected" "$name") requests by the server's count"
}

# 1. redis-cli --pipe: 1000 SETs in RESP, written in 16 KiB writes; redis-cli adds its closing ECHO
python3 -c '
import sys
for i in range(1000):
    k, v = f"key:{i}", f"value:{i}"
    sys.stdout.write(f"*3\r\n$3\r\nSET\r\n${len(k)}\r\n{k}\r\n${len(v)}\r\n{v}\r\n")' > "$dir/pipe.txt"
run redis-cli-pipe 0 bash -c "redis-cli -p $proxy --pipe < $dir/pipe.txt"

# 2. redis-cli --pipe with CLIENT REPLY SKIP / OFF / ON (commands without replies)
printf 'SET x 1\r\nCLIENT REPLY SKIP\r\nSET a 1\r\nGET a\r\nCLIENT REPLY OFF\r\nSET b 2\r\nINCR c\r\nCLIENT REPLY ON\r\nGET b\r\n' > "$dir/reply.txt"
run redis-cli-pipe-reply 0 bash -c "redis-cli -p $proxy --pipe < $dir/reply.txt"

# 3. redis-cli reading commands from stdin: every reply type, errors, a transaction, RESP3
cat > "$dir/session.txt" <<'CMDS'
SET k v
GET k
GET missing
INCR n
INCR k
LPUSH l a b c
LRANGE l 0 -1
HSET h f1 v1 f2 v2
HGETALL h
NOSUCHCOMMAND x
GET
MULTI
SET t 1
INCR t
EXEC
CLIENT SETNAME recorder
CONFIG GET maxmemory
SADD s a b
SMEMBERS s
EXISTS k l nothere
HELLO 3
HGETALL h
SMEMBERS s
ZADD z 1 a 2 b
ZRANGE z 0 -1 WITHSCORES
DEL k l h s z t n
PING
CMDS
run redis-cli-session 1 bash -c "redis-cli -p $proxy < $dir/session.txt > /dev/null"

# 4. big values: 53 KB written with -x, read back (bulk strings larger than the capture)
head -c 40000 /dev/urandom | base64 -w0 > "$dir/big.txt"
run redis-cli-big 0 bash -c "redis-cli -p $proxy -x SET big < $dir/big.txt >/dev/null; redis-cli -p $proxy GET big >/dev/null; redis-cli -p $proxy STRLEN big >/dev/null"

# 5. pub/sub: a RESP2 subscriber to two channels, a RESP3 one, messages published meanwhile
run redis-cli-pubsub 0 bash -c "
  (timeout 2 redis-cli -p $proxy SUBSCRIBE ch1 ch2 >/dev/null || true) &
  (timeout 2 redis-cli -3 -p $proxy SUBSCRIBE ch1 >/dev/null || true) &
  sleep 0.8
  for i in 1 2 3; do redis-cli -p $proxy PUBLISH ch1 hello-\$i >/dev/null; redis-cli -p $proxy PUBLISH ch2 bye-\$i >/dev/null; done
  wait"

# 6. redis-benchmark: small runs, one request at a time and pipelined by 16
run redis-benchmark 0 bash -c "redis-benchmark -p $proxy -n 100 -c 2 -t ping,set,get,incr,lpush,rpush,lpop,sadd,hset,mset,lrange_100 -q >/dev/null; redis-benchmark -p $proxy -n 160 -c 2 -P 16 -t set,get -q >/dev/null"

echo "$expected" > "$here/expected.json"
ls -la "$here"
