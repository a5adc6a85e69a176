// io: per-disk block I/O latency stages (io_latency), bytes read and written (io_count),
// page-cache activity (io_pagecache) and I/O error events (io_err) from block, filemap
// and writeback tracepoints. The kernel side (bpf/io/io.bpf.c, ./bpf.ts) aggregates per
// disk and CPU; every report_period this run reads it once, turns it into per-period
// values (./aggregate.ts) and emits the rows. Errors arrive through a ring buffer (drained
// by the agent's poller) and become events as they come. sample_period is accepted, as
// upstream's REST API does, but nothing is sampled: every request is counted.
import { defineProbe, type ProbeContext, type ProbeRun } from "../../probe/define.ts";
import { countRow, errEvent, IoAggregator, latencyEvent, latencyRow, pagecacheRow } from "./aggregate.ts";
import { IoKernel, ioUnsupported } from "./bpf.ts";
import { IO_EVENTS, IO_FEATURE, IO_LIMITS } from "./declare.ts";
import { decodeErr } from "./decode.ts";
import { DiskNames } from "./names.ts";
import { ioCountTable, ioLatencyTable, ioPagecacheTable, ioTables } from "./tables.ts";

/** Periods between two resolutions of every disk name (devices are renamed, detached, reused). */
const NAME_REFRESH_PERIODS = 30;
/** A request in flight for this long lost its completion (it is removed and counted). */
const STALE_INFLIGHT_NS = 600_000_000_000n;

function strParam(ctx: ProbeContext, key: string): string {
  const v = ctx.params[key];
  return typeof v === "string" ? v : "";
}

class IoRun implements ProbeRun {
  private kernel: IoKernel;
  private subitems: string;
  private agg = new IoAggregator();
  private readonly names: DiskNames;
  private readonly staleInflight: (n: number) => void;
  private readonly mapDrops = new Map<string, (n: number) => void>();
  private periods = 0;

  constructor(private readonly ctx: ProbeContext) {
    this.names = new DiskNames(ctx.host);
    this.staleInflight = ctx.drops("inflight_stale");
    this.subitems = [...ctx.subitems].sort().join(",");
    this.kernel = this.openKernel();
  }

  private openKernel(): IoKernel {
    const ctx = this.ctx;
    const k = new IoKernel({
      bpf: ctx.bpf,
      features: ctx.features,
      log: ctx.log,
      subitems: ctx.subitems,
      maxDisks: ctx.limit("max_disks"),
      maxInflight: ctx.limit("max_inflight"),
      rawOnly: ctx.limit("raw_tp") === 1,
      onError: (view, off) => this.onError(view, off),
      ringDrops: ctx.drops("ringbuf_full"),
    });
    ctx.log.info(`attached (${k.variant}) ${k.attached.join(", ")}`);
    for (const m of k.missing) ctx.log.warn(`not available on this kernel: ${m}`);
    return k;
  }

  private onError(view: DataView, off: number): void {
    if (!this.ctx.subitems.has("io_err")) return;
    const e = decodeErr(view, off);
    const names = this.names.of(e);
    if (this.wanted(names)) this.ctx.event(errEvent(e, names, this.kernel.flagBits));
  }

  /** dev_name, when set, keeps one device (by its name or its disk's name). */
  private wanted(n: { blk: string; disk: string }): boolean {
    const dev = strParam(this.ctx, "dev_name");
    return !dev || n.blk === dev || n.disk === dev;
  }

  private drop(reason: string, n: number): void {
    let c = this.mapDrops.get(reason);
    if (!c) this.mapDrops.set(reason, (c = this.ctx.drops(reason)));
    c(n);
  }

  collect(): void {
    const ctx = this.ctx;
    this.kernel.drainErrors();
    const ended = this.kernel.bumpEpoch();
    const { active, retire } = this.agg.period(ended, this.kernel.readDisks());
    for (const d of retire) {
      this.kernel.deleteDisk(d);
      this.agg.forget(d);
    }
    if (++this.periods % NAME_REFRESH_PERIODS === 0) {
      this.names.clear();
      const stale = this.kernel.sweepInflight(STALE_INFLIGHT_NS);
      if (stale) this.staleInflight(stale);
    }
    const latencyThr = ctx.num("latency_thr");
    for (const p of active) {
      const names = this.names.of(p);
      if (!this.wanted(names)) continue;
      if (ctx.subitems.has("io_trace")) {
        const row = latencyRow(p, names);
        if (row) ctx.emit(ioLatencyTable, row);
        const ev = latencyEvent(p, names, latencyThr, this.kernel.flagBits);
        if (ev) ctx.event(ev);
      }
      if (ctx.subitems.has("io_count")) {
        const row = countRow(p, names);
        if (row) ctx.emit(ioCountTable, row);
      }
      if (ctx.subitems.has("page_cache")) {
        const row = pagecacheRow(p, names, this.kernel.accessCounted);
        if (row) ctx.emit(ioPagecacheTable, row);
      }
    }
    for (const [reason, n] of Object.entries(this.kernel.dropDeltas())) if (n > 0) this.drop(reason, n);
  }

  reconfigure(): void {
    const want = [...this.ctx.subitems].sort().join(",");
    if (want === this.subitems) return;
    // Other programs: reload (totals restart from zero with the new object).
    this.kernel[Symbol.dispose]();
    this.subitems = want;
    this.kernel = this.openKernel();
    this.agg = new IoAggregator();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.kernel[Symbol.dispose]();
  }
}

export default defineProbe({
  ...IO_FEATURE,
  tables: ioTables,
  events: IO_EVENTS,
  limits: IO_LIMITS,
  requires: ioUnsupported,
  open(ctx): ProbeRun {
    return new IoRun(ctx);
  },
});
