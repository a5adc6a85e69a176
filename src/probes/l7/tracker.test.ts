// The tracker and the aggregator without a kernel: records built by hand go through
// detection, role assignment, pairing and per-period aggregation.
import { describe, expect, test } from "bun:test";
import { Aggregator, OVERFLOW_API } from "./aggregate.ts";
import { CONN_CLOSED, DIR_RECV, DIR_SEND, EventView, L4_TCP, L4_UDP, ROLE_CLIENT, ROLE_SERVER, ROLE_UNKNOWN, VERDICT_CAPTURE, VERDICT_IGNORE, type ConnInfo } from "./decode.ts";
import { lineParser } from "./test-lineproto.ts";
import { DETECT_CHUNKS } from "./detect.ts";
import { Tracker } from "./tracker.ts";

const enc = new TextEncoder();

function conn(id: number, o: Partial<ConnInfo> = {}): ConnInfo {
  return {
    connId: id,
    tgid: 100,
    fd: 5,
    family: 2,
    l4: L4_TCP,
    role: ROLE_CLIENT,
    flags: 0,
    localIp: "10.0.0.1",
    remoteIp: "10.0.0.2",
    localPort: 40000,
    remotePort: 6379,
    netns: 1,
    bytesSent: 0,
    bytesRecv: 0,
    segsSent: 0,
    segsRecv: 0,
    ...o,
  };
}

function setup(conns: ConnInfo[], o: { maxConns?: number; maxApis?: number; listening?: boolean | "gone" } = {}) {
  const verdicts = new Map<number, number>();
  const agg = new Aggregator({ maxLinks: 100, maxApis: o.maxApis ?? 64 });
  const byId = new Map(conns.map((c) => [c.connId, c]));
  const t = new Tracker({
    parsers: [lineParser()],
    conn: (id) => byId.get(id),
    setVerdict: (id, v) => void verdicts.set(id, v),
    isListening: () => (o.listening === "gone" ? undefined : (o.listening ?? false)),
    agg,
    maxConns: o.maxConns ?? 100,
    supportSsl: () => false,
    nowMs: () => 1000,
  });
  const ev = new EventView();
  const feed = (id: number, dir: number, text: string, ts: number, len = text.length) => {
    const c = byId.get(id)!;
    Object.assign(ev, { kind: 1, connId: id, tsNs: ts, len, dir, l4: c.l4, ssl: false, peerFamily: 0, data: enc.encode(text) });
    t.onData(ev);
  };
  const collect = () => t.collect((visit) => conns.forEach(visit), () => true);
  return { t, agg, verdicts, feed, collect };
}

