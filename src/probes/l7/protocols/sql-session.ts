// What the MySQL and PostgreSQL sessions share: the bounded ring of unanswered requests
// (pending-ring.ts), the completed records, the counters, one frame reader per direction
// (sql-frames.ts) fed with what each side sent, and the time of the server's last read
// (a request older than it is answered or lost).
import type { L7Record, ProtocolSession, SessionOptions, SessionStats } from "../protocol.ts";
import { PendingRing } from "./pending-ring.ts";
import { FrameReader, PREFIX_MAX, SqlSessionOptionError } from "./sql-frames.ts";
import { moveRecords } from "./session-records.ts";

export abstract class SqlSession<Entry> implements ProtocolSession {
  protected readonly pending: PendingRing<Entry>;
  protected readonly done: L7Record[] = [];
  protected readonly counters: SessionStats = { resyncs: 0, unansweredDropped: 0, unmatchedResponses: 0 };
  /** When the server's last read started. */
  protected lastServerNs = 0;
  /** Payload bytes each frame reader keeps per message: maxBuffered, at most PREFIX_MAX. */
  protected readonly prefixLimit: number;
  protected abstract readonly client: FrameReader;
  protected abstract readonly server: FrameReader;

  constructor(options: SessionOptions, newEntry: () => Entry) {
    const maxPending = options.maxPending ?? 1024;
    if (!Number.isInteger(maxPending) || maxPending < 1) throw new SqlSessionOptionError("maxPending", maxPending);
    this.pending = new PendingRing(maxPending, newEntry);
    this.prefixLimit = Math.min(PREFIX_MAX, options.maxBuffered ?? PREFIX_MAX);
  }

  get stats(): Readonly<SessionStats> {
    this.counters.resyncs = this.client.resyncs + this.server.resyncs;
    this.counters.unansweredDropped = this.pending.dropped;
    return this.counters;
  }

  request(bytes: Uint8Array, length: number, tsNs: number): void {
    this.client.feed(bytes, length, tsNs);
  }

  response(bytes: Uint8Array, length: number, tsNs: number): void {
    this.lastServerNs = tsNs;
    this.server.feed(bytes, length, tsNs);
  }

  drain(out: L7Record[]): number {
    return moveRecords(this.done, out);
  }
}
