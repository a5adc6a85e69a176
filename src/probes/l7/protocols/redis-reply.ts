// Framing of Redis replies (RESP2 and RESP3): one value at a time, nested aggregates
// tracked with a bounded stack of "elements still owed", bulk payloads stepped over (never
// copied, so a capture gap inside one keeps the framing), and the few bytes the session
// needs kept aside: the top-level type, the first element of a top-level array or push
// ("message", "subscribe", "pong"…), its third element when an integer (subscription
// count) and the start of an error. Streamed RESP3 strings/aggregates ("$?", "*?"), which
// Redis itself never sends, are not framed: the caller resynchronises.
import { CR, LF, lowerAscii, parseSignedDecimal } from "./bytes.ts";

const MAX_DEPTH = 64;
/** Bytes kept of the first element of a top-level aggregate and of an error. */
export const KEEP = 16;

export const enum Step {
  NeedMore = -1,
  Bad = -2,
}

export class ReplyFramer {
  /** Top-level type byte of the value being framed (after any attribute). */
  topType = 0;
  /** Lower-cased start of the first element of a top-level aggregate, or of an error line. */
  readonly kept = new Uint8Array(KEEP);
  keptLen = 0;
  /** Third element of a top-level aggregate when it is an integer (else NaN). */
  thirdInt = NaN;
  /** Whether a value has begun (its first byte was seen). */
  open = false;
  private readonly owed = new Int32Array(MAX_DEPTH);
  private readonly isAttribute = new Uint8Array(MAX_DEPTH);
  private depth = 0;
  /** Index of the element being framed inside the top-level aggregate. */
  private index = 0;
  /** Bytes of a bulk payload still owed, its CRLF included; 0 when between lines. */
  bulkOwed = 0;
  private bulkPos = 0;
  private keepBulk = false;

  reset(): void {
    this.open = false;
    this.depth = 0;
    this.bulkOwed = 0;
  }

  /**
   * Frames from data[off, end): returns bytes consumed (> 0), NeedMore (a line is not
   * complete) or Bad. `done` is set when a whole top-level value ended in what was consumed.
   */
  step(data: Uint8Array, off: number, end: number): number {
    this.done = false;
    if (this.bulkOwed > 0) return this.payload(data, off, end);
    const n = this.line(data, off, end);
    if (n === Step.Bad && this.depth === 0) this.open = false; // nothing of a value was read
    return n;
  }

  private line(data: Uint8Array, off: number, end: number): number {
    let lf = -1;
    for (let i = off; i < end; i++)
      if (data[i] === LF) {
        lf = i;
        break;
      }
    if (lf < 0) return Step.NeedMore;
    const le = lf > off && data[lf - 1] === CR ? lf - 1 : lf;
    const type = data[off]!;
    if (!this.open) {
      this.open = true;
      this.index = 0;
      this.keptLen = 0;
      this.thirdInt = NaN;
    }
    if (this.depth === 0) this.topType = type;
    const consumed = lf + 1 - off;
    switch (type) {
      case 43: // + simple string
      case 45: // - error
        if (this.depth === 0 || (this.depth === 1 && this.index === 0)) this.keep(data, off + 1, le);
        this.element();
        return consumed;
      case 58: // : integer
      case 44: // , double
      case 35: // # boolean
      case 40: // ( big number
      case 95: // _ null
        if (type === 58 && this.depth === 1 && this.index === 2) this.thirdInt = parseSignedDecimal(data, off + 1, le);
        this.element();
        return consumed;
      case 36: // $ bulk string
      case 33: // ! bulk error
      case 61: {
        // = verbatim string
        const n = parseSignedDecimal(data, off + 1, le);
        if (n === -1 && type === 36) {
          this.element();
          return consumed;
        }
        if (!(n >= 0)) return Step.Bad;
        this.bulkOwed = n + 2;
        this.bulkPos = 0;
        this.keepBulk = this.depth === 0 || (this.depth === 1 && this.index === 0);
        return consumed;
      }
      case 42: // * array
      case 126: // ~ set
      case 62: // > push
      case 37: // % map
      case 124: {
        // | attribute
        const n = parseSignedDecimal(data, off + 1, le);
        if (n === -1 && (type === 42 || type === 126)) {
          this.element();
          return consumed;
        }
        if (!(n >= 0)) return Step.Bad;
        const elements = type === 37 || type === 124 ? n * 2 : n;
        if (elements === 0) {
          if (type !== 124) this.element();
          return consumed;
        }
        if (this.depth === MAX_DEPTH) return Step.Bad;
        if (this.depth === 0) {
          // (after a top-level attribute) the reply's own elements are counted from here
          this.index = 0;
          this.keptLen = 0;
          this.thirdInt = NaN;
        }
        this.owed[this.depth] = elements;
        this.isAttribute[this.depth] = type === 124 ? 1 : 0;
        this.depth++;
        return consumed;
      }
      default:
        return Step.Bad;
    }
  }

  /** Set by step() when a top-level value ended. */
  done = false;

  /** Steps over `n` payload bytes that were not captured; false when they run past the payload. */
  skip(n: number): boolean {
    if (n > this.bulkOwed) return false;
    this.bulkOwed -= n;
    this.bulkPos += n;
    this.done = false;
    if (this.bulkOwed === 0) this.element();
    return true;
  }

  private payload(data: Uint8Array, off: number, end: number): number {
    const n = Math.min(this.bulkOwed, end - off);
    const payloadLeft = this.bulkOwed - 2; // the CRLF after the payload is not kept
    if (this.keepBulk && this.bulkPos < KEEP && payloadLeft > 0) this.keep(data, off, off + Math.min(n, payloadLeft, KEEP - this.bulkPos), this.bulkPos);
    this.bulkOwed -= n;
    this.bulkPos += n;
    if (this.bulkOwed === 0) this.element();
    return n;
  }

  private keep(data: Uint8Array, from: number, to: number, at = 0): void {
    const stop = Math.min(to, from + KEEP - at);
    for (let i = from; i < stop; i++) this.kept[at + i - from] = lowerAscii(data[i]!);
    this.keptLen = Math.max(this.keptLen, at + stop - from);
  }

  /** One value ended: settle the aggregates it completes. */
  private element(): void {
    while (this.depth > 0) {
      const d = this.depth - 1;
      if (--this.owed[d]! > 0) {
        if (d === 0) this.index++;
        return;
      }
      this.depth--;
      // An attribute annotates the value that follows it: it is not an element itself.
      if (this.isAttribute[d]) return;
    }
    if (this.topType === 124) return; // a top-level attribute: the reply itself follows
    this.open = false;
    this.done = true;
  }

  /** Whether the kept bytes are exactly `lower`. */
  keptIs(lower: string): boolean {
    if (this.keptLen !== lower.length) return false;
    for (let i = 0; i < lower.length; i++) if (this.kept[i] !== lower.charCodeAt(i)) return false;
    return true;
  }

  /** Whether the kept bytes start with `lower` followed by a space or their end. */
  keptStartsWithWord(lower: string): boolean {
    if (this.keptLen < lower.length) return false;
    for (let i = 0; i < lower.length; i++) if (this.kept[i] !== lower.charCodeAt(i)) return false;
    return this.keptLen === lower.length || this.kept[lower.length] === 32;
  }
}
