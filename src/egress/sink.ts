// The interface every output channel implements (logs today; Kafka plugs in here).
import { errorText } from "../log/error-text.ts";
import type { Logger } from "../log/logger.ts";
import type { StoredRow } from "../store/store.ts";
import type { TableDef } from "../store/table.ts";

export interface RowBatch {
  readonly table: TableDef;
  readonly rows: readonly StoredRow[];
}

export interface OutputSink {
  /** Rows of one collection cycle of one probe. */
  rows?(batches: readonly RowBatch[], nowMs: number): void;
  /** One formatted event line (events-and-metadata.md §1.2). */
  event?(line: string): void;
  /** One metadata message (outputs.md §4.2). */
  meta?(line: string): void;
  close?(): void | Promise<void>;
}

/** A failing sink is logged at its first failure and then at most once per this interval. */
export const SINK_FAILURE_LOG_MS = 60_000;

/** Fans out to every configured sink; a sink that throws is counted, logged and skipped. */
export class SinkSet implements OutputSink {
  failures = 0;
  private readonly lastLogged = new Map<OutputSink, { at: number; suppressed: number }>();
  constructor(
    private readonly sinks: OutputSink[],
    private readonly log?: Logger,
  ) {}

  get hasRows(): boolean {
    return this.sinks.some((s) => s.rows);
  }

  add(s: OutputSink): void {
    this.sinks.push(s);
  }

  rows(batches: readonly RowBatch[], nowMs: number): void {
    for (const s of this.sinks) this.guard(s, "rows", () => s.rows?.(batches, nowMs));
  }
  event(line: string): void {
    for (const s of this.sinks) this.guard(s, "event", () => s.event?.(line));
  }
  meta(line: string): void {
    for (const s of this.sinks) this.guard(s, "metadata", () => s.meta?.(line));
  }
  /** Closes every sink; one that fails to close is logged and the others still close. */
  async close(): Promise<void> {
    for (const s of this.sinks) {
      try {
        await s.close?.();
      } catch (e) {
        this.log?.warn(`output ${sinkName(s)}: close failed: ${errorText(e)}`);
      }
    }
  }
  private guard(s: OutputSink, what: string, f: () => void): void {
    try {
      f();
    } catch (e) {
      this.failures++;
      this.logFailure(s, what, e);
    }
  }
  private logFailure(s: OutputSink, what: string, e: unknown): void {
    if (!this.log) return;
    const now = Date.now();
    const last = this.lastLogged.get(s);
    if (last && now - last.at < SINK_FAILURE_LOG_MS) {
      last.suppressed++;
      return;
    }
    const more = last?.suppressed ? ` (${last.suppressed} more failure(s) since the last report)` : "";
    this.log.warn(`output ${sinkName(s)}: writing ${what} failed: ${errorText(e)}${more}`);
    this.lastLogged.set(s, { at: now, suppressed: 0 });
  }
}

function sinkName(s: OutputSink): string {
  const n = (s as { constructor?: { name?: string } }).constructor?.name;
  return n && n !== "Object" ? n : "sink";
}
