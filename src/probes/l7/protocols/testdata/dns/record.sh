#!/usr/bin/env bash
# Records the DNS fixtures from real traffic: glibc's resolver (getent ahosts / ahostsv4:
# A and AAAA in parallel on one socket, REFUSED retried, a truncated UDP answer retried over
# TCP, `options use-vc` for TCP, `options edns0` for OPT records) against a real dnsmasq,
# through the recording relays (record-udp.ts for UDP, record.ts for TCP).
# Runs as root in its own mount and network namespaces, so the relays can take port 53 on
# loopback and /etc/resolv.conf can be replaced for this script only.
#
#   bash src/probes/l7/protocols/testdata/dns/record.sh
#
# Writes udp.jsonl, tcp.jsonl and dnsmasq-queries.log (dnsmasq's own log of the queries it
# received and its first answer line for each: the independent count the tests compare with).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" != "--inside" ]; then
  [ "$(id -u)" = 0 ] || { echo "record.sh: needs root (namespaces, port 53)" >&2; exit 1; }
  command -v dnsmasq >/dev/null || { echo "record.sh: dnsmasq is not installed (apt-get install dnsmasq-base)" >&2; exit 1; }
  exec unshare --mount --net bash "$0" --inside
fi
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; umount /etc/resolv.conf 2>/dev/null || true; rm -rf "$work"' EXIT
ip link set lo up
# Non-loopback addresses, so getaddrinfo's AI_ADDRCONFIG asks for A (and AAAA).
ip addr add 10.9.9.9/32 dev lo
ip addr add fd09::9/128 dev lo nodad
for i in $(seq 1 60); do echo "10.0.1.$i big.test"; done >"$work/big.hosts"
resolv() {
  mountpoint -q /etc/resolv.conf && umount /etc/resolv.conf
  printf 'nameserver 127.0.0.1\n%s\n' "${1:-}" >"$work/resolv.conf"
  mount --bind "$work/resolv.conf" /etc/resolv.conf
}
resolv ""

dnsmasq --no-daemon --port 5300 --listen-address 127.0.0.1 --bind-interfaces --no-resolv --no-hosts --user=root \
  --address=/example.test/10.0.0.1 --address=/example.test/fd00::1 --address=/nx.test/ \
  --addn-hosts="$work/big.hosts" --log-queries=extra --log-facility=- >"$work/dnsmasq.log" 2>&1 &
bun "$here/../record-udp.ts" 53 5300 "$here/udp.jsonl" &
bun "$here/../record.ts" 53 5300 "$here/tcp.jsonl" &
sleep 1.5

q() { getent "$@" >/dev/null || true; }
for _ in $(seq 10); do q ahosts www.example.test; done
for _ in $(seq 5); do q ahosts api.example.test; done
for _ in $(seq 2); do q ahosts WWW.Example.TEST; done
for _ in $(seq 4); do q ahosts missing.nx.test; done
for _ in $(seq 3); do q ahostsv4 other.org; done
q ahostsv4 big.test
resolv "options edns0"
for _ in $(seq 5); do q ahosts mail.example.test; done
for _ in $(seq 2); do q ahosts gone.nx.test; done
resolv "options use-vc"
for _ in $(seq 5); do q ahosts tcp.example.test; done
for _ in $(seq 2); do q ahosts tcp.nx.test; done
sleep 0.5
grep -E '^[A-Z][a-z]{2} +[0-9]+ [0-9:]+ dnsmasq\[[0-9]+\]: [0-9]+ ' "$work/dnsmasq.log" | sed -E 's/^.*dnsmasq\[[0-9]+\]: //; s#127\.0\.0\.1/[0-9]+ ##' |
  awk '$2 ~ /^query\[/ || !seen[$1]++' >"$here/dnsmasq-queries.log"
echo "recorded $(wc -l <"$here/udp.jsonl") UDP and $(wc -l <"$here/tcp.jsonl") TCP chunks; dnsmasq logged $(grep -c 'query\[' "$here/dnsmasq-queries.log") queries" >&2
