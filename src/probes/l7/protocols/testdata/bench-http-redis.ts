// Parse rate of the HTTP/1.x and Redis parsers on their recorded fixtures (testdata/http,
// testdata/redis), per core: requests paired per CPU second of this process (one thread).
// The baseline, measured in the same run, walks the same chunks through sessions that only
// count bytes (what feeding the chunks costs alone). Issue 15's goal: ≥ 100k requests/s per
// core (DeepFlow publishes ~90k).
//
//   bun src/probes/l7/protocols/testdata/bench-http-redis.ts [--seconds N]   (N per fixture, default 1)
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { httpParser } from "../http.ts";
import { redisParser } from "../redis.ts";
import { loadFixture } from "../test-replay.ts";
import { benchSeconds, callsPerCpuSecond, feedingOnlyParser, FixturePass } from "./bench-kit.ts";

const seconds = benchSeconds("bench-http-redis.ts", 1);

const fmt = (n: number) => Math.round(n).toLocaleString("en").padStart(11);
for (const [proto, parser] of [["http", httpParser], ["redis", redisParser]] as const) {
  const dir = join(import.meta.dir, proto);
  let requests = 0;
  let cpu = 0;
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".jsonl")).sort()) {
    const chunks = loadFixture(join(dir, file));
    const bytes = chunks.reduce((a, c) => a + c.bytes.length, 0);
    const pass = new FixturePass(parser, chunks);
    const records = pass.run();
    const roundsPerSecond = callsPerCpuSecond(() => pass.run(), seconds, 20);
    const baseline = new FixturePass(feedingOnlyParser, chunks);
    const baseRoundsPerSecond = callsPerCpuSecond(() => baseline.run(), seconds, 20);
    requests += records;
    cpu += 1 / roundsPerSecond;
    const rate = records * roundsPerSecond;
    console.log(
      `${proto.padEnd(5)} ${file.padEnd(28)} ${fmt(rate)} req/s/core  ${((bytes * roundsPerSecond) / 1e6).toFixed(0).padStart(5)} MB/s  (baseline: feeding alone ${fmt(records * baseRoundsPerSecond)} req/s)`,
    );
  }
  console.log(`${proto.padEnd(5)} ${"all fixtures, one round each".padEnd(28)} ${fmt(requests / cpu)} req/s/core  (goal ≥ 100,000)`);
}
