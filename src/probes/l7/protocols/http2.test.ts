// The http2 parser on traffic recorded from real peers (testdata/http2/record.sh): curl and
// Go's HTTP/2 client against a Go h2c server, a Go gRPC client against a Go gRPC server.
// Expected counts are each client's own tally (<fixture>.expect.json), not the parser's.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ErrorClass, Looks, type L7Record } from "../protocol.ts";
import { type Chunk, loadFixture, replay } from "./test-replay.ts";
import { http2Parser, type Http2Stats } from "./http2.ts";

const dir = `${import.meta.dir}/testdata/http2`;
type Tally = Record<string, { count: number; client: number; server: number }>;
const expected = (name: string) => JSON.parse(readFileSync(`${dir}/${name}.expect.json`, "utf8")) as Tally;

function tally(records: L7Record[]): Tally {
  const t: Tally = {};
  for (const r of records) {
    const a = (t[r.api] ??= { count: 0, client: 0, server: 0 });
    a.count++;
    if (r.error === ErrorClass.Client) a.client++;
    if (r.error === ErrorClass.Server) a.server++;
  }
  return t;
}

/** Every record of `part` is one of `all` (each used once): nothing invented or altered. */
function expectSubset(part: L7Record[], all: L7Record[]): void {
  const left = all.map((r) => JSON.stringify(r));
  for (const r of part) {
    const i = left.indexOf(JSON.stringify(r));
    expect(i >= 0 ? "found" : JSON.stringify(r)).toBe("found");
    left.splice(i, 1);
  }
}

const outline = (r: L7Record) => ({ api: r.api, reqStartNs: r.reqStartNs, error: r.error }) as L7Record;

/** Re-cuts each side's bytes into one chunk per frame (the preface its own), each at the time
 *  of the read its first byte came in: a writer that writes one frame per syscall. */
function perFrame(chunks: Chunk[]): Chunk[] {
  const out: Chunk[] = [];
  const sides = new Map<string, { buf: number[]; t: number[]; preface: boolean }>();
  for (const c of chunks) {
    const key = `${c.conn}/${c.dir}`;
    let side = sides.get(key);
    if (!side) sides.set(key, (side = { buf: [], t: [], preface: c.dir === "req" }));
    for (const b of c.bytes) {
      side.buf.push(b);
      side.t.push(c.t);
    }
    for (;;) {
      const need = side.preface ? 24 : side.buf.length >= 9 ? 9 + ((side.buf[0]! << 16) | (side.buf[1]! << 8) | side.buf[2]!) : Infinity;
      if (side.buf.length < need) break;
      out.push({ conn: c.conn, dir: c.dir, t: side.t[0]!, bytes: Uint8Array.from(side.buf.splice(0, need)) });
      side.t.splice(0, need);
      side.preface = false;
    }
  }
  return out;
}

const statsOf = (sessions: { stats: object }[]) => {
  const sum: Record<string, number> = {};
  for (const s of sessions) for (const [k, v] of Object.entries(s.stats)) sum[k] = (sum[k] ?? 0) + (v as number);
  return sum as unknown as Http2Stats;
};

for (const name of ["curl", "go-client", "grpc"]) {
  describe(`http2 ${name}`, () => {
    const chunks = loadFixture(`${dir}/${name}.jsonl`);
    const whole = replay(http2Parser, chunks);

    test("whole reads: every call the client made, with its error class", () => {
      expect(tally(whole.records)).toEqual(expected(name));
      expect(statsOf(whole.sessions)).toEqual({ resyncs: 0, unansweredDropped: 0, unmatchedResponses: 0, undecodable: 0 });
      for (const r of whole.records) {
        expect(r.respEndNs).toBeGreaterThanOrEqual(r.reqStartNs);
        expect(r.reqBytes).toBeGreaterThan(9);
        expect(r.respBytes).toBeGreaterThan(9);
      }
    });

    for (const split of [1, 7, 509]) {
      test(`frames split over reads of ${split} bytes: the same records`, () => {
        expect(replay(http2Parser, chunks, { split }).records).toEqual(whole.records);
      });
    }
  });
}

describe("http2 gRPC", () => {
  const chunks = loadFixture(`${dir}/grpc.jsonl`);
  const whole = replay(http2Parser, chunks).records;

  test("a streaming call is one record from its first request frame to its trailers", () => {
    const lists = whole.filter((r) => r.api === "/demo.Echo/List" && r.error === ErrorClass.None);
    expect(lists.length).toBe(8);
    // ≥ 3 items of 22 bytes (frame header, gRPC prefix, "item n"), the headers and the trailers.
    for (const r of lists) expect(r.respBytes).toBeGreaterThan(3 * (9 + 5 + 8) + 2 * 9);
    const chats = whole.filter((r) => r.api === "/demo.Echo/Chat" && r.error === ErrorClass.None);
    expect(chats.length).toBe(4);
    for (const r of chats) expect(r.respEndNs - r.reqStartNs).toBeGreaterThan(0);
  });

  test("a capture cap on one-frame writes: payload gaps stepped over, counts and true sizes unchanged", () => {
    const cap = 512;
    const frames = perFrame(chunks);
    expect(frames.some((c) => c.bytes.length > cap)).toBe(true);
    expect(replay(http2Parser, frames).records).toEqual(whole);
    expect(replay(http2Parser, frames, { cap }).records).toEqual(whole);
  });

  test("a capture cap cutting reads that hold many frames: losses are counted, nothing invented", () => {
    const { records, sessions } = replay(http2Parser, chunks, { cap: 1024 });
    const stats = statsOf(sessions);
    expect(stats.resyncs).toBeGreaterThan(0);
    // Every call is a record, or counted: its header block was lost with the table, or its
    // request was.
    expect(records.length + stats.undecodable + stats.unmatchedResponses).toBe(whole.length);
    expectSubset(records.map(outline), whole.map(outline));
  });
});

