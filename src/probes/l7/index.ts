// l7: request rate, errors and latency of every TCP/UDP conversation of the processes in
// scope, from the kernel. The kernel side (bpf/l7/, ./bpf.ts) counts bytes and calls per
// connection and copies a bounded prefix of each send/receive into a ring buffer; the
// agent's poller hands the records to the tracker (./tracker.ts), which detects the
// protocol with the enabled parsers (./protocols/), pairs requests with responses and adds
// them to the links of ./aggregate.ts. Every report_period the run reads the kernel's
// counters, emits l7_link / l7_rpc / l7_rpc_api and forgets closed connections.
import { defineProbe, type ProbeContext, type ProbeRun } from "../../probe/define.ts";
import type { BpfScope } from "../../probe/bpf-scope.ts";
import { Aggregator } from "./aggregate.ts";
import { L7Kernel, l7Unsupported } from "./bpf.ts";
import { EventView, L7DecodeError, REC_CLOSE, REC_DATA } from "./decode.ts";
import { L7_FEATURE, L7_LIMITS } from "./declare.ts";
import { ListenerCache } from "./listeners.ts";
import type { ProtocolParser } from "./protocol.ts";
import * as registered from "./protocols/index.ts";
import { l7LinkTable, l7RpcApiTable, l7RpcTable, l7Tables } from "./tables.ts";
import { L7Tls } from "./tls/run.ts";
import { Tracker } from "./tracker.ts";

/** Every parser of this build, by l7_protocol name. */
export const PARSERS: ReadonlyMap<string, ProtocolParser> = new Map(
  (Object.values(registered) as ProtocolParser[]).filter((p) => typeof p?.detect === "function").map((p) => [p.name, p]),
);

/** The parsers `l7_protocol` enables (its canonical order), and the names this build cannot parse. */
export function enabledParsers(param: unknown, all: ReadonlyMap<string, ProtocolParser> = PARSERS): { parsers: ProtocolParser[]; unparsed: string[] } {
  const names = Array.isArray(param) ? param.filter((x): x is string => typeof x === "string") : [];
  const parsers: ProtocolParser[] = [];
  const unparsed: string[] = [];
  for (const n of names) {
    const p = all.get(n);
    if (p) parsers.push(p);
    else unparsed.push(n);
  }
  // http2 is parsed with http (both answer to l7_protocol "http").
  if (names.includes("http") && all.has("http2")) parsers.push(all.get("http2")!);
  return { parsers, unparsed };
}

function ringMiB(n: number): number {
  let p = 1;
  while (p * 2 <= n) p *= 2;
  return p;
}

class L7Run implements ProbeRun {
  private readonly kernel: L7Kernel;
  private readonly scope: BpfScope;
  private readonly agg: Aggregator;
  private readonly tracker: Tracker;
  private readonly listeners: ListenerCache;
  private readonly tls: L7Tls;
  private readonly ev = new EventView();
  private parsers: ProtocolParser[] = [];
  private supportSsl = false;
  private warnedCluster = false;
  private readonly reported = { trackerFull: 0, udpFlowsFull: 0, unansweredDropped: 0 };

  constructor(
    private readonly ctx: ProbeContext,
    private readonly all: ReadonlyMap<string, ProtocolParser>,
  ) {
    this.listeners = new ListenerCache(ctx.host);
    this.agg = new Aggregator({ maxLinks: ctx.limit("max_conns"), maxApis: ctx.limit("max_apis") });
    this.configure();
    this.tracker = new Tracker({
      parsers: this.parsers,
      conn: (id) => this.kernel.conn(id),
      setVerdict: (id, v) => this.kernel.setVerdict(id, v),
      isListening: (tgid, netns, port) => this.listeners.isListening(tgid, netns, port),
      agg: this.agg,
      maxConns: ctx.limit("max_conns"),
      supportSsl: () => this.supportSsl,
      nowMs: Date.now,
    });
    const ringDrops = ctx.drops("ring_full");
    this.kernel = new L7Kernel({
      bpf: ctx.bpf,
      features: ctx.features,
      maxConns: ctx.limit("max_conns"),
      captureBytes: ctx.limit("capture_bytes"),
      ringbufMiB: ringMiB(ctx.limit("ringbuf_mib")),
      tls: this.supportSsl,
      onRecord: (view, off, length) => this.onRecord(view, off, length),
      onRingDrops: ringDrops,
    });
    this.scope = ctx.bpf.scopeSync(this.kernel.obj);
    this.tls = new L7Tls(ctx, this.kernel.obj);
    this.tls.configure(this.supportSsl);
    ctx.log.info(`attached ${this.kernel.attached.join(", ")}`);
    for (const m of this.kernel.missing) ctx.log.warn(`not available on this kernel: ${m}`);
  }

