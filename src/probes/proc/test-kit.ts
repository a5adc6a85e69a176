// Test helpers of the proc probe: a ProbeContext that records rows and events over a
// controllable scope, the procload activity program (built with the host's cc), and the
// root preflight that prints why a root test is skipped.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ProbeContext, ProbeRun, ScopeView } from "../../probe/define.ts";
import type { ParamValues } from "../../probe/settings.ts";
import { buildTestProgram, probeRootPreflight, recordingContext, type RecordingContext } from "../../probe/test-root.ts";
import type { Row } from "../../store/table.ts";
import { procUnsupported } from "./bpf.ts";
import proc from "./index.ts";

export { Proc, TestScope, type Recorded } from "../../probe/test-root.ts";

/** Whether a root test can run here; prints the reason under the test's name when not. */
export function procPreflight(test: string, extra?: () => string | undefined): { can: boolean; bin: string } {
  return probeRootPreflight(test, { build: procload, unsupported: procUnsupported, extra });
}

/** Builds dist/bpf/procload from testdata/procload.c when missing or stale. */
export function procload(): string {
  return buildTestProgram(join(import.meta.dir, "testdata", "procload.c"), { compilers: ["cc", "clang"], flags: ["-O2"] });
}

export type ProcTestContext = RecordingContext;

export function procContext(o: { subitems: string[]; scope: ScopeView; params?: ParamValues }): ProcTestContext {
  const params: ParamValues = { report_period: 60, latency_thr: 0, report_event: 1, ...o.params };
  return recordingContext({ definition: proc, subitems: o.subitems, scope: o.scope, params });
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
