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
import type { ProtocolParser } from "../../protocol.ts";
import { mysqlParser } from "../mysql.ts";
import { pgsqlParser } from "../pgsql.ts";
import { loadFixture } from "../test-replay.ts";
import { benchSeconds, callsPerCpuSecond, feedingOnlyParser, FixturePass } from "./bench-kit.ts";

const seconds = benchSeconds("sql-bench", 2);

const data = import.meta.dir;
const cases: { label: string; parser: ProtocolParser; file: string }[] = [
  { label: "mysql mariadb CLI", parser: mysqlParser, file: join(data, "mysql", "mariadb-cli.jsonl") },
  { label: "mysql go binary", parser: mysqlParser, file: join(data, "mysql", "go-binary.jsonl") },
  { label: "pgsql psql simple", parser: pgsqlParser, file: join(data, "pgsql", "psql-simple.jsonl") },
  { label: "pgsql pgx extended", parser: pgsqlParser, file: join(data, "pgsql", "scram-ext.jsonl") },
  { label: "pgsql pgbench", parser: pgsqlParser, file: join(data, "pgsql", "pgbench-ext.jsonl") },
];

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
console.log(`SQL parse rate per core (${seconds} s per case, CPU time of one thread; goal ≥ 100,000 req/s/core)`);
for (const k of cases) {
  const chunks = loadFixture(k.file);
  const pass = new FixturePass(k.parser, chunks);
  const perPass = pass.run();
  const bytes = chunks.reduce((n, c) => n + c.bytes.length, 0);
  const parsed = callsPerCpuSecond(() => pass.run(), seconds);
  const feedingOnly = new FixturePass(feedingOnlyParser, chunks);
  const baseline = callsPerCpuSecond(() => feedingOnly.run(), seconds);
  console.log(
    `${k.label.padEnd(20)} ${fmt(parsed * perPass).padStart(10)} req/s/core  ${fmt((parsed * bytes) / 2 ** 20).padStart(6)} MiB/s` +
      `  (${perPass} requests, ${chunks.length} chunks, ${fmt(bytes)} bytes per pass; baseline replay loop ${fmt(baseline * perPass)} req/s)`,
  );
}
