// Framing of Redis commands as clients send them: RESP arrays of bulk strings
// ("*3\r\n$3\r\nSET\r\n…") and inline commands ("PING\r\n", split on blanks, quotes kept
// together as redis-server's sdssplitargs does). Argument payloads are stepped over, never
// copied (a capture gap inside a big value keeps the framing); only the first bytes of the
// first three arguments are kept (command, subcommand, and CLIENT REPLY's mode).
import { CR, HTAB, LF, SP, parseSignedDecimal } from "./bytes.ts";
import { Step } from "./redis-reply.ts";

/** Bytes kept of each of the first three arguments. */
export const KEEP_ARG = 32;
const KEPT_ARGS = 3;

export class CommandFramer {
  /** Whether a command has begun (its first byte was seen). */
  open = false;
  /** Set by step() when a command ended in what it consumed. */
  done = false;
  /** A command came as a RESP array: this client speaks RESP (resync only on arrays). */
  sawArray = false;
  /** Arguments of the command (command name included). */
  argc = 0;
  readonly kept = new Uint8Array(KEPT_ARGS * KEEP_ARG);
  /** Bytes kept of argument i, and its true length. */
  readonly keptLen = new Int32Array(KEPT_ARGS);
  readonly argLen = new Int32Array(KEPT_ARGS);
  private argsLeft = 0;
  private argIndex = 0;
  /** Payload bytes still owed for the current argument, CRLF included. */
  bulkOwed = 0;
  private argPos = 0;

  reset(): void {
    this.open = false;
    this.argsLeft = 0;
    this.bulkOwed = 0;
  }

  /** Frames from data[off, end): bytes consumed (> 0), Step.NeedMore or Step.Bad. */
  step(data: Uint8Array, off: number, end: number): number {
    this.done = false;
    if (this.bulkOwed > 0) return this.payload(data, off, end);
    let lf = -1;
    for (let i = off; i < end; i++)
      if (data[i] === LF) {
        lf = i;
        break;
      }
    if (lf < 0) return Step.NeedMore;
    const le = lf > off && data[lf - 1] === CR ? lf - 1 : lf;
    if (this.argsLeft > 0) {
      // "$<len>" of the next argument
      const n = data[off] === 36 ? parseSignedDecimal(data, off + 1, le) : NaN;
      if (!(n >= 0)) return Step.Bad;
      this.bulkOwed = n + 2;
      this.argPos = 0;
      if (this.argIndex < KEPT_ARGS) {
        this.keptLen[this.argIndex] = 0;
        this.argLen[this.argIndex] = n;
      }
      return lf + 1 - off;
    }
    if (data[off] === 42 /* * */) {
      const n = parseSignedDecimal(data, off + 1, le);
      if (Number.isNaN(n)) return Step.Bad;
      if (n <= 0) {
        // an empty multibulk: redis-server reads it and answers nothing
        this.open = false;
        return lf + 1 - off;
      }
      this.open = true;
      this.sawArray = true;
      this.argc = this.argsLeft = n;
      this.argIndex = 0;
      this.keptLen.fill(0);
      this.argLen.fill(0);
      return lf + 1 - off;
    }
    // No client sends an inline command starting with "$": that is a lost argument header.
    if (data[off] === 36) return Step.Bad;
    this.inline(data, off, le);
    return lf + 1 - off;
  }

  /** Steps over `n` payload bytes that were not captured; false when they run past the argument. */
  skip(n: number): boolean {
    this.done = false;
    if (n > this.bulkOwed) return false;
    this.bulkOwed -= n;
    this.argPos += n;
    if (this.bulkOwed === 0) this.argumentEnded();
    return true;
  }

  private payload(data: Uint8Array, off: number, end: number): number {
    const n = Math.min(this.bulkOwed, end - off);
    const i = this.argIndex;
    if (i < KEPT_ARGS && this.argPos < KEEP_ARG) {
      const stop = Math.min(n, KEEP_ARG - this.argPos, this.argLen[i]! - this.argPos);
      for (let k = 0; k < stop; k++) this.kept[i * KEEP_ARG + this.argPos + k] = data[off + k]!;
      if (stop > 0) this.keptLen[i] = this.argPos + stop;
    }
    this.bulkOwed -= n;
    this.argPos += n;
    if (this.bulkOwed === 0) this.argumentEnded();
    return n;
  }

  private argumentEnded(): void {
    this.argIndex++;
    if (--this.argsLeft === 0) {
      this.open = false;
      this.done = true;
    }
  }

  /** An inline command in data[from, to): blanks separate arguments, quotes group them. */
  private inline(data: Uint8Array, from: number, to: number): void {
    this.keptLen.fill(0);
    this.argLen.fill(0);
    let argc = 0;
    let i = from;
    for (;;) {
      while (i < to && (data[i] === SP || data[i] === HTAB)) i++;
      if (i >= to) break;
      const quote = data[i] === 34 || data[i] === 39 ? data[i]! : 0;
      const start = quote ? i + 1 : i;
      i = start;
      if (quote) {
        while (i < to && data[i] !== quote) i += data[i] === 92 /* \ */ && quote === 34 ? 2 : 1;
      } else while (i < to && data[i] !== SP && data[i] !== HTAB) i++;
      const stop = Math.min(i, to);
      if (argc < KEPT_ARGS) {
        const keep = Math.min(stop - start, KEEP_ARG);
        for (let k = 0; k < keep; k++) this.kept[argc * KEEP_ARG + k] = data[start + k]!;
        this.keptLen[argc] = keep;
        this.argLen[argc] = stop - start;
      }
      argc++;
      if (quote) i++;
    }
    this.open = false;
    // an empty line is no command: redis-server skips it without a reply
    if (argc > 0) {
      this.argc = argc;
      this.done = true;
    }
  }
}
