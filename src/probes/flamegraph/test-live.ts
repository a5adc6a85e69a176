// Root-test helper: profiles a live process (a src/probe/test-root.ts Proc that printed
// "ready") with a FlameRun scoped to it, and returns the folded stacks of the period that
// one collect() wrote (svg_period 1 s), read while the process still runs so its maps and
// perf map can be read.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Proc } from "../../probe/test-root.ts";
import { parseFolded } from "./folded.ts";
import { FlameRun } from "./index.ts";
import { flameContext, ListScope } from "./test-kit.ts";

export interface LiveProfile {
  /** Folded stacks per type directory ("oncpu", "mem", …) of the collected period. */
  readonly stacks: ReadonlyMap<string, [string, number][]>;
  readonly parseErrors: readonly string[];
  readonly drops: string;
  readonly logs: readonly string[];
}

function foldedFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) if (e.isFile() && e.name.endsWith(".folded")) out.push(join(e.parentPath, e.name));
  return out.sort();
}

/**
 * Samples `proc` with `subitems` for `seconds` (after `afterStart`); `beforeRead` runs just before the collection
 * (e.g. `jcmd <pid> Compiler.perfmap`). Returns the collected period only (not what the
 * stop writes afterwards).
 */
export async function profileLive(
  proc: Proc,
  o: {
    subitems: string[];
    seconds: number;
    limits?: Record<string, number>;
    /** Runs once the probe samples (e.g. tells the program to start its work). */
    afterStart?: () => void | Promise<void>;
    beforeRead?: () => void | Promise<void>;
  },
): Promise<LiveProfile> {
  const out = mkdtempSync(join(tmpdir(), "gg-flame-live-"));
  const flame = join(out, "folded");
  const ctx = flameContext({
    subitems: o.subitems,
    scope: new ListScope(new Set([proc.pid])),
    params: { output_dir: join(out, "svg"), flame_dir: flame, perf_sample_period: 10, svg_period: 1 },
    limits: o.limits,
  });
  try {
    const run = new FlameRun(ctx);
    try {
      await o.afterStart?.();
      await Bun.sleep(o.seconds * 1000);
      await o.beforeRead?.();
      await run.collect();
      if (run.lastFiles.length === 0) throw new Error(`no period written; logs: ${ctx.logs.join(" | ")}`);
      const stacks = new Map<string, [string, number][]>();
      for (const f of foldedFiles(flame)) {
        const type = f.slice(flame.length + 1).split("/")[0]!;
        stacks.set(type, [...(stacks.get(type) ?? []), ...parseFolded(readFileSync(f, "utf8"))]);
      }
      return { stacks, parseErrors: [...ctx.parseErrors], drops: JSON.stringify(ctx.kit.dropCounts.snapshot()), logs: [...ctx.logs] };
    } finally {
      await run[Symbol.asyncDispose]();
    }
  } finally {
    ctx.kit.close();
    rmSync(out, { recursive: true, force: true });
  }
}

/** Sum of the values whose stack matches `re`, and the total. */
export function share(stacks: readonly [string, number][], re: RegExp): { matched: number; total: number } {
  let matched = 0;
  let total = 0;
  for (const [s, v] of stacks) {
    total += v;
    if (re.test(s)) matched += v;
  }
  return { matched, total };
}
