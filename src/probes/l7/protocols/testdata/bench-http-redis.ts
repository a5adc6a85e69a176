// Parse rate of the HTTP/1.x and Redis parsers on their recorded fixtures (testdata/http,
// testdata/redis), per core: requests paired per CPU second of this process (one thread).
// The baseline, measured in the same run, walks the same chunks through sessions that do
// nothing (what feeding the chunks costs alone). Issue 15's goal: ≥ 100k requests/s per
// core (DeepFlow publishes ~90k).
//
//   bun src/probes/l7/protocols/testdata/bench-http-redis.ts [--seconds N]   (N per fixture, default 1)
import { readdirSync } from "node:fs";
import { join } from "node:path";
import type { L7Record, ProtocolParser, ProtocolSession } from "../../protocol.ts";
import { httpParser } from "../http.ts";
import { redisParser } from "../redis.ts";
import { loadFixture, type Chunk } from "../test-replay.ts";

const args = process.argv.slice(2);
const at = args.indexOf("--seconds");
const seconds = at >= 0 ? Number(args[at + 1]) : 1;
if (!(seconds > 0)) {
  console.error("usage: bench-http-redis.ts [--seconds N] (N > 0)");
  process.exit(2);
}

/** A session that only takes the chunks: the baseline. */
const idle: ProtocolParser = {
  name: "http",
  detect: () => 0,
  session: (): ProtocolSession => ({ request() {}, response() {}, drain: () => 0, stats: { resyncs: 0, unansweredDropped: 0, unmatchedResponses: 0 } }),
};

/** Feeds every chunk of the fixture to fresh sessions (one per connection); returns records. */
function once(parser: ProtocolParser, chunks: Chunk[], out: L7Record[]): number {
  const sessions = new Map<number, ProtocolSession>();
  let n = 0;
  for (const c of chunks) {
    let s = sessions.get(c.conn);
    if (!s) sessions.set(c.conn, (s = parser.session({ transport: "tcp" })));
    if (c.dir === "req") s.request(c.bytes, c.bytes.length, c.t);
    else s.response(c.bytes, c.bytes.length, c.t);
    n += s.drain(out);
    out.length = 0;
  }
  return n;
}

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** Rounds of the fixture per CPU second and records per round. */
function measure(parser: ProtocolParser, chunks: Chunk[]): { roundsPerSecond: number; records: number } {
  const out: L7Record[] = [];
  let records = 0;
  for (let i = 0; i < 20; i++) records = once(parser, chunks, out); // JIT warm-up
  let rounds = 0;
  const c0 = cpuSeconds();
  const t0 = Bun.nanoseconds();
  while (Bun.nanoseconds() - t0 < seconds * 1e9) {
    once(parser, chunks, out);
    rounds++;
  }
  return { roundsPerSecond: rounds / (cpuSeconds() - c0), records };
}

const fmt = (n: number) => Math.round(n).toLocaleString("en").padStart(11);
for (const [proto, parser] of [["http", httpParser], ["redis", redisParser]] as const) {
  const dir = join(import.meta.dir, proto);
  let requests = 0;
  let cpu = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".jsonl")).sort()) {
    const chunks = loadFixture(join(dir, file));
    const bytes = chunks.reduce((a, c) => a + c.bytes.length, 0);
    const base = measure(idle, chunks);
    const m = measure(parser, chunks);
    requests += m.records;
    cpu += 1 / m.roundsPerSecond;
    const rate = m.records * m.roundsPerSecond;
    console.log(
      `${proto.padEnd(5)} ${file.padEnd(28)} ${fmt(rate)} req/s/core  ${((bytes * m.roundsPerSecond) / 1e6).toFixed(0).padStart(5)} MB/s  (baseline: feeding alone ${fmt(m.records * base.roundsPerSecond)} req/s)`,
    );
  }
  console.log(`${proto.padEnd(5)} ${"all fixtures, one round each".padEnd(28)} ${fmt(requests / cpu)} req/s/core  (goal ≥ 100,000)`);
}
