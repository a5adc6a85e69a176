// The in-memory metric store: the latest row of every live series (snapshot semantics,
// DECISIONS.md). Rows are keyed by their label set; a row is retired when its probe
// stops reporting it (end of a collection cycle) or when it outlives its TTL.
import type { Row, TableDef } from "./table.ts";

/** Upstream cuts field and label names to 31 characters (outputs.md §2.2). */
export const NAME_LIMIT = 31;

export interface StoredRow {
  /** Rendered label text without machine_id and without braces: `a="x",b="y"`. */
  readonly labels: string;
  /** Label pairs in exposition order (machine_id excluded), for JSON/Kafka sinks. */
  readonly labelPairs: readonly (readonly [string, string])[];
  values: Row;
  updatedAt: number;
  cycle: number;
  owner: string;
}

export interface TableState {
  readonly def: TableDef;
  readonly rows: Map<string, StoredRow>;
  /** Precomputed: metric fields in meta order. */
  readonly metricFields: readonly TableDef["fields"][number][];
  readonly labelFields: readonly string[];
}

export interface DropCounts {
  /** Series refused because the table already held max rows. */
  table_full: number;
  /** Rows whose label text exceeded the limit. */
  labels_too_long: number;
}

/**
 * Extra label pairs for a row (added after the table's own key/label fields), or null to
 * drop the row. `owner` is the probe (feature) that emitted it.
 */
export type LabelEnricher = (table: TableDef, row: Row, owner: string) => readonly (readonly [string, string])[] | null;

