// A probe is one folder and one line: every folder here is registered exactly once in
// ./index.ts, answers REST from its own declaration, and reaches the agent only through
// its ProbeContext (no other probe's folder, no process-wide state, no direct host reads);
// its bpf/<name> folder, when present, matches it and uses the shared kernel scope.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { CATALOG, findFeature } from "./catalog.ts";
import { PROBES } from "./registered.ts";

const here = import.meta.dir;
const bpfDir = join(here, "..", "..", "bpf");
const folders = readdirSync(here).filter((f) => statSync(join(here, f)).isDirectory());

/** Test files and test helpers (test-*.ts) of a folder are not the probe. */
const isTestFile = (f: string) => f.endsWith(".test.ts") || f.startsWith("test-");
function sources(folder: string): { file: string; text: string }[] {
  const out: { file: string; text: string }[] = [];
  const walk = (dir: string) => {
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) {
        if (f !== "testdata") walk(p);
      } else if (f.endsWith(".ts") && !isTestFile(f)) out.push({ file: p.slice(here.length + 1), text: readFileSync(p, "utf8") });
    }
  };
  walk(join(here, folder));
  return out;
}
const imports = (text: string) => [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"/gm)].map((m) => m[1]!);

/** What a probe's own code may import besides its folder: the kit and shared libraries. */
const SHARED = ["../../probe/", "../../host/", "../../libbpf/", "../../store/", "../../log/", "../../snooper/procfs.ts", "../../snooper/cgroup.ts"];
/** Process-wide state and host access that must come through ctx instead. */
const FORBIDDEN: [RegExp, string][] = [
  [/from "node:fs"/, "node:fs (use ctx.host)"],
  [/process\.env/, "process.env (declare a limit or a param)"],
  [/\bdetectFeatures\(/, "detectFeatures() (use ctx.features)"],
  [/\bsetLibbpfLogger\(/, "setLibbpfLogger() (the daemon wires it)"],
  [/\bBpfObject\.open\(/, "BpfObject.open() (use ctx.bpf.open)"],
  [/\bnew RingBufferReader\(/, "RingBufferReader (use ctx.bpf.ringbuf)"],
  [/\bsetInterval\(/, "a periodic timer (collect() runs every report_period; rings are polled by the agent)"],
  [/probe\/manager\.ts"|probes\/index\.ts"|probes\/registered\.ts"|probes\/catalog\.ts"|daemon\.ts"/, "the agent's wiring"],
];

describe("probe registry", () => {
  test("folders and registrations match one to one", () => {
    expect(PROBES.map((p) => p.feature).sort()).toEqual([...folders].sort());
    expect(new Set(PROBES.map((p) => p.feature)).size).toBe(PROBES.length);
  });

  test("index.ts is one line per probe folder and nothing else", () => {
    const lines = readFileSync(join(here, "index.ts"), "utf8")
      .split("\n")
      .filter((l) => l.trim() !== "" && !l.startsWith("//"));
    const named = lines.map((l) => /^export \{ default as ([a-z0-9_]+) \} from "\.\/([a-z0-9_]+)\/index\.ts";$/.exec(l));
    expect(named.every((m) => m !== null && m[1] === m[2])).toBe(true);
    expect(named.map((m) => m![1]).sort()).toEqual([...folders].sort());
  });

  test("every probe is a REST feature", () => {
    for (const p of PROBES) expect(findFeature(p.feature)?.name).toBe(p.feature);
  });

  test("every probe answers REST from its own declaration", () => {
    for (const p of PROBES) {
      const f = CATALOG.find(p.feature)!;
      expect(f.scopeKind).toBe(p.scope);
      expect(f.subitems.map((s) => [s.name, s.bit])).toEqual((p.subitems ?? []).map((s) => [s.name, s.bit]));
      expect([...f.ownParams].sort()).toEqual((p.params ?? []).map((d) => d.key).sort());
      for (const d of p.params ?? []) expect(CATALOG.params.find(d.key)).toEqual(d);
    }
  });

  test("a probe's code imports only its own folder and the shared kit", () => {
    const bad: string[] = [];
    for (const folder of folders) {
      for (const { file, text } of sources(folder)) {
        for (const spec of imports(text)) {
          // Paths are resolved from the importing file, so a nested module (l7/protocols/x.ts)
          // may reach its own folder's ../ files and the kit through one more ../.
          const target = spec.startsWith(".") ? resolve(here, dirname(file), spec) : "";
          const own = target.startsWith(join(here, folder) + "/") && !spec.includes("/test-");
          const shared = SHARED.some((s) => target.startsWith(resolve(here, folder, s) + (s.endsWith("/") ? "/" : ""))) || spec.startsWith("node:path") || spec.startsWith("node:zlib") || !spec.startsWith(".");
          if (!own && !shared) bad.push(`${file}: ${spec}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });

  test("a probe reaches the agent only through its context", () => {
    const bad: string[] = [];
    for (const folder of folders) {
      for (const { file, text } of sources(folder)) {
        for (const [re, what] of FORBIDDEN) if (re.test(text)) bad.push(`${file}: ${what}`);
      }
    }
    expect(bad).toEqual([]);
  });

  test("bpf/<name> folders belong to probe folders; per-process ones include scope.h", () => {
    const bpf = existsSync(bpfDir) ? readdirSync(bpfDir).filter((f) => f !== "include" && f !== "vmlinux" && statSync(join(bpfDir, f)).isDirectory()) : [];
    for (const b of bpf) {
      expect(folders).toContain(b);
      const probe = PROBES.find((p) => p.feature === b)!;
      expect(typeof probe.requires).toBe("function");
      if (probe.scope === "PROC") {
        for (const c of readdirSync(join(bpfDir, b)).filter((f) => f.endsWith(".bpf.c"))) {
          expect(`${b}/${c}: ${readFileSync(join(bpfDir, b, c), "utf8").includes('#include "scope.h"')}`).toBe(`${b}/${c}: true`);
        }
      }
    }
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

  test("declared events name a table's entity and one of its fields", () => {
    for (const p of PROBES) {
      for (const e of p.events ?? []) {
        const fields = new Set(p.tables.filter((t) => t.entity === e.entity).flatMap((t) => t.fields.map((f) => f.name)));
        for (const m of e.metrics) expect(`${p.feature} ${e.entity}.${m}: ${fields.has(m)}`).toBe(`${p.feature} ${e.entity}.${m}: true`);
      }
    }
  });
});
