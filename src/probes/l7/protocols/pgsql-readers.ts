// The two directions of a PostgreSQL connection cut into messages (sql-frames.ts): the
// client's typed messages and untyped startup packets, the server's typed messages and the
// one-byte answer to an SSLRequest/GSSENCRequest. They hand each message to the session.
import { FrameReader, PREFIX_MAX } from "./sql-frames.ts";
import { isBackendTag, isFrontendTag, startupCode, StartupCode, typedChainPlausible } from "./pgsql-wire.ts";
import { u32be } from "./bytes.ts";

/** What the readers tell the session. */
export interface PgMessageSink {
  frontendMessage(tag: number, total: number, prefix: Uint8Array, seen: number, startNs: number): void;
  backendMessage(tag: number, total: number, prefix: Uint8Array, seen: number, endNs: number): void;
  /** The client sent an SSLRequest or GSSENCRequest: the server answers with one byte. */
  expectEncryptionAnswer(): void;
  framingLost(client: boolean): void;
}

/** What the client sends: typed messages, or, first and after an encryption request, an untyped startup packet. */
export class PgFrontendReader extends FrameReader {
  private startupPossible = true;
  private untyped = false;
  constructor(
    private readonly session: PgMessageSink,
    prefixLimit: number,
  ) {
    super(prefixLimit);
  }
  protected headerLength(first: number): number {
    this.untyped = this.startupPossible && first === 0;
    return this.untyped ? 4 : 5;
  }
  protected payloadLength(): number {
    const h = this.header;
    if (this.untyped) {
      const len = u32be(h, 0);
      return len >= 8 && len <= 10000 ? len - 4 : -1;
    }
    const len = u32be(h, 1);
    return isFrontendTag(h[0]!) && len >= 4 && len < 0x40000000 ? len - 4 : -1;
  }
  protected override prefixWanted(): number {
    const tag = this.header[0]!;
    return tag === 0x64 ? 0 : PREFIX_MAX; // CopyData is not read
  }
  protected message(total: number, startNs: number): void {
    if (this.untyped) {
      const code = this.prefixLength >= 4 ? startupCode(this.prefix, 0) : StartupCode.Other;
      if (code === StartupCode.SslRequest || code === StartupCode.GssEncRequest) this.session.expectEncryptionAnswer();
      else this.startupPossible = false;
      return;
    }
    this.startupPossible = false;
    this.session.frontendMessage(this.header[0]!, total, this.prefix, this.prefixLength, startNs);
  }
  protected canStartAt(bytes: Uint8Array): boolean {
    return typedChainPlausible(bytes, false);
  }
  protected framingLost(): void {
    this.session.framingLost(true);
  }
}

/** What the server sends: typed messages, and the one-byte answer to an encryption request. */
export class PgBackendReader extends FrameReader {
  oneByteAnswer = false;
  private answering = false;
  constructor(
    private readonly session: PgMessageSink,
    prefixLimit: number,
  ) {
    super(prefixLimit);
  }
  protected headerLength(): number {
    this.answering = this.oneByteAnswer;
    return this.answering ? 1 : 5;
  }
  protected payloadLength(): number {
    if (this.answering) return 0;
    const h = this.header;
    const len = u32be(h, 1);
    return isBackendTag(h[0]!) && len >= 4 && len < 0x40000000 ? len - 4 : -1;
  }
  protected override prefixWanted(): number {
    return this.header[0] === 0x45 ? PREFIX_MAX : 0; // only an ErrorResponse is read (its SQLSTATE)
  }
  protected message(total: number, _startNs: number, endNs: number): void {
    if (this.answering) {
      this.oneByteAnswer = this.answering = false;
      return;
    }
    this.session.backendMessage(this.header[0]!, total, this.prefix, this.prefixLength, endNs);
  }
  protected canStartAt(bytes: Uint8Array): boolean {
    return typedChainPlausible(bytes, true);
  }
  protected framingLost(): void {
    this.oneByteAnswer = this.answering = false;
    this.session.framingLost(false);
  }
}
