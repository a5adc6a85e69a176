// The little of BSON (bsonspec.org) the mongo parser reads: a document's first key and the
// top-level "ok" / "code" values of a reply, from a possibly truncated prefix.
import { i32le } from "./bytes.ts";

/** Offset just past the value of an element of `type` at `p`, or -1 when unknown/truncated. */
function skipValue(b: Uint8Array, p: number, end: number, type: number): number {
  const i32 = (at: number) => (at + 4 <= end ? i32le(b, at) : -1);
  let q: number;
  switch (type) {
    case 0x01: // double
    case 0x09: // UTC datetime
    case 0x11: // timestamp
    case 0x12: // int64
      q = p + 8;
      break;
    case 0x02: // string
    case 0x0d: // JavaScript code
    case 0x0e: // symbol
      q = i32(p) < 0 ? -1 : p + 4 + i32(p);
      break;
    case 0x03: // document
    case 0x04: // array
    case 0x0f: // code with scope
      q = i32(p) < 0 ? -1 : p + i32(p);
      break;
    case 0x05: // binary
      q = i32(p) < 0 ? -1 : p + 5 + i32(p);
      break;
    case 0x06: // undefined
    case 0x0a: // null
    case 0x7f: // max key
    case 0xff: // min key
      q = p;
      break;
    case 0x07: // ObjectId
      q = p + 12;
      break;
    case 0x08: // boolean
      q = p + 1;
      break;
    case 0x0b: // regex: two cstrings
      q = b.indexOf(0, p);
      q = q < 0 || q >= end ? -1 : b.indexOf(0, q + 1);
      q = q < 0 || q >= end ? -1 : q + 1;
      break;
    case 0x0c: // DBPointer
      q = i32(p) < 0 ? -1 : p + 4 + i32(p) + 12;
      break;
    case 0x10: // int32
      q = p + 4;
      break;
    case 0x13: // decimal128
      q = p + 16;
      break;
    default:
      return -1;
  }
  return q < p || q > end ? -1 : q;
}

/** The first key of the document at `start` (its int32 length first), or undefined. */
export function firstKey(b: Uint8Array, start: number, end: number): string | undefined {
  const p = start + 5; // length, type byte
  if (p >= end || b[start + 4] === 0) return undefined;
  const z = b.indexOf(0, p);
  if (z < 0 || z >= end || z - p > 128) return undefined;
  let s = "";
  for (let i = p; i < z; i++) s += String.fromCharCode(b[i]!);
  return s;
}

export interface ReplyStatus {
  /** The "ok" value, or undefined when it is not in the seen bytes. */
  ok?: number;
  code?: number;
}

function numeric(b: Uint8Array, p: number, type: number): number | undefined {
  const view = new DataView(b.buffer, b.byteOffset + p);
  switch (type) {
    case 0x01:
      return view.getFloat64(0, true);
    case 0x10:
      return view.getInt32(0, true);
    case 0x12:
      return Number(view.getBigInt64(0, true));
    case 0x08:
      return b[p]!;
    default:
      return undefined;
  }
}

/** Reads the top-level "ok" and "code" of the document at `start`, as far as `end`. */
export function replyStatus(b: Uint8Array, start: number, end: number, out: ReplyStatus): void {
  out.ok = out.code = undefined;
  let p = start + 4;
  while (p < end) {
    const type = b[p]!;
    if (type === 0) return;
    const z = b.indexOf(0, p + 1);
    if (z < 0 || z >= end) return;
    const valueAt = z + 1;
    const next = skipValue(b, valueAt, end, type);
    if (next < 0) return;
    const nameLen = z - p - 1;
    if (nameLen === 2 && b[p + 1] === 0x6f && b[p + 2] === 0x6b) out.ok = numeric(b, valueAt, type); // "ok"
    else if (nameLen === 4 && b[p + 1] === 0x63 && b[p + 2] === 0x6f && b[p + 3] === 0x64 && b[p + 4] === 0x65) out.code = numeric(b, valueAt, type); // "code"
    p = next;
  }
}
