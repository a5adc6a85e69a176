import { describe, expect, test } from "bun:test";
import { dumpQdiscs, ecnMarksFromXstats, parseQdiscMessages, qdiscDumpRequest, TC_H_INGRESS, TC_H_ROOT } from "./netlink.ts";

/** Little-endian builders for hand-made rtnetlink messages. */
function u32s(...v: number[]): Uint8Array {
  const b = new Uint8Array(v.length * 4);
  const d = new DataView(b.buffer);
  v.forEach((x, i) => d.setUint32(i * 4, x >>> 0, true));
  return b;
}
function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}
function rta(type: number, payload: Uint8Array): Uint8Array {
  const len = 4 + payload.byteLength;
  const b = new Uint8Array((len + 3) & ~3);
  const d = new DataView(b.buffer);
  d.setUint16(0, len, true);
  d.setUint16(2, type, true);
  b.set(payload, 4);
  return b;
}
function nlmsg(type: number, payload: Uint8Array): Uint8Array {
  const len = 16 + payload.byteLength;
  const b = new Uint8Array((len + 3) & ~3);
  const d = new DataView(b.buffer);
  d.setUint32(0, len, true);
  d.setUint16(4, type, true);
  b.set(payload, 16);
  return b;
}
const tcmsg = (ifindex: number, handle: number, parent: number): Uint8Array => u32s(0, ifindex, handle, parent, 0);
const str = (s: string): Uint8Array => new TextEncoder().encode(`${s}\0`);
/** gnet_stats_queue { qlen, backlog, drops, requeues, overlimits } inside TCA_STATS2. */
const stats2 = (q: [number, number, number, number, number], app?: Uint8Array): Uint8Array =>
  rta(7, cat(rta(1, u32s(1000, 0, 10)), rta(3, u32s(...q)), ...(app ? [rta(4, app)] : [])));
const DONE = nlmsg(3, u32s(0));

