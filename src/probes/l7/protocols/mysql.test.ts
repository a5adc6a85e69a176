// The MySQL parser against traffic recorded from a real MariaDB 10.11 and real clients
// (testdata/mysql/record.sh): the mariadb CLI (text protocol, COM_INIT_DB, failing
// statements, a 100 kB row and 5000 rows, an ed25519 login that needs an auth switch), a
// go-sql-driver client (COM_STMT_PREPARE/EXECUTE/CLOSE, binary rows, MariaDB's skipped
// metadata, CLIENT_DEPRECATE_EOF, multi-statements, COM_PING), mysql-connector-python
// (classic EOF packets, COM_STMT_RESET, COM_STMT_SEND_LONG_DATA, a cursor read with
// COM_STMT_FETCH, COM_STATISTICS, COM_RESET_CONNECTION, COM_CHANGE_USER, LOAD DATA LOCAL
// INFILE) and a 17 MB query and row (16 MiB continuation packets). What each client did is
// counted without the parser (testdata/mysql/expect.ts: the command packets on the wire and
// the errors the CLI printed; the Go and Python clients' own tallies). Every fixture is replayed whole, cut into 1-byte
// and odd-sized reads, and with a bounded capture (gaps).
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { ErrorClass, Looks, type L7Record } from "../protocol.ts";
import { mysqlParser } from "./mysql.ts";
import { SqlSessionOptionError } from "./sql-frames.ts";
import { loadFixture, READS_AND_CAPTURES, replay, summarize, type Chunk, type ReplayOptions, type RequestSummary } from "./test-replay.ts";

const dir = join(import.meta.dir, "testdata", "mysql");

interface Expected extends RequestSummary {
  noResponse: number;
}

function summary(records: L7Record[]): Expected {
  return { ...summarize(records), noResponse: records.filter((r) => r.noResponse).length };
}

