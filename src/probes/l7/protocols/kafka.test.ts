// The Kafka parser against real traffic: kafkajs and Apache Kafka 4.1.1, recorded through
// the proxy (testdata/kafka/record.ts). What the parser counts is compared with kafkajs's own
// log of the same run (testdata/kafka/kafkajs-log.jsonl: each request it sent, each response
// it decoded and the protocol error it raised), not with the parser's output.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorClass, Looks, type L7Record } from "../protocol.ts";
import { apiName, errorClass, isFlexible } from "./kafka-apis.ts";
import { kafkaParser } from "./kafka.ts";
import { loadFixture, replay, tallyByApiWithNoResponse, type ApiTallyWithNoResponse, type Chunk } from "./test-replay.ts";

const dir = join(import.meta.dir, "testdata", "kafka");
const chunks = loadFixture(join(dir, "traffic.jsonl"));

interface Logged {
  kind: "request" | "response";
  api: string;
  correlationId: number;
  expectResponse?: boolean;
  error?: string;
}
const logged = readFileSync(join(dir, "kafkajs-log.jsonl"), "utf8").trim().split("\n").map((l) => JSON.parse(l) as Logged);

/** kafkajs calls FindCoordinator by its pre-2.0 name. */
const kafkaName = (kafkajsApi: string) => (kafkajsApi === "GroupCoordinator" ? "FindCoordinator" : kafkajsApi);

/** How each error kafkajs raised in the recording is classed (kafka-apis.ts errorClass). */
const ERROR_CLASS: Record<string, ErrorClass> = {
  "This server does not host this topic-partition": ErrorClass.Client, // UNKNOWN_TOPIC_OR_PARTITION (3)
  "The group coordinator is not available": ErrorClass.Server, // COORDINATOR_NOT_AVAILABLE (15)
  "The group member needs to have a valid member id before actually entering a consumer group": ErrorClass.Client, // MEMBER_ID_REQUIRED (79)
  "Topic creation errors": ErrorClass.Client, // TOPIC_ALREADY_EXISTS (36)
};

type Tally = ApiTallyWithNoResponse;

const tally = tallyByApiWithNoResponse;

/** What kafkajs saw: every answered request (and each acks=0 Produce) with the error it raised. */
function expected(): Record<string, Tally> {
  const entries: { api: string; noResponse?: boolean; error: ErrorClass }[] = [];
  for (const l of logged) {
    if (l.kind === "request" && l.expectResponse === false) entries.push({ api: kafkaName(l.api), noResponse: true, error: ErrorClass.None });
    if (l.kind !== "response") continue;
    if (l.error !== undefined && !(l.error in ERROR_CLASS)) throw new Error(`kafkajs raised an error this test does not class: ${l.error}`);
    entries.push({ api: kafkaName(l.api), error: l.error === undefined ? ErrorClass.None : ERROR_CLASS[l.error]! });
  }
  return tally(entries);
}

function stats(sessions: ReturnType<typeof replay>["sessions"]) {
  return sessions.reduce((a, s) => ({ resyncs: a.resyncs + s.stats.resyncs, dropped: a.dropped + s.stats.unansweredDropped, unmatched: a.unmatched + s.stats.unmatchedResponses }), { resyncs: 0, dropped: 0, unmatched: 0 });
}

