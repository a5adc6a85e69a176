// The PostgreSQL parser against traffic recorded from a real PostgreSQL 15 and real clients
// (testdata/pgsql/record.sh): psql (simple query protocol), a pgx client logging in with
// SCRAM-SHA-256 (extended protocol, a named prepared statement, pipeline mode with an
// error) and pgbench -M extended / prepared / pipeline. What each client did is counted
// without the parser: from simple.sql, from the Go client's own tally and from pgbench's
// report. Every fixture is replayed whole, cut into 1-byte and odd-sized reads, and with a
// bounded capture (gaps).
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Looks } from "../protocol.ts";
import { pgsqlParser } from "./pgsql.ts";
import { SqlSessionOptionError } from "./sql-frames.ts";
import { loadFixture, READS_AND_CAPTURES, replay, summarize, type RequestSummary } from "./test-replay.ts";

const dir = join(import.meta.dir, "testdata", "pgsql");
const fixture = (name: string) => loadFixture(join(dir, name));

type Expected = RequestSummary;
const summary = summarize;

// psql -f simple.sql sends each statement as one Query; then `psql -c "SELECT 1; SELECT 2"`
// sends one Query holding two statements.
function psqlExpected(): Expected {
  const statements = readFileSync(join(dir, "simple.sql"), "utf8")
    .split("\n")
    .filter((l) => l.trimEnd().endsWith(";"));
  const apis: Record<string, number> = {};
  for (const s of statements) {
    const verb = s.trim().split(/[\s;(]/)[0]!.toUpperCase();
    apis[verb] = (apis[verb] ?? 0) + 1;
  }
  apis.SELECT = (apis.SELECT ?? 0) + 1;
  // The statements that fail, by SQLSTATE (psql printed these 7 errors when recording):
  // client: 23505 duplicate key, 42601 "SELEC", 22012 division by zero (twice), 42P01 missing
  // table, 25P02 the SELECT inside the aborted transaction; server: 57014 statement timeout.
  return { requests: statements.length + 1, clientErrors: 6, serverErrors: 1, apis };
}

// pgbench: 3 statements per transaction in every mode; -M prepared also prepares each of the
// 3 statements once (Parse + Sync, counted as "PREPARE").
function pgbenchExpected(): Expected {
  const lines = readFileSync(join(dir, "pgbench.out"), "utf8").trim().split("\n");
  let requests = 0;
  let prepares = 0;
  for (let i = 0; i < lines.length; i += 2) {
    const mode = /query mode: (\w+)/.exec(lines[i]!)?.[1];
    const tx = Number(/processed: (\d+)\/\1/.exec(lines[i + 1]!)?.[1]);
    if (!mode || !Number.isInteger(tx)) throw new Error(`pgbench.out: unexpected lines ${lines[i]} / ${lines[i + 1]}`);
    requests += tx * 3;
    if (mode === "prepared") prepares += 3;
  }
  const perKind = requests / 3;
  return { requests: requests + prepares, clientErrors: 0, serverErrors: 0, apis: { SELECT: 2 * perKind, INSERT: perKind, PREPARE: prepares } };
}

const cases: [string, () => Expected][] = [
  ["psql-simple.jsonl", psqlExpected],
  ["scram-ext.jsonl", () => JSON.parse(readFileSync(join(dir, "scram-ext.expect.json"), "utf8")) as Expected],
  ["pgbench-ext.jsonl", pgbenchExpected],
];

// Cuts: whole reads, 1-byte reads, odd sizes, and a 4 KiB capture (the big DataRow, the big
// result sets and the COPY data then end in gaps the parser steps over or recovers from).
const cuts = READS_AND_CAPTURES;

describe("pgsql parser on recorded traffic", () => {
  for (const [name, expected] of cases) {
    for (const [cut, options] of cuts) {
      test(`${name}, ${cut}: every request, error and API the client produced`, () => {
        const { records, sessions } = replay(pgsqlParser, fixture(name), options);
        expect(summary(records)).toEqual(expected());
        for (const r of records) {
          expect(r.respEndNs).toBeGreaterThanOrEqual(r.reqStartNs);
          expect(r.reqBytes).toBeGreaterThan(0);
        }
        if (options.cap === undefined) for (const s of sessions) expect(s.stats).toEqual({ resyncs: 0, unansweredDropped: 0, unmatchedResponses: 0 });
      });
    }
  }

  test("latency lies inside what the client saw: each answer ends before psql's next query, gaps or not", () => {
    // psql and the pgx client outside its pipeline read the whole answer before sending again.
    const chunks = fixture("psql-simple.jsonl");
    for (const conn of new Set(chunks.map((c) => c.conn))) {
      for (const cap of [undefined, 512, 4096]) {
        const { records } = replay(pgsqlParser, chunks.filter((c) => c.conn === conn), { cap });
        for (let i = 0; i < records.length; i++) {
          expect(records[i]!.respEndNs).toBeGreaterThanOrEqual(records[i]!.reqStartNs);
          if (i + 1 < records.length) expect(records[i]!.respEndNs).toBeLessThanOrEqual(records[i + 1]!.reqStartNs);
        }
      }
    }
  });

  test("a 64-byte capture loses requests but invents none and counts its resyncs", () => {
    for (const [name, expected] of cases) {
      const full = expected();
      const { records, sessions } = replay(pgsqlParser, fixture(name), { cap: 64 });
      expect(records.length).toBeLessThanOrEqual(full.requests);
      for (const r of records) expect(r.api === "EXECUTE" || full.apis[r.api] !== undefined).toBe(true);
      expect(sessions.reduce((n, s) => n + s.stats.resyncs, 0)).toBeGreaterThan(0);
    }
  });

  test("bytes: a record's request and response bytes add up to what the connection carried", () => {
    const chunks = fixture("psql-simple.jsonl").filter((c) => c.conn === 2);
    const { records } = replay(pgsqlParser, chunks);
    expect(records).toHaveLength(1);
    // The one Query of `psql -c` (tag, length, text, NUL), read in one chunk; everything the
    // server sent after it is its answer (then psql sends Terminate and closes).
    const query = chunks.find((c) => c.dir === "req" && c.bytes[0] === 0x51)!;
    expect(query.bytes.length).toBe(5 + "SELECT 1; SELECT 2".length + 1);
    expect(records[0]!.reqBytes).toBe(query.bytes.length);
    expect(records[0]!.reqStartNs).toBe(query.t);
    const answer = chunks.filter((c) => c.dir === "resp" && c.t > query.t);
    expect(records[0]!.respBytes).toBe(answer.reduce((n, c) => n + c.bytes.length, 0));
    expect(records[0]!.respEndNs).toBe(answer.at(-1)!.t);
    expect(records[0]!.api).toBe("SELECT");
  });

  test("pipeline mode: 20 transactions of 3 queries, one Sync each, answered in order", () => {
    const chunks = fixture("pgbench-ext.jsonl");
    const conns = [...new Set(chunks.map((c) => c.conn))];
    const last = chunks.filter((c) => c.conn === conns.at(-1));
    const { records } = replay(pgsqlParser, last);
    expect(records.map((r) => r.api).slice(0, 6)).toEqual(["SELECT", "INSERT", "SELECT", "SELECT", "INSERT", "SELECT"]);
    expect(records).toHaveLength(60);
  });

  test("maxBuffered: with 16 payload bytes kept per message the counts stay exact", () => {
    // Verbs of long statement names may become EXECUTE, and an ErrorResponse's SQLSTATE (its
    // third field, from byte 15) is cut, so errors are counted but classed as the server's.
    for (const [name, expected] of cases) {
      const { records } = replay(pgsqlParser, fixture(name), { maxBuffered: 16 });
      const got = summary(records);
      const want = expected();
      expect([got.requests, got.clientErrors + got.serverErrors]).toEqual([want.requests, want.clientErrors + want.serverErrors]);
    }
    const { records } = replay(pgsqlParser, fixture("psql-simple.jsonl"), { maxBuffered: 32 });
    expect(summary(records)).toEqual(psqlExpected());
  });

  test("session options out of range are refused with a coded error", () => {
    expect(() => pgsqlParser.session({ transport: "tcp", maxPending: 0 })).toThrow(SqlSessionOptionError);
    expect(() => pgsqlParser.session({ transport: "tcp", maxBuffered: 1.5 })).toThrow(/maxBuffered must be a positive integer, got 1.5/);
  });

  test("maxPending bounds the unanswered requests and counts the dropped ones", () => {
    const { records, sessions } = replay(pgsqlParser, fixture("pgbench-ext.jsonl"), { maxPending: 2 });
    expect(sessions.reduce((n, s) => n + s.stats.unansweredDropped, 0)).toBeGreaterThan(0);
    expect(records.length).toBeLessThan(pgbenchExpected().requests);
  });
});

describe("pgsql detect", () => {
  const firstOf = (name: string, dir: "req" | "resp") => {
    const chunks = fixture(name);
    // (A connection the recording script opened only to see the proxy listen carries no message.)
    const conn = chunks.find((c) => c.dir === "req" && c.bytes.length >= 8)!.conn;
    return chunks.find((c) => c.conn === conn && c.dir === dir)!.bytes;
  };

  test("a client's first bytes (SSLRequest, StartupMessage) are a request; SCRAM's AuthenticationSASL is a response", () => {
    expect(pgsqlParser.detect(firstOf("psql-simple.jsonl", "req"), "tcp")).toBe(Looks.Request);
    expect(pgsqlParser.detect(firstOf("scram-ext.jsonl", "req"), "tcp")).toBe(Looks.Request);
    expect(pgsqlParser.detect(firstOf("scram-ext.jsonl", "resp"), "tcp")).toBe(Looks.Response);
    expect(pgsqlParser.detect(firstOf("scram-ext.jsonl", "req"), "udp")).toBe(Looks.No);
  });

  test("a Query or Parse seen mid-connection is a request", () => {
    const q = new Uint8Array([0x51, 0, 0, 0, 13, ...new TextEncoder().encode("SELECT 1"), 0]);
    expect(pgsqlParser.detect(q, "tcp")).toBe(Looks.Request);
  });

  test("other protocols are not claimed", () => {
    const te = new TextEncoder();
    for (const s of ["GET / HTTP/1.1\r\nHost: x\r\n\r\n", "*1\r\n$4\r\nPING\r\n", "PING\r\n", "QUIT\r\n", "Q"]) expect(pgsqlParser.detect(te.encode(s), "tcp")).toBe(Looks.No);
    // A MySQL COM_QUERY and a Kafka ApiVersions request.
    expect(pgsqlParser.detect(new Uint8Array([9, 0, 0, 0, 3, 0x53, 0x45, 0x4c, 0x45, 0x43, 0x54, 0x20, 0x31]), "tcp")).toBe(Looks.No);
    expect(pgsqlParser.detect(new Uint8Array([0, 0, 0, 0x1b, 0, 0x12, 0, 3, 0, 0, 0, 1, 0, 7]), "tcp")).toBe(Looks.No);
  });
});
