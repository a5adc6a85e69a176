// The interface every output channel implements (logs today; Kafka plugs in here).
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

/** Fans out to every configured sink; a sink that throws is counted and skipped. */
export class SinkSet implements OutputSink {
  failures = 0;
  constructor(private readonly sinks: OutputSink[]) {}

  get hasRows(): boolean {
    return this.sinks.some((s) => s.rows);
  }

  add(s: OutputSink): void {
    this.sinks.push(s);
  }

  rows(batches: readonly RowBatch[], nowMs: number): void {
    for (const s of this.sinks) this.guard(() => s.rows?.(batches, nowMs));
  }
  event(line: string): void {
    for (const s of this.sinks) this.guard(() => s.event?.(line));
  }
  meta(line: string): void {
    for (const s of this.sinks) this.guard(() => s.meta?.(line));
  }
  async close(): Promise<void> {
    for (const s of this.sinks) await s.close?.();
  }
  private guard(f: () => void): void {
    try {
      f();
    } catch {
      this.failures++;
    }
  }
}
