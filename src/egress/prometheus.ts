// Prometheus text exposition 0.0.4 of the metric store (DECISIONS.md: HELP and TYPE
// lines, no timestamps, standard histograms plus a `<name>_max` gauge family).
import { NAME_LIMIT, type MetricStore, type StoredRow, type TableState } from "../store/store.ts";
import { histogramBuckets, type FieldDef, type HistogramValue, type RowValue } from "../store/table.ts";

const NUMBER_RE = /^[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?$/;

/** The sample text of a scalar value, or undefined when it is absent or not a number. */
export function formatSample(v: RowValue): string | undefined {
  if (v === undefined || v === "") return undefined;
  if (typeof v === "number") {
    if (Number.isNaN(v)) return "NaN";
    if (!Number.isFinite(v)) return v > 0 ? "+Inf" : "-Inf";
    return String(v);
  }
  if (typeof v === "string") return NUMBER_RE.test(v) ? v : undefined;
  return undefined;
}

export function isHistogram(v: RowValue): v is HistogramValue {
  return typeof v === "object" && v !== null && Array.isArray((v as HistogramValue).bounds);
}

function escapeHelp(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

export function metricName(entity: string, field: string): string {
  return `gala_gopher_${entity}_${field.slice(0, NAME_LIMIT)}`;
}

interface Family {
  name: string;
  help: string;
  type: "gauge" | "counter" | "histogram";
  lines: string[];
}

function withMachine(labels: string, machineLabel: string): string {
  return labels ? `${labels},${machineLabel}` : machineLabel;
}

export class PrometheusRenderer {
  private cache: { version: number; text: string } | undefined;
  /** Values that were not numbers and therefore not exported. */
  badValues = 0;

  constructor(
    private readonly store: MetricStore,
    private readonly machineId: string,
  ) {}

  /** The store version the next render() reflects (scrape caches key on it). */
  storeVersion(): number {
    return this.store.version;
  }

  /** The exposition text of every live series; cached until the store changes. */
  render(): string {
    if (this.cache && this.cache.version === this.store.version) return this.cache.text;
    const families = new Map<string, Family>();
    const machineLabel = `machine_id="${this.machineId}"`;
    for (const t of this.store.allTables()) {
      if (t.rows.size === 0) continue;
      for (const f of t.metricFields) this.renderField(t, f, machineLabel, families);
    }
    let text = "";
    for (const fam of families.values()) {
      if (fam.lines.length === 0) continue;
      text += `# HELP ${fam.name} ${escapeHelp(fam.help)}\n# TYPE ${fam.name} ${fam.type}\n${fam.lines.join("\n")}\n`;
    }
    this.cache = { version: this.store.version, text };
    return text;
  }

  private family(families: Map<string, Family>, name: string, help: string, type: Family["type"]): Family {
    let fam = families.get(name);
    if (!fam) families.set(name, (fam = { name, help, type, lines: [] }));
    return fam;
  }

  private renderField(t: TableState, f: FieldDef, machineLabel: string, families: Map<string, Family>): void {
    const name = metricName(t.def.entity, f.name);
    if (f.type === "histogram") {
      const fam = this.family(families, name, f.description, "histogram");
      const max = this.family(families, `${name}_max`, `largest value of ${f.name} in the period`, "gauge");
      for (const r of t.rows.values()) this.renderHistogram(name, r, r.values[f.name], machineLabel, fam, max);
      return;
    }
    const fam = this.family(families, name, f.description, f.type === "counter" ? "counter" : "gauge");
    for (const r of t.rows.values()) {
      const raw = r.values[f.name];
      const s = formatSample(raw);
      if (s === undefined) {
        if (raw !== undefined && raw !== "") this.badValues++;
        continue;
      }
      fam.lines.push(`${name}{${withMachine(r.labels, machineLabel)}} ${s}`);
    }
  }

  private renderHistogram(name: string, r: StoredRow, v: RowValue, machineLabel: string, fam: Family, max: Family): void {
    if (v === undefined || v === "") return;
    if (!isHistogram(v) || v.bounds.length !== v.cumulative.length) {
      this.badValues++;
      return;
    }
    const base = withMachine(r.labels, machineLabel);
    let last = 0;
    for (const [le, cum] of histogramBuckets(v)) {
      last = cum;
      fam.lines.push(`${name}_bucket{${base},le="${le}"} ${cum}`);
    }
    fam.lines.push(`${name}_bucket{${base},le="+Inf"} ${last}`);
    fam.lines.push(`${name}_sum{${base}} ${v.sum}`);
    fam.lines.push(`${name}_count{${base}} ${last}`);
    max.lines.push(`${name}_max{${base}} ${v.max}`);
  }
}
