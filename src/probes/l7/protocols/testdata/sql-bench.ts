// Parse rate of the MySQL and PostgreSQL parsers on their recorded fixtures, per core: one
// thread, records paired per second of this process's CPU time, every connection of a
// fixture replayed through fresh sessions each pass as the tracker would feed them. The
// baseline, measured in the same run, feeds the same chunks to a session that only counts
// bytes: what the replay loop costs without parsing. Issue 15's goal: ≥ 100k requests/s per
// core (DeepFlow publishes ~90k).
//
//   bun src/probes/l7/protocols/testdata/sql-bench.ts [--seconds N]
//
// (It lives in testdata/, beside the recorder, as a developer tool: probe code does not import test helpers.)
import { join } from "node:path";
import type { L7Record, ProtocolParser, ProtocolSession } from "../../protocol.ts";
import { Looks } from "../../protocol.ts";
import { mysqlParser } from "../mysql.ts";
import { pgsqlParser } from "../pgsql.ts";
import { loadFixture, type Chunk } from "../test-replay.ts";

const argv = process.argv.slice(2);
const secondsAt = argv.indexOf("--seconds");
const seconds = secondsAt >= 0 ? Number(argv[secondsAt + 1]) : 2;
if (!Number.isFinite(seconds) || seconds <= 0) {
  console.error(`sql-bench: --seconds wants a positive number, got ${argv[secondsAt + 1]}`);
  process.exit(2);
}

const data = import.meta.dir;
const cases: { label: string; parser: ProtocolParser; file: string }[] = [
  { label: "mysql mariadb CLI", parser: mysqlParser, file: join(data, "mysql", "mariadb-cli.jsonl") },
  { label: "mysql go binary", parser: mysqlParser, file: join(data, "mysql", "go-binary.jsonl") },
  { label: "pgsql psql simple", parser: pgsqlParser, file: join(data, "pgsql", "psql-simple.jsonl") },
  { label: "pgsql pgx extended", parser: pgsqlParser, file: join(data, "pgsql", "scram-ext.jsonl") },
  { label: "pgsql pgbench", parser: pgsqlParser, file: join(data, "pgsql", "pgbench-ext.jsonl") },
];

/** The baseline's parser: sessions that only add up the bytes they are given. */
const countingParser: ProtocolParser = {
  name: "mysql",
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

function replayOnce(parser: ProtocolParser, chunks: Chunk[], sessions: Map<number, ProtocolSession>, out: L7Record[]): number {
  sessions.clear();
  let records = 0;
  for (const c of chunks) {
    let s = sessions.get(c.conn);
    if (!s) sessions.set(c.conn, (s = parser.session({ transport: "tcp" })));
    if (c.dir === "req") s.request(c.bytes, c.bytes.length, c.t);
    else s.response(c.bytes, c.bytes.length, c.t);
    records += s.drain(out);
    out.length = 0;
  }
  return records;
}

const cpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

/** Passes per CPU second of `run`, after a warm-up, over about `seconds` of wall time. */
function passesPerCpuSecond(run: () => void): number {
  for (let i = 0; i < 100; i++) run();
  let passes = 0;
  const cpu0 = cpuSeconds();
  const wall0 = performance.now();
  while (performance.now() - wall0 < seconds * 1000) {
    for (let i = 0; i < 20; i++) run();
    passes += 20;
  }
  return passes / (cpuSeconds() - cpu0);
}

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
console.log(`SQL parse rate per core (${seconds} s per case, CPU time of one thread; goal ≥ 100,000 req/s/core)`);
for (const k of cases) {
  const chunks = loadFixture(k.file);
  const sessions = new Map<number, ProtocolSession>();
  const out: L7Record[] = [];
  const perPass = replayOnce(k.parser, chunks, sessions, out);
  const bytes = chunks.reduce((n, c) => n + c.bytes.length, 0);
  const parsed = passesPerCpuSecond(() => replayOnce(k.parser, chunks, sessions, out));
  const baseline = passesPerCpuSecond(() => replayOnce(countingParser, chunks, sessions, out));
  console.log(
    `${k.label.padEnd(20)} ${fmt(parsed * perPass).padStart(10)} req/s/core  ${fmt((parsed * bytes) / 2 ** 20).padStart(6)} MiB/s` +
      `  (${perPass} requests, ${chunks.length} chunks, ${fmt(bytes)} bytes per pass; baseline replay loop ${fmt(baseline * perPass)} req/s)`,
  );
}
