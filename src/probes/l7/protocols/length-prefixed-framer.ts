// Cuts one direction of a byte stream into messages that start with a big-endian length
// prefix (Kafka: int32 size; DNS over TCP: uint16 length). It keeps only the first
// `headCap` bytes of each message (what the parser reads) and steps over the rest, gaps
// included, since the prefix says where the next message starts. When a gap swallows the
// start of the next message the framer has lost its place: it counts one resync and waits
// for a chunk whose first bytes the owner accepts as a message start.
//
// Kafka and DNS over TCP use it. (MySQL and PostgreSQL frame with sql-frames.ts instead: their
// header length depends on the message and the connection's state, and they keep at most a
// fixed 256-byte payload prefix rather than up to maxBuffered bytes.)
import { i32be, u16be } from "./bytes.ts";

export interface FrameStats {
  resyncs: number;
}

export interface FramerOwner {
  /** Whether the prefix value is a possible message size (bytes after the prefix). */
  sizeOk(size: number): boolean;
  /** Whether a chunk after a loss starts like a message (`bytes` are its first captured bytes). */
  canStart(bytes: Uint8Array): boolean;
  /** A complete message: its first `headLen` bytes (prefix included) are in `head`; `total` counts
   *  every byte (prefix, seen and unseen). `head` is only valid during the call. */
  frame(head: Uint8Array, headLen: number, total: number, startNs: number, endNs: number): void;
}

const MIN_HEAD = 64;

export class LengthPrefixedFramer {
  private head: Uint8Array;
  private headLen = 0;
  /** Bytes of the current message consumed so far (prefix, seen and gap bytes). */
  private consumed = 0;
  /** Prefix + size once the prefix is complete; -1 before. */
  private total = -1;
  /** The message had a gap: later bytes are not contiguous with `head` and are not kept. */
  private holed = false;
  private startNs = 0;
  private lost = false;

  constructor(
    private readonly prefixBytes: 2 | 4,
    private readonly headCap: number,
    private readonly owner: FramerOwner,
    private readonly stats: FrameStats,
  ) {
    this.head = new Uint8Array(Math.min(MIN_HEAD, Math.max(prefixBytes, headCap)));
  }

  push(bytes: Uint8Array, length: number, tsNs: number): void {
    if (this.lost) {
      if (bytes.length === 0 || !this.owner.canStart(bytes)) return;
      this.lost = false;
    }
    const n = bytes.length;
    let off = 0;
    while (off < n) {
      if (this.consumed === 0) this.startNs = tsNs;
      if (this.total < 0) {
        this.head[this.headLen++] = bytes[off++]!;
        this.consumed++;
        if (this.consumed === this.prefixBytes && !this.prefixDone()) return;
        continue;
      }
      const take = Math.min(this.total - this.consumed, n - off);
      if (!this.holed && this.headLen < this.headCap) this.keep(bytes, off, Math.min(take, this.headCap - this.headLen));
      this.consumed += take;
      off += take;
      if (this.consumed === this.total) this.complete(tsNs);
    }
    const gap = length - n;
    if (gap <= 0) return;
    if (this.total < 0) {
      // The gap holds (part of) a prefix: where the following message starts is unknown.
      this.lose();
      return;
    }
    const rest = this.total - this.consumed;
    if (gap < rest) {
      this.consumed += gap;
      this.holed = true;
    } else {
      this.consumed = this.total;
      this.complete(tsNs);
      if (gap > rest) this.lose();
    }
  }

  private prefixDone(): boolean {
    const h = this.head;
    const size = this.prefixBytes === 4 ? i32be(h, 0) : u16be(h, 0);
    if (!this.owner.sizeOk(size)) {
      this.lose();
      return false;
    }
    this.total = this.prefixBytes + size;
    return true;
  }

  private keep(bytes: Uint8Array, off: number, count: number): void {
    if (count <= 0) return;
    const need = this.headLen + count;
    if (need > this.head.length) {
      let size = this.head.length * 2;
      while (size < need) size *= 2;
      const grown = new Uint8Array(Math.min(size, this.headCap));
      grown.set(this.head.subarray(0, this.headLen));
      this.head = grown;
    }
    if (count <= 256) {
      // A loop: no subarray view for the small copies of most messages.
      const h = this.head;
      for (let i = 0, at = this.headLen; i < count; i++) h[at + i] = bytes[off + i]!;
    } else {
      this.head.set(bytes.subarray(off, off + count), this.headLen);
    }
    this.headLen = need;
  }

  private complete(endNs: number): void {
    const { headLen, total, startNs } = this;
    this.reset();
    this.owner.frame(this.head, headLen, total, startNs, endNs);
  }

  private lose(): void {
    this.reset();
    this.lost = true;
    this.stats.resyncs++;
  }

  private reset(): void {
    this.headLen = 0;
    this.consumed = 0;
    this.total = -1;
    this.holed = false;
  }
}
