// Table definitions: the single description of a probe's output that drives the
// Prometheus exposition, log and Kafka messages, metadata and docs. Shapes follow the
// meta tables of spec metrics.json.

export type FieldType = "key" | "label" | "gauge" | "counter" | "histogram" | "summary";

export interface FieldDef {
  readonly name: string;
  readonly type: FieldType;
  readonly description: string;
}

export interface TableDef {
  /** Meta table name (metadata meta_name, json `table_name`). */
  readonly name: string;
  /** Entity name: metric names are gala_gopher_<entity>_<field>. */
  readonly entity: string;
  /** Meta file version reported in metadata messages. */
  readonly version: string;
  readonly fields: readonly FieldDef[];
}

/** A histogram value: cumulative counts per upper bound, plus sum and max of the period. */
export interface HistogramValue {
  readonly bounds: readonly number[];
  /** Cumulative counts, same length as bounds. */
  readonly cumulative: readonly number[];
  readonly sum: number;
  readonly max: number;
}

/**
 * One row as a probe emits it. Keys and labels are strings; metrics are numbers, or
 * preformatted decimal strings (e.g. "3.50"); undefined or "" means "not reported this
 * period" and the field is not exported.
 */
export type RowValue = string | number | HistogramValue | undefined;
export type Row = Readonly<Record<string, RowValue>>;

/**
 * An abnormal event as a probe raises it (events-and-metadata.md §1.4); the agent gates it
 * by report_event, de-duplicates it and formats it for the event channel.
 */
export interface ProbeEvent {
  /** Entity name, e.g. "cpu", "fs", "tcp_link". */
  entity: string;
  /** Entity key as the probe builds it (events-and-metadata.md §1.4). */
  key: string;
  /** Metric field name the event is about. */
  metric: string;
  /** The message after `Entity(<key>) `. */
  message: string;
  pid?: string;
  comm?: string;
  ip?: string;
  containerId?: string;
  podId?: string;
  device?: string;
  severity?: "INFO" | "WARN" | "ERROR" | "FATAL";
}

/** `[upper bound, cumulative count]` per bucket; a missing count repeats the previous one. */
export function histogramBuckets(h: HistogramValue): [number, number][] {
  const out: [number, number][] = [];
  let last = 0;
  for (let i = 0; i < h.bounds.length; i++) {
    last = h.cumulative[i] ?? last;
    out.push([h.bounds[i] ?? 0, last]);
  }
  return out;
}

export function defineTable(t: TableDef): TableDef {
  const seen = new Set<string>();
  for (const f of t.fields) {
    if (seen.has(f.name)) throw new Error(`table ${t.name}: duplicate field ${f.name}`);
    seen.add(f.name);
  }
  return t;
}
