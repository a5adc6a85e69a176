// Metadata messages (outputs.md §4.2): one per table, exact spacing.
import type { TableDef } from "../store/table.ts";

const q = (s: string) => JSON.stringify(s);
const list = (xs: readonly string[]) => `[${xs.map(q).join(", ")}]`;

export function metadataMessage(t: TableDef, nowMs: number): string {
  const keys = ["machine_id", ...t.fields.filter((f) => f.type === "key").map((f) => f.name)];
  const labels = ["hostname", ...t.fields.filter((f) => f.type === "label").map((f) => f.name)];
  const hasTgid = t.fields.some((f) => f.name === "tgid" && (f.type === "key" || f.type === "label"));
  if (hasTgid) labels.push("comm", "container_id", "container_name", "container_image", "pod_id", "pod", "pod_namespace");
  if (t.entity === "proc") labels.push("cmdline", "start_time");
  if (t.entity === "container") labels.push("container_name", "container_image", "pod_id", "pod", "pod_namespace");
  const metrics = t.fields.filter((f) => f.type === "counter" || f.type === "gauge").map((f) => f.name);
  const ts = Math.floor(nowMs / 1000) * 1000;
  return `{"timestamp": ${ts}, "meta_name": ${q(t.name)}, "entity_name": ${q(t.entity)}, "version": ${q(t.version)}, "keys": ${list(keys)}, "labels": ${list(labels)}, "metrics": ${list(metrics)}}`;
}
