// What a TCP connection said before its protocol is known: the first bytes of each
// direction, accumulated over reads (a Java server reads a Kafka request's 4-byte length
// apart from its body; detection needs both), and a bounded copy of every chunk so far, so
// the session, once chosen, sees the connection from its first byte.

/** Bytes of each direction's beginning handed to detect(). */
export const PREFIX_BYTES = 256;
/** Chunks seen before a connection no parser recognises is given up. */
export const DETECT_CHUNKS = 6;
/** Bytes of the held chunks kept; past it a chunk is kept as a gap (its length only). */
export const HELD_BYTES = 64 * 1024;

export interface HeldChunk {
  dir: number;
  bytes: Uint8Array;
  len: number;
  tsNs: number;
}

export class Detection {
  readonly chunks: HeldChunk[] = [];
  private held = 0;
  private readonly prefix = [new Uint8Array(PREFIX_BYTES), new Uint8Array(PREFIX_BYTES)];
  private readonly prefixLen = [0, 0];

  /** Holds a copy of one chunk (direction 0 send, 1 receive) and extends its direction's prefix. */
  add(dir: number, data: Uint8Array, len: number, tsNs: number): void {
    const keep = Math.max(0, Math.min(data.length, HELD_BYTES - this.held));
    this.chunks.push({ dir, bytes: data.slice(0, keep), len, tsNs });
    this.held += keep;
    const d = dir ? 1 : 0;
    // The prefix only grows over bytes actually seen: after a gap it stops.
    if (this.prefixLen[d]! < PREFIX_BYTES && this.gapless(d)) {
      const n = Math.min(data.length, PREFIX_BYTES - this.prefixLen[d]!);
      this.prefix[d]!.set(data.subarray(0, n), this.prefixLen[d]!);
      this.prefixLen[d]! += n;
    }
  }

  /** The beginning of what direction `dir` sent so far. */
  prefixOf(dir: number): Uint8Array {
    const d = dir ? 1 : 0;
    return this.prefix[d]!.subarray(0, this.prefixLen[d]!);
  }

  get count(): number {
    return this.chunks.length;
  }

  /** Whether every earlier chunk of direction `d` was captured whole (the prefix is contiguous). */
  private gapless(d: number): boolean {
    for (let i = 0; i < this.chunks.length - 1; i++) {
      const c = this.chunks[i]!;
      if ((c.dir ? 1 : 0) === d && c.len !== c.bytes.length) return false;
    }
    return true;
  }
}
