// Byte helpers shared by the l7 protocol parsers: ASCII / CRLF search, integer parsing
// straight from the bytes (no string on the way), case-insensitive ASCII comparison,
// a string interner (the same API bytes give the same string without decoding again),
// a bounded growable buffer for a message that is split over reads, a bounded FIFO
// of reusable slots for the in-order pending queue, and the fixed-width integer readers
// of the binary protocols (big-endian: DNS, Kafka, PostgreSQL, HTTP/2; little-endian:
// MySQL, MongoDB). Nothing here allocates per call except where a new string or a bigger
// buffer is really needed.

export const CR = 13;
export const LF = 10;
export const SP = 32;
export const HTAB = 9;

/** Unsigned 16-bit big-endian integer at buf[at]. The readers do not check bounds: the caller does. */
export function u16be(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

/** Signed 16-bit big-endian integer at buf[at]. */
export function i16be(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16)) >> 16;
}

/** Unsigned 24-bit big-endian integer at buf[at]. */
export function u24be(buf: Uint8Array, at: number): number {
  return (buf[at]! << 16) | (buf[at + 1]! << 8) | buf[at + 2]!;
}

/** Signed 32-bit big-endian integer at buf[at]. */
export function i32be(buf: Uint8Array, at: number): number {
  return (buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!;
}

/** Unsigned 32-bit big-endian integer at buf[at]. */
export function u32be(buf: Uint8Array, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

/** Big-endian 32-bit integer at buf[at] without its top bit (HTTP/2 stream ids, window sizes). */
export function u31be(buf: Uint8Array, at: number): number {
  return (buf[at]! & 0x7f) * 0x1000000 + ((buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!);
}

/** Unsigned 24-bit little-endian integer at buf[at]. */
export function u24le(buf: Uint8Array, at: number): number {
  return buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16);
}

/** Signed 32-bit little-endian integer at buf[at]. */
export function i32le(buf: Uint8Array, at: number): number {
  return buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24);
}

/** Unsigned 32-bit little-endian integer at buf[at]. */
export function u32le(buf: Uint8Array, at: number): number {
  return (buf[at]! | (buf[at + 1]! << 8) | (buf[at + 2]! << 16) | (buf[at + 3]! << 24)) >>> 0;
}

/** Index of `byte` in buf[from, to), or -1. */
export function indexOfByte(buf: Uint8Array, byte: number, from: number, to: number): number {
  for (let i = from; i < to; i++) if (buf[i] === byte) return i;
  return -1;
}

/** Index of the CR of the first "\r\n" in buf[from, to), or -1. */
export function indexOfCrlf(buf: Uint8Array, from: number, to: number): number {
  let i = from;
  for (;;) {
    const lf = indexOfByte(buf, LF, i, to);
    if (lf < 0) return -1;
    if (lf > from && buf[lf - 1] === CR) return lf - 1;
    i = lf + 1;
  }
}

/** Unsigned decimal in buf[from, to): -1 when empty, not all digits or beyond 2^53. */
export function parseDecimal(buf: Uint8Array, from: number, to: number): number {
  if (from >= to) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const d = buf[i]! - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n <= Number.MAX_SAFE_INTEGER ? n : -1;
}

/** Signed decimal ("-12", "7") in buf[from, to): NaN when malformed. */
export function parseSignedDecimal(buf: Uint8Array, from: number, to: number): number {
  if (from < to && buf[from] === 45 /* - */) {
    const n = parseDecimal(buf, from + 1, to);
    return n < 0 ? NaN : -n;
  }
  const n = parseDecimal(buf, from, to);
  return n < 0 ? NaN : n;
}

/** Unsigned hexadecimal in buf[from, to): -1 when empty, not all hex digits or beyond 2^53. */
export function parseHex(buf: Uint8Array, from: number, to: number): number {
  if (from >= to) return -1;
  let n = 0;
  for (let i = from; i < to; i++) {
    const c = buf[i]!;
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 102) d = c - 87;
    else if (c >= 65 && c <= 70) d = c - 55;
    else return -1;
    n = n * 16 + d;
    if (n > Number.MAX_SAFE_INTEGER) return -1;
  }
  return n;
}

