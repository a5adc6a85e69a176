// Streaming framer shared by the MySQL and PostgreSQL parsers: both protocols are a header
// that gives the payload length followed by the payload. The reader cuts one direction's
// bytes into messages without keeping them: it accumulates the header (a few bytes, maybe
// over several reads), keeps at most `PREFIX_MAX` bytes of the payload (what the parser
// needs: a command byte, a SQL verb, a SQLSTATE, statement names), steps over the rest
// and over capture gaps whose size the header already told, and hands each message to
// `message()` once its last byte went by. A gap that swallows a header loses the framing:
// the reader then waits for a chunk whose start `canStartAt()` accepts (a new syscall
// usually starts a new message) and counts a resync.

/** Payload bytes kept per message for the parser (larger messages are stepped over). */
export const PREFIX_MAX = 256;

/** A session option out of range (maxPending, maxBuffered). */
export class SqlSessionOptionError extends Error {
  readonly code = "EL7SQLOPTION";
  constructor(
    readonly option: string,
    readonly value: unknown,
  ) {
    super(`l7 sql session: ${option} must be a positive integer, got ${String(value)}`);
    this.name = "SqlSessionOptionError";
  }
}

export abstract class FrameReader {
  /** The current header, `headerLength()` bytes once complete. */
  protected readonly header = new Uint8Array(8);
  /** The first `prefixLength` bytes of the current payload. */
  protected readonly prefix = new Uint8Array(PREFIX_MAX);
  protected prefixLength = 0;
  private headerHave = 0;
  private headerNeed = 0;
  /** Payload bytes still to come, -1 while reading a header. */
  private payloadLeft = -1;
  private payloadTotal = 0;
  private prefixWant = 0;
  private startNs = 0;
  /** True after a gap swallowed a header: the next chunk must pass `canStartAt`. */
  private lost = false;
  resyncs = 0;

  /** `prefixLimit`: payload bytes kept per message at most (the session's maxBuffered, ≤ PREFIX_MAX). */
  constructor(private readonly prefixLimit: number = PREFIX_MAX) {
    if (!Number.isInteger(prefixLimit) || prefixLimit < 1) throw new SqlSessionOptionError("maxBuffered", prefixLimit);
    if (prefixLimit > PREFIX_MAX) this.prefixLimit = PREFIX_MAX;
  }

  /** Header bytes of the next message (≤ 8), given its first byte; may depend on the connection's state. */
  protected abstract headerLength(first: number): number;
  /** Payload length of the message whose header is in `this.header`, or -1 when it is not a header. */
  protected abstract payloadLength(): number;
  /** Payload bytes of the message whose header is in `this.header` the parser needs (≤ PREFIX_MAX). */
  protected prefixWanted(): number {
    return PREFIX_MAX;
  }
  /** A whole message went by: `total` bytes with its header, first byte at `startNs`, last at `endNs`. */
  protected abstract message(total: number, startNs: number, endNs: number): void;
  /** Whether a message can plausibly start at `bytes[0]` of a chunk of `length` true bytes
   *  (resynchronisation after a gap). */
  protected abstract canStartAt(bytes: Uint8Array, length: number): boolean;
  /** Framing was lost: the parser drops what it assumed about the stream. */
  protected abstract framingLost(): void;

  feed(bytes: Uint8Array, length: number, tsNs: number): void {
    const n = bytes.length;
    let i = 0;
    if (this.lost) {
      if (n === 0 || !this.canStartAt(bytes, length)) return;
      this.lost = false;
    }
    while (i < n) {
      if (this.payloadLeft < 0) {
        let have = this.headerHave;
        if (have === 0) {
          this.startNs = tsNs;
          this.headerNeed = this.headerLength(bytes[i]!);
        }
        const need = this.headerNeed;
        const header = this.header;
        while (have < need && i < n) header[have++] = bytes[i++]!;
        this.headerHave = have;
        if (have < need) break;
        const payload = this.payloadLength();
        if (payload < 0) {
          this.loseFraming();
          return;
        }
        this.payloadLeft = this.payloadTotal = payload;
        const wanted = this.prefixWanted();
        const want = wanted < this.prefixLimit ? wanted : this.prefixLimit;
        this.prefixWant = payload < want ? payload : want;
        this.prefixLength = 0;
        if (payload === 0) this.finish(tsNs);
        continue;
      }
      const available = n - i;
      const take = available < this.payloadLeft ? available : this.payloadLeft;
      if (this.prefixLength < this.prefixWant) {
        // A byte loop: a subarray view per message would be an allocation per message.
        const keep = Math.min(take, this.prefixWant - this.prefixLength);
        const prefix = this.prefix;
        let at = this.prefixLength;
        for (let k = i, end = i + keep; k < end; k++) prefix[at++] = bytes[k]!;
        this.prefixLength = at;
      }
      i += take;
      this.payloadLeft -= take;
      if (this.payloadLeft === 0) this.finish(tsNs);
    }
    let gap = length - n;
    if (gap <= 0) return;
    if (this.payloadLeft > 0) {
      const step = gap < this.payloadLeft ? gap : this.payloadLeft;
      this.payloadLeft -= step;
      gap -= step;
      if (this.payloadLeft === 0) this.finish(tsNs);
    }
    if (gap > 0) this.loseFraming();
  }

  /** Whether the whole payload prefix the parser asked for is there (a capture gap can cut it). */
  protected get prefixComplete(): boolean {
    return this.prefixLength === this.prefixWant;
  }

  /** False from a gap that swallowed a header until a chunk start passes `canStartAt`. */
  get inStep(): boolean {
    return !this.lost;
  }

  protected get payloadBytes(): number {
    return this.payloadTotal;
  }

  private finish(tsNs: number): void {
    const total = this.headerNeed + this.payloadTotal;
    this.payloadLeft = -1;
    this.headerHave = 0;
    this.message(total, this.startNs, tsNs);
  }

  private loseFraming(): void {
    this.lost = true;
    this.resyncs++;
    this.headerHave = 0;
    this.payloadLeft = -1;
    this.framingLost();
  }
}
