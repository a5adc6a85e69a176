// The DNS parser against real traffic: glibc's resolver (getent) and dnsmasq, recorded
// through the UDP and TCP relays (testdata/dns/record.sh). What the parser counts is compared
// with dnsmasq's own log of the queries it received and how it answered them
// (testdata/dns/dnsmasq-queries.log), not with the parser's output.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ErrorClass, Looks, type L7Record } from "../protocol.ts";
import { NameMatcher, readName } from "./dns-message.ts";
import { dnsErrorClass, dnsParser } from "./dns.ts";
import { loadFixture, replay, tallyByApi, type ApiTally, type Chunk } from "./test-replay.ts";

const dir = join(import.meta.dir, "testdata", "dns");
const udp = loadFixture(join(dir, "udp.jsonl"));
const tcp = loadFixture(join(dir, "tcp.jsonl"));

type Tally = ApiTally;

const tally = tallyByApi;

/** dnsmasq's view: "<serial> query[A] name from …" then "<serial> config name is NXDOMAIN" etc. */
function expected(): Record<string, Tally> {
  const names = new Map<string, string>();
  const entries: { api: string; error: ErrorClass }[] = [];
  for (const line of readFileSync(join(dir, "dnsmasq-queries.log"), "utf8").trim().split("\n")) {
    const q = /^(\d+) query\[\w+\] (\S+) from /.exec(line);
    if (q) {
      names.set(q[1]!, q[2]!.toLowerCase());
      continue;
    }
    const serial = line.split(" ")[0]!;
    const api = names.get(serial);
    if (api === undefined) throw new Error(`dnsmasq answer without query: ${line}`);
    names.delete(serial);
    const error = / is (NXDOMAIN|REFUSED)\b/.test(line) ? ErrorClass.Client : / SERVFAIL\b/.test(line) ? ErrorClass.Server : ErrorClass.None;
    entries.push({ api, error });
  }
  if (names.size !== 0) throw new Error(`dnsmasq queries without answer: ${[...names.values()].join(", ")}`);
  return tally(entries);
}

function merged(...parts: Record<string, Tally>[]): Record<string, Tally> {
  const out: Record<string, Tally> = {};
  for (const p of parts) {
    for (const [api, t] of Object.entries(p)) {
      const o = (out[api] ??= { count: 0, client: 0, server: 0 });
      o.count += t.count;
      o.client += t.client;
      o.server += t.server;
    }
  }
  return out;
}

function stats(sessions: ReturnType<typeof replay>["sessions"]) {
  return sessions.reduce((a, s) => ({ resyncs: a.resyncs + s.stats.resyncs, dropped: a.dropped + s.stats.unansweredDropped, unmatched: a.unmatched + s.stats.unmatchedResponses }), { resyncs: 0, dropped: 0, unmatched: 0 });
}

const flagsOf = (c: Chunk, tcpPrefix: boolean) => c.bytes[tcpPrefix ? 4 : 2]!;

