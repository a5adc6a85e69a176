// The mongo parser on traffic recorded from a real server (FerretDB 1.24 over PostgreSQL 15)
// and the official Go driver (testdata/mongo/record.sh); expected counts are the driver's own
// tally (client.expect.json). OP_COMPRESSED, checksums and a document sequence before the
// body are not produced by that pair (FerretDB does not compress): those tests encode the
// messages by hand from the wire-protocol specification, and say so.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ErrorClass, Looks, type L7Record } from "../protocol.ts";
import { loadFixture, replay } from "./test-replay.ts";
import { mongoParser } from "./mongo.ts";

const dir = `${import.meta.dir}/testdata/mongo`;
const chunks = loadFixture(`${dir}/client.jsonl`);
const client = JSON.parse(readFileSync(`${dir}/client.expect.json`, "utf8")) as {
  commands: Record<string, { count: number; failed: number }>;
  handshakes: number;
  heartbeats: number;
};

type Tally = Record<string, { count: number; failed: number }>;
function tally(records: L7Record[]): Tally {
  const t: Tally = {};
  for (const r of records) {
    const a = (t[r.api] ??= { count: 0, failed: 0 });
    a.count++;
    if (r.error !== ErrorClass.None) a.failed++;
  }
  return t;
}

/** What the parser should see, from the driver's tally: its commands; its handshakes and
 *  heartbeats, which this driver sends as legacy OP_QUERY isMaster; and endSessions, which
 *  FerretDB answers with ok: 0 CommandNotFound while the driver reports it as a success. */
function expectedFromClient(): Tally {
  const t: Tally = structuredClone(client.commands);
  t.isMaster = { count: client.handshakes + client.heartbeats, failed: 0 };
  t.endSessions = { count: t.endSessions!.count, failed: t.endSessions!.count };
  return t;
}

describe("mongo on FerretDB + the Go driver", () => {
  const whole = replay(mongoParser, chunks);

  test("every command the driver sent, failures as the server answered them", () => {
    expect(tally(whole.records)).toEqual(expectedFromClient());
    const stats = whole.sessions.map((s) => s.stats);
    // FerretDB answers the unacknowledged (moreToCome) insert anyway: a reply to nothing.
    expect(stats.reduce((n, s) => n + s.unmatchedResponses, 0)).toBe(1);
    expect(stats.reduce((n, s) => n + s.resyncs + s.unansweredDropped + (s.undecodable ?? 0), 0)).toBe(0);
  });

  test("classes: BadValue and CommandNotFound are the client's; the w: 0 insert has no response", () => {
    const failed = whole.records.filter((r) => r.error !== ErrorClass.None);
    expect(failed.map((r) => [r.api, r.error])).toEqual([
      ["find", ErrorClass.Client],
      ["noSuchCommand", ErrorClass.Client],
      ["endSessions", ErrorClass.Client],
    ]);
    const unacked = whole.records.filter((r) => r.noResponse);
    expect(unacked.map((r) => [r.api, r.respBytes, r.respEndNs - r.reqStartNs])).toEqual([["insert", 0, 0]]);
    for (const r of whole.records) if (!r.noResponse) expect(r.respEndNs).toBeGreaterThanOrEqual(r.reqStartNs);
  });

  for (const split of [1, 7, 333]) {
    test(`messages split over reads of ${split} bytes: the same records`, () => {
      expect(replay(mongoParser, chunks, { split }).records).toEqual(whole.records);
    });
  }

  test("a capture cap of 256 bytes: large replies stepped over, the same records and true sizes", () => {
    expect(chunks.some((c) => c.bytes.length > 1000)).toBe(true);
    expect(replay(mongoParser, chunks, { cap: 256 }).records).toEqual(whole.records);
  });

  test("a cap that cuts a read holding two messages: the second is lost and counted, not invented", () => {
    const { records, sessions } = replay(mongoParser, chunks, { cap: 64 });
    expect(sessions.reduce((n, s) => n + s.stats.resyncs, 0)).toBeGreaterThan(0);
    const want = tally(whole.records);
    for (const [api, got] of Object.entries(tally(records))) expect(got.count).toBeLessThanOrEqual(want[api]!.count);
  });

  test("detect: a request header (responseTo 0), a reply header, not HTTP or RESP", () => {
    const firstReq = chunks.find((c) => c.dir === "req")!.bytes;
    const firstResp = chunks.find((c) => c.dir === "resp")!.bytes;
    expect(mongoParser.detect(firstReq, "tcp")).toBe(Looks.Request);
    expect(mongoParser.detect(firstResp, "tcp")).toBe(Looks.Response);
    expect(mongoParser.detect(firstReq, "udp")).toBe(Looks.No);
    expect(mongoParser.detect(firstReq.subarray(0, 15), "tcp")).toBe(Looks.No);
    for (const s of ["GET / HTTP/1.1\r\nHost: x\r\n\r\n", "*1\r\n$4\r\nPING\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"]) expect(mongoParser.detect(new TextEncoder().encode(s), "tcp")).toBe(Looks.No);
  });
});

// ---- hand-encoded from the wire-protocol specification (no server here produces these) ----

