// Test helpers of the socket probe: a ProbeContext that records rows and events, a scope
// the test controls, the sockgen activity generator (compiled with the host's clang) and
// child processes with line-oriented output.
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ensureBpf } from "../../../scripts/bpf.ts";
import { detectFeatures } from "../../host/features.ts";
import { DEFAULT_HOST_PATHS, HostFs } from "../../host/fs.ts";
import type { Logger } from "../../log/logger.ts";
import type { ContainerInfo, ProbeContext, ScopeView } from "../../probe/define.ts";
import { testKit, type TestKit } from "../../probe/test-kit.ts";
import type { ParamValues, ProbeSettings } from "../../probe/settings.ts";
import type { ProbeEvent, Row, TableDef } from "../../store/table.ts";
import { socketUnsupported } from "./bpf.ts";
import socket from "./index.ts";

const ROOT = join(import.meta.dir, "..", "..", "..");

/** Whether the root tests can run here (root, objects built, sockgen built, kernel support); prints why not. */
export function rootPreflight(test: string): { can: boolean; bin: string } {
  let why = process.getuid?.() === 0 ? "" : "not root";
  let bin = "";
  if (!why) {
    try {
      ensureBpf({ quiet: true });
      bin = sockgen();
      why = socketUnsupported(detectFeatures()) ?? "";
    } catch (e) {
      why = (e as Error).message;
    }
  }
  if (why) console.warn(`${test}: skipped: ${why}`);
  return { can: !why, bin };
}

/** Builds dist/bpf/sockgen from testdata/sockgen.c when missing or stale. */
export function sockgen(): string {
  const src = join(import.meta.dir, "testdata", "sockgen.c");
  const out = join(process.env.GOPHER_BPF_OUT || join(ROOT, "dist", "bpf"), "sockgen");
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(join(out, ".."), { recursive: true });
    const r = Bun.spawnSync(["clang", "-O2", "-Wall", "-o", out, src], { stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`building sockgen: ${r.stderr.toString()}`);
  }
  return out;
}

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

/** A context as the agent builds it (ctx.bpf, drops, limits from the definition); `close()` releases what the run left open. */
export function testContext(o: { subitems: string[]; scope: ScopeView; params?: ParamValues }): ProbeContext & { rec: Recorded } & Pick<TestKit, "close" | "dropCounts"> {
  const params: ParamValues = { report_period: 60, report_event: 1, ringbuf_map_size: 1, cluster_ip_backend: 0, ...o.params };
  const rec: Recorded = { rows: [], events: [] };
  const log: Logger = {
    debug() {},
    info() {},
    warn: (m) => console.warn(`[socket test] ${m}`),
    error: (m) => console.error(`[socket test] ${m}`),
    child: () => log,
  };
  const settings = { name: "socket", subitems: o.subitems, mode: "whitelist", params } as unknown as ProbeSettings;
  const ctx: ProbeContext & { rec: Recorded } & Pick<TestKit, "close" | "dropCounts"> = {
    ...testKit({ feature: "socket", log, scope: () => ctx.scope, definition: socket }),
    feature: "socket",
    settings,
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
  send(line = "go"): void {
    const stdin = this.proc.stdin as import("bun").FileSink;
    stdin.write(`${line}\n`);
    stdin.flush();
  }
  /** Waits for the `nth` (1-based) match of `re` in the output. */
  async waitFor(re: RegExp, nth = 1, timeoutMs = 20_000): Promise<RegExpExecArray> {
    const end = Date.now() + timeoutMs;
    const g = new RegExp(re.source, "g");
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
