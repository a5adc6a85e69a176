// proc (taskprobe): per-process syscalls, file-system latency, off-CPU/iowait, page cache
// and DNS for the processes in scope. The kernel side (bpf/proc/proc.bpf.c, ./bpf.ts) keeps
// cumulative values per tgid and asks the shared scope (scope.h) before any work; every
// report_period this run turns them into per-period rows (./values.ts). DNS lookups arrive
// one by one on a ring and are aggregated per (tgid, domain) and period (./dns.ts).
// Per-period maxima (bio latency, Python GC) are kept by the kernel per period parity.
// Not yet built: proc_pygc — the subitem is accepted and produces no rows.
import { trimHeap } from "../../host/features.ts";
import type { BpfScope, ScopeChange } from "../../probe/bpf-scope.ts";
import { defineProbe, type ProbeContext, type ProbeRun } from "../../probe/define.ts";
import type { RingHandle } from "../../libbpf/poller.ts";
import { EXITED_SLOT, ProcKernel, procUnsupported } from "./bpf.ts";
import { DnsAggregator, DnsUprobes, decodeDns } from "./dns.ts";
import { PROC_EVENTS, PROC_FEATURE, PROC_LIMITS } from "./declare.ts";
import { procDnsTable, procSyscallIoctlTable, procTables } from "./tables.ts";
import { ioctlRow, PeriodDeltas } from "./values.ts";

const NOT_YET: Readonly<Record<string, string>> = {
  proc_pygc: "proc_pygc (proc_pygc) is not built yet: no rows",
};

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
    }
    this.scope = ctx.bpf.scopeSync(k.obj, { onChange: (c) => this.onScope(c) });
    ctx.log.info(`attached ${k.attached.join(", ")}${this.dns ? ", libc DNS uprobes" : ""}`);
    for (const m of k.missing) ctx.log.warn(`not available on this kernel: ${m}`);
    for (const [s, text] of Object.entries(NOT_YET)) if (ctx.subitems.has(s)) ctx.log.warn(text);
    this.followDns();
  }

  private onScope(c: ScopeChange): void {
    for (const t of c.left) this.leave(t);
    if (this.dns) for (const t of c.joined) this.addDns(t);
  }

  /** A process left the scope: its values and series go, its libc may lose the uprobes. */
  private leave(tgid: number): void {
    this.kernel.deleteProc(tgid);
    this.deltas.forget(tgid);
    this.dns?.agg.forget(tgid);
    this.dns?.uprobes.remove(tgid);
  }

  private addDns(pid: number): void {
    try {
      this.dns?.uprobes.add(pid);
    } catch (e) {
      this.warnOnce(`DNS uprobes for process ${pid}: ${(e as Error).message}`);
    }
  }

  private warnOnce(text: string): void {
    if (this.warned.has(text) || this.warned.size > 256) return;
    this.warned.add(text);
    this.ctx.log.warn(text);
  }

  /** Puts the uprobes on the libc of every process in scope (new ones since the last call). */
  private followDns(): void {
    if (!this.dns) return;
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
    this.dns.uprobes.prune(pids);
    for (const p of pids) if (!this.dns.uprobes.has(p)) this.addDns(p);
    // Each new libc attachment read and parsed the whole ELF file (six times: one per
    // program): give that memory back now instead of keeping it in the heap (≈4 MiB RSS).
    if (this.dns.uprobes.takeNewAttachments() > 0) {
      Bun.gc(true);
      trimHeap();
    }
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
      this.followDns();
    }
    for (const [reason, n] of Object.entries(this.kernel.dropDeltas())) ctx.drops(reason)(n);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.dns?.uprobes[Symbol.dispose]();
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
