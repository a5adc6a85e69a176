// Feeding hand-written bytes to a parser session in the unit tests: one read or reads of a
// given size, with an optional gap at the end, and collecting what the session completed.
import type { L7Record, ProtocolSession } from "../protocol.ts";

const encoder = new TextEncoder();

/** Feeds `text` as one read (or as reads of `split` bytes), all at time `t`; `length` (≥ the
 *  bytes) makes the last read end in a gap of the difference. */
export function send(s: ProtocolSession, dir: "req" | "resp", text: string | Uint8Array, t: number, split = 0, length?: number): void {
  const b = typeof text === "string" ? encoder.encode(text) : text;
  const total = length ?? b.length;
  if (split <= 0) return dir === "req" ? s.request(b, total, t) : s.response(b, total, t);
  for (let off = 0; off < b.length; off += split) {
    const piece = b.subarray(off, Math.min(b.length, off + split));
    const len = off + split >= b.length ? piece.length + (total - b.length) : piece.length;
    if (dir === "req") s.request(piece, len, t);
    else s.response(piece, len, t);
  }
}

/** The records the session completed since the last drain. */
export function drained(s: ProtocolSession): L7Record[] {
  const out: L7Record[] = [];
  s.drain(out);
  return out;
}
