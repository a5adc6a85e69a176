// tcp: per-process TCP links (tcp_metric) and flow delays (proc_flow_perf) from eBPF
// tracepoints. The kernel side (bpf/tcp/tcp.bpf.c, ./bpf.ts) keeps cumulative values per
// socket; every report_period this run reads them in batches, turns them into per-period
// deltas per link (./aggregate.ts), emits the rows and raises the events of
// events-and-metadata.md §1.4. Closed sockets arrive through the ring buffer, which is
// drained every 200 ms (5 ms while busy); they are reported in the period they closed in and then retired.
import { detectFeatures } from "../../host/features.ts";
import { addBpfDrops } from "../../libbpf/metrics.ts";
import { hasLibbpfLogger, setLibbpfLogger } from "../../libbpf/ffi.ts";
import { defineProbe, type ProbeContext, type ProbeRun } from "../../probe/define.ts";
import { Aggregator, flowRows, linkEvents, linkRow } from "./aggregate.ts";
import { TcpKernel, tcpUnsupported } from "./bpf.ts";
import { F, P, type ConnRecord, type ProcEvent } from "./decode.ts";
import { procFlowPerfTable, tcpMetricTable, tcpTables } from "./tables.ts";

/** Ring drain interval; shortened while the ring fills faster (connection churn). */
const DRAIN_MS = 200;
const DRAIN_FAST_MS = 5;
const DEFAULT_MAX_CONNS = 16384;

function maxConns(): number {
  const n = Number(process.env.GOPHER_TCP_MAX_CONNS);
  return Number.isInteger(n) && n >= 64 ? n : DEFAULT_MAX_CONNS;
}

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
  private kernel: TcpKernel;
  private shape: KernelShape;
  private readonly agg: Aggregator;
  /** Tgids in the kernel's scope map (listed in mode 1, excluded in mode 2). */
  private readonly pushed = new Set<number>();
  private mode: 0 | 1 | 2 = 0;
  /** Processes that left the scope while running: their sockets are dropped, not reported. */
  private readonly evicted = new Set<number>();
  private unsubscribe: () => void = () => undefined;
  private drainTimer: ReturnType<typeof setTimeout> | undefined;
  private closed = false;
  private warnedCluster = false;
  private warnedSpill = false;

  constructor(private readonly ctx: ProbeContext) {
    this.shape = this.wantedShape();
    this.kernel = this.openKernel(this.shape);
    this.agg = new Aggregator({ reportCport: ctx.num("report_cport") === 1, maxLinks: Math.max(4096, this.kernel.connCapacity) });
    this.watchScope();
    this.scheduleDrain(DRAIN_MS);
  }

  private scheduleDrain(ms: number): void {
    if (this.closed) return;
    this.drainTimer = setTimeout(() => {
      const n = this.drain();
      // Busy ring: come back soon, before it overflows; idle: every 200 ms.
      this.scheduleDrain(n > 64 || this.kernel.ringFill() > 0.1 ? DRAIN_FAST_MS : DRAIN_MS);
    }, ms);
    this.drainTimer.unref?.();
  }

  private wantedShape(): KernelShape {
    const delay = this.ctx.subitems.has("tcp_delay");
    const mib = this.ctx.num("ringbuf_map_size");
    return { delay, devName: delay ? strParam(this.ctx, "dev_name") : "", ringbufMiB: mib >= 1 && (mib & (mib - 1)) === 0 ? mib : 1 };
  }

  private openKernel(shape: KernelShape): TcpKernel {
    const k = new TcpKernel({
      features: detectFeatures(this.ctx.log),
      log: this.ctx.log,
      ringbufMiB: shape.ringbufMiB,
      maxConns: maxConns(),
      sampleMs: this.ctx.num("sample_period") || 5000,
      delay: shape.delay,
      devName: shape.devName || undefined,
    });
    this.ctx.log.info(`attached ${k.attached.join(", ")}`);
    for (const m of k.missing) this.ctx.log.warn(`not available on this kernel: ${m}`);
    return k;
  }

  // ---- scope ------------------------------------------------------------------------

  private watchScope(): void {
    this.unsubscribe();
    this.unsubscribe = this.ctx.scope.onChange(() => this.syncScope());
    this.syncScope();
  }

  private syncScope(): void {
    const s = this.ctx.scope;
    const excluded = s.excluded();
    const mode: 0 | 1 | 2 = s.wholeHost ? (excluded.size ? 2 : 0) : 1;
    if (mode !== this.mode) {
      // A different kind of list: start from an empty map.
      this.kernel.setScope(0, [], this.pushed);
      if (mode === 1) this.evicted.clear();
    }
    const r = this.kernel.setScope(mode, mode === 1 ? s.pids() : excluded, this.pushed);
    const leaving = mode === 1 ? r.removed : r.added;
    const joining = mode === 1 ? r.added : r.removed;
    for (const t of leaving) this.evicted.add(t);
    for (const t of joining) this.evicted.delete(t);
    this.mode = mode;
    if (r.refused) addBpfDrops("tcp", "scope_map_full", r.refused);
  }

  private onProc(e: ProcEvent): void {
    if (e.kind === P.EXIT) {
      this.pushed.delete(e.tgid); // the kernel removed it from the map
      return;
    }
    // exec or fork while only listed processes are observed: ask the scope again.
    if (this.ctx.scope.wholeHost || this.pushed.has(e.tgid)) return;
    if (this.ctx.scope.includes(e.tgid)) {
      if (this.kernel.addScopePid(e.tgid)) {
        this.pushed.add(e.tgid);
        this.evicted.delete(e.tgid);
      } else addBpfDrops("tcp", "scope_map_full", 1);
    }
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

  private drain(): number {
    try {
      const n = this.kernel.drain(
        (r) => this.onClosed(r),
        (e) => this.onProc(e),
      );
      return n + this.kernel.sweepSpill((r) => this.onClosed(r));
    } catch (e) {
      this.ctx.log.warn(`ring buffer drain failed: ${(e as Error).message}`);
      return 0;
    }
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
    for (const [reason, n] of Object.entries(this.kernel.dropDeltas())) addBpfDrops("tcp", reason, n);
    if (this.kernel.spilledTotal > 0 && !this.warnedSpill) {
      this.warnedSpill = true;
      ctx.log.info(`closed connections arrive faster than the ring buffer is drained; they go through the spill map (raise ringbuf_map_size to avoid it)`);
    }
    if (this.agg.overflow) {
      addBpfDrops("tcp", "link_table_full", this.agg.overflow);
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
      this.pushed.clear();
      this.shape = want;
      this.kernel = this.openKernel(want);
    }
    this.kernel.setSampleMs(ctx.num("sample_period") || 5000);
    this.watchScope();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.closed = true;
    clearTimeout(this.drainTimer);
    this.unsubscribe();
    this.kernel[Symbol.dispose]();
  }
}

export default defineProbe({
  feature: "tcp",
  tables: tcpTables,
  unsupported() {
    return tcpUnsupported(detectFeatures());
  },
  open(ctx): ProbeRun {
    if (!hasLibbpfLogger()) setLibbpfLogger(ctx.log);
    return new TcpRun(ctx);
  },
});
