// The http2 parser on traffic recorded from real peers (testdata/http2/record.sh): curl and
// Go's HTTP/2 client against a Go h2c server, a Go gRPC client against a Go gRPC server.
// Expected counts are each client's own tally (<fixture>.expect.json), not the parser's.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ErrorClass, Looks, type L7Record } from "../protocol.ts";
import { type ApiTally, type Chunk, loadFixture, replay, tallyByApi } from "./test-replay.ts";
import { http2Parser, type Http2Stats } from "./http2.ts";

const dir = `${import.meta.dir}/testdata/http2`;
type Tally = Record<string, ApiTally>;
const expected = (name: string) => JSON.parse(readFileSync(`${dir}/${name}.expect.json`, "utf8")) as Tally;

const tally = tallyByApi;

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

// ---- frames the recorded peers did not send (padding, priority, CONTINUATION, 1xx, a reset
// before any response, GOAWAY), encoded by hand from RFC 9113 with static-table HPACK ----

function frame(type: number, flags: number, stream: number, payload: number[]): number[] {
  const n = payload.length;
  return [n >> 16, (n >> 8) & 0xff, n & 0xff, type, flags, (stream >>> 24) & 0x7f, (stream >> 16) & 0xff, (stream >> 8) & 0xff, stream & 0xff, ...payload];
}
const ascii = (s: string) => [...s].map((c) => c.charCodeAt(0));
const PRI = ascii("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
/** GET <path> (:path as a literal without indexing), :scheme http. */
const get = (path: string) => [0x82, 0x86, 0x04, path.length, ...ascii(path)];

describe("http2 frames encoded by hand", () => {
  test("padding, priority, CONTINUATION, a 100 before the final status, the query cut", () => {
    const s = http2Parser.session({ transport: "tcp" });
    const block = get("/x?q=1");
    const padded = [3, ...[0x80, 0, 0, 1, 16], ...block.slice(0, 3), 0, 0, 0]; // pad 3, priority, first 3 bytes
    const req = [...PRI, ...frame(1, 0x08 | 0x20 | 0x01, 1, padded), ...frame(9, 0x04, 1, block.slice(3))];
    s.request(Uint8Array.from(req), req.length, 100);
    const resp = [...frame(1, 0x04, 1, [0x08, 3, ...ascii("100")]), ...frame(1, 0x04, 1, [0x8d]), ...frame(0, 0x08 | 0x01, 1, [2, 0x61, 0, 0])];
    s.response(Uint8Array.from(resp), resp.length, 300);
    const out: L7Record[] = [];
    s.drain(out);
    expect(out).toEqual([{ api: "GET /x", reqStartNs: 100, respEndNs: 300, reqBytes: 9 + padded.length + 9 + block.length - 3, respBytes: resp.length, error: ErrorClass.Client }]);
  });

  test("RST_STREAM before any response: an error of the side that reset; GOAWAY drops unprocessed streams", () => {
    const s = http2Parser.session({ transport: "tcp" });
    const req = [...PRI, ...frame(1, 0x05, 1, get("/a")), ...frame(1, 0x05, 3, get("/b")), ...frame(1, 0x05, 5, get("/c")), ...frame(1, 0x05, 7, get("/d"))];
    s.request(Uint8Array.from(req), req.length, 10);
    const cancel = frame(3, 0, 1, [0, 0, 0, 8]); // CANCEL from the client
    s.request(Uint8Array.from(cancel), cancel.length, 20);
    const resp = [...frame(3, 0, 3, [0, 0, 0, 2]), ...frame(7, 0, 0, [0, 0, 0, 5, 0, 0, 0, 0]), ...frame(1, 0x05, 5, [0x88])];
    s.response(Uint8Array.from(resp), resp.length, 30);
    const out: L7Record[] = [];
    s.drain(out);
    expect(out.map((r) => [r.api, r.error, r.respEndNs])).toEqual([
      ["GET /a", ErrorClass.Client, 20],
      ["GET /b", ErrorClass.Server, 30],
      ["GET /c", ErrorClass.None, 30],
    ]);
    expect(s.stats).toEqual({ resyncs: 0, unansweredDropped: 0, unmatchedResponses: 0, undecodable: 0 });
  });

  test("bytes that are not frames lose the framing: counted, nothing invented, back at a frame boundary", () => {
    const s = http2Parser.session({ transport: "tcp" });
    const junk = ascii("GET / HTTP/1.1\r\n\r\n");
    s.request(Uint8Array.from(junk), junk.length, 1);
    const req = frame(1, 0x05, 9, get("/z"));
    s.request(Uint8Array.from(req), req.length, 2);
    const resp = frame(1, 0x05, 9, [0x88]);
    s.response(Uint8Array.from(resp), resp.length, 3);
    const out: L7Record[] = [];
    s.drain(out);
    expect(s.stats.resyncs).toBe(1);
    // The table is unknown (no preface) but the block uses only the static table.
    expect(out.map((r) => r.api)).toEqual(["GET /z"]);
  });
});