describe("kafka parser on recorded kafkajs ↔ Kafka 4.1.1 traffic", () => {
  const want = expected();

  test("the recording covers what the parser must handle", () => {
    expect(Object.keys(want)).toEqual(expect.arrayContaining(["ApiVersions", "Metadata", "Produce", "Fetch", "FindCoordinator", "JoinGroup", "CreateTopics"]));
    expect(want.Produce!.noResponse).toBe(5);
    expect(want.Metadata!.client).toBe(3);
    expect(want.FindCoordinator!.server).toBe(1);
    // Several requests in flight on one connection: two requests before the first response.
    const inFlight = new Map<number, number>();
    let most = 0;
    for (const c of chunks) {
      const n = c.dir === "req" ? (inFlight.get(c.conn) ?? 0) + 1 : 0;
      inFlight.set(c.conn, n);
      most = Math.max(most, n);
    }
    expect(most).toBeGreaterThan(1);
  });

  for (const [label, o] of [
    ["as recorded", {}],
    ["split into 1-byte reads", { split: 1 }],
    ["split into 7-byte reads", { split: 7 }],
    ["split into 100-byte reads", { split: 100 }],
  ] as const) {
    test(`counts per API and errors equal kafkajs's (${label})`, () => {
      const { records, sessions } = replay(kafkaParser, chunks, o);
      expect(tally(records)).toEqual(want);
      expect(stats(sessions)).toEqual({ resyncs: 0, dropped: 0, unmatched: 0 });
      for (const r of records) {
        expect(r.respEndNs).toBeGreaterThanOrEqual(r.reqStartNs);
        if (r.noResponse) expect(r.respBytes).toBe(0);
        else expect(r.respBytes).toBeGreaterThanOrEqual(8);
      }
    });
  }

  test("the bytes of each record are those of its request and response", () => {
    const { records } = replay(kafkaParser, chunks);
    const reqTotal = chunks.filter((c) => c.dir === "req").reduce((n, c) => n + c.bytes.length, 0);
    const respTotal = chunks.filter((c) => c.dir === "resp").reduce((n, c) => n + c.bytes.length, 0);
    expect(records.reduce((n, r) => n + r.reqBytes, 0)).toBe(reqTotal);
    expect(records.reduce((n, r) => n + r.respBytes, 0)).toBe(respTotal);
  });

  test("a bounded capture (gaps) keeps every request it can see paired; those hidden in a gap are counted, never guessed", () => {
    const full = replay(kafkaParser, chunks).records;
    const key = (r: L7Record) => `${r.api} ${r.reqStartNs} ${r.respEndNs} ${r.reqBytes} ${r.respBytes} ${r.noResponse ?? false}`;
    for (const cap of [64, 200]) {
      const { records, sessions } = replay(kafkaParser, chunks, { cap });
      const left = new Map<string, L7Record[]>();
      for (const r of full) left.set(key(r), [...(left.get(key(r)) ?? []), r]);
      for (const r of records) {
        const same = left.get(key(r));
        expect(same?.length ?? 0).toBeGreaterThan(0); // nothing invented or paired wrongly
        const was = same!.shift()!;
        expect(r.error === was.error || r.error === ErrorClass.None).toBe(true); // an error only where it was seen
      }
      const hidden = hiddenRequests(cap);
      expect(full.length - records.length).toBe(hidden.headers + hidden.acksZero);
      if (hidden.headers > 0) expect(stats(sessions).resyncs).toBeGreaterThan(0);
    }
    // Large enough for every message head in this recording: everything, errors included.
    expect(tally(replay(kafkaParser, chunks, { cap: 4096 }).records)).toEqual(want);
  });

  test("a lost response drops the earlier request only (pairing by correlation id)", () => {
    const conn = chunks.find((c) => c.dir === "req" && c.bytes[5] === 0 && c.bytes[4] === 0 && c.bytes.length > 100)!.conn; // a producer's connection
    const mine = chunks.filter((c) => c.conn === conn);
    const whole = replay(kafkaParser, mine).records;
    const firstResp = mine.findIndex((c) => c.dir === "resp");
    // The first response chunk that holds exactly one response is dropped.
    const lost = mine.findIndex((c, i) => i >= firstResp && c.dir === "resp" && new DataView(c.bytes.buffer, c.bytes.byteOffset).getInt32(0) + 4 === c.bytes.length);
    const { records, sessions } = replay(kafkaParser, mine.filter((_, i) => i !== lost));
    expect(records.length).toBe(whole.length - 1);
    expect(sessions[0]!.stats.unansweredDropped).toBe(1);
    expect(sessions[0]!.stats.unmatchedResponses).toBe(0);
    expect(records).toEqual(whole.filter((r) => r.respEndNs !== mine[lost]!.t));
  });

  test("a response for no request is counted as unmatched, not recorded", () => {
    const resp = chunks.find((c) => c.dir === "resp")!;
    const s = kafkaParser.session({ transport: "tcp" });
    s.response(resp.bytes, resp.bytes.length, 1);
    const out: L7Record[] = [];
    expect(s.drain(out)).toBe(0);
    expect(s.stats.unmatchedResponses).toBe(1);
  });

  test("maxPending bounds the unanswered requests", () => {
    const reqs = chunks.filter((c) => c.dir === "req" && c.conn === chunks[0]!.conn);
    const s = kafkaParser.session({ transport: "tcp", maxPending: 2 });
    for (const c of reqs) s.request(c.bytes, c.bytes.length, c.t);
    expect(s.stats.unansweredDropped).toBe(reqs.length - 2);
  });

  test("detect: requests only, never other protocols' first bytes", () => {
    const firsts = new Map<number, Chunk>();
    for (const c of chunks) if (!firsts.has(c.conn)) firsts.set(c.conn, c);
    for (const c of firsts.values()) {
      expect(c.dir).toBe("req");
      expect(kafkaParser.detect(c.bytes, "tcp")).toBe(Looks.Request);
      expect(kafkaParser.detect(c.bytes, "udp")).toBe(Looks.No);
    }
    const resp = chunks.find((c) => c.dir === "resp")!;
    expect(kafkaParser.detect(resp.bytes, "tcp")).toBe(Looks.No);
    const enc = (s: string) => new TextEncoder().encode(s);
    for (const other of [
      enc("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
      enc("*1\r\n$4\r\nPING\r\n"),
      Uint8Array.from([0, 0, 0, 8, 4, 210, 22, 47]), // PostgreSQL SSLRequest
      Uint8Array.from([0, 0, 0, 0x54, 0, 3, 0, 0, ...enc("user\0postgres\0database\0postgres\0\0")]), // PostgreSQL startup
      Uint8Array.from([0x4a, 0, 0, 0, 0x0a, ...enc("5.5.5-10.11.6-MariaDB\0")]), // MySQL greeting
      Uint8Array.from([0, 0x1c, 0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, ...enc("www"), 0, 0, 1, 0, 1]), // DNS over TCP
      enc("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"),
    ]) {
      expect(kafkaParser.detect(other, "tcp")).toBe(Looks.No);
    }
  });

  test("garbage never throws; random re-cuts with a 64-byte message buffer keep every request", () => {
    let seed = 7;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
    for (let round = 0; round < 200; round++) {
      const s = kafkaParser.session({ transport: "tcp", maxPending: 16, maxBuffered: 256 });
      for (let i = 0; i < 50; i++) {
        const b = Uint8Array.from({ length: rand(300) }, () => rand(256));
        if (rand(2) === 0) s.request(b, b.length + rand(3) * rand(5000), i);
        else s.response(b, b.length + rand(3) * rand(5000), i);
      }
      const out: L7Record[] = [];
      s.drain(out);
      for (const r of out) expect(r.respEndNs).toBeGreaterThanOrEqual(r.reqStartNs);
    }
    // Random re-cuts of the recording with a small message buffer: the same requests.
    const counts = (rs: L7Record[]) => Object.fromEntries(Object.entries(tally(rs)).map(([k, t]) => [k, t.count]));
    for (let round = 0; round < 20; round++) {
      const split = 1 + rand(200);
      expect(counts(replay(kafkaParser, chunks, { split, maxBuffered: 64 }).records)).toEqual(counts(replay(kafkaParser, chunks).records));
    }
  });

  test("API names, flexible versions and error classes", () => {
    expect([0, 1, 3, 10, 18, 75, 92].map(apiName)).toEqual(["Produce", "Fetch", "Metadata", "FindCoordinator", "ApiVersions", "DescribeTopicPartitions", "DeleteShareGroupOffsets"]);
    expect(apiName(500)).toBe("ApiKey500");
    expect([isFlexible(0, 8), isFlexible(0, 9), isFlexible(17, 1), isFlexible(3, 12)]).toEqual([false, true, false, true]);
    expect([0, 3, 100, 89, -1, 6, 15, 16, 7, 36, 79, 1, 29, 25].map(errorClass)).toEqual([
      ErrorClass.None,
      ErrorClass.Client, ErrorClass.Client, ErrorClass.Client, // unknown topic / topic id, throttled
      ErrorClass.Server, ErrorClass.Server, ErrorClass.Server, ErrorClass.Server, ErrorClass.Server, // unknown server error, not leader, coordinator unavailable, not coordinator, timed out
      ErrorClass.Client, ErrorClass.Client, ErrorClass.Client, ErrorClass.Client, ErrorClass.Client, // exists, member id required, offset out of range, topic authorization, unknown member
    ]);
  });
});

/**
 * Requests a capture of `cap` bytes per read hides from the parser: those whose 12-byte header
 * starts in a gap, and acks=0 Produce requests whose acks field does (they then look like
 * requests awaiting an answer that never comes).
 */
function hiddenRequests(cap: number): { headers: number; acksZero: number } {
  let headers = 0;
  let acksZero = 0;
  const next = new Map<number, number>(); // per connection: offset of the next request start in the coming chunk
  for (const c of chunks) {
    if (c.dir !== "req") continue;
    let at = next.get(c.conn) ?? 0;
    for (; at < c.bytes.length; ) {
      const view = new DataView(c.bytes.buffer, c.bytes.byteOffset + at);
      const size = view.getInt32(0);
      const seenHeader = at + 12 <= Math.min(cap, c.bytes.length) || c.bytes.length <= cap;
      if (!seenHeader) headers++;
      else if (view.getInt16(4) === 0) {
        const acksAt = at + 14 + Math.max(0, view.getInt16(12)) + 2;
        const acks = new DataView(c.bytes.buffer, c.bytes.byteOffset + acksAt).getInt16(0);
        if (acks === 0 && acksAt + 2 > cap && c.bytes.length > cap) acksZero++;
      }
      at += 4 + size;
    }
    next.set(c.conn, at - c.bytes.length);
  }
  return { headers, acksZero };
}
