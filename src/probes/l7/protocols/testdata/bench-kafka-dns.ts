// Parse rate of the Kafka and DNS parsers on their recorded fixtures, per core (one thread,
// CPU time of this process): requests paired per CPU second. The baseline, measured in the
// same run, walks the same chunks without parsing (what feeding the chunks costs alone).
// Issue 15's goal: ≥ 100k requests/s per core (DeepFlow publishes ~90k).
//
//   bun src/probes/l7/protocols/testdata/bench-kafka-dns.ts [--seconds N]
import { join } from "node:path";
import type { ProtocolParser, Transport } from "../../protocol.ts";
import { dnsParser } from "../dns.ts";
import { kafkaParser } from "../kafka.ts";
import { loadFixture, type Chunk } from "../test-replay.ts";
import { benchSeconds, callsPerCpuSecond, FixturePass } from "./bench-kit.ts";

const seconds = benchSeconds("bench-kafka-dns.ts", 2);

const data = import.meta.dir;
const cases: { label: string; parser: ProtocolParser; transport: Transport; chunks: Chunk[] }[] = [
  { label: "kafka (kafkajs)", parser: kafkaParser, transport: "tcp", chunks: loadFixture(join(data, "kafka", "traffic.jsonl")) },
  { label: "kafka (java, flexible)", parser: kafkaParser, transport: "tcp", chunks: loadFixture(join(data, "kafka", "java-traffic.jsonl")) },
  { label: "dns udp", parser: dnsParser, transport: "udp", chunks: loadFixture(join(data, "dns", "udp.jsonl")) },
  { label: "dns tcp", parser: dnsParser, transport: "tcp", chunks: loadFixture(join(data, "dns", "tcp.jsonl")) },
];

/** The baseline: the same walk over the chunks, touching each one's first byte, no parsing. */
function walk(chunks: Chunk[]): number {
  let sum = 0;
  for (const c of chunks) sum += c.bytes[0]! + c.bytes.length + c.conn;
  return sum;
}

let sink = 0;
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
console.log(`parse rate per core (${seconds} s per case, CPU time of one thread)`);
for (const k of cases) {
  const pass = new FixturePass(k.parser, k.chunks, k.transport);
  const perPass = pass.run();
  const bytes = k.chunks.reduce((n, c) => n + c.bytes.length, 0);
  const parsed = callsPerCpuSecond(() => pass.run(), seconds, 200) * perPass;
  const baseline = callsPerCpuSecond(() => (sink += walk(k.chunks)), seconds, 200) * perPass;
  const mib = (parsed / perPass) * bytes / 2 ** 20;
  console.log(
    `${k.label.padEnd(24)} ${fmt(parsed).padStart(11)} req/s/core  (${perPass} requests, ${k.chunks.length} chunks, ${bytes} bytes per pass; ${mib.toFixed(0)} MiB/s)` +
      `  baseline walk ${fmt(baseline)} req/s`,
  );
}
console.log(`(walk checksum ${sink})`);
