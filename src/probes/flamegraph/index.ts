// flamegraph: continuous profiling of the processes in scope (rest-api.md §10 stackprobe).
// oncpu: a CPU-clock perf event on every CPU every perf_sample_period ms; offcpu: the time
// each thread spends switched out (sched_switch); mem: bytes of user page faults (memory
// touched) and of brk / anonymous mmap calls (memory asked for); mem_glibc: live bytes of
// glibc allocations per allocating stack (./glibc.ts). The kernel counts per (process, user
// stack, kernel stack) in one of two alternating map sets (./kernel.ts); every collect()
// reads and clears the finished set, symbolizes the stacks (./symbolize.ts) and adds them
// to the period's folded stacks; every svg_period seconds (checked at each collect) the
// period is written as SVG, folded and pprof files per type (./output.ts) and starts over.
import { trimHeap } from "../../host/features.ts";
import type { BpfScope } from "../../probe/bpf-scope.ts";
import { defineProbe, NotSupported, type ProbeContext, type ProbeRun } from "../../probe/define.ts";
import { FLAMEGRAPH_FEATURE, FLAMEGRAPH_LIMITS, IMPLEMENTED_SUBITEMS } from "./declare.ts";
import { FoldedStacks } from "./folded.ts";
import { FlameHistory, type PeriodStacks } from "./history.ts";
import { FlameKernel, flameUnsupported, hasMemCallTracepoints, hasPageFaultTracepoint, type RawSample, type SampleKind } from "./kernel.ts";
import { DEFAULT_SVG_DIR, enforceBudget, flamePaths, writeFiles, type OutputFile } from "./output.ts";
import { FLAME_PAGE_HTML } from "./page.ts";
import { ProcessPrefixes } from "./process-prefix.ts";
import { PUSH_INTERVAL_MS, pushFolded, pyroscopeServerError } from "./pyroscope.ts";
import { pprofProfile } from "./pprof.ts";
import { flameGraphSvg } from "./svg.ts";
import { GlibcAllocations } from "./glibc.ts";
import { Symbolizer } from "./symbolize.ts";

/**
 * How each type's values are written: oncpu counts samples, offcpu nanoseconds shown as
 * microseconds, mem bytes (a page fault counts as 4 KiB: x86, the only architecture with
 * the tracepoint).
 */
const UNITS: Record<SampleKind, { unit: string; scale: number }> = {
  oncpu: { unit: "samples", scale: 1 },
  offcpu: { unit: "us", scale: 1 / 1000 },
  mem: { unit: "bytes", scale: 1 },
  mem_glibc: { unit: "bytes", scale: 1 },
};

/** A period's rows with values in the written unit. */
function scaledRows(folded: FoldedStacks, scale: number): [string, number, number][] {
  return folded.rows().map(([s, v, pid]) => [s, Math.max(1, Math.round(v * scale)), pid]);
}

function strParam(ctx: ProbeContext, key: string): string {
  const v = ctx.params[key];
  return typeof v === "string" ? v : "";
}

export class FlameRun implements ProbeRun {
  private readonly kernel: FlameKernel;
  private readonly scope: BpfScope;
  private readonly symbols: Symbolizer;
  private readonly prefixes: ProcessPrefixes;
  private readonly folded = new Map<SampleKind, FoldedStacks>();
  /** Stacks since the last Pyroscope push (when pyroscope_server is usable). */
  private readonly unpushed = new Map<SampleKind, FoldedStacks>();
  private readonly pyroscope: string | undefined;
  private lastPush = Date.now();
  /** The last periods for the /flamegraph page, and its registration on the metrics port. */
  private readonly history: FlameHistory;
  private page: Disposable | undefined;
  private warnedPush = false;
  private periodStart = Date.now();
  private readonly samplePeriodMs: number;
  private collecting = false;
  private tablesSeen = 0;
  private readonly glibc: GlibcAllocations | undefined;
  private readonly warnedAttach = new Set<string>();
  /** Files written by the last flush (for logs and tests). */
  lastFiles: string[] = [];

