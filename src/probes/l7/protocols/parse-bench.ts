// Parse-rate measurement shared by http.bench.ts and redis.bench.ts: replays recorded
// fixtures (testdata/<proto>/*.jsonl) through fresh sessions, as the tracker would feed
// them, many times over, and reports requests paired per second on one core.
import { readdirSync } from "node:fs";
import type { L7Record, ProtocolParser, ProtocolSession } from "../protocol.ts";
import { loadFixture, type Chunk } from "./test-replay.ts";

interface Result {
  fixture: string;
  requests: number;
  bytes: number;
  seconds: number;
}

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

export function benchParser(parser: ProtocolParser, dir: string, minSeconds = 1): Result[] {
  const results: Result[] = [];
  const out: L7Record[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".jsonl")).sort()) {
    const chunks = loadFixture(`${dir}/${file}`);
    const bytes = chunks.reduce((a, c) => a + c.bytes.length, 0);
    for (let i = 0; i < 20; i++) once(parser, chunks, out); // warm up the JIT
    let requests = 0;
    let rounds = 0;
    const t0 = Bun.nanoseconds();
    while (Bun.nanoseconds() - t0 < minSeconds * 1e9) {
      requests += once(parser, chunks, out);
      rounds++;
    }
    const seconds = (Bun.nanoseconds() - t0) / 1e9;
    results.push({ fixture: file, requests, bytes: bytes * rounds, seconds });
  }
  return results;
}

export function printResults(proto: string, results: Result[]): void {
  let requests = 0;
  let seconds = 0;
  for (const r of results) {
    requests += r.requests;
    seconds += r.seconds;
    console.log(`${proto} ${r.fixture.padEnd(28)} ${Math.round(r.requests / r.seconds).toLocaleString("en").padStart(12)} req/s  ${(r.bytes / r.seconds / 1e6).toFixed(0).padStart(6)} MB/s`);
  }
  console.log(`${proto} all fixtures ${" ".repeat(16)} ${Math.round(requests / seconds).toLocaleString("en").padStart(12)} req/s per core (goal ≥ 100,000)`);
}
