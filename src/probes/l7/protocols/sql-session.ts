// What the MySQL and PostgreSQL sessions share: the bounded ring of unanswered requests
// (sql-pending.ts), the completed records, the counters, one frame reader per direction
// (sql-frames.ts) fed with what each side sent, and the time of the server's last read
// (a request older than it is answered or lost).
import type { L7Record, ProtocolSession, SessionOptions, SessionStats } from "../protocol.ts";
import { FrameReader, PREFIX_MAX } from "./sql-frames.ts";
import { PendingRing } from "./sql-pending.ts";
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
    this.pending = new PendingRing(options.maxPending ?? 1024, newEntry);
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
