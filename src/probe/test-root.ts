// Test helpers shared by the probes' root tests: the preflight that says (and prints) why a
// root test cannot run here, the build of a probe's activity program from its testdata/,
// a context that records rows and events, a scope the test controls, and child processes
// with line-oriented output.
import { existsSync, mkdirSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { ensureBpf } from "../../scripts/bpf.ts";
import { detectFeatures, type KernelFeatures } from "../host/features.ts";
import { DEFAULT_HOST_PATHS, HostFs } from "../host/fs.ts";
import type { Logger } from "../log/logger.ts";
import type { ProbeEvent, Row, TableDef } from "../store/table.ts";
import type { BpfDropCounts } from "./bpf-drops.ts";
import type { ContainerInfo, ProbeContext, ProbeDefinition, ScopeView } from "./define.ts";
import type { ParamValues, ProbeSettings } from "./settings.ts";
import { testKit, type TestKit } from "./test-kit.ts";

const ROOT = join(import.meta.dir, "..", "..");

/**
 * Whether a root test can run here: root, the BPF objects built, and `ready` (the test's own
 * requirements: undefined when met, else the reason; a throw is a reason too). When it
 * cannot, the reason is printed under the test's name.
 */
export function bpfRootPreflight(test: string, ready: () => string | undefined): boolean {
  let why = process.getuid?.() === 0 ? "" : "not root";
  if (!why) {
    try {
      ensureBpf({ quiet: true });
      why = ready() ?? "";
    } catch (e) {
      why = (e as Error).message;
    }
  }
  if (why) console.warn(`${test}: skipped: ${why}`);
  return !why;
}

/**
 * Whether a probe's root test can run here: root, the BPF objects built, the test program
 * built (`build`, returning its path), a kernel that runs the probe (`unsupported`, the
 * probe's own requires) and `extra` (another requirement: undefined when met, else the
 * reason). When it cannot, the reason is printed under the test's name.
 */
export function probeRootPreflight(
  test: string,
  o: { build: () => string; unsupported: (f: KernelFeatures) => string | undefined; extra?: () => string | undefined },
): { can: boolean; bin: string } {
  let bin = "";
  const can = bpfRootPreflight(test, () => {
    bin = o.build();
    return o.unsupported(detectFeatures()) ?? o.extra?.();
  });
  return { can, bin };
}

/**
 * Builds dist/bpf/<name> (or $GOPHER_BPF_OUT/<name>) from the C source `src` with the first
 * of `compilers` found on PATH, when missing or older than the source; returns its path.
 */
export function buildTestProgram(src: string, o: { compilers: readonly string[]; flags: readonly string[] }): string {
  const name = basename(src, ".c");
  const out = join(process.env.GOPHER_BPF_OUT || join(ROOT, "dist", "bpf"), name);
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(join(out, ".."), { recursive: true });
    const compiler = o.compilers.map((c) => Bun.which(c)).find((p) => p !== null);
    if (!compiler) throw new Error(`no C compiler (${o.compilers.join(" or ")}) to build ${name}`);
    const r = Bun.spawnSync([compiler, ...o.flags, "-o", out, src], { stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`building ${name}: ${r.stderr.toString()}`);
  }
  return out;
}

export interface Recorded {
  rows: { table: string; row: Row }[];
  events: ProbeEvent[];
}

/** A context as the agent builds it (ctx.bpf, drops, limits from the definition) that records rows and events. */
export type RecordingContext = ProbeContext & { rec: Recorded; kit: TestKit } & Pick<TestKit, "close" | "dropCounts">;

/**
 * A recording context for `definition` on the real host, with exactly `params` (the caller
 * fills in the probe's defaults); `close()` releases what the run left open.
 */
export function recordingContext(o: {
  definition: ProbeDefinition;
  subitems: string[];
  params: ParamValues;
  scope: ScopeView;
  log?: Logger;
  limits?: Readonly<Record<string, number>>;
  dropCounts?: BpfDropCounts;
}): RecordingContext {
  const feature = o.definition.feature;
  const params = o.params;
  const rec: Recorded = { rows: [], events: [] };
  const log: Logger = o.log ?? {
    debug() {},
    info() {},
    warn: (m) => console.warn(`[${feature} test] ${m}`),
    error: (m) => console.error(`[${feature} test] ${m}`),
    child: () => log,
  };
  const kit = testKit({ feature, log, scope: () => ctx.scope, definition: o.definition, limits: o.limits, dropCounts: o.dropCounts });
  const ctx: RecordingContext = {
    ...kit,
    kit,
    feature,
    settings: { name: feature, subitems: o.subitems, mode: "whitelist", params } as unknown as ProbeSettings,
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

/** A scope the test controls: the whole host, or the listed pids (add/remove notify onChange). */
export class TestScope implements ScopeView {
  wholeHost: boolean;
  private readonly listed = new Set<number>();
  private readonly subs = new Set<(a: readonly number[], r: readonly number[]) => void>();
  constructor(pids?: number[]) {
    this.wholeHost = pids === undefined;
    for (const p of pids ?? []) this.listed.add(p);
  }
  pids(): ReadonlySet<number> {
    return this.wholeHost ? new Set() : this.listed;
  }
  excluded(): ReadonlySet<number> {
    return new Set();
  }
  containers(): ReadonlyMap<string, ContainerInfo> {
    return new Map();
  }
  includes(pid: number): boolean {
    return this.wholeHost || this.listed.has(pid);
  }
  labelFor(): undefined {
    return undefined;
  }
  add(pid: number): void {
    this.wholeHost = false;
    this.listed.add(pid);
    for (const s of this.subs) s([pid], []);
  }
  remove(pid: number): void {
    this.listed.delete(pid);
    for (const s of this.subs) s([], [pid]);
  }
  onChange(cb: (a: readonly number[], r: readonly number[]) => void): () => void {
    this.subs.add(cb);
    return () => this.subs.delete(cb);
  }
  [Symbol.dispose](): void {
    this.subs.clear();
  }
}

/** A child process with line-oriented stdout. */
export class Proc {
  readonly proc: ReturnType<typeof Bun.spawn>;
  private out = "";
  private readonly waiters: (() => void)[] = [];
  constructor(cmd: string[]) {
    const proc = Bun.spawn(cmd, { stdin: "pipe", stdout: "pipe", stderr: "inherit" });
    this.proc = proc;
    void (async () => {
      const dec = new TextDecoder();
      for await (const chunk of proc.stdout as ReadableStream<Uint8Array>) {
        this.out += dec.decode(chunk);
        for (const w of this.waiters.splice(0)) w();
      }
      for (const w of this.waiters.splice(0)) w();
    })();
  }
  get pid(): number {
    return this.proc.pid;
  }
  get output(): string {
    return this.out;
  }
  send(line = "go"): void {
    const stdin = this.proc.stdin as import("bun").FileSink;
    stdin.write(`${line}\n`);
    stdin.flush();
  }
  /** Waits for the first match of `re` in the output. */
  waitFor(re: RegExp, timeoutMs = 20_000): Promise<RegExpExecArray> {
    return this.waitForNth(re, 1, timeoutMs);
  }
  /** Waits for the `nth` (1-based) match of `re` in the output. */
  async waitForNth(re: RegExp, nth: number, timeoutMs = 20_000): Promise<RegExpExecArray> {
    const end = Date.now() + timeoutMs;
    const g = new RegExp(re.source, re.flags.includes("g") ? re.flags : `${re.flags}g`);
    for (;;) {
      const all = [...this.out.matchAll(g)];
      if (all.length >= nth) return all[nth - 1] as RegExpExecArray;
      if (Date.now() > end) throw new Error(`timed out waiting for ${re} in output: ${this.out}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }
  kill(): void {
    try {
      this.proc.kill("SIGKILL");
    } catch {
      /* gone */
    }
  }
}