/** Prometheus text escaping of a label value (`\\`, `\"`, `\n`). */
export function escapeLabelValue(v: string): string {
  if (!/[\\"\n]/.test(v)) return v;
  return v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** Label values as every output carries them: lone UTF-16 surrogates become U+FFFD. */
export function wellFormedValue(v: string): string {
  return v.isWellFormed() ? v : v.toWellFormed();
}

/**
 * Extra labels (enrichers, custom labels) whose name is not a Prometheus label name
 * (`[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`, which Prometheus reserves) are left
 * out of the series: counted in `labelsLeftOut`, logged once per name.
 */
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Distinct left-out names logged (each once); beyond this they are only counted. */
const LOGGED_NAMES_LIMIT = 256;

const LABEL_TEXT_LIMIT = 1023;

export class MetricStore {
  private readonly tables = new Map<string, TableState>();
  readonly dropped = new Map<string, DropCounts>();
  /** Bumped on every change; renderers cache on it. */
  version = 0;
  /** Extra labels by probe owner (custom_labels), already sorted by name. */
  private readonly ownerLabels = new Map<string, readonly (readonly [string, string])[]>();
  private enrichers: LabelEnricher[] = [];
  /** Extra labels left out of a series because their name is not a label name, since start. */
  labelsLeftOut = 0;
  /** Extra labels left out because the series already has a label of that name, since start. */
  labelsDuplicated = 0;
  private readonly loggedLeftOut = new Set<string>();

  constructor(private readonly opts: { maxRowsPerTable: number; log?: { warn(message: string): void } }) {}

  table(def: TableDef): TableState {
    let t = this.tables.get(def.name);
    if (!t) {
      t = {
        def,
        rows: new Map(),
        metricFields: def.fields.filter((f) => f.type !== "key" && f.type !== "label"),
        labelFields: def.fields.filter((f) => f.type === "key" || f.type === "label").map((f) => f.name),
      };
      this.tables.set(def.name, t);
    }
    return t;
  }

  allTables(): IterableIterator<TableState> {
    return this.tables.values();
  }

  addEnricher(e: LabelEnricher): void {
    this.enrichers.push(e);
  }

  setOwnerLabels(owner: string, labels: Record<string, string>): void {
    const sorted = Object.keys(labels)
      .sort()
      .map((k) => [k, labels[k] ?? ""] as const);
    this.ownerLabels.set(owner, sorted);
  }

  private drops(table: string): DropCounts {
    let d = this.dropped.get(table);
    if (!d) this.dropped.set(table, (d = { table_full: 0, labels_too_long: 0 }));
    return d;
  }

  /**
   * Whether an extra label `name` can join a series that already has `pairs`: its name must
   * be a label name and not one the series has (Prometheus refuses a whole scrape with a
   * repeated label name). When not, it is counted (and logged once).
   */
  private acceptExtra(name: string, owner: string, pairs: readonly (readonly [string, string])[]): boolean {
    const invalid = !LABEL_NAME_RE.test(name) || name.startsWith("__");
    if (!invalid && !pairs.some((p) => p[0] === name)) return true;
    if (invalid) this.labelsLeftOut++;
    else this.labelsDuplicated++;
    const reason = invalid ? "invalid_label_name" : "duplicate_label_name";
    const logKey = `${reason}\0${name}`;
    if (this.opts.log && !this.loggedLeftOut.has(logKey) && this.loggedLeftOut.size <= LOGGED_NAMES_LIMIT) {
      this.loggedLeftOut.add(logKey);
      const shown = JSON.stringify(name.length > 100 ? `${name.slice(0, 100)}…` : name);
      const why = invalid
        ? "is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"
        : "repeats a label the series already has";
      this.opts.log.warn(
        this.loggedLeftOut.size > LOGGED_NAMES_LIMIT
          ? `more than ${LOGGED_NAMES_LIMIT} distinct extra label names were left out; further ones are only counted in gala_gopher_agent_dropped_total{channel="series_labels"}`
          : `extra label ${shown} (probe ${owner}) ${why}: left out of the series, each time counted in gala_gopher_agent_dropped_total{channel="series_labels",reason="${reason}"}; logged once`,
      );
    }
    return false;
  }

  /** Stores a row; returns it, or undefined when it was dropped (and counted). */
  upsert(def: TableDef, row: Row, owner: string, cycle: number, now: number): StoredRow | undefined {
    const t = this.table(def);
    const pairs: [string, string][] = [];
    for (const name of t.labelFields) {
      const v = row[name];
      if (v === undefined || v === "") continue;
      pairs.push([name.slice(0, NAME_LIMIT), wellFormedValue(String(v))]);
    }
    for (const e of this.enrichers) {
      const extra = e(def, row, owner);
      if (extra === null) return undefined;
      for (const p of extra) if (this.acceptExtra(p[0], owner, pairs)) pairs.push([p[0], wellFormedValue(p[1])]);
    }
    for (const p of this.ownerLabels.get(owner) ?? []) if (this.acceptExtra(p[0], owner, pairs)) pairs.push([p[0], wellFormedValue(p[1])]);
    let labels = "";
    for (const [k, v] of pairs) labels += `${labels ? "," : ""}${k}="${escapeLabelValue(v)}"`;
    if (labels.length > LABEL_TEXT_LIMIT) {
      this.drops(def.name).labels_too_long++;
      return undefined;
    }
    const existing = t.rows.get(labels);
    if (existing) {
      existing.values = row;
      existing.updatedAt = now;
      existing.cycle = cycle;
      existing.owner = owner;
      this.version++;
      return existing;
    }
    if (t.rows.size >= this.opts.maxRowsPerTable) {
      this.drops(def.name).table_full++;
      return undefined;
    }
    const stored: StoredRow = { labels, labelPairs: pairs, values: row, updatedAt: now, cycle, owner };
    t.rows.set(labels, stored);
    this.version++;
    return stored;
  }

  /** Removes the rows of `owner` in `tables` that were not refreshed in `cycle`. */
  retireUnseen(owner: string, tables: readonly TableDef[], cycle: number): number {
    let n = 0;
    for (const def of tables) {
      const t = this.tables.get(def.name);
      if (!t) continue;
      for (const [k, r] of t.rows) {
        if (r.owner === owner && r.cycle !== cycle) {
          t.rows.delete(k);
          n++;
        }
      }
    }
    if (n) this.version++;
    return n;
  }

  /** Removes rows older than their TTL. */
  expire(now: number, ttlMsFor: (owner: string) => number): number {
    let n = 0;
    for (const t of this.tables.values()) {
      for (const [k, r] of t.rows) {
        if (now - r.updatedAt > ttlMsFor(r.owner)) {
          t.rows.delete(k);
          n++;
        }
      }
    }
    if (n) this.version++;
    return n;
  }

  removeOwner(owner: string): void {
    let n = 0;
    for (const t of this.tables.values()) {
      for (const [k, r] of t.rows) {
        if (r.owner === owner) {
          t.rows.delete(k);
          n++;
        }
      }
    }
    if (n) this.version++;
  }

  seriesCount(): Map<string, number> {
    const m = new Map<string, number>();
    for (const t of this.tables.values()) m.set(t.def.name, t.rows.size);
    return m;
  }
}
