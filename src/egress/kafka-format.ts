// Kafka metric messages (outputs.md §4.1): one JSON object per row, upstream's exact
// spacing (a space after every `:` and `,`), the bare system uuid, every field of the
// table in meta order as a JSON string, "(null)" for an empty field, histograms as the
// raw text a probe prints. Metadata and event messages are the lines the other channels
// already produce (metadata.ts, events.ts); the Kafka sink sends them unchanged.
import { NAME_LIMIT } from "../store/store.ts";
import { histogramBuckets, type HistogramValue, type Row, type RowValue, type TableDef } from "../store/table.ts";
import { formatSample, isHistogram } from "./prometheus.ts";

/** Upstream's serialized histogram: `<n> <le_1> <cum_1> … <le_n> <cum_n> <sum> <max>`. */
export function histogramText(h: HistogramValue): string {
  let s = String(h.bounds.length);
  for (const [le, cum] of histogramBuckets(h)) s += ` ${le} ${cum}`;
  return `${s} ${h.sum} ${h.max}`;
}

/** The text of one field as upstream's Kafka message carries it; "(null)" when empty. */
export function kafkaFieldText(v: RowValue): string {
  if (v === undefined || v === "") return "(null)";
  if (typeof v === "string") return v;
  if (typeof v === "number") return formatSample(v) ?? "(null)";
  if (isHistogram(v)) return histogramText(v);
  return "(null)";
}

/** A JSON string; lone UTF-16 surrogates become U+FFFD so the message is valid UTF-8 JSON. */
const q = (s: string) => JSON.stringify(s.isWellFormed() ? s : s.toWellFormed());

/** One row as a Kafka metric message. `uuid` is the bare system uuid (no `-<ip>`). */
export function kafkaMetricMessage(table: TableDef, row: Row, uuid: string, nowMs: number): string {
  const ts = Math.floor(nowMs / 1000) * 1000;
  let s = `{"timestamp": ${ts}, "machine_id": ${q(uuid)}, "entity_name": ${q(table.entity)}`;
  for (const f of table.fields) s += `, ${q(f.name.slice(0, NAME_LIMIT))}: ${q(kafkaFieldText(row[f.name]))}`;
  return s + "}";
}
