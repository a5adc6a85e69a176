// Every probe folder is registered exactly once, named after a REST feature, and its
// tables follow the naming rules; an eBPF folder, when present, matches a probe folder.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { findFeature } from "./catalog.ts";
import { PROBES } from "./index.ts";

const here = import.meta.dir;
const bpfDir = join(here, "..", "..", "bpf");
const folders = readdirSync(here).filter((f) => statSync(join(here, f)).isDirectory());

describe("probe registry", () => {
  test("folders and registrations match one to one", () => {
    expect(PROBES.map((p) => p.feature).sort()).toEqual([...folders].sort());
    expect(new Set(PROBES.map((p) => p.feature)).size).toBe(PROBES.length);
  });

  test("every probe is a REST feature", () => {
    for (const p of PROBES) expect(findFeature(p.feature)?.name).toBe(p.feature);
  });

  test("bpf/<name> folders belong to probe folders", () => {
    const bpf = existsSync(bpfDir) ? readdirSync(bpfDir).filter((f) => f !== "include" && f !== "vmlinux" && statSync(join(bpfDir, f)).isDirectory()) : [];
    for (const b of bpf) expect(folders).toContain(b);
  });

  test("tables: unique names, key fields first-class, metric names within Prometheus' alphabet", () => {
    const seen = new Set<string>();
    for (const p of PROBES) {
      for (const t of p.tables) {
        expect(seen.has(t.name)).toBe(false);
        seen.add(t.name);
        expect(t.fields.some((f) => f.type === "key")).toBe(true);
        for (const f of t.fields) expect(`gala_gopher_${t.entity}_${f.name}`).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*$/);
      }
    }
  });
});
