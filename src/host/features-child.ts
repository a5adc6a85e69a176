// Kernel feature detection in a child process (the agent's own executable, started with
// GOPHER_KERNEL_FEATURES_CHILD=1): the daemon's report (log line, kernel gauges) needs the
// facts but not libbpf, its bun:ffi bindings or the parsed vmlinux BTF in its own memory.
// Measured in the compiled agent with baseinfo cpu,mem only: detecting in-process left
// RssFile +1.9 MiB (libbpf, libelf, libz and the runtime's FFI code) and up to +5 MiB of
// RssAnon (the BTF parse's freed pages) for the rest of the agent's life.
// The child prints one JSON line: the facts and the log lines it produced, which the
// parent replays into its own log.
import type { Logger } from "../log/logger.ts";
import type { KernelFeatureFacts } from "./features.ts";

export const FEATURES_CHILD_ENV = "GOPHER_KERNEL_FEATURES_CHILD";
/** The child is killed after this long. */
export const FEATURES_CHILD_TIMEOUT_MS = 30_000;
const MAX_OUTPUT_BYTES = 1 << 20;

type Level = "debug" | "info" | "warn" | "error";
export interface ChildReport {
  facts: KernelFeatureFacts;
  log: [Level, string][];
}

export class FeaturesChildError extends Error {
  readonly code = "FEATURES_CHILD";
  constructor(message: string) {
    super(message);
    this.name = "FeaturesChildError";
  }
}

/** How to start this program again: the compiled executable, or bun with the entry script. */
export function selfCommand(): string[] {
  const script = process.argv[1] ?? "";
  return script.startsWith("/$bunfs/") || !script ? [process.execPath] : [process.execPath, script];
}

function recordingLogger(out: [Level, string][], prefix = ""): Logger {
  const p = prefix ? `[${prefix}] ` : "";
  const at = (level: Level) => (m: string) => void out.push([level, p + m]);
  return { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error"), child: (n) => recordingLogger(out, prefix ? `${prefix}/${n}` : n) };
}

/** The child's side: detects, prints the report, returns the exit status. */
export async function runFeaturesChild(): Promise<number> {
  const { detectFeatures, featureFacts } = await import("./features.ts");
  const { setLibbpfLogger } = await import("../libbpf/ffi.ts");
  const log: [Level, string][] = [];
  const logger = recordingLogger(log);
  setLibbpfLogger(logger.child("libbpf"));
  const report: ChildReport = { facts: featureFacts(detectFeatures(logger)), log };
  process.stdout.write(`${JSON.stringify(report)}\n`);
  return 0;
}

const LEVELS = new Set(["debug", "info", "warn", "error"]);

/** Validates the child's output. */
export function parseChildReport(text: string): ChildReport {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new FeaturesChildError(`kernel feature child printed no JSON (${(e as Error).message}): ${JSON.stringify(text.slice(0, 200))}`);
  }
  const o = v as Partial<ChildReport> | null;
  const facts = o?.facts as Partial<KernelFeatureFacts> | undefined;
  if (!o || typeof o !== "object" || !facts || typeof facts !== "object") throw new FeaturesChildError("kernel feature child: report has no facts object");
  for (const k of ["release", "arch"] as const) if (typeof facts[k] !== "string") throw new FeaturesChildError(`kernel feature child: facts.${k} is not a string`);
  if (typeof facts.vmlinuxBtf !== "boolean") throw new FeaturesChildError("kernel feature child: facts.vmlinuxBtf is not a boolean");
  for (const k of ["libbpf", "tracefs", "progTypes", "mapTypes", "helpers", "attach"] as const) {
    if (!facts[k] || typeof facts[k] !== "object") throw new FeaturesChildError(`kernel feature child: facts.${k} is not an object`);
  }
  for (const k of ["progTypes", "mapTypes", "helpers"] as const) {
    for (const [name, b] of Object.entries(facts[k] as object)) if (typeof b !== "boolean") throw new FeaturesChildError(`kernel feature child: facts.${k}.${name} is not a boolean`);
  }
  for (const [name, a] of Object.entries(facts.attach as object)) {
    if (!a || typeof (a as { ok?: unknown }).ok !== "boolean") throw new FeaturesChildError(`kernel feature child: facts.attach.${name}.ok is not a boolean`);
  }
  if (!Array.isArray(o.log) || !o.log.every((l) => Array.isArray(l) && LEVELS.has(l[0]) && typeof l[1] === "string")) {
    throw new FeaturesChildError("kernel feature child: log is not a list of [level, text]");
  }
  return o as ChildReport;
}

/** Runs the detection in a child process; its log lines are replayed into `log`. */
export async function detectInChild(log: Logger, cmd: string[] = selfCommand()): Promise<KernelFeatureFacts> {
  const env: Record<string, string | undefined> = { ...process.env, [FEATURES_CHILD_ENV]: "1", GOPHER_JIT: "full" };
  const proc = Bun.spawn(cmd, { env, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), FEATURES_CHILD_TIMEOUT_MS);
  try {
    const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
    if (code !== 0) throw new FeaturesChildError(`kernel feature child exited with ${code}${proc.signalCode ? ` (${proc.signalCode})` : ""}: ${err.trim().slice(-500)}`);
    if (out.length > MAX_OUTPUT_BYTES) throw new FeaturesChildError(`kernel feature child printed ${out.length} bytes (more than ${MAX_OUTPUT_BYTES})`);
    const report = parseChildReport(out.trim());
    for (const [level, text] of report.log) log[level](text);
    return report.facts;
  } finally {
    clearTimeout(timer);
  }
}
