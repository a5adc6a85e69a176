// The tracker with support_ssl: a TLS connection's ciphertext (handshake records, and the
// bodies OpenSSL reads apart from their 5-byte headers) neither ends detection nor reaches
// the parser; the TLS uprobes' plaintext is detected and paired, with the ssl label; a TLS
// flow that never gets plaintext is given up after TLS_WAIT_CHUNKS; without support_ssl a
// TLS connection is given up as any unknown protocol.
import { describe, expect, test } from "bun:test";
import { Aggregator } from "../aggregate.ts";
import { DIR_RECV, DIR_SEND, EventView, L4_TCP, ROLE_CLIENT, VERDICT_CAPTURE, VERDICT_IGNORE, type ConnInfo } from "../decode.ts";
import { DETECT_CHUNKS } from "../detect.ts";
import { lineParser } from "../test-lineproto.ts";
import { TLS_WAIT_CHUNKS, Tracker } from "../tracker.ts";

const conn: ConnInfo = {
  connId: 1,
  tgid: 100,
  fd: 5,
  family: 2,
  l4: L4_TCP,
  role: ROLE_CLIENT,
  flags: 0,
  localIp: "10.0.0.1",
  remoteIp: "10.0.0.2",
  localPort: 40000,
  remotePort: 6380,
  netns: 1,
  bytesSent: 0,
  bytesRecv: 0,
  segsSent: 0,
  segsRecv: 0,
};

function setup(supportSsl: boolean) {
  const verdicts = new Map<number, number>();
  const agg = new Aggregator({ maxLinks: 10, maxApis: 8 });
  const t = new Tracker({
    parsers: [lineParser()],
    conn: () => conn,
    setVerdict: (id, v) => void verdicts.set(id, v),
    isListening: () => false,
    agg,
    maxConns: 10,
    supportSsl: () => supportSsl,
    nowMs: () => 1000,
  });
  const ev = new EventView();
  const feed = (dir: number, data: Uint8Array, ssl: boolean, ts = 1) => {
    Object.assign(ev, { kind: 1, connId: 1, tsNs: ts, len: data.length, dir, l4: L4_TCP, ssl, peerFamily: 0, data });
    t.onData(ev);
  };
  const text = (s: string) => new TextEncoder().encode(s);
  const record = (type: number, body: number[]) => Uint8Array.from([type, 3, 3, body.length >> 8, body.length & 0xff, ...body]);
  return { t, agg, verdicts, feed, text, record };
}

describe("l7 tracker with support_ssl", () => {
  test("ciphertext neither ends detection nor reaches the parser; the plaintext is counted with the ssl label", () => {
    const { agg, verdicts, feed, text, record } = setup(true);
    feed(DIR_SEND, record(22, [1, 0, 0, 4]), false); // ClientHello
    // OpenSSL reads a record header (5 bytes), then its body: bodies look like nothing.
    for (let i = 0; i < 5; i++) {
      feed(DIR_RECV, Uint8Array.from([22, 3, 3, 0, 40]), false);
      feed(DIR_RECV, new Uint8Array(40).fill(0x5a + i), false);
    }
    expect(verdicts.get(1)).toBeUndefined();
    feed(DIR_SEND, text("REQ GET\n"), true, 1_000);
    feed(DIR_RECV, record(23, [9, 9, 9]), false); // a read finished on another thread
    feed(DIR_RECV, text("OK\n"), true, 3_000);
    feed(DIR_SEND, record(23, [1, 2, 3, 4]), false);
    feed(DIR_SEND, text("REQ SET\n"), true, 5_000);
    feed(DIR_RECV, text("CERR\n"), true, 9_000);
    expect(verdicts.get(1)).toBe(VERDICT_CAPTURE);
    const rows = agg.endPeriod(1000, 5);
    expect(rows.rpc.map((r) => [r.ssl, r.req_count, r.resp_count, r.err_count, r.latency_sum])).toEqual([["ssl", 2, 2, 1, 2_000 + 4_000]]);
  });

  test("a TLS flow without plaintext is given up after TLS_WAIT_CHUNKS chunks", () => {
    const { verdicts, feed, record } = setup(true);
    feed(DIR_SEND, record(22, [1]), false);
    for (let i = 1; i < TLS_WAIT_CHUNKS; i++) feed(DIR_RECV, record(23, [i & 0xff]), false);
    expect(verdicts.get(1)).toBeUndefined();
    feed(DIR_RECV, record(23, [0]), false);
    expect(verdicts.get(1)).toBe(VERDICT_IGNORE);
  });

  test("without support_ssl a TLS connection is an unknown protocol", () => {
    const { verdicts, feed, record } = setup(false);
    for (let i = 1; i < DETECT_CHUNKS; i++) feed(DIR_SEND, record(22, [i]), false);
    expect(verdicts.get(1)).toBeUndefined();
    feed(DIR_SEND, record(22, [0]), false);
    expect(verdicts.get(1)).toBe(VERDICT_IGNORE);
  });
});
