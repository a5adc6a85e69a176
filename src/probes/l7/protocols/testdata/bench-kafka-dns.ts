// Parse rate of the Kafka and DNS parsers on their recorded fixtures, per core (one thread,
// CPU time of this process): requests paired per CPU second. The baseline, measured in the
// same run, walks the same chunks without parsing (what feeding the chunks costs alone).
// Issue 15's goal: ≥ 100k requests/s per core (DeepFlow publishes ~90k).
//
//   bun src/probes/l7/protocols/testdata/bench-kafka-dns.ts [--seconds N]
import { join } from "node:path";
import type { L7Record, ProtocolParser, ProtocolSession, Transport } from "../../protocol.ts";
import { dnsParser } from "../dns.ts";
import { kafkaParser } from "../kafka.ts";
import { loadFixture, type Chunk } from "../test-replay.ts";

const args = process.argv.slice(2);
const at = args.indexOf("--seconds");
const seconds = at >= 0 ? Number(args[at + 1]) : 2;
if (!(seconds > 0)) {
  console.error("usage: bench-kafka-dns.ts [--seconds N] (N > 0)");
  process.exit(2);
}

const data = import.meta.dir;
const cases: { label: string; parser: ProtocolParser; transport: Transport; chunks: Chunk[] }[] = [
  { label: "kafka (kafkajs)", parser: kafkaParser, transport: "tcp", chunks: loadFixture(join(data, "kafka", "traffic.jsonl")) },
  { label: "kafka (java, flexible)", parser: kafkaParser, transport: "tcp", chunks: loadFixture(join(data, "kafka", "java-traffic.jsonl")) },
  { label: "dns udp", parser: dnsParser, transport: "udp", chunks: loadFixture(join(data, "dns", "udp.jsonl")) },
  { label: "dns tcp", parser: dnsParser, transport: "tcp", chunks: loadFixture(join(data, "dns", "tcp.jsonl")) },
];

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** One pass over the fixture: a session per connection, as the tracker keeps them. */
function pass(parser: ProtocolParser, transport: Transport, chunks: Chunk[], sessions: (ProtocolSession | undefined)[], out: L7Record[]): number {
  sessions.fill(undefined);
  let records = 0;
  for (const c of chunks) {
    let s = sessions[c.conn];
    if (!s) s = sessions[c.conn] = parser.session({ transport });
    if (c.dir === "req") s.request(c.bytes, c.bytes.length, c.t);
    else s.response(c.bytes, c.bytes.length, c.t);
    records += s.drain(out);
    out.length = 0;
  }
  return records;
}

/** The baseline: the same walk over the chunks, touching each one's first byte, no parsing. */
function walk(chunks: Chunk[]): number {
  let sum = 0;
  for (const c of chunks) sum += c.bytes[0]! + c.bytes.length + c.conn;
  return sum;
}

function measure(run: () => number): { perSecond: number; cpu: number } {
  for (let i = 0; i < 200; i++) run(); // warm up the JIT
  let count = 0;
  const t0 = cpuSeconds();
  const w0 = performance.now();
  while (performance.now() - w0 < seconds * 1000) for (let i = 0; i < 50; i++) count += run();
  const cpu = cpuSeconds() - t0;
  return { perSecond: count / cpu, cpu };
}

let sink = 0;
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
console.log(`parse rate per core (${seconds} s per case, CPU time of one thread)`);
for (const k of cases) {
  const conns = 1 + Math.max(...k.chunks.map((c) => c.conn));
  const sessions: (ProtocolSession | undefined)[] = new Array(conns);
  const out: L7Record[] = [];
  const perPass = pass(k.parser, k.transport, k.chunks, sessions, out);
  const bytes = k.chunks.reduce((n, c) => n + c.bytes.length, 0);
  const parsed = measure(() => pass(k.parser, k.transport, k.chunks, sessions, out));
  const baseline = measure(() => {
    sink += walk(k.chunks);
    return perPass;
  });
  const mib = (parsed.perSecond / perPass) * bytes / 2 ** 20;
  console.log(
    `${k.label.padEnd(24)} ${fmt(parsed.perSecond).padStart(11)} req/s/core  (${perPass} requests, ${k.chunks.length} chunks, ${bytes} bytes per pass; ${mib.toFixed(0)} MiB/s)` +
      `  baseline walk ${fmt(baseline.perSecond)} req/s`,
  );
}
console.log(`(walk checksum ${sink})`);