describe("http2 connections seen mid-way (their first half dropped: preface, settings, early insertions)", () => {
  for (const [name, decodable] of [["grpc", 0], ["go-client", 5]] as const) {
    test(`${name}: what decodes equals the full view; what hides behind unknown entries is counted`, () => {
      const chunks = loadFixture(`${dir}/${name}.jsonl`);
      const conn = chunks.filter((c) => c.conn === 1);
      const late = conn.slice(conn.findIndex((c, i) => i > conn.length / 2 && c.dir === "req"));
      const mid = replay(http2Parser, late);
      const stats = statsOf(mid.sessions);
      // gRPC's encoder indexes every header of its few calls early on: every later block
      // references entries we never saw. Go's HTTP client inserts new x-trace values per
      // request: some blocks decode from those alone.
      expect(mid.records.length).toBe(decodable);
      expect(stats.undecodable).toBeGreaterThan(20);
      expectSubset(mid.records, replay(http2Parser, chunks).records);
    });
  }
});

describe("http2 with a capture cap cutting DATA frames", () => {
  test("never more calls or errors than the client made; lost END_STREAMs are not invented", () => {
    for (const name of ["curl", "go-client"]) {
      const chunks = loadFixture(`${dir}/${name}.jsonl`);
      const { records, sessions } = replay(http2Parser, chunks, { cap: 16384 });
      expect(statsOf(sessions).resyncs).toBeGreaterThan(0);
      const want = expected(name);
      for (const [api, got] of Object.entries(tally(records))) {
        expect(want[api]).toBeDefined();
        expect(got.count).toBeLessThanOrEqual(want[api]!.count);
        expect(got.client).toBeLessThanOrEqual(want[api]!.client);
        expect(got.server).toBeLessThanOrEqual(want[api]!.server);
      }
      // Frames lost in gaps are not attributed: sizes and ends may be smaller, never the call.
      expectSubset(records.map(outline), replay(http2Parser, chunks).records.map(outline));
    }
  });
});

describe("http2 detect", () => {
  const first = (name: string, side: Chunk["dir"]) => loadFixture(`${import.meta.dir}/testdata/http2/${name}.jsonl`).find((c) => c.conn === 1 && c.dir === side)!.bytes;
  test("the client preface, even cut short; the server's SETTINGS preface", () => {
    expect(http2Parser.detect(first("grpc", "req"), "tcp")).toBe(Looks.Request);
    expect(http2Parser.detect(first("grpc", "req").subarray(0, 4), "tcp")).toBe(Looks.Request);
    expect(http2Parser.detect(first("grpc", "resp"), "tcp")).toBe(Looks.Response);
    expect(http2Parser.detect(first("grpc", "req"), "udp")).toBe(Looks.No);
  });
  test("mid-stream: HEADERS frames whose first field is a request pseudo-header or :status", () => {
    const chunks = loadFixture(`${dir}/go-client.jsonl`);
    const req = chunks.find((c, i) => i > 10 && c.dir === "req" && c.bytes[3] === 1)!.bytes;
    const resp = chunks.find((c, i) => i > 10 && c.dir === "resp" && c.bytes[3] === 1)!.bytes;
    expect(http2Parser.detect(req, "tcp")).toBe(Looks.Request);
    expect(http2Parser.detect(resp, "tcp")).toBe(Looks.Response);
  });
  test("not other protocols' first bytes", () => {
    const enc = (s: string) => new TextEncoder().encode(s);
    for (const s of ["GET / HTTP/1.1\r\n\r\n", "POST /x HTTP/1.1\r\n", "PR", "*1\r\n$4\r\nPING\r\n", "HTTP/1.1 200 OK\r\n"]) expect(http2Parser.detect(enc(s), "tcp")).toBe(Looks.No);
    // A MongoDB OP_MSG header and a Kafka request header are not frames.
    expect(http2Parser.detect(Uint8Array.from([0x3a, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0xdd, 0x07, 0, 0, 0, 0, 0, 0]), "tcp")).toBe(Looks.No);
    expect(http2Parser.detect(Uint8Array.from([0, 0, 0, 0x40, 0, 3, 0, 9, 0, 0, 0, 1, 0, 4, 0x74, 0x65, 0x73, 0x74]), "tcp")).toBe(Looks.No);
  });
});