  constructor(private readonly ctx: ProbeContext) {
    const wanted = [...ctx.subitems];
    const missing = wanted.filter((s) => !IMPLEMENTED_SUBITEMS.includes(s));
    let oncpu = ctx.subitems.has("oncpu");
    const offcpu = ctx.subitems.has("offcpu");
    const wantMem = ctx.subitems.has("mem");
    const memFaults = wantMem && hasPageFaultTracepoint(ctx.features);
    const memCalls = wantMem && hasMemCallTracepoints(ctx.features);
    if (wantMem && !memFaults) ctx.log.warn("mem: page faults are not counted: this kernel has no exceptions:page_fault_user tracepoint (x86 only)");
    if (wantMem && !memCalls) ctx.log.warn("mem: brk and mmap calls are not counted: this kernel has no syscalls:sys_enter_brk/mmap tracepoints (CONFIG_FTRACE_SYSCALLS)");
    const mem = memFaults || memCalls;
    let glibc = ctx.subitems.has("mem_glibc");
    if (glibc && !ctx.features.attach.uprobe.ok) {
      ctx.log.warn(`mem_glibc is not sampled: uprobes unavailable (${ctx.features.attach.uprobe.reason})`);
      glibc = false;
    }
    if (oncpu && !ctx.features.attach.perf_event.ok) {
      if (!offcpu) throw new NotSupported(`oncpu needs perf_event programs: ${ctx.features.attach.perf_event.reason}`);
      ctx.log.warn(`oncpu is not sampled: perf_event programs unavailable (${ctx.features.attach.perf_event.reason})`);
      oncpu = false;
    }
    if (!oncpu && !offcpu && !mem && !glibc) throw new NotSupported(`subitems ${wanted.join(", ") || "(none)"}: this version samples only ${IMPLEMENTED_SUBITEMS.join(" and ")}`);
    if (missing.length > 0) ctx.log.warn(`subitems ${missing.join(", ")} are not sampled by this version (only ${IMPLEMENTED_SUBITEMS.join(", ")})`);
    this.samplePeriodMs = ctx.num("perf_sample_period") || 10;
    const onFull = ctx.drops("folded_full");
    const server = strParam(ctx, "pyroscope_server");
    const serverError = server ? pyroscopeServerError(server) : undefined;
    if (serverError) ctx.log.warn(`${serverError}: nothing is pushed to Pyroscope`);
    this.pyroscope = server && !serverError ? server : undefined;
    for (const [kind, on] of [["oncpu", oncpu], ["offcpu", offcpu], ["mem", mem], ["mem_glibc", glibc]] as const) {
      if (!on) continue;
      this.folded.set(kind, new FoldedStacks(ctx.limit("max_folded"), onFull));
      if (this.pyroscope) this.unpushed.set(kind, new FoldedStacks(ctx.limit("max_folded"), onFull));
    }
    this.kernel = new FlameKernel({
      bpf: ctx.bpf,
      oncpu,
      offcpu,
      memFaults,
      memCalls,
      glibc,
      maxAllocs: ctx.limit("max_allocs"),
      maxAllocStacks: ctx.limit("max_alloc_stacks"),
      samplePeriodMs: this.samplePeriodMs,
      maxStacks: ctx.limit("max_stacks"),
      maxSleepers: ctx.limit("max_sleepers"),
    });
    try {
      this.scope = ctx.bpf.scopeSync(this.kernel.obj);
      if (glibc) {
        this.glibc = new GlibcAllocations({ obj: this.kernel.obj, host: ctx.host, perBinary: ctx.scope.wholeHost, maxProcesses: ctx.limit("max_glibc_processes") });
        this.syncGlibc();
        this.kernel.attached.push(`uprobes on malloc/calloc/realloc/free in ${this.glibc.processes} processes' libc`);
      }
    } catch (e) {
      this.glibc?.[Symbol.dispose]();
      this.kernel[Symbol.dispose](); // its perf events and uprobes are not owned by the object
      throw e;
    }
    this.symbols = new Symbolizer({ host: ctx.host, log: ctx.log, maxSymbols: ctx.limit("max_symbols"), parseError: (i, d) => ctx.parseError(i, d) });
    this.prefixes = new ProcessPrefixes(ctx.host, () => ctx.scope.containers());
    this.history = new FlameHistory(ctx.limit("page_periods"), ctx.limit("page_stacks"));
    this.page = ctx.servePage?.((sub) => this.servePage(sub));
    ctx.log.info(`attached ${this.kernel.attached.join(", ")}`);
  }

