import { describe, expect, test } from "bun:test";
import { AsciiInterner, BoundedQueue, MessageBuffer, equalsIgnoreCase, i16be, i32be, i32le, indexOfCrlf, parseDecimal, parseHex, parseSignedDecimal, trimEnd, trimStart, u16be, u24be, u24le, u31be, u32be, u32le } from "./bytes.ts";

const enc = (s: string) => new TextEncoder().encode(s);

describe("bytes", () => {
  test("fixed-width integer readers: byte order, sign and offset", () => {
    const b = Uint8Array.from([0x00, 0xff, 0xfe, 0x80, 0x01, 0x02]);
    expect(u16be(b, 1)).toBe(0xfffe);
    expect(i16be(b, 1)).toBe(-2);
    expect(i16be(b, 3)).toBe(-32767);
    expect(u24be(b, 1)).toBe(0xfffe80);
    expect(u24le(b, 1)).toBe(0x80feff);
    expect(i32be(b, 1)).toBe(0xfffe8001 - 2 ** 32);
    expect(u32be(b, 1)).toBe(0xfffe8001);
    expect(u31be(b, 1)).toBe(0x7ffe8001);
    expect(i32le(b, 2)).toBe(0x020180fe);
    expect(i32le(b, 1)).toBe(0x0180feff);
    expect(i32le(Uint8Array.from([1, 0, 0, 0x80]), 0)).toBe(-0x7fffffff);
    expect(u32le(Uint8Array.from([1, 0, 0, 0x80]), 0)).toBe(0x80000001);
  });

  test("CRLF search honours the range and skips bare LFs", () => {
    const b = enc("ab\ncd\r\nef\r\n");
    expect(indexOfCrlf(b, 0, b.length)).toBe(5);
    expect(indexOfCrlf(b, 6, b.length)).toBe(9);
    expect(indexOfCrlf(b, 0, 6)).toBe(-1); // the LF at 6 is outside
    expect(indexOfCrlf(b, 6, 7)).toBe(-1); // a LF at the start of the range has no CR inside it
  });

  test("integers straight from bytes: digits only, bounded, signed", () => {
    const b = enc("12345 -17 ff 9007199254740993 x");
    expect(parseDecimal(b, 0, 5)).toBe(12345);
    expect(parseDecimal(b, 0, 6)).toBe(-1);
    expect(parseDecimal(b, 0, 0)).toBe(-1);
    expect(parseSignedDecimal(b, 6, 9)).toBe(-17);
    expect(parseSignedDecimal(b, 6, 7)).toBeNaN();
    expect(parseHex(b, 10, 12)).toBe(255);
    expect(parseHex(enc("1A2b"), 0, 4)).toBe(0x1a2b);
    expect(parseHex(b, 9, 12)).toBe(-1);
    expect(parseDecimal(b, 13, 29)).toBe(-1); // past 2^53
  });

  test("case-insensitive comparison and trimming", () => {
    const b = enc("  Content-LENGTH \t");
    const from = trimStart(b, 0, b.length);
    const to = trimEnd(b, from, b.length);
    expect([from, to]).toEqual([2, 16]);
    expect(equalsIgnoreCase(b, from, to, "content-length")).toBe(true);
    expect(equalsIgnoreCase(b, from, to - 1, "content-length")).toBe(false);
  });

  test("the interner returns the same string for the same bytes and stays bounded", () => {
    const i = new AsciiInterner(2);
    const a = i.intern(enc("xGET /a"), 1, 7);
    expect(a).toBe("GET /a");
    expect(i.intern(enc("GET /a"), 0, 6)).toBe(a);
    expect(i.intern(enc("GET /b"), 0, 6)).toBe("GET /b");
    expect(i.intern(enc("GET /c"), 0, 6)).toBe("GET /c"); // past capacity: decoded, not kept
    expect(i.intern(enc("GET /c"), 0, 6)).toBe("GET /c");
  });

  test("the message buffer grows up to its bound, refuses past it, consumes from the front", () => {
    const m = new MessageBuffer(600);
    expect(m.append(enc("hello "), 0, 6)).toBe(true);
    const big = new Uint8Array(500).fill(120);
    expect(m.append(big, 0, 500)).toBe(true);
    expect(m.length).toBe(506);
    expect(m.append(big, 0, 100)).toBe(false);
    expect(m.length).toBe(506);
    m.consume(6);
    expect(m.length).toBe(500);
    expect(m.bytes[0]).toBe(120);
    expect(() => new MessageBuffer(0)).toThrow(RangeError);
  });

  test("the bounded queue keeps order and tags, refuses when full", () => {
    const q = new BoundedQueue<string>(2);
    expect(q.push("a", 1)).toBe(true);
    expect(q.push("b", 2)).toBe(true);
    expect(q.push("c", 3)).toBe(false);
    expect([q.peek(), q.peekTag()]).toEqual(["a", 1]);
    expect(q.shift()).toBe("a");
    expect(q.push("c", 3)).toBe(true);
    expect([q.shift(), q.shift(), q.shift(), q.size]).toEqual(["b", "c", undefined, 0]);
  });

  test("pushEvictingOldest drops the oldest item only when full and says so", () => {
    const q = new BoundedQueue<string>(2);
    expect(q.pushEvictingOldest("a", 1)).toBe(false);
    expect(q.pushEvictingOldest("b", 2)).toBe(false);
    expect(q.pushEvictingOldest("c", 3)).toBe(true);
    expect([q.size, q.peek(), q.peekTag()]).toEqual([2, "b", 2]);
    expect([q.shift(), q.shift(), q.size]).toEqual(["b", "c", 0]);
  });

  test("the interner grows to hold exactly its capacity: every kept string comes back identical", () => {
    const i = new AsciiInterner(40);
    const first = Array.from({ length: 50 }, (_, k) => i.intern(enc(`SET key${k}`), 0, `SET key${k}`.length));
    for (let k = 0; k < 50; k++) {
      const again = i.intern(enc(`SET key${k}`), 0, `SET key${k}`.length);
      expect(again).toBe(`SET key${k}`);
      expect(again).toBe(first[k]!);
    }
    expect((i as unknown as { size: number }).size).toBe(40); // kept entries: exactly the capacity
  });

  test("the bounded queue grows past its first slots in order, across a wrapped head, up to its capacity", () => {
    const q = new BoundedQueue<number>(20);
    for (let k = 0; k < 3; k++) q.push(k, k);
    expect([q.shift(), q.shift()]).toEqual([0, 1]); // head now inside the storage
    for (let k = 3; k < 22; k++) expect(q.push(k, k * 10)).toBe(true); // 2 .. 21: 20 items
    expect(q.push(99)).toBe(false);
    expect(q.size).toBe(20);
    const seen: [number, number][] = [];
    while (q.size > 0) {
      const tag = q.peekTag();
      seen.push([q.shift()!, tag]);
    }
    expect(seen).toEqual(Array.from({ length: 20 }, (_, k) => [k + 2, k === 0 ? 2 : (k + 2) * 10]));
  });
});
