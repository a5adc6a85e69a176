// The `logs` output channels (config.md §4, outputs.md §3): metric log files in
// Prometheus-with-timestamp or JSON form, event files and the metadata log.
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { CappedFile } from "../log/capped-file.ts";
import type { DropTally } from "../log/drops.ts";
import type { StoredRow } from "../store/store.ts";
import { histogramBuckets, type TableDef } from "../store/table.ts";
import { formatSample, isHistogram, metricName } from "./prometheus.ts";
import type { OutputSink, RowBatch } from "./sink.ts";

/** Empties the metric log directory (at start and stop, as upstream). */
export function clearMetricDir(dir: string): void {
  try {
    for (const f of readdirSync(dir)) if (f.startsWith("gopher_metrics_")) rmSync(join(dir, f), { force: true });
  } catch {
    /* not there yet */
  }
}

function ts(nowMs: number): number {
  return Math.floor(nowMs / 1000) * 1000;
}

/** Upstream's log-file Prometheus text: timestamps on every line, a blank line after each table. */
export function renderRowsPrometheus(batches: readonly RowBatch[], machineId: string, nowMs: number): string {
  const t = ts(nowMs);
  let out = "";
  for (const { table, rows } of batches) {
    let any = false;
    for (const r of rows) {
      const labels = r.labels ? `${r.labels},machine_id="${machineId}"` : `machine_id="${machineId}"`;
      for (const f of table.fields) {
        if (f.type === "key" || f.type === "label") continue;
        const v = r.values[f.name];
        const name = metricName(table.entity, f.name);
        if (f.type === "histogram") {
          if (!isHistogram(v)) continue;
          let last = 0;
          for (const [le, cum] of histogramBuckets(v)) {
            last = cum;
            out += `${name}{${labels},le="${le}"} ${cum} ${t}\n`;
          }
          out += `${name}{${labels},le="+Inf"} ${last} ${t}\n${name}_sum{${labels}} ${v.sum} ${t}\n${name}_max{${labels}} ${v.max} ${t}\n`;
          any = true;
          continue;
        }
        const s = formatSample(v);
        if (s === undefined) continue;
        out += `${name}{${labels}} ${s} ${t}\n`;
        any = true;
      }
    }
    if (any) out += "\n";
  }
  return out;
}

/** outputs.md §3 JSON lines: only gauge fields in `metrics`, histograms in `histos`. */
export function renderRowJson(table: TableDef, r: StoredRow, machineId: string, nowMs: number): string {
  const labels: Record<string, string | number> = {};
  for (const [k, v] of r.labelPairs) labels[k] = k === "start_time" && /^\d+$/.test(v) ? Number(v) : v;
  labels.machine_id = machineId;
  const metrics: Record<string, string> = {};
  const histos: Record<string, Record<string, number>> = {};
  for (const f of table.fields) {
    const v = r.values[f.name];
    if (f.type === "gauge") {
      const s = formatSample(v);
      if (s !== undefined) metrics[f.name.slice(0, 31)] = s;
    } else if (f.type === "histogram" && isHistogram(v)) {
      const h: Record<string, number> = {};
      let count = 0;
      for (const [le, cum] of histogramBuckets(v)) h[String(le)] = count = cum;
      h.count = count;
      h.sum = v.sum;
      h.max = v.max;
      histos[f.name] = h;
    }
  }
  return JSON.stringify({ timestamp: ts(nowMs), entity_name: table.entity, table_name: table.name, labels, metrics, histos });
}

/**
 * The log sinks never throw: a directory that cannot be created is retried later and
 * every line that could not be written is counted in `drops` (gala_gopher_agent_dropped_total).
 */
export class MetricLogSink implements OutputSink {
  private readonly file: CappedFile;
  constructor(
    dir: string,
    totalSizeMb: number,
    private readonly format: "prometheus" | "json",
    private readonly machineId: string,
    drops: DropTally,
    retryMs?: number,
  ) {
    clearMetricDir(dir);
    const maxBytes = totalSizeMb * 1024 * 1024;
    this.file = new CappedFile(join(dir, "gopher_metrics_0"), { maxBytes, onFull: "truncate", channel: "metric_log", drops, retryMs });
  }

  rows(batches: readonly RowBatch[], nowMs: number): void {
    if (this.format === "prometheus") {
      const text = renderRowsPrometheus(batches, this.machineId, nowMs);
      if (text) this.file.append(text);
      return;
    }
    let text = "";
    for (const b of batches) for (const r of b.rows) text += renderRowJson(b.table, r, this.machineId, nowMs) + "\n";
    if (text) this.file.append(text);
  }
}

export class EventLogSink implements OutputSink {
  private readonly file: CappedFile;
  constructor(dir: string, drops: DropTally, retryMs?: number) {
    const maxBytes = 50 * 1024 * 1024;
    this.file = new CappedFile(join(dir, "gopher_event_0"), { maxBytes, onFull: "rotate", channel: "event_log", drops, retryMs });
  }
  event(line: string): void {
    this.file.append(line + "\n");
  }
}

export class MetaLogSink implements OutputSink {
  private readonly file: CappedFile;
  constructor(dir: string, drops: DropTally, retryMs?: number) {
    const maxBytes = 100 * 1024 * 1024;
    this.file = new CappedFile(join(dir, "gopher_meta.log"), { maxBytes, onFull: "rotate", channel: "meta_log", drops, retryMs });
  }
  meta(line: string): void {
    this.file.append(line + "\n");
  }
}
