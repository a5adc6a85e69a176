# Shell helpers the fixture recording scripts (*/record.sh) source: a free loopback port,
# and the recording proxy (record.ts) started in front of a server and stopped again.
#   . "$here/../record-lib.sh"
# Needs python3 (free_port) and bun (the proxy).

record_ts="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/record.ts"

# Prints a TCP port on 127.0.0.1 that nothing listens on now.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_proxy <server-port> <fixture.jsonl>: starts record.ts on a free port forwarding to the
# server and recording into the fixture; sets $proxy (its pid) and $port (where clients connect).
start_proxy() {
  port="$(free_port)"
  bun "$record_ts" "$port" "$1" "$2" 2>/dev/null &
  proxy=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return; sleep 0.1; done
  echo "proxy did not start" >&2
  exit 1
}

# Stops the proxy start_proxy started (after a moment for the last reads to be written).
stop_proxy() {
  sleep 0.3
  kill "$proxy"
  wait "$proxy" 2>/dev/null || true
  proxy=
}