function bsonDoc(fields: [string, "int" | "double" | "string", number | string][]): Buffer {
  const parts = fields.map(([k, t, v]) => {
    const name = Buffer.concat([Buffer.from(k), Buffer.from([0])]);
    if (t === "int") return Buffer.concat([Buffer.from([0x10]), name, le32(v as number)]);
    if (t === "double") {
      const d = Buffer.alloc(8);
      d.writeDoubleLE(v as number);
      return Buffer.concat([Buffer.from([0x01]), name, d]);
    }
    const s = Buffer.concat([Buffer.from(v as string), Buffer.from([0])]);
    return Buffer.concat([Buffer.from([0x02]), name, le32(s.length), s]);
  });
  const body = Buffer.concat([...parts, Buffer.from([0])]);
  return Buffer.concat([le32(body.length + 4), body]);
}
function le32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n);
  return b;
}
function message(requestID: number, responseTo: number, op: number, body: Buffer): Uint8Array {
  return Uint8Array.from(Buffer.concat([le32(body.length + 16), le32(requestID), le32(responseTo), le32(op), body]));
}
/** A message as one read: its bytes and their true length. */
const whole = (m: Uint8Array) => [m, m.length] as const;
const opMsg = (flags: number, ...sections: Buffer[]) => Buffer.concat([le32(flags), ...sections]);
const kind0 = (doc: Buffer) => Buffer.concat([Buffer.from([0]), doc]);
const kind1 = (id: string, ...docs: Buffer[]) => {
  const payload = Buffer.concat([Buffer.from(id), Buffer.from([0]), ...docs]);
  return Buffer.concat([Buffer.from([1]), le32(payload.length + 4), payload]);
};
const compressed = (op: number, compressor: number, inner: Buffer) => Buffer.concat([le32(op), le32(inner.length), Buffer.from([compressor]), inner]);

describe("mongo messages encoded by hand from the spec", () => {
  test("a document sequence before the body and a checksum: API from the body, ok: 0 with a server code", () => {
    const s = mongoParser.session({ transport: "tcp" });
    const insert = opMsg(1, kind1("documents", bsonDoc([["_id", "int", 1]])), kind0(bsonDoc([["insert", "string", "c"], ["$db", "string", "d"]])), le32(0x12345678));
    s.request(...whole(message(7, 0, 2013, insert)), 100);
    s.response(...whole(message(9, 7, 2013, opMsg(1, kind0(bsonDoc([["ok", "double", 0], ["errmsg", "string", "x"], ["code", "int", 91]])), le32(1)))), 250);
    const out: L7Record[] = [];
    s.drain(out);
    expect(out.map((r) => [r.api, r.error, r.respEndNs - r.reqStartNs])).toEqual([["insert", ErrorClass.Server, 150]]);
  });

  test("OP_COMPRESSED: noop read as the wrapped OP_MSG; zlib paired and counted as undecodable", () => {
    const s = mongoParser.session({ transport: "tcp" });
    const ping = opMsg(0, kind0(bsonDoc([["ping", "int", 1]])));
    const ok = opMsg(0, kind0(bsonDoc([["ok", "double", 1]])));
    const feed = (m: Uint8Array, req: boolean, t: number) => (req ? s.request(m, m.length, t) : s.response(m, m.length, t));
    feed(message(1, 0, 2012, compressed(2013, 0, ping)), true, 10);
    feed(message(2, 1, 2012, compressed(2013, 0, ok)), false, 20);
    feed(message(3, 0, 2012, compressed(2013, 2, Buffer.from([0x78, 0x9c, 1, 2, 3]))), true, 30);
    feed(message(4, 3, 2012, compressed(2013, 2, Buffer.from([0x78, 0x9c, 4, 5, 6]))), false, 40);
    const out: L7Record[] = [];
    s.drain(out);
    expect(out.map((r) => [r.api, r.error])).toEqual([["ping", ErrorClass.None]]);
    expect(s.stats.undecodable).toBe(1);
    expect(s.stats.unmatchedResponses).toBe(0);
  });

  test("an exhaust cursor (replies with moreToCome) is one call ending at its last reply", () => {
    const s = mongoParser.session({ transport: "tcp" });
    const feed = (m: Uint8Array, req: boolean, t: number) => (req ? s.request(m, m.length, t) : s.response(m, m.length, t));
    feed(message(5, 0, 2013, opMsg(1 << 16, kind0(bsonDoc([["getMore", "int", 1]])))), true, 0);
    feed(message(6, 5, 2013, opMsg(2, kind0(bsonDoc([["ok", "double", 1]])))), false, 10);
    feed(message(7, 6, 2013, opMsg(2, kind0(bsonDoc([["ok", "double", 1]])))), false, 20);
    feed(message(8, 7, 2013, opMsg(0, kind0(bsonDoc([["ok", "double", 1]])))), false, 30);
    const out: L7Record[] = [];
    s.drain(out);
    expect(out.map((r) => [r.api, r.reqStartNs, r.respEndNs])).toEqual([["getMore", 0, 30]]);
    expect(out.length).toBe(1);
    expect(s.stats.unmatchedResponses).toBe(0);
  });

  test("legacy OP_QUERY on a collection, OP_REPLY with QueryFailure, OP_INSERT without a reply", () => {
    const s = mongoParser.session({ transport: "tcp" });
    const query = Buffer.concat([le32(0), Buffer.from("d.c\0"), le32(0), le32(1), bsonDoc([["a", "int", 1]])]);
    const reply = Buffer.concat([le32(2), le32(0), le32(0), le32(0), le32(1), bsonDoc([["$err", "string", "bad"], ["code", "int", 2]])]);
    const insert = Buffer.concat([le32(0), Buffer.from("d.c\0"), bsonDoc([["a", "int", 1]])]);
    s.request(...whole(message(11, 0, 2004, query)), 1);
    s.response(...whole(message(12, 11, 1, reply)), 2);
    s.request(...whole(message(13, 0, 2002, insert)), 3);
    const out: L7Record[] = [];
    s.drain(out);
    expect(out.map((r) => [r.api, r.error, r.noResponse ?? false])).toEqual([
      ["query", ErrorClass.Client, false],
      ["insert", ErrorClass.None, true],
    ]);
  });
});
