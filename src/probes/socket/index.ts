// socket: listening and connecting endpoints per process (endpoint_tcp, endpoint_udp).
// The kernel side (bpf/socket/socket.bpf.c, ./bpf.ts) counts TCP opens, failures,
// retransmitted SYNs and SYN-ACKs, request drops and establishment latency per endpoint
// and UDP bytes per socket; every report_period this run walks the socket files of the
// processes in scope (every network namespace) for each listener's and UDP socket's own
// drop counter, turns the cumulative values into per-period rows (./aggregate.ts), emits
// them and raises the events of events-and-metadata.md §1.4. No ring buffer: nothing
// leaves the kernel between two reads.
import { defineProbe, type ProbeContext, type ProbeRun } from "../../probe/define.ts";
import { SocketAggregator } from "./aggregate.ts";
import { SocketKernel, socketUnsupported } from "./bpf.ts";
import { SOCKET_EVENTS, SOCKET_FEATURE, SOCKET_LIMITS } from "./declare.ts";
import { tcpEvents, tcpRow, udpRow } from "./rows.ts";
import { endpointTcpTable, endpointUdpTable, socketTables } from "./tables.ts";

/** Upstream ages an endpoint out after 10 minutes without events. */
const IDLE_SECONDS = 600;

interface Shape {
  tcp: boolean;
  udp: boolean;
}

class SocketRun implements ProbeRun {
  private kernel!: SocketKernel;
  private shape: Shape;
  private readonly agg: SocketAggregator;
  /** Whether a process was observed at the previous walk (its new sockets count from zero). */
  private observedAtLastWalk: ((tgid: number) => boolean) | undefined;
  private warnedCluster = false;

  constructor(private readonly ctx: ProbeContext) {
    this.shape = this.wantedShape();
    this.agg = new SocketAggregator({ idlePeriods: this.idlePeriods() });
    this.openKernel(this.shape);
  }

  private idlePeriods(): number {
    return Math.max(1, Math.ceil(IDLE_SECONDS / Math.max(1, this.ctx.num("report_period") || 60)));
  }

  private wantedShape(): Shape {
    return { tcp: this.ctx.subitems.has("tcp_socket"), udp: this.ctx.subitems.has("udp_socket") };
  }

  private openKernel(shape: Shape): void {
    const ctx = this.ctx;
    const k = new SocketKernel({
      bpf: ctx.bpf,
      features: ctx.features,
      ...shape,
      maps: { tcp_stats: ctx.limit("max_endpoints"), listeners: ctx.limit("max_listeners"), connecting: ctx.limit("max_connecting"), udp_socks: ctx.limit("max_udp_sockets") },
    });
    this.kernel = k;
    ctx.bpf.scopeSync(k.obj);
    ctx.log.info(`attached ${k.attached.join(", ")}`);
    for (const m of k.missing) ctx.log.warn(`not available on this kernel: ${m}`);
  }

  /** A frozen picture of the current scope, asked at the next walk. */
  private scopeSnapshot(): (tgid: number) => boolean {
    const s = this.ctx.scope;
    if (s.wholeHost) {
      const excluded = new Set(s.excluded());
      return (t) => !excluded.has(t);
    }
    const pids = new Set(s.pids());
    return (t) => pids.has(t);
  }

  collect(): void {
    const ctx = this.ctx;
    if (!this.warnedCluster && ctx.num("cluster_ip_backend") !== 0) {
      this.warnedCluster = true;
      ctx.log.warn("cluster_ip_backend is not supported by this version; addresses are reported as seen by the socket");
    }
    const ended = this.kernel.bumpEpoch();
    const walk = this.kernel.walk();
    ctx.drops("listeners_map_full")(this.kernel.adoptListeners(walk));
    const out = this.agg.endPeriod({ tcp: this.kernel.readTcp(ended), walk, udp: this.kernel.readUdp(), wasObserved: this.observedAtLastWalk });
    this.observedAtLastWalk = this.scopeSnapshot();
    this.kernel.deleteTcp(out.pruneTcp);
    this.kernel.deleteUdp(out.goneUdp);
    if (this.shape.tcp) {
      for (const e of out.tcp) {
        ctx.emit(endpointTcpTable, tcpRow(e));
        for (const ev of tcpEvents(e)) ctx.event(ev);
      }
    }
    if (this.shape.udp) for (const e of out.udp) ctx.emit(endpointUdpTable, udpRow(e, this.kernel.udpBytes));
    for (const [reason, n] of Object.entries(this.kernel.dropDeltas())) ctx.drops(reason)(n);
  }

  reconfigure(): void {
    this.agg.opts.idlePeriods = this.idlePeriods();
    const want = this.wantedShape();
    if (want.tcp !== this.shape.tcp || want.udp !== this.shape.udp) {
      // Other programs: reload (counters restart; the aggregator counts new entries from zero).
      this.kernel.close(this.ctx.bpf);
      this.shape = want;
      this.openKernel(want);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    // The object, its links and the scope binding are closed with the run (ctx.bpf); the walk's link here.
    this.kernel.close(this.ctx.bpf);
  }
}

export default defineProbe({
  ...SOCKET_FEATURE,
  tables: socketTables,
  events: SOCKET_EVENTS,
  limits: SOCKET_LIMITS,
  requires: socketUnsupported,
  open(ctx): ProbeRun {
    return new SocketRun(ctx);
  },
});
