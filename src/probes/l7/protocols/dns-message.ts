// Reading DNS messages (RFC 1035 §4.1, EDNS RFC 6891): the header, the question's name
// (compression pointers followed, each strictly backwards and at most MAX_HOPS of them, so a
// crafted loop ends) and the extended rcode of an OPT record in the additional section.
// Every read is bounded by the captured bytes.
import { u16be } from "./bytes.ts";

export const HEADER = 12;
const MAX_NAME = 255;
const MAX_HOPS = 64;
const TYPE_OPT = 41;

export interface DnsHeader {
  id: number;
  qr: boolean;
  opcode: number;
  tc: boolean;
  rcode: number;
  qdcount: number;
  ancount: number;
  nscount: number;
  arcount: number;
}

/** The header of the message at `off`, into `h`; false when fewer than 12 bytes are there. */
export function readHeader(b: Uint8Array, off: number, end: number, h: DnsHeader): boolean {
  if (end - off < HEADER) return false;
  h.id = u16be(b, off);
  const flags = b[off + 2]!;
  h.qr = (flags & 0x80) !== 0;
  h.opcode = (flags >> 3) & 0x0f;
  h.tc = (flags & 0x02) !== 0;
  h.rcode = b[off + 3]! & 0x0f;
  h.qdcount = u16be(b, off + 4);
  h.ancount = u16be(b, off + 6);
  h.nscount = u16be(b, off + 8);
  h.arcount = u16be(b, off + 10);
  return true;
}

/** Whether the Z bit (reserved, must be zero; RFC 1035, RFC 2535 kept it) is clear. */
export function zClear(b: Uint8Array, off: number): boolean {
  return (b[off + 3]! & 0x40) === 0;
}

const isPrintableLabelByte = (c: number) => c > 0x20 && c < 0x7f && c !== 0x2e && c !== 0x5c;

/**
 * Walks the name at `at` label by label, following compression pointers (strictly backwards,
 * below everything read so far, at most MAX_HOPS: no loop can form). For each
 * label, `visit.label` gets its bytes; it returns false to stop. Returns the offset just past
 * the name at `at` (after its first pointer, if any), or -1 when the name is malformed, cut
 * at `end`, or the visitor stopped.
 */
function walkName(b: Uint8Array, msg: number, at: number, end: number, visit: NameVisitor): number {
  let wire = 0;
  let hops = 0;
  let pos = at;
  let resumed = -1;
  let lowest = at;
  for (;;) {
    if (pos >= end) return -1;
    const len = b[pos]!;
    if (len === 0) return resumed >= 0 ? resumed : pos + 1;
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= end) return -1;
      const target = msg + (((len & 0x3f) << 8) | b[pos + 1]!);
      if (target >= lowest || ++hops > MAX_HOPS) return -1;
      if (resumed < 0) resumed = pos + 2;
      pos = lowest = target;
      continue;
    }
    if ((len & 0xc0) !== 0) return -1;
    wire += len + 1;
    if (wire > MAX_NAME || pos + 1 + len > end) return -1;
    if (!visit.label(b, pos + 1, pos + 1 + len)) return -1;
    pos += 1 + len;
  }
}

interface NameVisitor {
  /** One label's bytes b[from, to); false stops the walk. */
  label(b: Uint8Array, from: number, to: number): boolean;
}

const lower = (c: number) => (c >= 0x41 && c <= 0x5a ? c + 0x20 : c);

/** Builds the presentation form. */
class NameBuilder implements NameVisitor {
  out = "";
  label(b: Uint8Array, from: number, to: number): boolean {
    if (this.out !== "") this.out += ".";
    for (let i = from; i < to; i++) {
      const c = lower(b[i]!);
      this.out += isPrintableLabelByte(c) ? String.fromCharCode(c) : `\\${String(c).padStart(3, "0")}`;
    }
    return true;
  }
}

/** Compares with a presentation form without building a string. */
class NameComparer implements NameVisitor {
  name = "";
  i = 0;
  label(b: Uint8Array, from: number, to: number): boolean {
    const n = this.name;
    if (this.i > 0) {
      if (n.charCodeAt(this.i) !== 0x2e) return false;
      this.i++;
    }
    for (let k = from; k < to; k++) {
      const c = lower(b[k]!);
      if (isPrintableLabelByte(c)) {
        if (n.charCodeAt(this.i++) !== c) return false;
      } else {
        const esc = `\\${String(c).padStart(3, "0")}`;
        if (n.slice(this.i, this.i + 4) !== esc) return false;
        this.i += 4;
      }
    }
    return true;
  }
}

/**
 * The name at `at` in presentation form: lower-cased ASCII, labels joined by ".", without the
 * trailing dot ("." for the root); other bytes as \DDD. Returns undefined when the name is
 * malformed or runs past `end`. `msg` is where the message starts (pointers are relative to it).
 * `next.pos` receives the offset just past the name at `at`.
 */
export function readName(b: Uint8Array, msg: number, at: number, end: number, next: { pos: number }): string | undefined {
  const builder = new NameBuilder();
  const after = walkName(b, msg, at, end, builder);
  if (after < 0) return undefined;
  next.pos = after;
  return builder.out === "" ? "." : builder.out;
}

/** A reusable comparer of names on the wire with names read before (no string built). */
export class NameMatcher {
  private readonly comparer = new NameComparer();
  /** Whether the name at `at` is `name` (as readName gives it). */
  matches(b: Uint8Array, msg: number, at: number, end: number, name: string): boolean {
    const c = this.comparer;
    c.name = name;
    c.i = 0;
    if (walkName(b, msg, at, end, c) < 0) return false;
    return c.i === name.length || (c.i === 0 && name === ".");
  }
}

/** Skips a name without following pointers (a pointer ends it); -1 when malformed or cut. */
export function skipName(b: Uint8Array, at: number, end: number): number {
  let pos = at;
  for (let labels = 0; labels < 128; labels++) {
    if (pos >= end) return -1;
    const len = b[pos]!;
    if (len === 0) return pos + 1;
    if ((len & 0xc0) === 0xc0) return pos + 2 <= end ? pos + 2 : -1;
    if ((len & 0xc0) !== 0) return -1;
    pos += 1 + len;
  }
  return -1;
}

/**
 * The full response code: the header's 4 bits, extended by the OPT record's upper 8 bits
 * (EDNS) when the whole message up to the OPT record was captured. `afterQuestion` is the
 * offset just past the question section.
 */
export function fullRcode(b: Uint8Array, h: DnsHeader, afterQuestion: number, end: number): number {
  if (h.arcount === 0) return h.rcode;
  let pos = afterQuestion;
  const records = h.ancount + h.nscount + h.arcount;
  for (let i = 0; i < records; i++) {
    pos = skipName(b, pos, end);
    if (pos < 0 || pos + 10 > end) return h.rcode;
    const type = u16be(b, pos);
    if (type === TYPE_OPT && i >= h.ancount + h.nscount) return (b[pos + 4]! << 4) | h.rcode;
    pos += 10 + u16be(b, pos + 8);
  }
  return h.rcode;
}
