// Test helpers of the tcp probe: a ProbeContext that records rows and events, a
// controllable scope, and the tcpgen traffic generator (compiled with the host's clang).
import { existsSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { ensureBpf } from "../../../scripts/bpf.ts";
import { detectFeatures } from "../../host/features.ts";
import { HostFs, DEFAULT_HOST_PATHS } from "../../host/fs.ts";
import type { Logger } from "../../log/logger.ts";
import type { BpfDropCounts } from "../../probe/bpf-drops.ts";
import type { ContainerInfo, ProbeContext, ScopeView } from "../../probe/define.ts";
import { testKit } from "../../probe/test-kit.ts";
import type { ParamValues, ProbeSettings } from "../../probe/settings.ts";
import type { ProbeEvent, Row, TableDef } from "../../store/table.ts";
import { tcpUnsupported } from "./bpf.ts";
import tcp from "./index.ts";

const ROOT = join(import.meta.dir, "..", "..", "..");

/**
 * Whether a root test of the tcp probe can run here: root, the BPF objects built, tcpgen
 * built, a kernel that runs the probe, and `extra` (another requirement: undefined when
 * met, else the reason). When it cannot, the reason is printed under the test's name.
 */
export function rootPreflight(test: string, extra?: () => string | undefined): { can: boolean; bin: string } {
  let why = process.getuid?.() === 0 ? "" : "not root";
  let bin = "";
  if (!why) {
    try {
      ensureBpf({ quiet: true });
      bin = tcpgen();
      why = tcpUnsupported(detectFeatures()) ?? extra?.() ?? "";
    } catch (e) {
      why = (e as Error).message;
    }
  }
  if (why) console.warn(`${test}: skipped: ${why}`);
  return { can: !why, bin };
}

/** Builds dist/bpf/tcpgen from testdata/tcpgen.c when missing or stale. */
export function tcpgen(): string {
  const src = join(import.meta.dir, "testdata", "tcpgen.c");
  const out = join(process.env.GOPHER_BPF_OUT || join(ROOT, "dist", "bpf"), "tcpgen");
  if (!existsSync(out) || statSync(out).mtimeMs < statSync(src).mtimeMs) {
    mkdirSync(join(out, ".."), { recursive: true });
    const r = Bun.spawnSync(["clang", "-O2", "-o", out, src], { stderr: "pipe" });
    if (r.exitCode !== 0) throw new Error(`building tcpgen: ${r.stderr.toString()}`);
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

export interface TestContext extends ProbeContext {
  rec: Recorded;
  /**
   * Resolves once the probe's kernel side observes `pid` (scope.h's map and mode word, read
   * back from the kernel); rejects after `timeoutMs`. A test lets a process start its
   * traffic only after this, so no connection slips through before the kernel knows it.
   */
  inKernelScope(pid: number, timeoutMs?: number): Promise<void>;
}

export function testContext(o: {
  subitems: string[];
  params?: ParamValues;
  scope: ScopeView;
  log?: Logger;
  limits?: Record<string, number>;
  dropCounts?: BpfDropCounts;
}): TestContext {
  const params: ParamValues = {
    report_period: 60,
    sample_period: 100,
    latency_thr: 0,
    drops_thr: 0,
    res_upper_thr: 0,
    report_event: 1,
    ringbuf_map_size: 1,
    report_cport: 0,
    cluster_ip_backend: 0,
    dev_name: "",
    ...o.params,
  };
  const rec: Recorded = { rows: [], events: [] };
  const log: Logger = o.log ?? {
    debug() {},
    info() {},
    warn: (m) => console.warn(`[tcp test] ${m}`),
    error: (m) => console.error(`[tcp test] ${m}`),
    child() {
      return log;
    },
  };
  const settings = { name: "tcp", subitems: o.subitems, mode: "whitelist", params } as unknown as ProbeSettings;
  const kit = testKit({ feature: "tcp", log, scope: () => ctx.scope, definition: tcp, limits: o.limits, dropCounts: o.dropCounts });
  const ctx: TestContext = {
    ...kit,
    feature: "tcp",
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
    async inKernelScope(pid, timeoutMs = 20_000) {
      const end = Date.now() + timeoutMs;
      while (!kit.bpf.observes(pid)) {
        if (Date.now() > end) throw new Error(`pid ${pid} not in the probe's kernel scope after ${timeoutMs} ms`);
        await Bun.sleep(10);
      }
    },
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
  get output(): string {
    return this.out;
  }
  send(line = "go"): void {
    const stdin = this.proc.stdin as import("bun").FileSink;
    stdin.write(`${line}\n`);
    stdin.flush();
  }
  async waitFor(re: RegExp, timeoutMs = 20_000): Promise<RegExpExecArray> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const m = re.exec(this.out);
      if (m) return m;
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

/**
 * The per-connection retransmission counts tcpgen printed ("retrans <client_port> <n>":
 * the kernel's tcpi_total_retrans since connect()/accept()), by client port. Throws on a
 * port seen twice (the counts would be ambiguous).
 */
export function retransByClientPort(output: string): Map<string, number> {
  const byPort = new Map<string, number>();
  for (const m of output.matchAll(/^retrans (\d+) (\d+)$/gm)) {
    if (byPort.has(m[1]!)) throw new Error(`tcpgen reported client port ${m[1]} twice: ${output}`);
    byPort.set(m[1]!, Number(m[2]));
  }
  return byPort;
}
