// probes.init: `<feature> <json>` per line, applied in file order with PUT semantics
// (config.md §6). A bad line is logged with its number; the rest still applies.
import type { Logger } from "../log/logger.ts";
import { parseJsonLenient } from "./json.ts";
import type { ProbeManager } from "./manager.ts";

export interface InitLine {
  line: number;
  feature: string;
  json: string;
}

export function parseProbesInit(text: string): InitLine[] {
  const out: InitLine[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.replace(/\r$/, "");
    const t = line.trim();
    if (!t || t.startsWith("#")) return;
    const m = /^(\S+)\s*(.*)$/.exec(t);
    if (!m) return;
    // Upstream removes every whitespace character from the JSON part.
    out.push({ line: i + 1, feature: m[1] ?? "", json: (m[2] ?? "").replace(/\s+/g, "") });
  });
  return out;
}

export async function applyProbesInit(text: string, source: string, manager: ProbeManager, log: Logger): Promise<{ applied: number; failed: number }> {
  let applied = 0;
  let failed = 0;
  for (const l of parseProbesInit(text)) {
    const parsed = parseJsonLenient(l.json);
    const doc = parsed.ok ? (parsed.value === null ? {} : parsed.value) : undefined;
    if (doc === undefined || typeof doc !== "object" || Array.isArray(doc)) {
      log.error(`${source}:${l.line}: ${l.feature}: invalid json format; line skipped`);
      failed++;
      continue;
    }
    const r = await manager.put(l.feature, doc);
    if (r.status === 200) {
      applied++;
      log.info(`${source}:${l.line}: ${l.feature}: applied`);
    } else {
      failed++;
      const msg = /"message":"((?:[^"\\]|\\.)*)"/.exec(r.body)?.[1] ?? r.body.trim();
      log.error(`${source}:${l.line}: ${l.feature}: ${msg}; line skipped`);
    }
  }
  return { applied, failed };
}