  /** The processes mem_glibc covers: the scope's, or with the whole host every process but the agent. */
  private glibcScope(): Set<number> {
    const scope = this.ctx.scope;
    if (!scope.wholeHost) return new Set(scope.pids());
    const out = new Set<number>();
    for (const name of this.ctx.host.list(this.ctx.host.proc())) {
      const pid = Number(name);
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && scope.includes(pid)) out.add(pid);
    }
    return out;
  }

  /** Places and drops mem_glibc's uprobes as processes enter and leave the scope; returns the scope used. */
  private syncGlibc(): Set<number> {
    const inScope = this.glibcScope();
    for (const f of this.glibc!.sync(inScope)) {
      this.ctx.drops("glibc_attach_failed")(1);
      const kind = f.reason.replace(/\d+/g, "N");
      if (this.warnedAttach.has(kind)) this.ctx.log.debug(`mem_glibc: process ${f.pid}: ${f.reason}`);
      else this.ctx.log.warn(`mem_glibc: process ${f.pid} not covered: ${f.reason} (counted in gala_gopher_agent_bpf_dropped_total{reason="glibc_attach_failed"})`);
      this.warnedAttach.add(kind);
    }
    return inScope;
  }

  /** The period in progress (what the last collections read), marked partial. */
  private currentPeriods(): (PeriodStacks & { partial: true })[] {
    const now = Date.now();
    return [...this.folded]
      .filter(([, f]) => f.size > 0)
      .map(([type, f]) => ({ type, at: now, unit: UNITS[type].unit, partial: true as const, stacks: scaledRows(f, UNITS[type].scale) }));
  }

  /** GET /flamegraph (the page) and /flamegraph/data (the kept periods as JSON). */
  private servePage(sub: string): Response {
    if (sub === "" || sub === "/") return new Response(FLAME_PAGE_HTML, { headers: { "Content-Type": "text/html; charset=utf-8" } });
    if (sub === "/data") return Response.json({ periods: [...this.history.all(), ...this.currentPeriods()] });
    return new Response("not found\n", { status: 404 });
  }

  async collect(): Promise<void> {
    if (this.collecting) return; // the previous read is still symbolizing
    this.collecting = true;
    try {
      await this.readKernel();
      if (this.pyroscope && Date.now() - this.lastPush >= PUSH_INTERVAL_MS) await this.push(new Date());
      if (Date.now() - this.periodStart >= (this.ctx.num("svg_period") || 180) * 1000) await this.flush(new Date());
    } finally {
      this.collecting = false;
    }
  }

  /** Reads the kernel's finished map set into the period's folded stacks. */
  async readKernel(): Promise<void> {
    const ctx = this.ctx;
    this.scope.drain();
    this.symbols.beginPeriod();
    this.prefixes.beginPeriod();
    const raw: RawSample[] = [];
    await this.kernel.readPeriod((s) => raw.push(s));
    for (const s of raw) {
      const folded = this.folded.get(s.kind);
      if (!folded || !ctx.scope.includes(s.tgid)) continue;
      const frames = [...this.prefixes.of(s.tgid), ...(await this.symbols.userFrames(s.tgid, s.hint ? this.symbols.withHint(s.tgid, s.user, s.hint) : s.user)), ...this.symbols.kernelFrames(s.kernel)];
      if (s.leaf) frames.push(s.leaf);
      folded.add(s.tgid, frames, s.value);
      this.unpushed.get(s.kind)?.add(s.tgid, frames, s.value);
    }
    if (this.glibc) await this.readGlibc();
    for (const [reason, n] of Object.entries(this.kernel.dropDeltas())) ctx.drops(reason)(n);
    if (this.symbols.tablesRead !== this.tablesSeen) {
      // Parsing kallsyms and ELF files leaves tens of MiB of garbage: give it back now rather
      // than whenever the collector gets to it (the RSS budget counts it).
      this.tablesSeen = this.symbols.tablesRead;
      Bun.gc(true);
      trimHeap();
    }
  }

  /** mem_glibc's live bytes replace the previous read's (a state, not a count). */
  private async readGlibc(): Promise<void> {
    const inScope = this.syncGlibc();
    const folded = this.folded.get("mem_glibc")!;
    const unpushed = this.unpushed.get("mem_glibc");
    folded.clear();
    unpushed?.clear();
    const live: { tgid: number; user: readonly bigint[]; bytes: number }[] = [];
    this.glibc!.read(inScope, (tgid, user, bytes) => live.push({ tgid, user, bytes }));
    for (const l of live) {
      const frames = [...this.prefixes.of(l.tgid), ...(await this.symbols.userFrames(l.tgid, l.user))];
      folded.add(l.tgid, frames, l.bytes);
      unpushed?.add(l.tgid, frames, l.bytes);
    }
  }

  /** Posts the stacks since the last push to Pyroscope (one try; a failure is counted and its data dropped). */
  async push(until: Date): Promise<void> {
    const ctx = this.ctx;
    const from = new Date(this.lastPush);
    this.lastPush = until.getTime();
    const perProcess = ctx.num("multi_instance") === 1;
    for (const [type, folded] of this.unpushed) {
      const { scale } = UNITS[type];
      for (const pid of folded.size === 0 ? [] : perProcess ? folded.pids() : [undefined]) {
        const body = folded.text(pid, type === "oncpu" ? 1 : scale);
        const err = await pushFolded({ server: this.pyroscope!, type, pid, from, until, samplePeriodMs: this.samplePeriodMs, body }, ctx.signal);
        if (err === undefined) continue;
        ctx.drops("pyroscope_push_failed")(1);
        if (!this.warnedPush) ctx.log.warn(`pushing ${type} to Pyroscope at ${this.pyroscope}: ${err} (counted in gala_gopher_agent_bpf_dropped_total{reason="pyroscope_push_failed"}; not retried)`);
        this.warnedPush = true;
      }
      folded.clear();
    }
  }

  /** Writes the period's files (SVG and folded, per type and per process with multi_instance) and starts a new period. */
  async flush(at: Date): Promise<void> {
    const ctx = this.ctx;
    const svgDir = strParam(ctx, "output_dir") || DEFAULT_SVG_DIR;
    const foldedDir = strParam(ctx, "flame_dir") || "/var/log/gala-gopher/flamegraph";
    const perProcess = ctx.num("multi_instance") === 1;
    const files: OutputFile[] = [];
    for (const [type, folded] of this.folded) {
      if (folded.size === 0) continue;
      const { unit, scale } = UNITS[type];
      const o = { svgDir, foldedDir, type, at };
      for (const pid of perProcess ? folded.pids() : [undefined]) {
        const p = flamePaths(o, pid);
        const title = `${type} ${pid === undefined ? "" : `[${pid}] `}${at.toISOString()}`;
        files.push(
          { path: p.folded, text: folded.text(pid, scale) },
          { path: p.svg, text: flameGraphSvg(folded.entries(pid, scale), { title, unit }) },
          { path: p.pprof, text: pprofProfile({ type, stacks: folded.rows(pid), periodNs: this.samplePeriodMs * 1_000_000, start: new Date(this.periodStart), end: at }) },
        );
      }
      this.history.add({ type, at: at.getTime(), unit, stacks: scaledRows(folded, scale) });
      folded.clear();
    }
    this.periodStart = at.getTime();
    this.lastFiles = files.map((f) => f.path);
    if (files.length === 0) return;
    try {
      await writeFiles(files);
    } catch (e) {
      ctx.log.warn(`writing flame graphs: ${(e as Error).message}`);
      ctx.drops("write_failed")(files.length);
      return;
    }
    const dirs = [...this.folded.keys()].flatMap((t) => [`${svgDir}/${t}`, `${foldedDir}/${t}`]);
    const removed = await enforceBudget(dirs, ctx.limit("disk_budget_mib") * 1024 * 1024);
    if (removed > 0) ctx.log.debug(`removed ${removed} old flame graph files (disk budget ${ctx.limit("disk_budget_mib")} MiB)`);
  }

  /** Stops sampling, then writes what the unfinished period holds (a stop or a reconfiguration loses nothing). */
  async [Symbol.asyncDispose](): Promise<void> {
    this.kernel.stopSampling();
    try {
      if (!this.collecting) {
        await this.readKernel();
        await this.flush(new Date());
      }
    } catch (e) {
      this.ctx.log.warn(`writing the last period: ${(e as Error).message}`);
    } finally {
      this.page?.[Symbol.dispose]();
      this.glibc?.[Symbol.dispose]();
      this.kernel[Symbol.dispose]();
    }
  }
}

export default defineProbe({
  ...FLAMEGRAPH_FEATURE,
  tables: [],
  limits: FLAMEGRAPH_LIMITS,
  requires: flameUnsupported,
  open(ctx): ProbeRun {
    return new FlameRun(ctx);
  },
});