const fixtures = new Map<string, Chunk[]>();
function fixture(name: string): Chunk[] {
  let chunks = fixtures.get(name);
  if (chunks) return chunks;
  if (name.endsWith(".gz")) {
    const tmp = mkdtempSync(join(tmpdir(), "l7-mysql-"));
    try {
      const path = join(tmp, "fixture.jsonl");
      writeFileSync(path, gunzipSync(readFileSync(join(dir, name))));
      chunks = loadFixture(path);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  } else chunks = loadFixture(join(dir, name));
  fixtures.set(name, chunks);
  return chunks;
}
const expected = (name: string) => JSON.parse(readFileSync(join(dir, name), "utf8")) as Expected;

/**
 * The commands a capture of `cap` bytes per read hides from any parser: those whose header
 * and command byte start past the captured prefix of the client read that carried them
 * (found by walking each connection's client bytes, without the parser).
 */
function hiddenByCapture(chunks: Chunk[], cap: number): { commands: number; noResponse: number } {
  let commands = 0;
  let noResponse = 0;
  for (const conn of new Set(chunks.map((c) => c.conn))) {
    const reads = chunks.filter((c) => c.conn === conn && c.dir === "req");
    const stream = Buffer.concat(reads.map((c) => c.bytes));
    const readStarts: number[] = [];
    let offset = 0;
    for (const r of reads) {
      readStarts.push(offset);
      offset += r.bytes.length;
    }
    let continued = false;
    for (let at = 0, read = 0; at + 4 <= stream.length; ) {
      const len = stream[at]! | (stream[at + 1]! << 8) | (stream[at + 2]! << 16);
      while (read + 1 < readStarts.length && readStarts[read + 1]! <= at) read++;
      if (stream[at + 3] === 0 && !continued && len > 0 && at - readStarts[read]! + 5 > cap) {
        commands++;
        const cmd = stream[at + 4];
        if (cmd === 0x01 || cmd === 0x18 || cmd === 0x19) noResponse++;
      }
      continued = len === 0xffffff;
      at += 4 + len;
    }
  }
  return { commands, noResponse };
}

const cases: [string, string][] = [
  ["mariadb-cli.jsonl", "mariadb-cli.expect.json"],
  ["go-binary.jsonl", "go-binary.expect.json"],
  ["python-classic.jsonl", "python-classic.expect.json"],
  ["big-packet.jsonl.gz", "big-packet.expect.json"],
];
const cuts: (readonly [string, ReplayOptions])[] = [...READS_AND_CAPTURES, ["64-byte capture", { cap: 64 }]];

describe("mysql parser on recorded traffic", () => {
  for (const [name, expect_] of cases) {
    for (const [cut, options] of cuts) {
      // 17 MB in 1-byte reads is 17 million calls: the 7-byte cut covers the same paths.
      if (name.startsWith("big") && options.split === 1) continue;
      test(`${name}, ${cut}: every command, error and API the client produced`, () => {
        const { records, sessions } = replay(mysqlParser, fixture(name), options);
        const want = expected(expect_);
        const hidden = options.cap === undefined ? { commands: 0, noResponse: 0 } : hiddenByCapture(fixture(name), options.cap);
        if (hidden.commands === 0) expect(summary(records)).toEqual(want);
        else {
          // A client read that held several commands (a long-data packet and the execute
          // after it) hides those whose header lies past the capture: exactly those go.
          const got = summary(records);
          expect([got.requests, got.noResponse, got.clientErrors, got.serverErrors]).toEqual([
            want.requests - hidden.commands,
            want.noResponse - hidden.noResponse,
            want.clientErrors,
            want.serverErrors,
          ]);
        }
        for (const r of records) {
          if (r.noResponse) expect(r.respEndNs).toBe(r.reqStartNs);
          else expect(r.respEndNs).toBeGreaterThanOrEqual(r.reqStartNs);
          expect(r.reqBytes).toBeGreaterThan(0);
        }
        if (options.cap === undefined) for (const s of sessions) expect(s.stats).toEqual({ resyncs: 0, unansweredDropped: 0, unmatchedResponses: 0 });
      });
    }
  }

  test("latency lies inside what the client saw: each answer ends before the client's next command, gaps or not", () => {
    // None of these clients pipelines: it reads the whole answer before it sends again.
    for (const name of ["mariadb-cli.jsonl", "go-binary.jsonl", "python-classic.jsonl"]) {
      const chunks = fixture(name);
      for (const conn of new Set(chunks.map((c) => c.conn))) {
        for (const cap of [undefined, 512, 16384]) {
          const { records } = replay(mysqlParser, chunks.filter((c) => c.conn === conn), { cap });
          const answered = records.filter((r) => !r.noResponse).sort((a, b) => a.reqStartNs - b.reqStartNs);
          for (let i = 0; i < answered.length; i++) {
            expect(answered[i]!.respEndNs).toBeGreaterThanOrEqual(answered[i]!.reqStartNs);
            if (i + 1 < answered.length) expect(answered[i]!.respEndNs).toBeLessThanOrEqual(answered[i + 1]!.reqStartNs);
          }
        }
      }
    }
  });

  test("a connection that agreed on CLIENT_COMPRESS yields no records (its frames are not parsed)", () => {
    const chunks = fixture("mariadb-compressed.jsonl");
    const handshake = chunks.find((c) => c.dir === "req")!.bytes;
    expect(handshake[3]).toBe(1);
    expect(handshake[4]! & 0x20).toBe(0x20); // CLIENT_COMPRESS in the capability flags
    expect(chunks.filter((c) => c.dir === "req").length).toBeGreaterThan(2); // commands were sent
    for (const split of [undefined, 1]) {
      const { records, sessions } = replay(mysqlParser, chunks, { split });
      expect(records).toEqual([]);
      expect(sessions[0]!.stats).toEqual({ resyncs: 0, unansweredDropped: 0, unmatchedResponses: 0 });
    }
  });

  test("the handshake and an ed25519 auth switch are not requests", () => {
    const chunks = fixture("mariadb-cli.jsonl");
    const conns = [...new Set(chunks.map((c) => c.conn))];
    const edu = chunks.filter((c) => c.conn === conns.at(-1));
    // The client wrote 3 packets before its first command: HandshakeResponse, auth switch response.
    const { records } = replay(mysqlParser, edu);
    expect(records.map((r) => r.api)).toEqual(["SELECT", "SELECT", "COM_QUIT"]);
    expect(records.every((r) => r.error === ErrorClass.None)).toBe(true);
  });

  test("a 17 MB row: the record carries every byte of the answer", () => {
    const chunks = fixture("big-packet.jsonl.gz");
    const conn = chunks.find((c) => c.dir === "req" && c.bytes.length > 1000)!.conn;
    const mine = chunks.filter((c) => c.conn === conn);
    const { records } = replay(mysqlParser, mine);
    const select = records.find((r) => r.api === "SELECT")!;
    const sent = mine.filter((c) => c.dir === "req");
    const handshake = sent[0]!.bytes;
    expect(handshake[3]).toBe(1); // sequence id 1: the HandshakeResponse
    const all = sent.reduce((n, c) => n + c.bytes.length, 0);
    expect(select.reqBytes).toBe(all - handshake.length - 5); // all but the handshake and the COM_QUIT packet
    expect(select.reqBytes).toBeGreaterThan(17_000_000);
    expect(select.respBytes).toBeGreaterThan(17_000_000);
  });

  test("maxBuffered: with 16 payload bytes kept per message the counts stay exact", () => {
    for (const [name, expect_] of cases) {
      const { records } = replay(mysqlParser, fixture(name), { maxBuffered: 16 });
      const got = summary(records);
      const want = expected(expect_);
      expect([got.requests, got.noResponse, got.clientErrors, got.serverErrors]).toEqual([want.requests, want.noResponse, want.clientErrors, want.serverErrors]);
    }
  });

  test("maxPending bounds the unanswered commands (a client that does not pipeline never fills one slot)", () => {
    const { records, sessions } = replay(mysqlParser, fixture("go-binary.jsonl"), { maxPending: 1 });
    expect(summary(records)).toEqual(expected("go-binary.expect.json"));
    expect(sessions[0]!.stats.unansweredDropped).toBe(0);
    expect(() => mysqlParser.session({ transport: "tcp", maxPending: -1 })).toThrow(SqlSessionOptionError);
  });

  test("prepared statements are counted under their verb, and COM_STMT_CLOSE has no answer", () => {
    const { records } = replay(mysqlParser, fixture("go-binary.jsonl"));
    const apis = records.map((r) => r.api);
    const i = apis.indexOf("COM_STMT_PREPARE");
    expect(apis.slice(i, i + 3)).toEqual(["COM_STMT_PREPARE", "INSERT", "COM_STMT_CLOSE"]);
    expect(records[i + 2]!.noResponse).toBe(true);
  });
});

describe("mysql detect", () => {
  test("the server greeting is a response; a command is a request", () => {
    const chunks = fixture("mariadb-cli.jsonl");
    const greeting = chunks.find((c) => c.dir === "resp")!.bytes;
    expect(mysqlParser.detect(greeting, "tcp")).toBe(Looks.Response);
    expect(mysqlParser.detect(greeting, "udp")).toBe(Looks.No);
    const command = chunks.find((c) => c.dir === "req" && c.bytes[3] === 0 && c.bytes[4] === 3)!.bytes;
    expect(mysqlParser.detect(command, "tcp")).toBe(Looks.Request);
    const ping = new Uint8Array([1, 0, 0, 0, 0x0e]);
    expect(mysqlParser.detect(ping, "tcp")).toBe(Looks.Request);
  });

  test("other protocols are not claimed", () => {
    const te = new TextEncoder();
    for (const s of ["GET / HTTP/1.1\r\nHost: x\r\n\r\n", "*1\r\n$4\r\nPING\r\n", "PING\r\n", "Q\0\0\0\x0dSELECT 1\0"]) expect(mysqlParser.detect(te.encode(s), "tcp")).toBe(Looks.No);
    // PostgreSQL SSLRequest and StartupMessage, a Kafka ApiVersions request, a DNS-over-TCP query.
    expect(mysqlParser.detect(new Uint8Array([0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f]), "tcp")).toBe(Looks.No);
    expect(mysqlParser.detect(new Uint8Array([0, 0, 0, 0x3f, 0, 3, 0, 0, 0x75, 0x73]), "tcp")).toBe(Looks.No);
    expect(mysqlParser.detect(new Uint8Array([0, 0, 0, 0x1b, 0, 0x12, 0, 3, 0, 0, 0, 1, 0, 7]), "tcp")).toBe(Looks.No);
    expect(mysqlParser.detect(new Uint8Array([0, 0x1d, 0x12, 0x34, 1, 0, 0, 1, 0, 0]), "tcp")).toBe(Looks.No);
  });
});
