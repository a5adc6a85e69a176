// Decoding of ring records: a record must hold its header and the bytes it claims.
import { describe, expect, test } from "bun:test";
import { EventLayout, EventView, L7DecodeError } from "./decode.ts";

const m = (o: number, size: number) => ({ offset: o, size });
/** struct l7_event as clang lays it out (bpf/l7/l7.h). */
const layout = new EventLayout(
  64,
  new Map([
    ["kind", m(0, 4)],
    ["tgid", m(4, 4)],
    ["conn_id", m(8, 8)],
    ["ts_ns", m(16, 8)],
    ["len", m(24, 8)],
    ["cap", m(32, 4)],
    ["fd", m(36, 4)],
    ["dir", m(40, 1)],
    ["l4", m(41, 1)],
    ["ssl", m(42, 1)],
    ["peer_family", m(43, 1)],
    ["peer_port", m(44, 2)],
    ["peer_addr", m(48, 16)],
  ]),
);

function record(cap: number, len: number, extra = cap): DataView {
  const v = new DataView(new ArrayBuffer(64 + extra));
  v.setUint32(0, 1, true);
  v.setUint32(4, 42, true);
  v.setUint32(8, 7, true);
  v.setUint32(16, 123, true);
  v.setUint32(20, 1, true);
  v.setUint32(24, len, true);
  v.setUint32(32, cap, true);
  v.setUint8(43, 2);
  v.setUint16(44, 53, true);
  v.setUint8(48, 127);
  v.setUint8(51, 1);
  for (let i = 0; i < extra; i++) v.setUint8(64 + i, 65 + (i % 26));
  return v;
}

describe("l7 ring records", () => {
  test("header fields, payload view, peer, kernel time relative to the first record's high word", () => {
    const ev = new EventView();
    const e = ev.read(layout, record(3, 10), 0, 67);
    expect([e.kind, e.tgid, e.connId, e.len, e.tsNs]).toEqual([1, 42, 7, 10, 123]);
    expect(new TextDecoder().decode(e.data)).toBe("ABC");
    expect(e.peer()).toEqual({ ip: "127.0.0.1", port: 53 });
    const r2 = record(0, 0);
    r2.setUint32(20, 2, true);
    expect(ev.read(layout, r2, 0, 64).tsNs).toBe(4294967296 + 123);
  });

  test("a record shorter than its header, or claiming more bytes than follow or than the call moved, is refused", () => {
    const ev = new EventView();
    expect(() => ev.read(layout, record(0, 0), 0, 63)).toThrow(L7DecodeError);
    expect(() => ev.read(layout, record(5, 10, 4), 0, 68)).toThrow("5 captured bytes, but 4 follow");
    expect(() => ev.read(layout, record(5, 4), 0, 69)).toThrow("captured 5 bytes of a 4-byte call");
  });

  test("a layout missing a member or with another size is refused", () => {
    expect(() => new EventLayout(64, new Map([["kind", m(0, 4)]]))).toThrow("struct l7_event has no member tgid");
    expect(() => new EventLayout(64, new Map([["kind", m(0, 8)]]))).toThrow("struct l7_event.kind is 8 bytes, expected 4");
  });
});
