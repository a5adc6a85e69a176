// proc (taskprobe): per-process syscalls, file-system latency, off-CPU/iowait, page cache
// and DNS for the processes in scope. The kernel side (bpf/proc/proc.bpf.c, ./bpf.ts) keeps
// cumulative values per tgid and asks the shared scope (scope.h) before any work; every
// report_period this run turns them into per-period rows (./values.ts). DNS lookups arrive
// one by one on a ring and are aggregated per (tgid, domain) and period (./dns.ts).
// Per-period maxima (bio latency, Python GC) are kept by the kernel per period parity.
// Uprobes follow the processes in scope: libc's resolver (./dns.ts) and the Python
// interpreter's garbage collector (./pygc.ts).
import { trimHeap } from "../../host/features.ts";
import type { BpfScope, ScopeChange } from "../../probe/bpf-scope.ts";
import { defineProbe, type ProbeContext, type ProbeRun } from "../../probe/define.ts";
import type { RingHandle } from "../../libbpf/poller.ts";
import { EXITED_SLOT, ProcKernel, procUnsupported } from "./bpf.ts";
import { DnsAggregator, DnsUprobes, decodeDns } from "./dns.ts";
import { PygcUprobes } from "./pygc.ts";
import { PROC_EVENTS, PROC_FEATURE, PROC_LIMITS } from "./declare.ts";
import { procDnsTable, procSyscallIoctlTable, procTables } from "./tables.ts";
import { ioctlRow, PeriodDeltas } from "./values.ts";

/**
 * Returns freed memory to the system: after opening (the object's bytes, libbpf's parse of
 * it and of the kernel's BTF) and after new uprobe attachments (each parsed an ELF file),
 * instead of keeping it in the heaps for good.
 */
function giveBackHeap(): void {
  Bun.gc(true);
  trimHeap();
}

/** Uprobes placed per process in scope (one attachment per file serves every process). */
interface ProcessUprobes extends Disposable {
  add(pid: number): void;
  remove(pid: number): void;
  prune(alive: ReadonlySet<number>): void;
  has(pid: number): boolean;
  takeNewAttachments(): number;
}

interface Dns {
  agg: DnsAggregator;
  uprobes: DnsUprobes;
  ring: RingHandle;
}

class ProcRun implements ProbeRun {
  private readonly kernel: ProcKernel;
  private readonly scope: BpfScope;
  private readonly deltas = new PeriodDeltas();
  private readonly dns: Dns | undefined;
  /** What each set of per-process uprobes is, for messages. */
  private readonly uprobes = new Map<ProcessUprobes, string>();
  private readonly warned = new Set<string>();

  constructor(private readonly ctx: ProbeContext) {
    const k = new ProcKernel({
      bpf: ctx.bpf,
      features: ctx.features,
      subitems: ctx.subitems,
      maxProcs: ctx.limit("max_procs"),
      maxThreads: ctx.limit("max_threads"),
      maxBios: ctx.limit("max_bios"),
    });
    this.kernel = k;
    if (ctx.subitems.has("proc_dns")) {
      const agg = new DnsAggregator(ctx.limit("max_dns_domains"));
      const uprobes = new DnsUprobes(k.obj, ctx.host.proc(), ctx.limit("max_libc"));
      const ring = ctx.bpf.ringbuf(k.obj.map("dns_events"), (view, off, len) => {
        const l = decodeDns(view, off, len);
        if (!l) return ctx.parseError("dns_record", `${len} bytes`);
        if (ctx.scope.includes(l.tgid)) agg.add(l);
      });
      this.dns = { agg, uprobes, ring };
      this.uprobes.set(uprobes, "DNS uprobes");
    }
    if (ctx.subitems.has("proc_pygc")) this.uprobes.set(new PygcUprobes(k.obj, ctx.host.proc(), ctx.limit("max_python")), "Python GC probes");
    this.scope = ctx.bpf.scopeSync(k.obj, { onChange: (c) => this.onScope(c) });
    ctx.log.info(`attached ${[...k.attached, ...this.uprobes.values()].join(", ")}`);
    for (const m of k.missing) ctx.log.warn(`not available on this kernel: ${m}`);
    this.followProcesses(true);
  }

