// Recorded real traffic (testdata/http/record.sh: nginx and curl / ab / Bun fetch / a raw
// pipelining client through testdata/record.ts) replayed whole, split into reads of 1 and
// of odd sizes, and with a capture cap (gaps). What must be counted comes from nginx's
// access log (testdata/http/expected.json), never from the parser.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ErrorClass, type L7Record } from "../protocol.ts";
import { httpParser } from "./http.ts";
import { countApis, loadFixture, replay, type ReplayOptions, type RequestSummary } from "./test-replay.ts";

type Expected = RequestSummary;
const dir = `${import.meta.dir}/testdata/http`;
const expected = JSON.parse(readFileSync(`${dir}/expected.json`, "utf8")) as Record<string, Expected>;
const fixtures = Object.keys(expected).sort();

function run(name: string, o: ReplayOptions) {
  const { records, sessions } = replay(httpParser, loadFixture(`${dir}/${name}.jsonl`), o);
  const resyncs = sessions.reduce((a, s) => a + s.stats.resyncs, 0);
  return { records, resyncs };
}

function expectWellFormed(records: L7Record[]): void {
  for (const r of records) {
    expect(r.respEndNs).toBeGreaterThanOrEqual(r.reqStartNs);
    expect(r.reqBytes).toBeGreaterThan(0);
    expect(r.respBytes).toBeGreaterThan(0);
  }
}

/** Caps at which a fixture's gaps fall only inside bodies (the heads fit in the cap). */
const exactCaps: Record<string, ReplayOptions[]> = {
  "nginx-ab": [{ cap: 1024 }, { cap: 4096 }],
  "nginx-bun-fetch": [{ cap: 1024 }, { cap: 4096 }],
  "nginx-curl-keepalive": [{ cap: 1024 }],
  "nginx-curl-mixed": [{ cap: 1024 }, { cap: 4096 }, { split: 1499, cap: 700 }],
  // nginx answered the 20 pipelined requests in reads of up to 11 KiB: a cap below that hides heads
  "nginx-pipelined": [{ cap: 16384 }],
};

describe("http: recorded traffic", () => {
  test("every fixture has an expectation and a cap plan", () => {
    expect(fixtures.length).toBe(5);
    expect(Object.keys(exactCaps).sort()).toEqual(fixtures);
  });

  for (const name of fixtures) {
    const want = expected[name]!;
    for (const o of [{}, { split: 1 }, { split: 7 }, { split: 1499 }, ...exactCaps[name]!] as ReplayOptions[]) {
      test(`${name} ${JSON.stringify(o)}: exactly the ${want.requests} requests nginx logged, per API, with their errors`, () => {
        const { records, resyncs } = run(name, o);
        expect(countApis(records)).toEqual(want.apis);
        expect(records.length).toBe(want.requests);
        expect(records.filter((r) => r.error === ErrorClass.Client).length).toBe(want.clientErrors);
        expect(records.filter((r) => r.error === ErrorClass.Server).length).toBe(want.serverErrors);
        expectWellFormed(records);
        if (o.cap === undefined) expect(resyncs).toBe(0);
      });
    }
    for (const o of [{ cap: 64 }, { cap: 256 }, { split: 333, cap: 100 }] as ReplayOptions[]) {
      test(`${name} ${JSON.stringify(o)}: heads lost in gaps are not counted, nothing is invented`, () => {
        const { records } = run(name, o);
        const apis = countApis(records);
        for (const [api, n] of Object.entries(apis)) expect(n).toBeLessThanOrEqual(want.apis[api] ?? 0);
        expect(records.filter((r) => r.error === ErrorClass.Client).length).toBeLessThanOrEqual(want.clientErrors);
        expectWellFormed(records);
      });
    }
  }

  test("the keep-alive connection: 330 requests, 30 of them 404, on one connection", () => {
    const chunks = loadFixture(`${dir}/nginx-curl-keepalive.jsonl`);
    expect(new Set(chunks.map((c) => c.conn)).size).toBe(1);
    const { records } = replay(httpParser, chunks);
    expect(records.length).toBe(330);
    expect(records.filter((r) => r.error === ErrorClass.Client).map((r) => r.api).every((a) => a.startsWith("GET /missing-"))).toBe(true);
    expect(records.filter((r) => r.api === "GET /index.html").length).toBe(300); // query strings cut
  });
});
