// Test helpers of the proc probe: a ProbeContext that records rows and events over a
// controllable scope, the procload activity program (built with the host's cc), and the
// root preflight that prints why a root test is skipped.
import { existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ensureBpf } from "../../../scripts/bpf.ts";
import { detectFeatures } from "../../host/features.ts";
import { DEFAULT_HOST_PATHS, HostFs } from "../../host/fs.ts";
import type { Logger } from "../../log/logger.ts";
import type { ProbeContext, ProbeRun, ScopeView } from "../../probe/define.ts";
import { testKit, type TestKit } from "../../probe/test-kit.ts";
import type { ParamValues, ProbeSettings } from "../../probe/settings.ts";
import type { ProbeEvent, Row, TableDef } from "../../store/table.ts";
import { procUnsupported } from "./bpf.ts";
import proc from "./index.ts";

export { Proc, TestScope } from "../tcp/test-kit.ts";

const ROOT = join(import.meta.dir, "..", "..", "..");

/** Whether a root test can run here; prints the reason under the test's name when not. */
export function procPreflight(test: string, extra?: () => string | undefined): { can: boolean; bin: string } {
  let why = process.getuid?.() === 0 ? "" : "not root";
  let bin = "";
  if (!why) {
    try {
      ensureBpf({ quiet: true });
      bin = procload();
      why = procUnsupported(detectFeatures()) ?? extra?.() ?? "";
    } catch (e) {
      why = (e as Error).message;
    }
  }
  if (why) console.warn(`${test}: skipped: ${why}`);
  return { can: !why, bin };
}

/** Builds dist/bpf/procload from testdata/procload.c when missing or stale. */
export function procload(): string {
  const src = join(import.meta.dir, "testdata", "procload.c");
  const out = join(process.env.GOPHER_BPF_OUT || join(ROOT, "dist", "bpf"), "procload");
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(join(out, ".."), { recursive: true });
    const compiler = Bun.which("cc") ?? Bun.which("clang");
    if (!compiler) throw new Error("no C compiler (cc or clang) to build procload");
    const r = Bun.spawnSync([compiler, "-O2", "-o", out, src], { stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`building procload: ${r.stderr.toString()}`);
  }
  return out;
}

export interface Recorded {
  rows: { table: string; row: Row }[];
  events: ProbeEvent[];
}

export type ProcTestContext = ProbeContext & { rec: Recorded; kit: TestKit };

export function procContext(o: { subitems: string[]; scope: ScopeView; params?: ParamValues }): ProcTestContext {
  const params: ParamValues = { report_period: 60, latency_thr: 0, report_event: 1, ...o.params };
  const rec: Recorded = { rows: [], events: [] };
  const log: Logger = {
    debug() {},
    info() {},
    warn: (m) => console.warn(`[proc test] ${m}`),
    error: (m) => console.error(`[proc test] ${m}`),
    child() {
      return log;
    },
  };
  const kit = testKit({ feature: "proc", log, scope: () => ctx.scope, definition: proc });
  const ctx: ProcTestContext = {
    ...kit,
    kit,
    feature: "proc",
    settings: { name: "proc", subitems: o.subitems, mode: "whitelist", params } as unknown as ProbeSettings,
    subitems: new Set(o.subitems),
    params,
    host: new HostFs(DEFAULT_HOST_PATHS),
    log,
    signal: new AbortController().signal,
    scope: o.scope,
    emit: (t: TableDef, row: Row) => void rec.rows.push({ table: t.name, row }),
    event: (e: ProbeEvent) => void rec.events.push(e),
    parseError: () => undefined,
    num: (k: string) => (typeof params[k] === "number" ? (params[k] as number) : 0),
    rec,
  };
  return ctx;
}

/** Opens the probe on `ctx`; disposing closes the run and everything it opened. */
export async function openRun(ctx: ProcTestContext): Promise<ProbeRun & AsyncDisposable> {
  const run = await proc.open(ctx);
  return {
    collect: () => run.collect(),
    async [Symbol.asyncDispose]() {
      await run[Symbol.asyncDispose]();
      ctx.kit.close();
    },
  };
}

/** One collection's rows of `table` for `tgid`, and clears the record. */
export async function collectRows(run: ProbeRun, ctx: ProcTestContext, table: string, tgid?: number): Promise<Row[]> {
  ctx.rec.rows = [];
  await run.collect();
  return ctx.rec.rows.filter((r) => r.table === table && (tgid === undefined || r.row.tgid === String(tgid))).map((r) => r.row);
}

/** Waits until the agent's poller could have handled what the kernel queued (scope events). */
export const settle = (ms = 300) => new Promise((r) => setTimeout(r, ms));

/** Waits until `pid` sleeps (procload's only sleep after "ready" is its read of stdin). */
export async function sleeping(pid: number, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (stat.slice(stat.lastIndexOf(")") + 2).startsWith("S")) return;
    if (Date.now() > end) throw new Error(`process ${pid} did not go to sleep: ${stat}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