  private onScope(c: ScopeChange): void {
    for (const t of c.left) this.leave(t);
    for (const t of c.joined) this.addUprobes(t);
  }

  /** A process left the scope: its values and series go, its libc may lose the uprobes. */
  private leave(tgid: number): void {
    this.kernel.deleteProc(tgid);
    this.deltas.forget(tgid);
    this.dns?.agg.forget(tgid);
    for (const u of this.uprobes.keys()) u.remove(tgid);
  }

  private addUprobes(pid: number): void {
    for (const [u, what] of this.uprobes) this.addTo(u, what, pid);
  }

  private addTo(u: ProcessUprobes, what: string, pid: number): void {
    try {
      u.add(pid);
    } catch (e) {
      this.warnOnce(`${what} for process ${pid}: ${(e as Error).message}`);
    }
  }

  private warnOnce(text: string): void {
    if (this.warned.has(text) || this.warned.size > 256) return;
    this.warned.add(text);
    this.ctx.log.warn(text);
  }

  /** Puts the uprobes on every process in scope (new ones since the last call). */
  private followProcesses(opening = false): void {
    if (this.uprobes.size === 0) {
      if (opening) giveBackHeap();
      return;
    }
    const s = this.ctx.scope;
    let pids: ReadonlySet<number>;
    if (s.wholeHost) {
      const all = new Set<number>();
      for (const name of this.ctx.host.list(this.ctx.host.proc())) {
        const pid = Number(name);
        if (Number.isInteger(pid) && pid > 0 && s.includes(pid)) all.add(pid);
      }
      pids = all;
    } else pids = s.pids();
    let parsed = 0;
    for (const [u, what] of this.uprobes) {
      u.prune(pids);
      for (const p of pids) if (!u.has(p)) this.addTo(u, what, p);
      parsed += u.takeNewAttachments();
    }
    // Each new attachment read and parsed an ELF file (a libc, an interpreter): give that
    // memory back now instead of keeping it in the heap (≈4 MiB RSS for a libc).
    if (parsed > 0 || opening) giveBackHeap();
  }

  collect(): void {
    const ctx = this.ctx;
    this.scope.drain();
    this.dns?.ring.drain();
    const seen = new Set<number>();
    const gone: number[] = [];
    const maxima = this.kernel.takePeriodMaxima();
    this.kernel.readProcs((tgid, vals) => {
      if (!ctx.scope.includes(tgid)) {
        gone.push(tgid); // left the scope before the kernel heard of it
        return;
      }
      seen.add(tgid);
      for (const r of this.deltas.rows(tgid, vals, ctx.subitems, maxima.get(tgid))) ctx.emit(r.table, r.row);
      if (ctx.subitems.has("proc_ioctl")) {
        const max = this.kernel.takeIoctlMax(tgid);
        if (max) ctx.emit(procSyscallIoctlTable, ioctlRow(tgid, max, this.deltas.ioctlDelta(tgid)));
      }
      if (vals[EXITED_SLOT]) gone.push(tgid); // reported a last time
    });
    for (const t of gone) {
      this.kernel.deleteProc(t);
      this.deltas.forget(t);
    }
    for (const t of [...this.deltas.tgids()]) if (!seen.has(t)) this.deltas.forget(t);
    if (this.dns) {
      const { rows, events } = this.dns.agg.endPeriod();
      for (const r of rows) ctx.emit(procDnsTable, r);
      for (const e of events) ctx.event(e);
      if (this.dns.agg.overflow) {
        ctx.drops("dns_domains_full")(this.dns.agg.overflow);
        this.dns.agg.overflow = 0;
      }
    }
    this.followProcesses();
    for (const [reason, n] of Object.entries(this.kernel.dropDeltas())) ctx.drops(reason)(n);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    for (const u of this.uprobes.keys()) u[Symbol.dispose]();
    // The object, its links and rings are closed through ctx.bpf when the run ends.
  }
}

export default defineProbe({
  ...PROC_FEATURE,
  tables: procTables,
  events: PROC_EVENTS,
  limits: PROC_LIMITS,
  requires: procUnsupported,
  open(ctx): ProbeRun {
    return new ProcRun(ctx);
  },
});