describe("parseQdiscMessages", () => {
  test("mq root with fq_codel children: root stats, per-child ECN marks, ingress and done", () => {
    const buf = cat(
      nlmsg(36, cat(tcmsg(2, 0x10000, TC_H_ROOT), rta(1, str("mq")), stats2([0, 1514, 7, 0, 3]))),
      nlmsg(36, cat(tcmsg(2, 0, 0x10001), rta(1, str("fq_codel")), stats2([0, 0, 4, 0, 1], u32s(0, 1514, 0, 11, 5, 0, 0, 0, 0, 0)))),
      nlmsg(36, cat(tcmsg(2, 0, 0x10002), rta(1, str("fq_codel")), stats2([0, 1514, 3, 0, 2], u32s(0, 1514, 0, 6, 1, 0, 0, 0, 0, 0)))),
      nlmsg(36, cat(tcmsg(2, 0xffff0000, TC_H_INGRESS), rta(1, str("ingress")), stats2([0, 0, 0, 0, 0]))),
      DONE,
    );
    const r = parseQdiscMessages(buf);
    expect(r.errors).toEqual([]);
    expect(r.done).toBe(true);
    expect(r.qdiscs.map((q) => [q.kind, q.parent, q.drops, q.overlimits, q.backlog, q.ecnMarks])).toEqual([
      ["mq", TC_H_ROOT, 7, 3, 1514, undefined],
      ["fq_codel", 0x10001, 4, 1, 0, 11],
      ["fq_codel", 0x10002, 3, 2, 1514, 6],
      ["ingress", TC_H_INGRESS, 0, 0, 0, undefined],
    ]);
  });

  test("legacy TCA_STATS and TCA_XSTATS when there is no TCA_STATS2", () => {
    // struct tc_stats { u64 bytes; packets, drops, overlimits, bps, pps, qlen, backlog }
    const tcStats = u32s(5000, 0, 50, 9, 4, 0, 0, 2, 3000);
    // tc_red_xstats { early, pdrop, other, marked }
    const buf = cat(nlmsg(36, cat(tcmsg(3, 0x10000, TC_H_ROOT), rta(1, str("red")), rta(3, tcStats), rta(4, u32s(1, 2, 0, 13)))), DONE);
    const r = parseQdiscMessages(buf);
    expect(r.errors).toEqual([]);
    expect(r.qdiscs[0]).toEqual({ ifindex: 3, handle: 0x10000, parent: TC_H_ROOT, kind: "red", drops: 9, overlimits: 4, qlen: 2, backlog: 3000, ecnMarks: 13 });
  });

  test("ECN counter layouts of pkt_sched.h", () => {
    const v = (b: Uint8Array) => new DataView(b.buffer);
    const at = (kind: string, b: Uint8Array) => ecnMarksFromXstats(kind, v(b), 0, b.byteLength);
    expect(at("codel", u32s(0, 0, 0, 0, 0, 0, 21, 0, 0))).toBe(21);
    expect(at("fq_pie", u32s(0, 0, 0, 0, 31, 0))).toBe(31);
    expect(at("pie", u32s(0, 0, 0, 0, 0, 0, 0, 0, 0, 41))).toBe(41); // 40 bytes: u64 prob
    expect(at("pie", u32s(0, 0, 0, 0, 0, 0, 0, 42))).toBe(42); // 32 bytes: old layout
    expect(at("sfb", u32s(0, 0, 0, 0, 0, 51, 0))).toBe(51);
    expect(at("choke", u32s(0, 0, 0, 61, 0))).toBe(61);
    expect(at("fq_codel", u32s(1, 0, 0, 99))).toBeUndefined(); // class xstats, not qdisc
    expect(at("pfifo_fast", u32s(1, 2, 3, 4))).toBeUndefined();
    expect(at("codel", u32s(1, 2))).toBeUndefined(); // too short
  });

  test("netlink error, short and garbage buffers never throw", () => {
    const err = parseQdiscMessages(nlmsg(2, cat(u32s(0xffffffff - 94), u32s(0, 0, 0, 0))));
    expect(err.done).toBe(true);
    expect(err.error).toBe(-95);
    expect(err.errors.length).toBe(1);
    expect(parseQdiscMessages(new Uint8Array(0))).toEqual({ qdiscs: [], errors: [], done: false, error: undefined });
    const bad = parseQdiscMessages(u32s(9999, 36, 0, 0, 0));
    expect(bad.errors[0]).toContain("bad nlmsg length");
    // attribute longer than its message
    const badAttr = cat(nlmsg(36, cat(tcmsg(2, 0, TC_H_ROOT), u32s(0x00010040))), DONE);
    const r = parseQdiscMessages(badAttr);
    expect(r.errors[0]).toContain("bad rtattr length");
    expect(r.qdiscs.length).toBe(1);
    for (let i = 0; i < 500; i++) {
      const junk = new Uint8Array(Math.floor(Math.random() * 200));
      crypto.getRandomValues(junk);
      expect(() => parseQdiscMessages(junk)).not.toThrow();
    }
  });

  test("request layout: RTM_GETQDISC, NLM_F_REQUEST|NLM_F_DUMP", () => {
    const b = qdiscDumpRequest(7);
    const d = new DataView(b.buffer);
    expect([b.byteLength, d.getUint32(0, true), d.getUint16(4, true), d.getUint16(6, true), d.getUint32(8, true)]).toEqual([36, 36, 38, 0x301, 7]);
  });
});

describe.if(process.platform === "linux")("dumpQdiscs on this machine", () => {
  test("every qdisc of the namespace, loopback's root among them", () => {
    const r = dumpQdiscs();
    if ("error" in r) throw new Error(r.error);
    expect(r.errors).toEqual([]);
    const lo = r.qdiscs.find((q) => q.ifindex === 1 && q.parent === TC_H_ROOT);
    expect(lo?.kind).toBeDefined();
    expect(lo?.drops).toBeGreaterThanOrEqual(0);
  });
});
