// Feeds a recorded fixture (testdata/record.ts) to a parser session, chunk by chunk, as the
// tracker would, and returns the records. `split` re-cuts every chunk into pieces of at most
// that many bytes (messages split over reads); `cap` keeps only that prefix of each chunk
// and passes the rest as a gap (the kernel's bounded capture). Also the tallies the replay
// tests compare with what the real servers and clients counted (records per API, errors by
// class).
import { readFileSync } from "node:fs";
import { ErrorClass, type L7Record, type ProtocolParser, type ProtocolSession, type SessionOptions } from "../protocol.ts";

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

/** Named cuts a replay test runs every fixture through: whole reads, reads split small and
 *  odd-sized, and captures bounded as the kernel bounds them (capture_bytes). */
export const READS_AND_CAPTURES: readonly (readonly [string, ReplayOptions])[] = [
  ["whole reads", {}],
  ["1-byte reads", { split: 1 }],
  ["7-byte reads", { split: 7 }],
  ["1000-byte reads", { split: 1000 }],
  ["512-byte capture", { cap: 512 }],
  ["4 KiB capture", { cap: 4096 }],
  ["16 KiB capture", { cap: 16384 }],
  ["32 KiB capture (the probe's default capture_bytes)", { cap: 32768 }],
];

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

/** How many records (or logged requests) each API has. */
export function countApis(records: readonly { api: string }[]): Record<string, number> {
  const apis: Record<string, number> = {};
  for (const r of records) apis[r.api] = (apis[r.api] ?? 0) + 1;
  return apis;
}

/** What the replay tests compare with the count the real server or client kept. */
export interface RequestSummary {
  requests: number;
  clientErrors: number;
  serverErrors: number;
  apis: Record<string, number>;
}

/** Records, errors by class, and records per API. */
export function summarize(records: readonly L7Record[]): RequestSummary {
  return {
    requests: records.length,
    clientErrors: records.filter((r) => r.error === ErrorClass.Client).length,
    serverErrors: records.filter((r) => r.error === ErrorClass.Server).length,
    apis: countApis(records),
  };
}

/** One API's records, and how many of them failed by the client's or the server's fault. */
export interface ApiTally {
  count: number;
  client: number;
  server: number;
}

/** An ApiTally that also counts the requests the protocol answers with nothing. */
export interface ApiTallyWithNoResponse extends ApiTally {
  noResponse: number;
}

export interface TallyEntry {
  api: string;
  error: ErrorClass;
  noResponse?: boolean;
}

/** Records (or what a client logged) per API with their error classes. */
export function tallyByApi(entries: readonly TallyEntry[]): Record<string, ApiTally> {
  return tally(entries, false);
}

/** tallyByApi, plus the requests answered by nothing (`noResponse`) per API. */
export function tallyByApiWithNoResponse(entries: readonly TallyEntry[]): Record<string, ApiTallyWithNoResponse> {
  return tally(entries, true) as Record<string, ApiTallyWithNoResponse>;
}

function tally(entries: readonly TallyEntry[], withNoResponse: boolean): Record<string, ApiTally> {
  const out: Record<string, ApiTally & { noResponse?: number }> = {};
  for (const e of entries) {
    const t = (out[e.api] ??= withNoResponse ? { count: 0, noResponse: 0, client: 0, server: 0 } : { count: 0, client: 0, server: 0 });
    t.count++;
    if (withNoResponse && e.noResponse) t.noResponse!++;
    if (e.error === ErrorClass.Client) t.client++;
    if (e.error === ErrorClass.Server) t.server++;
  }
  return out;
}
