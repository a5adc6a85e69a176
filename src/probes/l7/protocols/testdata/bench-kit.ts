// What the parse-rate benches (bench-http-redis.ts, bench-kafka-dns.ts, sql-bench.ts) share:
// their `--seconds N` argument, one pass of a recorded fixture through fresh sessions (one
// per connection, as the tracker keeps them), the baseline parser that only takes the bytes,
// and the count of passes per CPU second of this process (one thread).
import type { L7Record, ProtocolParser, ProtocolSession, Transport } from "../../protocol.ts";
import { Looks } from "../../protocol.ts";
import type { Chunk } from "../test-replay.ts";

/** The `--seconds N` of the command line (N > 0), `fallback` without it; exits 2 naming the bad value. */
export function benchSeconds(script: string, fallback: number): number {
  const argv = process.argv.slice(2);
  const at = argv.indexOf("--seconds");
  if (at < 0) return fallback;
  const seconds = Number(argv[at + 1]);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    console.error(`${script}: --seconds wants a positive number, got ${argv[at + 1]}`);
    process.exit(2);
  }
  return seconds;
}

/** CPU time (user + system) this process used, in seconds. */
export function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Replays one fixture through `parser` again and again, each pass with fresh sessions. */
export class FixturePass {
  private readonly sessions: (ProtocolSession | undefined)[];
  private readonly out: L7Record[] = [];

  constructor(
    private readonly parser: ProtocolParser,
    private readonly chunks: readonly Chunk[],
    private readonly transport: Transport = "tcp",
  ) {
    let conns = 0;
    for (const c of chunks) {
      if (!Number.isInteger(c.conn) || c.conn < 0) throw new RangeError(`bench fixture: connection number ${c.conn} is not a small non-negative integer`);
      conns = Math.max(conns, c.conn + 1);
    }
    this.sessions = new Array(conns);
  }

  /** One pass over every chunk; returns the records the sessions completed. */
  run(): number {
    const { sessions, out, parser, transport } = this;
    sessions.fill(undefined);
    let records = 0;
    for (const c of this.chunks) {
      let s = sessions[c.conn];
      if (!s) s = sessions[c.conn] = parser.session({ transport });
      if (c.dir === "req") s.request(c.bytes, c.bytes.length, c.t);
      else s.response(c.bytes, c.bytes.length, c.t);
      records += s.drain(out);
      out.length = 0;
    }
    return records;
  }
}

/** The baselines' parser: sessions that only add up the bytes they are given (what feeding costs). */
export const feedingOnlyParser: ProtocolParser = {
  name: "http",
  detect: () => Looks.No,
  session(): ProtocolSession {
    let bytes = 0;
    return {
      request: (b) => void (bytes += b.length),
      response: (b) => void (bytes += b.length),
      drain: () => bytes & 0,
      stats: { resyncs: 0, unansweredDropped: 0, unmatchedResponses: 0 },
    };
  },
};

/** Calls of `run` per CPU second over about `seconds` of wall time, after `warmUp` calls for the JIT. */
export function callsPerCpuSecond(run: () => unknown, seconds: number, warmUp = 100): number {
  for (let i = 0; i < warmUp; i++) run();
  let calls = 0;
  const cpu0 = cpuSeconds();
  const wall0 = performance.now();
  while (performance.now() - wall0 < seconds * 1000) {
    for (let i = 0; i < 20; i++) run();
    calls += 20;
  }
  return calls / (cpuSeconds() - cpu0);
}
