// Feeds a recorded fixture (testdata/record.ts) to a parser session, chunk by chunk, as the
// tracker would, and returns the records. `split` re-cuts every chunk into pieces of at most
// that many bytes (messages split over reads); `cap` keeps only that prefix of each chunk
// and passes the rest as a gap (the kernel's bounded capture).
import { readFileSync } from "node:fs";
import type { L7Record, ProtocolParser, ProtocolSession, SessionOptions } from "../protocol.ts";

export interface Chunk {
  conn: number;
  dir: "req" | "resp";
  t: number;
  bytes: Uint8Array;
}

export function loadFixture(path: string): Chunk[] {
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l, i) => {
      const o = JSON.parse(l) as { conn?: number; dir: string; t: number; len: number; hex: string };
      if ((o.dir !== "req" && o.dir !== "resp") || typeof o.hex !== "string" || o.hex.length !== o.len * 2) throw new Error(`${path}:${i + 1}: not a fixture line`);
      return { conn: o.conn ?? 0, dir: o.dir, t: o.t, bytes: Uint8Array.from(Buffer.from(o.hex, "hex")) };
    });
}

export interface ReplayOptions extends Partial<SessionOptions> {
  split?: number;
  cap?: number;
}

/** Replays the chunks of one connection (or all, when conn is undefined, each conn its own session). */
export function replay(parser: ProtocolParser, chunks: Chunk[], o: ReplayOptions = {}): { records: L7Record[]; sessions: ProtocolSession[] } {
  const sessions = new Map<number, ProtocolSession>();
  const records: L7Record[] = [];
  for (const c of chunks) {
    let s = sessions.get(c.conn);
    if (!s) sessions.set(c.conn, (s = parser.session({ transport: o.transport ?? "tcp", maxPending: o.maxPending, maxBuffered: o.maxBuffered })));
    const step = o.split ?? c.bytes.length;
    for (let off = 0; off < c.bytes.length || off === 0; off += Math.max(1, step)) {
      const piece = c.bytes.subarray(off, Math.min(c.bytes.length, off + Math.max(1, step)));
      const seen = o.cap !== undefined ? piece.subarray(0, o.cap) : piece;
      if (c.dir === "req") s.request(seen, piece.length, c.t);
      else s.response(seen, piece.length, c.t);
      if (c.bytes.length === 0) break;
    }
    s.drain(records);
  }
  return { records, sessions: [...sessions.values()] };
}