describe("dns parser on recorded glibc ↔ dnsmasq traffic", () => {
  const want = expected();

  test("the recording covers what the parser must handle", () => {
    expect(want["www.example.test"]).toEqual({ count: 24, client: 0, server: 0 }); // 10 + 2 mixed-case lookups, A and AAAA each
    expect(want["missing.nx.test"]).toEqual({ count: 8, client: 8, server: 0 });
    expect(want["other.org"]).toEqual({ count: 6, client: 6, server: 0 }); // REFUSED, glibc asks twice
    // A truncated UDP answer, then the same query over TCP.
    expect(udp.some((c) => c.dir === "resp" && (flagsOf(c, false) & 0x02) !== 0)).toBe(true);
    // Two TCP queries (A and AAAA) in one write.
    expect(tcp.some((c) => c.dir === "req" && ((c.bytes[0]! << 8) | c.bytes[1]!) + 2 < c.bytes.length)).toBe(true);
  });

  test("counts per domain and errors equal dnsmasq's (UDP and TCP together)", () => {
    const u = replay(dnsParser, udp, { transport: "udp" });
    const t = replay(dnsParser, tcp, { transport: "tcp" });
    expect(merged(tally(u.records), tally(t.records))).toEqual(want);
    expect(stats([...u.sessions, ...t.sessions])).toEqual({ resyncs: 0, dropped: 0, unmatched: 0 });
    for (const r of [...u.records, ...t.records]) expect(r.respEndNs).toBeGreaterThan(r.reqStartNs);
  });

  test("TCP split over reads gives the same records", () => {
    const whole = replay(dnsParser, tcp, { transport: "tcp" }).records;
    for (const split of [1, 3, 40]) {
      const { records, sessions } = replay(dnsParser, tcp, { transport: "tcp", split });
      expect(records).toEqual(whole);
      expect(stats(sessions)).toEqual({ resyncs: 0, dropped: 0, unmatched: 0 });
    }
  });

  test("TCP cut by a bounded capture: messages stepped over by length; a query hidden in a gap is counted, never guessed", () => {
    const whole = replay(dnsParser, tcp, { transport: "tcp" }).records;
    // 40 bytes hold a whole query but not the second one glibc writes with it (use-vc).
    const hidden = tcp.filter((c) => c.dir === "req" && c.bytes.length > 40 && ((c.bytes[0]! << 8) | c.bytes[1]!) + 2 < c.bytes.length).length;
    expect(hidden).toBe(7);
    for (const o of [{ cap: 40 }, { cap: 40, split: 50 }]) {
      const { records, sessions } = replay(dnsParser, tcp, { transport: "tcp", ...o });
      expect(records.length).toBe(whole.length - hidden);
      for (const r of records) expect(whole).toContainEqual(r);
      expect(stats(sessions)).toEqual({ resyncs: hidden, dropped: 0, unmatched: hidden });
    }
  });

  test("UDP datagrams cut by a bounded capture keep their records (the header and question are enough)", () => {
    const whole = replay(dnsParser, udp, { transport: "udp" }).records;
    expect(replay(dnsParser, udp, { transport: "udp", cap: 48 }).records).toEqual(whole);
  });

  test("the truncated UDP answer is an answered request without error; the TCP retry is a request of its own", () => {
    const u = replay(dnsParser, udp, { transport: "udp" }).records.filter((r) => r.api === "big.test");
    const t = replay(dnsParser, tcp, { transport: "tcp" }).records.filter((r) => r.api === "big.test");
    expect(u.map((r) => r.error)).toEqual([ErrorClass.None]);
    expect(t.map((r) => r.error)).toEqual([ErrorClass.None]);
    expect(t[0]!.respBytes).toBeGreaterThan(512);
  });

  test("A and AAAA in flight together pair by id, whatever order the answers come in", () => {
    const conn = udp.find((c, i) => c.dir === "req" && udp[i + 1]?.dir === "req" && udp[i + 1]!.conn === c.conn)!.conn;
    const mine = udp.filter((c) => c.conn === conn).slice(0, 4);
    expect(mine.map((c) => c.dir)).toEqual(["req", "req", "resp", "resp"]);
    const swapped = [mine[0]!, mine[1]!, mine[3]!, mine[2]!];
    const inOrder = replay(dnsParser, mine, { transport: "udp" }).records;
    const reversed = replay(dnsParser, swapped, { transport: "udp" }).records;
    const key = (r: L7Record) => `${r.reqStartNs}:${r.reqBytes}:${r.respBytes}:${r.respEndNs}`;
    expect(reversed.map(key).sort()).toEqual(inOrder.map(key).sort());
    // The answer to the second query (AAAA: a longer answer) ends the second request.
    const second = reversed.find((r) => r.reqStartNs === mine[1]!.t)!;
    expect(second.respBytes).toBe(mine[3]!.bytes.length);
  });

  test("answers matching no query are counted, not recorded; maxPending bounds the queries", () => {
    const s = dnsParser.session({ transport: "udp", maxPending: 3 });
    const answers = udp.filter((c) => c.dir === "resp").slice(0, 4);
    for (const c of answers) s.response(c.bytes, c.bytes.length, c.t);
    expect(s.stats.unmatchedResponses).toBe(4);
    for (const c of udp.filter((c) => c.dir === "req").slice(0, 10)) s.request(c.bytes, c.bytes.length, c.t);
    expect(s.stats.unansweredDropped).toBe(7);
    expect(s.drain([])).toBe(0);
  });

  test("an answer with a pending query's id but another question is not paired with it", () => {
    const q = udp.find((c) => c.dir === "req")!;
    const a = udp.find((c) => c.conn === q.conn && c.dir === "resp" && c.bytes[0] === q.bytes[0] && c.bytes[1] === q.bytes[1])!;
    const otherName = Uint8Array.from(a.bytes);
    otherName[13] = otherName[13]! ^ 0x01; // first letter of the question's name ("w" → "v")
    const otherType = Uint8Array.from(a.bytes);
    otherType[q.bytes.length - 3] = otherType[q.bytes.length - 3]! ^ 0x1d; // qtype A (1) → AAAA (28)
    const upper = Uint8Array.from(a.bytes);
    upper[13] = upper[13]! - 0x20; // 0x20 case randomisation: still the same name
    for (const [answer, paired] of [[otherName, 0], [otherType, 0], [upper, 1], [a.bytes, 1]] as const) {
      const s = dnsParser.session({ transport: "udp" });
      s.request(q.bytes, q.bytes.length, 1);
      s.response(answer, answer.length, 2);
      expect([s.drain([]), s.stats.unmatchedResponses]).toEqual([paired, 1 - paired]);
    }
    const m = new NameMatcher();
    const wire = Uint8Array.from([...new Array(12).fill(0), 3, 0x41, 0x2e, 0x62, 1, 0x63, 0]);
    expect(readName(wire, 0, 12, wire.length, { pos: 0 })).toBe("a\\046b.c");
    expect(m.matches(wire, 0, 12, wire.length, "a\\046b.c")).toBe(true);
    expect(m.matches(wire, 0, 12, wire.length, "a\\046b.cd")).toBe(false);
    expect(m.matches(wire, 0, 12, wire.length, "a.b.c")).toBe(false);
  });

  test("the EDNS extended response code is read past compressed answer names", () => {
    // An answer recorded with `options edns0`: its OPT record follows an answer whose name is
    // a compression pointer. Setting the OPT's extended-rcode byte makes rcode 16 (BADVERS).
    const conn = udp.find((c) => c.dir === "req" && c.bytes[11] === 1)!.conn;
    const q = udp.find((c) => c.conn === conn && c.dir === "req")!;
    const a = udp.find((c) => c.conn === conn && c.dir === "resp" && c.bytes[0] === q.bytes[0] && c.bytes[1] === q.bytes[1])!;
    expect(a.bytes[3]! & 0x0f).toBe(0);
    const patched = Uint8Array.from(a.bytes);
    const opt = patched.length - 11; // an empty OPT record: root name, type 41, class, ext-rcode, version, flags, rdlength 0
    expect([patched[opt]!, patched[opt + 1]!, patched[opt + 2]!]).toEqual([0, 0, 41]);
    patched[opt + 5] = 1;
    for (const [bytes, error] of [[a.bytes, ErrorClass.None], [patched, ErrorClass.Client]] as const) {
      const s = dnsParser.session({ transport: "udp" });
      s.request(q.bytes, q.bytes.length, 1);
      s.response(bytes, bytes.length, 2);
      const out: L7Record[] = [];
      s.drain(out);
      expect(out.map((r) => r.error)).toEqual([error]);
    }
  });

  test("names: compression pointers followed only backwards and a bounded number of times", () => {
    const next = { pos: 0 };
    const msg = (...b: number[]) => Uint8Array.from([...new Array(12).fill(0), ...b]);
    // "www.example.test" at 12, then "api" + pointer to "example.test" at 16.
    const ok = msg(3, 119, 119, 119, 7, ...Array.from("ExAmple", (c) => c.charCodeAt(0)), 4, 116, 101, 115, 116, 0, 3, 97, 112, 105, 0xc0, 16);
    expect(readName(ok, 0, 12, ok.length, next)).toBe("www.example.test");
    expect(readName(ok, 0, 30, ok.length, next)).toBe("api.example.test");
    expect(next.pos).toBe(ok.length);
    const self = msg(0xc0, 12); // points at itself
    expect(readName(self, 0, 12, self.length, next)).toBeUndefined();
    const forward = msg(0xc0, 14, 0); // points forwards
    expect(readName(forward, 0, 12, forward.length, next)).toBeUndefined();
    const pingPong = msg(1, 97, 0xc0, 16, 1, 98, 0xc0, 12); // a → b → a …
    expect(readName(pingPong, 0, 16, pingPong.length, next)).toBeUndefined();
    // A chain of 100 pointers, each to the one before: past the hop limit.
    const chain = [0];
    for (let i = 0; i < 100; i++) chain.push(0xc0, 12 + (i === 0 ? 0 : 1 + (i - 1) * 2));
    const long = msg(...chain);
    expect(readName(long, 0, long.length - 2, long.length, next)).toBeUndefined();
    expect(readName(msg(0), 0, 12, 13, next)).toBe(".");
    expect(readName(msg(2, 0x41, 0x2e, 0), 0, 12, 16, next)).toBe("a\\046");
    expect(readName(msg(5, 97, 98), 0, 12, 15, next)).toBeUndefined(); // cut
  });

  test("detect: queries and answers on UDP and TCP, never other protocols' first bytes", () => {
    expect(dnsParser.detect(udp.find((c) => c.dir === "req")!.bytes, "udp")).toBe(Looks.Request);
    expect(dnsParser.detect(udp.find((c) => c.dir === "resp")!.bytes, "udp")).toBe(Looks.Response);
    expect(dnsParser.detect(tcp.find((c) => c.dir === "req")!.bytes, "tcp")).toBe(Looks.Request);
    expect(dnsParser.detect(tcp.find((c) => c.dir === "resp")!.bytes, "tcp")).toBe(Looks.Response);
    expect(dnsParser.detect(udp.find((c) => c.dir === "req")!.bytes, "tcp")).toBe(Looks.No);
    const enc = (s: string) => new TextEncoder().encode(s);
    for (const other of [
      enc("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
      enc("POST /api HTTP/1.1\r\n"),
      enc("*1\r\n$4\r\nPING\r\n"),
      enc("PING\r\n"),
      Uint8Array.from([0, 0, 0, 0x54, 0, 3, 0, 0, ...enc("user\0postgres\0database\0postgres\0\0")]),
      Uint8Array.from([0x4a, 0, 0, 0, 0x0a, ...enc("5.5.5-10.11.6-MariaDB\0")]),
      Uint8Array.from([0, 0, 0, 0x2a, 0, 18, 0, 3, 0, 0, 0, 1, 0, 9, ...enc("l7-record")]), // Kafka ApiVersions
    ]) {
      expect(dnsParser.detect(other, "tcp")).toBe(Looks.No);
      expect(dnsParser.detect(other, "udp")).toBe(Looks.No);
    }
  });

  test("garbage, random cuts and pointer soup never throw or hang", () => {
    let seed = 11;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2147483648) % n);
    for (const transport of ["udp", "tcp"] as const) {
      for (let round = 0; round < 200; round++) {
        const s = dnsParser.session({ transport, maxPending: 8 });
        for (let i = 0; i < 40; i++) {
          // Headers that look like DNS, then bytes rich in compression pointers.
          const b = Uint8Array.from({ length: 12 + rand(200) }, (_, k) => (k === 5 ? 1 : k > 12 && rand(3) === 0 ? 0xc0 : rand(256)));
          if (rand(2) === 0) s.request(b, b.length + rand(2) * rand(100), i);
          else s.response(b, b.length + rand(2) * rand(100), i);
          expect(dnsParser.detect(b, transport)).toBeOneOf([Looks.No, Looks.Request, Looks.Response]);
        }
        s.drain([]);
      }
    }
  });

  test("response codes: SERVFAIL and NOTIMP are the server's, the others the client's", () => {
    expect([0, 1, 2, 3, 4, 5, 9, 16].map(dnsErrorClass)).toEqual([
      ErrorClass.None, ErrorClass.Client, ErrorClass.Server, ErrorClass.Client, ErrorClass.Server, ErrorClass.Client, ErrorClass.Client, ErrorClass.Client,
    ]);
  });
});