describe("l7 tracker", () => {
  test("client side: requests sent, responses received, paired in order, latency from request start to response", () => {
    const c = conn(1);
    const { agg, verdicts, feed, collect } = setup([c]);
    feed(1, DIR_SEND, "REQ GET\nREQ SET\n", 1_000);
    feed(1, DIR_RECV, "OK\n", 5_000_000);
    feed(1, DIR_SEND, "REQ GET\n", 10_000_000);
    feed(1, DIR_RECV, "CERR\nSERR\n", 20_000_000);
    expect(verdicts.get(1)).toBe(VERDICT_CAPTURE);
    Object.assign(c, { bytesSent: 24, bytesRecv: 13, segsSent: 2, segsRecv: 2 });
    collect();
    const rows = agg.endPeriod(1000, 5);
    expect(rows.link).toEqual([
      { tgid: "100", client_ip: "10.0.0.1", server_ip: "10.0.0.2", server_port: "6379", l4_role: "tcp_client", l7_role: "client", protocol: "redis", ssl: "no_ssl", bytes_sent: 24, bytes_recv: 13, segs_sent: 2, segs_recv: 2 },
    ]);
    const rpc = rows.rpc[0]!;
    expect([rpc.req_count, rpc.resp_count, rpc.err_count, rpc.latency_sum]).toEqual([3, 3, 2, 4_999_000 + 19_999_000 + 10_000_000]);
    expect(rpc.err_ratio).toBe("0.67");
    expect(rpc.throughput_req).toBe("0.60");
    expect(rpc.latency).toEqual({ bounds: [10e6, 50e6, 100e6, 500e6, 1e9, 3e9, 10e9], cumulative: [2, 3, 3, 3, 3, 3, 3], sum: 34_998_000, max: 19_999_000 });
    const api = Object.fromEntries(rows.api.map((r) => [r.api, [r.req_count, r.client_err_count, r.server_err_count]]));
    expect(api).toEqual({ GET: [2, 0, 1], SET: [1, 1, 0] });
    // The next period starts from zero.
    Object.assign(c, { bytesSent: 32, bytesRecv: 13, segsSent: 3 });
    collect();
    const next = agg.endPeriod(2000, 5);
    expect([next.link[0]!.bytes_sent, next.link[0]!.bytes_recv, next.rpc[0]!.req_count]).toEqual([8, 0, 0]);
  });

  test("server side of an already-open connection: role from the listening port, requests received", () => {
    const c = conn(2, { role: ROLE_UNKNOWN, localPort: 6379, remotePort: 40001, remoteIp: "10.0.0.9" });
    const { agg, feed, collect } = setup([c], { listening: true });
    feed(2, DIR_RECV, "REQ PING\n", 100);
    feed(2, DIR_SEND, "OK\n", 600);
    collect();
    const rows = agg.endPeriod(1000, 5);
    expect(rows.rpc.map((r) => [r.client_ip, r.server_ip, r.server_port, r.l4_role, r.l7_role, r.req_count, r.latency_sum])).toEqual([["10.0.0.9", "10.0.0.1", "6379", "tcp_server", "server", 1, 500]]);
  });

  test("an inherited connection of a process already gone: the protocol's side decides the role", () => {
    const c = conn(10, { role: ROLE_UNKNOWN, localPort: 5432, remotePort: 40002, remoteIp: "10.0.0.9" });
    const { agg, feed } = setup([c], { listening: "gone" });
    feed(10, DIR_RECV, "REQ Q\n", 1);
    feed(10, DIR_SEND, "OK\n", 2);
    expect(agg.endPeriod(1000, 5).rpc.map((r) => [r.l4_role, r.l7_role, r.server_port, r.client_ip])).toEqual([["tcp_server", "server", "5432", "10.0.0.9"]]);
  });

  test("a connection no parser recognises is ignored in the kernel after the detection chunks", () => {
    const c = conn(3);
    const { agg, verdicts, feed } = setup([c]);
    for (let i = 0; i < DETECT_CHUNKS - 1; i++) feed(3, i % 2 ? DIR_RECV : DIR_SEND, "hello", i);
    expect(verdicts.has(3)).toBe(false);
    feed(3, DIR_SEND, "again", 99);
    expect(verdicts.get(3)).toBe(VERDICT_IGNORE);
    expect(agg.size).toBe(0);
  });

  test("a request whose first bytes arrive in several reads is detected on their concatenation and parsed from its first byte", () => {
    const c = conn(9, { role: ROLE_SERVER, localPort: 6379 });
    const { agg, verdicts, feed } = setup([c]);
    feed(9, DIR_RECV, "RE", 10);
    expect(verdicts.has(9)).toBe(false);
    feed(9, DIR_RECV, "Q SPLIT\n", 20);
    expect(verdicts.get(9)).toBe(VERDICT_CAPTURE);
    feed(9, DIR_SEND, "OK\n", 70);
    const rows = agg.endPeriod(1000, 5);
    expect(rows.api.map((r) => [r.api, r.l7_role, r.req_count, r.latency_sum])).toEqual([["SPLIT", "server", 1, 60]]);
  });

  test("UDP: one flow per datagram peer, bytes from the records", () => {
    const c = conn(4, { l4: L4_UDP, role: ROLE_UNKNOWN, remoteIp: "0.0.0.0", remotePort: 0, localPort: 53 });
    const { agg, t, collect } = setup([c]);
    const ev = new EventView();
    const view = new DataView(new ArrayBuffer(64));
    for (const [port, dir, text, ts] of [
      [1111, DIR_RECV, "REQ a.example\n", 10],
      [2222, DIR_RECV, "REQ b.example\n", 20],
      [2222, DIR_SEND, "OK\n", 25],
      [1111, DIR_SEND, "SERR\n", 40],
    ] as const) {
      view.setUint8(0, 127);
      view.setUint8(3, 1);
      Object.assign(ev, { kind: 1, connId: 4, tsNs: ts, len: text.length, dir, l4: L4_UDP, ssl: false, peerFamily: 2, peerPort: port, peerAt: 0, view, data: enc.encode(text) });
      t.onData(ev);
    }
    collect();
    const rows = agg.endPeriod(1000, 5);
    const byClient = Object.fromEntries(rows.link.map((r) => [`${r.client_ip}`, [r.l4_role, r.l7_role, r.server_port, r.bytes_recv, r.bytes_sent]]));
    // Two peers of one client IP: one link (links key on the client IP, not its port), two sessions.
    expect(byClient).toEqual({ "127.0.0.1": ["udp", "server", "53", 28, 8] });
    expect(rows.rpc[0]!.req_count).toBe(2);
    expect(rows.rpc[0]!.err_count).toBe(1);
  });

  test("closed connections are forgotten at the collection that reports their last bytes", () => {
    const c = conn(5);
    const { t, agg, feed, collect } = setup([c]);
    feed(5, DIR_SEND, "REQ X\n", 1);
    Object.assign(c, { bytesSent: 6, segsSent: 1, flags: CONN_CLOSED });
    expect(collect().map((k) => k.connId)).toEqual([5]);
    expect(t.size).toBe(0);
    expect(agg.endPeriod(1000, 5).link[0]!.bytes_sent).toBe(6);
  });

  test("tracker full: the connection is ignored in the kernel and counted", () => {
    const { t, verdicts, feed } = setup([conn(6), conn(7)], { maxConns: 1 });
    feed(6, DIR_SEND, "REQ A\n", 1);
    feed(7, DIR_SEND, "REQ A\n", 1);
    expect(t.counts.trackerFull).toBe(1);
    expect(verdicts.get(7)).toBe(VERDICT_IGNORE);
  });

  test("APIs past max_apis are counted under the overflow API", () => {
    const { agg, feed } = setup([conn(8, { role: ROLE_SERVER, localPort: 6379 })], { maxApis: 2 });
    feed(8, DIR_RECV, "REQ a\nREQ b\nREQ c\nREQ d\n", 1);
    feed(8, DIR_SEND, "OK\nOK\nOK\nOK\n", 2);
    const rows = agg.endPeriod(1000, 5);
    expect(Object.fromEntries(rows.api.map((r) => [r.api, r.req_count]))).toEqual({ a: 1, b: 1, [OVERFLOW_API]: 2 });
  });
});