  /** Applies l7_protocol and support_ssl. */
  private configure(): void {
    const { parsers, unparsed } = enabledParsers(this.ctx.params.l7_protocol, this.all);
    this.parsers.length = 0;
    this.parsers.push(...parsers);
    this.supportSsl = this.ctx.num("support_ssl") === 1;
    this.tls?.configure(this.supportSsl);
    if (unparsed.length) this.ctx.log.warn(`l7_protocol ${unparsed.join(", ")}: no parser in this build; not reported`);
    if (parsers.length === 0) this.ctx.log.info("l7_protocol enables no protocol: connections are observed but none is reported (as upstream)");
  }

  private onRecord(view: DataView, off: number, length: number): void {
    try {
      const ev = this.ev.read(this.kernel.events, view, off, length);
      if (ev.kind === REC_DATA) this.tracker.onData(ev);
      else if (ev.kind === REC_CLOSE) this.tracker.onClose(ev.connId);
      else this.ctx.parseError("l7 ring record", `unknown kind ${ev.kind}`);
    } catch (e) {
      if (e instanceof L7DecodeError) this.ctx.parseError("l7 ring record", e.message);
      else throw e;
    }
  }

  /** Delivers what the ring holds now (tests: before asserting on the tracker's view). */
  drain(): void {
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
    const alive = new Map<number, boolean>();
    const isAlive = (tgid: number) => {
      let a = alive.get(tgid);
      if (a === undefined) alive.set(tgid, (a = ctx.host.exists(ctx.host.proc(String(tgid)))));
      return a;
    };
    const gone = this.tracker.collect((visit) => this.kernel.readConns(visit), isAlive);
    for (const c of gone) this.kernel.forget(c);
    this.tls.collect();
    this.listeners.clear();
    const period = Math.max(1, ctx.num("report_period"));
    const rows = this.agg.endPeriod(Date.now(), period);
    if (ctx.subitems.has("l7_bytes_metrics")) for (const r of rows.link) ctx.emit(l7LinkTable, r);
    if (ctx.subitems.has("l7_rpc_metrics")) {
      for (const r of rows.rpc) ctx.emit(l7RpcTable, r);
      for (const r of rows.api) ctx.emit(l7RpcApiTable, r);
    }
    for (const [reason, n] of Object.entries(this.kernel.dropDeltas())) ctx.drops(reason)(n);
    const c = this.tracker.counts;
    ctx.drops("tracker_full")(c.trackerFull - this.reported.trackerFull);
    ctx.drops("udp_peers_full")(c.udpFlowsFull - this.reported.udpFlowsFull);
    ctx.drops("unanswered_requests")(c.unansweredDropped - this.reported.unansweredDropped);
    this.reported.trackerFull = c.trackerFull;
    this.reported.udpFlowsFull = c.udpFlowsFull;
    this.reported.unansweredDropped = c.unansweredDropped;
    if (this.agg.overflow) {
      ctx.drops("link_table_full")(this.agg.overflow);
      this.agg.overflow = 0;
    }
  }

  reconfigure(): void {
    this.configure();
    this.kernel.setTls(this.supportSsl);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.tls[Symbol.dispose]();
    this.kernel[Symbol.dispose]();
  }
}

/** A run of the probe with the parsers `all` (this build's by default; tests pass their own). */
export function openL7(ctx: ProbeContext, all: ReadonlyMap<string, ProtocolParser> = PARSERS): ProbeRun & { drain(): void } {
  return new L7Run(ctx, all);
}

export default defineProbe({
  ...L7_FEATURE,
  tables: l7Tables,
  limits: L7_LIMITS,
  requires: l7Unsupported,
  open(ctx): ProbeRun {
    return openL7(ctx);
  },
});
