// Recorded real traffic (testdata/redis/record.sh: redis-server and redis-cli --pipe,
// redis-cli, redis-benchmark through testdata/record.ts) replayed whole, split into reads of
// 1 and of odd sizes, and with a capture cap (gaps). What must be counted comes from the
// server's INFO commandstats / errorstats (testdata/redis/expected.json), never from the parser.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ErrorClass, type L7Record } from "../protocol.ts";
import { redisParser } from "./redis.ts";
import { countApis, loadFixture, replay, type ReplayOptions } from "./test-replay.ts";

interface Expected {
  requests: number;
  unknownCommands: number;
  errors: number;
  apis: Record<string, number>;
}
const dir = `${import.meta.dir}/testdata/redis`;
const expected = JSON.parse(readFileSync(`${dir}/expected.json`, "utf8")) as Record<string, Expected>;
const fixtures = Object.keys(expected).sort();

function run(name: string, o: ReplayOptions) {
  const { records, sessions } = replay(redisParser, loadFixture(`${dir}/${name}.jsonl`), o);
  return { records, apis: countApis(records), resyncs: sessions.reduce((a, s) => a + s.stats.resyncs, 0) };
}

function expectWellFormed(records: L7Record[]): void {
  for (const r of records) {
    expect(r.respEndNs).toBeGreaterThanOrEqual(r.reqStartNs);
    expect(r.reqBytes).toBeGreaterThan(0);
    if (!r.noResponse) expect(r.respBytes).toBeGreaterThan(0);
  }
}

/** Caps whose gaps fall only inside values. redis-cli --pipe writes 16 KiB at a time
 *  (the proxy read them as one): re-cut so, the kernel's default 16 KiB cap sees them whole. */
const exactCaps: Record<string, ReplayOptions[]> = {
  "redis-benchmark": [{ cap: 1024 }, { cap: 4096 }],
  "redis-cli-big": [{ cap: 64 }, { cap: 4096 }, { split: 1499, cap: 700 }],
  "redis-cli-pipe": [{ split: 16384, cap: 16384 }],
  "redis-cli-pipe-reply": [{ cap: 256 }],
  "redis-cli-pubsub": [{ cap: 256 }],
  "redis-cli-session": [{ cap: 4096 }],
};

describe("redis: recorded traffic", () => {
  test("every fixture has an expectation and a cap plan", () => {
    expect(fixtures.length).toBe(6);
    expect(Object.keys(exactCaps).sort()).toEqual(fixtures);
    expect(expected["redis-cli-pipe"]!.requests).toBe(1001); // 1000 SETs and redis-cli's closing ECHO
  });

  for (const name of fixtures) {
    const want = expected[name]!;
    for (const o of [{}, { split: 1 }, { split: 7 }, { split: 1499 }, ...exactCaps[name]!] as ReplayOptions[]) {
      test(`${name} ${JSON.stringify(o)}: exactly the ${want.requests} commands the server counted, per API, with their errors`, () => {
        const { records, apis, resyncs } = run(name, o);
        let unknown = 0;
        for (const [api, n] of Object.entries(apis)) if (!(api in want.apis)) unknown += n;
        for (const [api, n] of Object.entries(want.apis)) expect([api, apis[api]]).toEqual([api, n]);
        expect(unknown).toBe(want.unknownCommands);
        expect(records.length).toBe(want.requests);
        expect(records.filter((r) => r.error !== ErrorClass.None).length).toBe(want.errors);
        expectWellFormed(records);
        if (o.cap === undefined) expect(resyncs).toBe(0);
      });
    }
    for (const o of [{ cap: 16 }, { cap: 256 }, { split: 333, cap: 100 }] as ReplayOptions[]) {
      test(`${name} ${JSON.stringify(o)}: commands lost in gaps are not counted, nothing is invented`, () => {
        const { records, apis } = run(name, o);
        let unknown = 0;
        for (const [api, n] of Object.entries(apis)) {
          if (api in want.apis) expect(n).toBeLessThanOrEqual(want.apis[api]!);
          else unknown += n;
        }
        expect(unknown).toBeLessThanOrEqual(want.unknownCommands);
        expect(records.filter((r) => r.error !== ErrorClass.None).length).toBeLessThanOrEqual(want.errors);
        expectWellFormed(records);
      });
    }
  }

  test("CLIENT REPLY SKIP / OFF: the silent commands are requests without a response", () => {
    const { records } = run("redis-cli-pipe-reply", {});
    expect(records.filter((r) => r.noResponse).map((r) => r.api)).toEqual(["CLIENT REPLY", "SET", "CLIENT REPLY", "SET", "INCR"]);
  });

  test("pub/sub: messages published to the subscribers are not responses", () => {
    const { records, resyncs } = run("redis-cli-pubsub", {});
    expect(records.filter((r) => r.api === "SUBSCRIBE").length).toBe(2);
    expect(resyncs).toBe(0);
  });
});
