// Generates docs/metrics.md from the registered probes' tables (`bun run docs`).
// A test fails when the checked-in file differs from what this produces.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { metricName } from "../src/egress/prometheus.ts";
import { PROBES } from "../src/probes/registered.ts";

export function metricsReference(): string {
  let out = "# Metrics reference\n\nGenerated from the probes' table definitions by `bun run docs`; do not edit.\n";
  out += "Every series also carries `machine_id=\"<uuid>-<ip>\"` as its last label, and the probe's `custom_labels` before it.\n";
  for (const p of PROBES) {
    out += `\n## ${p.feature}\n`;
    for (const t of p.tables) {
      const labels = t.fields.filter((f) => f.type === "key" || f.type === "label").map((f) => `\`${f.name}\``);
      out += `\n### ${t.name} (entity \`${t.entity}\`, labels ${labels.join(", ") || "none"})\n\n| metric | type | meaning |\n|---|---|---|\n`;
      for (const f of t.fields) {
        if (f.type === "key" || f.type === "label") continue;
        out += `| \`${metricName(t.entity, f.name)}\` | ${f.type} | ${f.description} |\n`;
      }
    }
  }
  return out;
}

if (import.meta.main) {
  const path = join(import.meta.dir, "..", "docs", "metrics.md");
  writeFileSync(path, metricsReference());
  console.log(`wrote ${path}`);
}