/** ASCII lower case of one byte. */
export function lowerAscii(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** ASCII upper case of one byte. */
export function upperAscii(c: number): number {
  return c >= 97 && c <= 122 ? c - 32 : c;
}

/** Whether buf[from, to) equals `lower` (a lower-case ASCII literal), ignoring ASCII case. */
export function equalsIgnoreCase(buf: Uint8Array, from: number, to: number, lower: string): boolean {
  if (to - from !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) if (lowerAscii(buf[from + i]!) !== lower.charCodeAt(i)) return false;
  return true;
}

/** Whether buf starts at `from` with the ASCII literal `text` (case-sensitive) before `to`. */
export function startsWithAscii(buf: Uint8Array, from: number, to: number, text: string): boolean {
  if (to - from < text.length) return false;
  for (let i = 0; i < text.length; i++) if (buf[from + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** First index in [from, to) that is not a space or tab (`to` if none). */
export function trimStart(buf: Uint8Array, from: number, to: number): number {
  while (from < to && (buf[from] === SP || buf[from] === HTAB)) from++;
  return from;
}

/** One past the last index in [from, to) that is not a space or tab (`from` if none). */
export function trimEnd(buf: Uint8Array, from: number, to: number): number {
  while (to > from && (buf[to - 1] === SP || buf[to - 1] === HTAB)) to--;
  return to;
}

/** Latin-1 string of buf[from, to) (the l7 APIs are ASCII; any other byte keeps its code). */
export function latin1(buf: Uint8Array, from: number, to: number): string {
  let s = "";
  for (let i = from; i < to; i++) s += String.fromCharCode(buf[i]!);
  return s;
}

/**
 * Bytes → string with a bounded memory: the same bytes give back the same string without
 * decoding them again (one string per distinct API instead of one per request). Holds at
 * most `capacity` entries; past that it decodes without remembering. The table starts at
 * 8 slots and doubles (kept at most half full) up to what `capacity` entries need: most
 * sessions see a handful of APIs.
 */
export class AsciiInterner {
  private hashes = new Int32Array(INTERNER_MIN_SLOTS);
  private keys: (Uint8Array | undefined)[] = new Array(INTERNER_MIN_SLOTS);
  private values: (string | undefined)[] = new Array(INTERNER_MIN_SLOTS);
  private readonly maxSlots: number;
  private size = 0;

  constructor(private readonly capacity = 64) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`interner capacity must be a non-negative integer, got ${capacity}`);
    let slots = INTERNER_MIN_SLOTS;
    while (slots < capacity * 2) slots *= 2;
    this.maxSlots = slots;
  }

  intern(buf: Uint8Array, from: number, to: number): string {
    let h = 0x811c9dc5 | 0;
    for (let i = from; i < to; i++) h = Math.imul(h ^ buf[i]!, 0x01000193);
    const mask = this.hashes.length - 1;
    for (let slot = h & mask, probes = 0; probes <= mask; slot = (slot + 1) & mask, probes++) {
      const key = this.keys[slot];
      if (key === undefined) {
        const value = latin1(buf, from, to);
        if (this.size < this.capacity) {
          this.keys[slot] = buf.slice(from, to);
          this.hashes[slot] = h;
          this.values[slot] = value;
          this.size++;
          if (this.size * 2 > this.hashes.length && this.hashes.length < this.maxSlots) this.grow();
        }
        return value;
      }
      if (this.hashes[slot] === h && key.length === to - from && sameBytes(key, buf, from)) return this.values[slot]!;
    }
    return latin1(buf, from, to);
  }

  /** Doubles the table and re-places every entry. */
  private grow(): void {
    const { hashes, keys, values } = this;
    const slots = hashes.length * 2;
    const mask = slots - 1;
    this.hashes = new Int32Array(slots);
    this.keys = new Array(slots);
    this.values = new Array(slots);
    for (let i = 0; i < hashes.length; i++) {
      if (keys[i] === undefined) continue;
      let slot = hashes[i]! & mask;
      while (this.keys[slot] !== undefined) slot = (slot + 1) & mask;
      this.hashes[slot] = hashes[i]!;
      this.keys[slot] = keys[i];
      this.values[slot] = values[i];
    }
  }
}

const INTERNER_MIN_SLOTS = 8;

function sameBytes(key: Uint8Array, buf: Uint8Array, from: number): boolean {
  for (let i = 0; i < key.length; i++) if (key[i] !== buf[from + i]) return false;
  return true;
}

/**
 * Holds the part of a message that a read left incomplete, up to `max` bytes. Grows by
 * doubling (starting small: most connections never need it) and is reused afterwards.
 */
export class MessageBuffer {
  bytes: Uint8Array = new Uint8Array(0);
  length = 0;

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`MessageBuffer max must be a positive integer, got ${max}`);
  }

  /** Appends buf[from, to); false (and nothing appended) when that would pass `max`. */
  append(buf: Uint8Array, from: number, to: number): boolean {
    const n = to - from;
    if (this.length + n > this.max) return false;
    if (this.length + n > this.bytes.length) {
      let cap = Math.max(256, this.bytes.length);
      while (cap < this.length + n) cap *= 2;
      const grown = new Uint8Array(Math.min(cap, this.max));
      grown.set(this.bytes.subarray(0, this.length));
      this.bytes = grown;
    }
    const into = this.bytes;
    if (n <= 256) for (let i = 0; i < n; i++) into[this.length + i] = buf[from + i]!;
    else into.set(buf.subarray(from, to), this.length); // one view object for a big copy
    this.length += n;
    return true;
  }

  /** Drops the first n bytes. */
  consume(n: number): void {
    if (n >= this.length) {
      this.length = 0;
      return;
    }
    this.bytes.copyWithin(0, n, this.length);
    this.length -= n;
  }

  clear(): void {
    this.length = 0;
  }
}

