// Test helpers shared by the BPF probes' root tests: the preflight that prints why a root
// test is skipped, the activity programs of a probe's testdata built into dist/bpf, a scope
// the test controls, a context that records rows and events, and child processes with
// line-oriented output.
import { existsSync, mkdirSync, statSync } from "node:fs";
import { basename, join } from "node:path";
import { ensureBpf } from "../../scripts/bpf.ts";
import { DEFAULT_HOST_PATHS, HostFs } from "../host/fs.ts";
import type { Logger } from "../log/logger.ts";
import type { ProbeEvent, Row, TableDef } from "../store/table.ts";
import type { BpfDropCounts } from "./bpf-drops.ts";
import type { ContainerInfo, ProbeContext, ProbeDefinition, ScopeView } from "./define.ts";
import type { ParamValues, ProbeSettings } from "./settings.ts";
import { testKit, type TestKit } from "./test-kit.ts";

const ROOT = join(import.meta.dir, "..", "..");

/**
 * Whether a root test can run here: root, the BPF objects built, and `ready` (the probe's
 * own requirements: undefined when met, else the reason; a throw is a reason too). When it
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
 * Builds the C program `src` into dist/bpf (or $GOPHER_BPF_OUT) under its base name, when
 * missing or older than the source, with the first of `compilers` on PATH; returns its path.
 */
export function buildTestProgram(src: string, flags: string[], compilers: string[] = ["clang"]): string {
  const name = basename(src, ".c");
  const out = join(process.env.GOPHER_BPF_OUT || join(ROOT, "dist", "bpf"), name);
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(join(out, ".."), { recursive: true });
    const compiler = compilers.map((c) => Bun.which(c)).find((p) => p !== null);
    if (!compiler) throw new Error(`no C compiler (${compilers.join(" or ")}) to build ${name}`);
    const r = Bun.spawnSync([compiler, ...flags, "-o", out, src], { stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`building ${name}: ${r.stderr.toString()}`);
  }
  return out;
}

/** A scope the test controls: the whole host until a pid is added, then a whitelist. */
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

export interface Recorded {
  rows: { table: string; row: Row }[];
  events: ProbeEvent[];
}

/** A context as the agent builds it (ctx.bpf, drops, limits from the definition) that records what the probe emits. */
export type RecordingContext = ProbeContext & { rec: Recorded; kit: TestKit } & Pick<TestKit, "close" | "dropCounts">;

/** A logger that drops debug and info and prints warnings and errors under `[<feature> test]`. */
export function testLog(feature: string): Logger {
  const log: Logger = {
    debug() {},
    info() {},
    warn: (m) => console.warn(`[${feature} test] ${m}`),
    error: (m) => console.error(`[${feature} test] ${m}`),
    child: () => log,
  };
  return log;
}

export function recordingContext(o: {
  feature: string;
  definition: ProbeDefinition;
  subitems: string[];
  scope: ScopeView;
  /** Every param the probe reads (the test's defaults merged with its overrides). */
  params: ParamValues;
  log?: Logger;
  limits?: Record<string, number>;
  dropCounts?: BpfDropCounts;
}): RecordingContext {
  const { feature, params } = o;
  const rec: Recorded = { rows: [], events: [] };
  const log = o.log ?? testLog(feature);
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

/** A child process with line-oriented stdout. */
export class LineProcess {
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
  /** Everything the process printed so far. */
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
  async waitForNth(re: RegExp, nth = 1, timeoutMs = 20_000): Promise<RegExpExecArray> {
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
