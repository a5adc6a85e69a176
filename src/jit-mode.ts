// The agent raises the bar for JavaScriptCore's optimizing JIT tiers (DFG, FTL): code must
// run about 10,000 times more often than JSC's default before they compile it.
//
// Measured (docs/performance.md, "JIT tiers"): the periodic work of a probe like baseinfo
// (a few hundred executions of each function per report period) gains nothing measurable
// from the optimizing tiers (CPU within noise), while their compiled code, profiling data
// and the pages of the executable that hold the DFG compiler cost 4-6 MiB of RSS; turning
// DFG off altogether costs hot paths too much (tcp connection churn: 3.5x the CPU per
// 10k connections/s). With the raised thresholds the ring-buffer path under sustained
// churn tiers up during the burst (11.9 % per 10k conn/s over 60 s, 8.6 % with JSC's
// defaults), the periodic collection code only after hours to days.
// JSC reads its options from the environment once, before any JavaScript runs, so the
// compiled executable replaces itself (execve of its own path: same pid, same arguments, same name)
// with the options set, as the very first thing it does. An operator who sets any of them
// (or GOPHER_JIT=full) keeps what they chose; `bun src/main.ts` is never re-executed.
import { dlopen, FFIType, ptr } from "bun:ffi";

/** JSC's tier-up thresholds (execution-counter units; JSC's default is 1000). */
export const JIT_OPTIONS: readonly (readonly [string, string])[] = [
  ["BUN_JSC_thresholdForOptimizeAfterWarmUp", "10000000"],
  ["BUN_JSC_thresholdForOptimizeAfterLongWarmUp", "10000000"],
  ["BUN_JSC_thresholdForOptimizeSoon", "10000000"],
];

export interface ReexecInput {
  /** process.argv: [runtime, script, ...args]. */
  readonly argv: readonly string[];
  readonly argv0: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** True in the compiled executable (the script lives in Bun's embedded file system). */
  readonly compiled: boolean;
}

/** The argv and environment to exec with, or undefined to run as is. */
export function jitReexec(i: ReexecInput): { argv: string[]; env: string[] } | undefined {
  if (!i.compiled) return undefined;
  // Chosen by the operator, or done already.
  if (Object.keys(i.env).some((k) => k.startsWith("BUN_JSC_") || k.startsWith("JSC_"))) return undefined;
  if (i.env.GOPHER_JIT === "full") return undefined;
  const args = i.argv.slice(2);
  // gopher-ctl is short-lived: its start-up time matters more than its memory.
  if (i.argv0.endsWith("gopher-ctl") || args[0] === "ctl") return undefined;
  const env: string[] = [];
  for (const [k, v] of Object.entries(i.env)) if (v !== undefined) env.push(`${k}=${v}`);
  for (const [k, v] of JIT_OPTIONS) env.push(`${k}=${v}`);
  return { argv: [i.argv0, ...args], env };
}

const cstr = (s: string): Buffer => Buffer.from(`${s}\0`, "utf8");

/** A NULL-terminated array of pointers to C strings; `keep` holds the buffers alive. */
function cArray(items: readonly string[], keep: Buffer[]): BigUint64Array {
  const a = new BigUint64Array(items.length + 1);
  items.forEach((s, n) => {
    const b = cstr(s);
    keep.push(b);
    a[n] = BigInt(ptr(b));
  });
  return a;
}

/** Re-executes the process when jitReexec says so; returns only when it did not (or failed). */
export function applyJitMode(): void {
  const plan = jitReexec({
    argv: process.argv,
    argv0: process.argv0 || process.argv[0] || "",
    env: process.env,
    compiled: (process.argv[1] ?? "").startsWith("/$bunfs/"),
  });
  if (!plan) return;
  try {
    // One symbol, not the shared libc() binding of src/libbpf/ffi.ts: bun:ffi compiles a
    // wrapper per symbol at dlopen, and everything done before execve is done again after.
    const libc = dlopen("libc.so.6", { execve: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 } });
    const keep: Buffer[] = [];
    // The executable's own path, not /proc/self/exe: the kernel names the process after
    // the file exec'd (comm "exe" would show in ps, systemctl status and the agent's own
    // connections).
    const path = cstr(process.execPath || "/proc/self/exe");
    const argv = cArray(plan.argv, keep);
    const envp = cArray(plan.env, keep);
    libc.symbols.execve(ptr(path), ptr(argv), ptr(envp));
    // Still here: execve failed. Run with JSC's default tiers.
    libc.close();
  } catch {
    // bun:ffi or libc unavailable: run as is.
  }
}