/** A bounded FIFO with a small integer tag per item: push refuses when full (the caller
 *  decides what to drop), pushEvictingOldest drops the oldest item to make room. Storage
 *  starts at a few slots and doubles up to `capacity` as the queue deepens (most
 *  connections have one or two items in flight); slots are reused, so nothing is allocated
 *  once the queue has reached its connection's depth. */
export class BoundedQueue<T> {
  private items: (T | undefined)[];
  private tags: Int32Array;
  private head = 0;
  size = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`queue capacity must be a positive integer, got ${capacity}`);
    const slots = Math.min(capacity, QUEUE_MIN_SLOTS);
    this.items = new Array(slots);
    this.tags = new Int32Array(slots);
  }

  push(item: T, tag = 0): boolean {
    if (this.size === this.items.length) {
      if (this.size === this.capacity) return false;
      this.grow();
    }
    let at = this.head + this.size;
    if (at >= this.items.length) at -= this.items.length;
    this.items[at] = item;
    this.tags[at] = tag;
    this.size++;
    return true;
  }

  /** Doubles the storage (at most to `capacity`), oldest item first at slot 0. */
  private grow(): void {
    const slots = Math.min(this.capacity, this.items.length * 2);
    const items: (T | undefined)[] = new Array(slots);
    const tags = new Int32Array(slots);
    for (let k = 0; k < this.size; k++) {
      let from = this.head + k;
      if (from >= this.items.length) from -= this.items.length;
      items[k] = this.items[from];
      tags[k] = this.tags[from]!;
    }
    this.items = items;
    this.tags = tags;
    this.head = 0;
  }

  /** Pushes, dropping the oldest item first when full; true when one was dropped. */
  pushEvictingOldest(item: T, tag = 0): boolean {
    if (this.push(item, tag)) return false;
    this.shift();
    this.push(item, tag);
    return true;
  }

  peek(): T | undefined {
    return this.size === 0 ? undefined : this.items[this.head];
  }

  /** The tag of the oldest item (0 when empty). */
  peekTag(): number {
    return this.size === 0 ? 0 : this.tags[this.head]!;
  }

  setPeekTag(tag: number): void {
    if (this.size > 0) this.tags[this.head] = tag;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = this.head + 1 === this.items.length ? 0 : this.head + 1;
    this.size--;
    return item;
  }
}

const QUEUE_MIN_SLOTS = 4;
