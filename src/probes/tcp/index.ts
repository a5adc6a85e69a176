// tcp: per-process TCP links (tcp_metric) and flow delays (proc_flow_perf) from eBPF
// tracepoints. The kernel side (bpf/tcp/tcp.bpf.c, ./bpf.ts) keeps cumulative values per
// socket; every report_period this run reads them in batches, turns them into per-period
// deltas per link (./aggregate.ts), emits the rows and raises the events of
// events-and-metadata.md §1.4. Closed sockets arrive through the ring buffer, which the
// agent's poller drains (every 200 ms, 5 ms while busy); they are reported in the period
// they closed in and then retired. The process scope is bpf/include/scope.h's.
import type { BpfScope, ScopeChange } from "../../probe/bpf-scope.ts";
import { defineProbe, type ProbeContext, type ProbeRun } from "../../probe/define.ts";
import { Aggregator, flowRows, linkEvents, linkRow } from "./aggregate.ts";
import { TcpKernel, tcpUnsupported } from "./bpf.ts";
import { F, type ConnRecord } from "./decode.ts";
import { TCP_EVENTS, TCP_FEATURE, TCP_LIMITS } from "./declare.ts";
import { procFlowPerfTable, tcpMetricTable, tcpTables } from "./tables.ts";

function strParam(ctx: ProbeContext, key: string): string {
  const v = ctx.params[key];
  return typeof v === "string" ? v : "";
}

interface KernelShape {
  delay: boolean;
  devName: string;
  ringbufMiB: number;
}

class TcpRun implements ProbeRun {
  private kernel!: TcpKernel;
  private scope!: BpfScope;
  private shape: KernelShape;
  private readonly agg: Aggregator;
  /** Processes that left the scope while running: their sockets are dropped, not reported. */
  private readonly evicted = new Set<number>();
  private readonly linkTableFull: (n: number) => void;
  private warnedCluster = false;
  private warnedSpill = false;

  constructor(private readonly ctx: ProbeContext) {
    this.linkTableFull = ctx.drops("link_table_full");
    this.agg = new Aggregator({ reportCport: ctx.num("report_cport") === 1, maxLinks: 4096 });
    this.shape = this.wantedShape();
    this.openKernel(this.shape);
    this.agg.opts.maxLinks = Math.max(4096, this.kernel.connCapacity);
  }

  private wantedShape(): KernelShape {
    const delay = this.ctx.subitems.has("tcp_delay");
    const mib = this.ctx.num("ringbuf_map_size");
    return { delay, devName: delay ? strParam(this.ctx, "dev_name") : "", ringbufMiB: mib >= 1 && (mib & (mib - 1)) === 0 ? mib : 1 };
  }

  private openKernel(shape: KernelShape): void {
    const ctx = this.ctx;
    const k = new TcpKernel({
      bpf: ctx.bpf,
      features: ctx.features,
      host: ctx.host,
      onClosed: (r) => this.onClosed(r),
      ringbufMiB: shape.ringbufMiB,
      maxConns: ctx.limit("max_conns"),
      sampleMs: ctx.num("sample_period") || 5000,
      delay: shape.delay,
      devName: shape.devName || undefined,
    });
    this.kernel = k;
    this.scope = ctx.bpf.scopeSync(k.obj, { onChange: (c) => this.onScope(c) });
    ctx.log.info(`attached ${k.attached.join(", ")}`);
    for (const m of k.missing) ctx.log.warn(`not available on this kernel: ${m}`);
  }

  // ---- scope ------------------------------------------------------------------------

  private onScope(c: ScopeChange): void {
    if (c.modeChanged && c.mode === 1) this.evicted.clear();
    for (const t of c.left) this.evicted.add(t);
    for (const t of c.joined) this.evicted.delete(t);
  }

  // ---- data -------------------------------------------------------------------------

  private onClosed(r: ConnRecord): void {
    if (!(r.flags & F.ESTABLISHED)) return;
    if (this.evicted.has(r.tgid)) {
      this.agg.forget(r.key);
      return;
    }
    this.agg.add(r, true);
  }

  private drain(): void {
    this.scope.drain();
    this.kernel.drain();
  }

  collect(): void {
    const ctx = this.ctx;
    if (!this.warnedCluster && ctx.num("cluster_ip_backend") !== 0) {
      this.warnedCluster = true;
      ctx.log.warn("cluster_ip_backend is not supported by this version; addresses are reported as seen by the socket");
    }
    this.drain();
    const ended = this.kernel.bumpEpoch();
    const live = new Set<string>();
    const gone: bigint[] = [];
    this.kernel.readConns(ended, (r) => {
      if (!(r.flags & F.ESTABLISHED)) return; // still connecting
      if (this.evicted.has(r.tgid)) {
        gone.push(r.sk);
        this.agg.forget(r.key);
        return;
      }
      if (r.flags & F.CLOSED) {
        // Its ring record did not fit: report it from the map and free the entry.
        this.agg.add(r, true);
        gone.push(r.sk);
        return;
      }
      live.add(r.key);
      this.agg.add(r, false);
    });
    for (const sk of gone) this.kernel.deleteConn(sk);
    this.evicted.clear(); // their sockets are gone and new ones cannot be attributed to them
    const links = this.agg.endPeriod(live);
    const subitems = ctx.subitems;
    const params = { drops_thr: ctx.num("drops_thr"), latency_thr: ctx.num("latency_thr"), res_upper_thr: ctx.num("res_upper_thr") };
    const metricSubitems = [...subitems].some((s) => s !== "tcp_delay");
    for (const l of links) {
      if (metricSubitems) ctx.emit(tcpMetricTable, linkRow(l, subitems));
      for (const e of linkEvents(l, params, subitems)) ctx.event(e);
    }
    if (subitems.has("tcp_delay")) for (const r of flowRows(links)) ctx.emit(procFlowPerfTable, r);
    for (const [reason, n] of Object.entries(this.kernel.dropDeltas())) ctx.drops(reason)(n);
    if (this.kernel.spilledTotal > 0 && !this.warnedSpill) {
      this.warnedSpill = true;
      ctx.log.info(`closed connections arrive faster than the ring buffer is drained; they go through the spill map (raise ringbuf_map_size to avoid it)`);
    }
    if (this.agg.overflow) {
      this.linkTableFull(this.agg.overflow);
      this.agg.overflow = 0;
    }
  }

  reconfigure(): void {
    const ctx = this.ctx;
    this.agg.opts.reportCport = ctx.num("report_cport") === 1;
    const want = this.wantedShape();
    if (want.delay !== this.shape.delay || want.devName !== this.shape.devName || want.ringbufMiB !== this.shape.ringbufMiB) {
      // Different programs: reload (tracked sockets are re-adopted on their next read).
      this.drain();
      this.kernel[Symbol.dispose]();
      this.shape = want;
      this.openKernel(want);
    }
    this.kernel.setSampleMs(ctx.num("sample_period") || 5000);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.kernel[Symbol.dispose]();
  }
}

export default defineProbe({
  ...TCP_FEATURE,
  tables: tcpTables,
  events: TCP_EVENTS,
  limits: TCP_LIMITS,
  requires: tcpUnsupported,
  open(ctx): ProbeRun {
    return new TcpRun(ctx);
  },
});
