// The kernel half of the io probe: opens bpf/io/io.bpf.o through ctx.bpf with only the
// programs the enabled subitems need and this kernel can run (tracepoints differ between
// 6.1 and current kernels; tp_btf programs where they load, raw_tp ones otherwise), checks
// the record layouts against the object's BTF, and gives typed access to the per-disk
// statistics, the epoch, the drop counters and the error ring.
import type { KernelFeatures } from "../../host/features.ts";
import type { Logger } from "../../log/logger.ts";
import { KernelBtf } from "../../libbpf/btf.ts";
import type { BpfMap, BpfObject } from "../../libbpf/object.ts";
import { forEachPerCpu, sumPerCpuU64 } from "../../libbpf/percpu.ts";
import type { RecordHandler } from "../../libbpf/ringbuf.ts";
import type { ProbeBpf } from "../../probe/define.ts";
import { hasRawTracepoint } from "../../probe/probe-bpf.ts";
import { CFG, checkLayout, decodeCpuStats, decodeDevKey, devKeyBytes, DROP_REASONS, ERR, INFLIGHT, PERIOD, STATS, DEFAULT_REQ_FLAG_BITS, type CpuStats, type DevKey, type ReqFlagBits } from "./decode.ts";

/** Each program, its tracepoint (category/name) and which subitems need it. */
const PROGRAMS: Record<string, { tp: [string, string]; subitems: readonly string[]; what: string }> = {
  on_insert: { tp: ["block", "block_rq_insert"], subitems: ["io_trace"], what: "queueing time of requests without rq->start_time_ns" },
  on_issue: { tp: ["block", "block_rq_issue"], subitems: ["io_trace"], what: "driver and device stages" },
  on_complete: { tp: ["block", "block_rq_complete"], subitems: ["io_trace", "io_count", "io_err"], what: "request completions" },
  on_rq_error: { tp: ["block", "block_rq_error"], subitems: ["io_err"], what: "request errors as the kernel reports them (completion errors are used instead)" },
  on_bio_complete: { tp: ["block", "block_bio_complete"], subitems: ["io_err"], what: "errors of bio-based devices (device mapper, md)" },
  on_add_to_page_cache: { tp: ["filemap", "mm_filemap_add_to_page_cache"], subitems: ["page_cache"], what: "load_page_cache" },
  on_dirty_folio: { tp: ["writeback", "writeback_dirty_folio"], subitems: ["page_cache"], what: "mark_page_dirty" },
  on_dirty_buffer: { tp: ["block", "block_dirty_buffer"], subitems: ["page_cache"], what: "mark_buffer_dirty" },
  on_get_pages: { tp: ["filemap", "mm_filemap_get_pages"], subitems: ["page_cache"], what: "access_pagecache (reads)" },
  on_map_pages: { tp: ["filemap", "mm_filemap_map_pages"], subitems: ["page_cache"], what: "access_pagecache (fault-around)" },
  on_fault: { tp: ["filemap", "mm_filemap_fault"], subitems: ["page_cache"], what: "access_pagecache (faults)" },
};

/** Tracepoints without which a subitem cannot report anything. */
const ESSENTIAL: Record<string, readonly string[]> = {
  io_trace: ["on_issue", "on_complete"],
  io_count: ["on_complete"],
  io_err: ["on_bio_complete"],
  page_cache: ["on_add_to_page_cache"],
};

function hasRawTp(f: KernelFeatures, [cat, name]: [string, string]): boolean {
  return hasRawTracepoint(f, name, [cat]);
}

/** Whether this kernel can run the probe; the reason when not. */
export function ioUnsupported(f: KernelFeatures): string | undefined {
  const gone = f.bpfUnavailable();
  if (gone) return gone;
  if (!f.attach.raw_tracepoint.ok) return `raw tracepoints cannot be attached: ${f.attach.raw_tracepoint.reason}`;
  if (!f.mapTypes.ringbuf) return "BPF ring buffers are not supported (kernel < 5.8)";
  if (!hasRawTp(f, ["block", "block_rq_complete"])) return "missing tracepoint block/block_rq_complete";
  return undefined;
}

export interface IoKernelOptions {
  bpf: ProbeBpf;
  features: KernelFeatures;
  log: Logger;
  /** Each io_err record of the ring buffer. */
  onError: RecordHandler;
  /** Counter of io_err records the ring could not take. */
  ringDrops: (n: number) => void;
  subitems: ReadonlySet<string>;
  /** Capacity of the per-disk map. */
  maxDisks?: number;
  /** Capacity of the in-flight request map. */
  maxInflight?: number;
  /** Load the raw_tp programs even where tp_btf ones load (tests of the fallback). */
  rawOnly?: boolean;
}

export class IoKernel implements Disposable {
  readonly obj: BpfObject;
  readonly stats: BpfMap;
  private readonly inflight: BpfMap;
  private readonly ring: { drain(): number };
  private readonly drops: BpfMap;
  private readonly cfg: DataView;
  private readonly dropTotals = new Array<number>(DROP_REASONS.length).fill(0);
  readonly attached: string[] = [];
  /** Hooks this kernel lacks, with what goes missing. */
  readonly missing: string[] = [];
  /** access_pagecache has at least one source on this kernel. */
  readonly accessCounted: boolean;
  readonly flagBits: ReqFlagBits;
  /** Which program set runs: tp_btf, or raw_tp where tp_btf does not load. */
  readonly variant: "tp_btf" | "raw_tp";

  constructor(private readonly o: IoKernelOptions) {
    const f = o.features;
    const want = new Set<string>();
    for (const [name, p] of Object.entries(PROGRAMS)) {
      if (!p.subitems.some((s) => o.subitems.has(s))) continue;
      if (hasRawTp(f, p.tp)) want.add(name);
      else this.missing.push(`${p.tp.join("/")} (${p.what})`);
    }
    for (const [sub, progs] of Object.entries(ESSENTIAL)) {
      if (!o.subitems.has(sub)) continue;
      const lacking = progs.filter((p) => !want.has(p));
      if (lacking.length) this.missing.push(`subitem ${sub} reports nothing without ${lacking.map((p) => PROGRAMS[p]!.tp[1]).join(", ")}`);
    }
    if (want.size === 0) throw new Error(`none of the hooks of subitems ${[...o.subitems].join(", ") || "(none)"} exist on this kernel`);
    // tp_btf programs read kernel structs with plain loads; raw_tp ones are the fallback.
    let obj: BpfObject;
    try {
      if (o.rawOnly) throw new Error("raw tracepoints requested");
      obj = IoKernel.load(o, want, "btf");
      this.variant = "tp_btf";
    } catch (e) {
      o.log.info(`tp_btf programs not used (${(e as Error).message}); using raw tracepoints`);
      obj = IoKernel.load(o, want, "raw");
      this.variant = "raw_tp";
    }
    try {
      this.obj = obj;
      for (const name of want) this.attached.push(PROGRAMS[name]!.tp.join("/"));
      {
        using btf = KernelBtf.ofObject(obj.handle);
        checkLayout("gio_period", btf?.structLayout("gio_period"), PERIOD);
        checkLayout("gio_stats", btf?.structLayout("gio_stats"), STATS);
        checkLayout("gio_err", btf?.structLayout("gio_err"), ERR);
        checkLayout("gio_cfg", btf?.structLayout("gio_cfg"), CFG);
        checkLayout("gio_inflight", btf?.structLayout("gio_inflight"), INFLIGHT);
      }
      this.stats = obj.map("stats");
      this.inflight = obj.map("inflight");
      this.drops = obj.map("drops");
      this.cfg = obj.map("io.bss").data();
      this.cfg.setUint32(CFG.epoch, 1, true);
      this.cfg.setUint32(CFG.err_tp, want.has("on_rq_error") ? 1 : 0, true);
      this.accessCounted = ["on_get_pages", "on_map_pages", "on_fault"].some((p) => want.has(p));
      const bit = (n: string, d: number) => f.enumValue("req_flag_bits", n) ?? d;
      const b = DEFAULT_REQ_FLAG_BITS;
      this.flagBits = { fua: bit("__REQ_FUA", b.fua), rahead: bit("__REQ_RAHEAD", b.rahead), sync: bit("__REQ_SYNC", b.sync), meta: bit("__REQ_META", b.meta), preflush: bit("__REQ_PREFLUSH", b.preflush) };
      this.ring = o.bpf.ringbuf(obj.map("events"), o.onError, { name: "io_err", drops: { read: () => this.ringDropTotal(), report: o.ringDrops } });
    } catch (e) {
      o.bpf.close(obj);
      throw e;
    }
  }

  /** Opens, loads and attaches the `variant` programs of `want`; closes everything on failure. */
  private static load(o: IoKernelOptions, want: ReadonlySet<string>, variant: "btf" | "raw"): BpfObject {
    const maps: Record<string, { maxEntries?: number }> = {};
    if (o.maxDisks) maps.stats = { maxEntries: o.maxDisks };
    if (o.maxInflight) maps.inflight = { maxEntries: o.maxInflight };
    const obj = o.bpf.open("io", { maps });
    try {
      const progName = (n: string) => (variant === "btf" ? `${n}_btf` : n);
      const load = new Set([...want].map(progName));
      for (const [name, prog] of obj.programs) prog.setAutoload(load.has(name));
      o.bpf.load(obj);
      for (const name of want) o.bpf.attach(obj, progName(name), variant === "btf" ? undefined : PROGRAMS[name]!.tp[1]);
      return obj;
    } catch (e) {
      o.bpf.close(obj);
      throw e;
    }
  }

  get epoch(): number {
    return this.cfg.getUint32(CFG.epoch, true);
  }

  /** Starts the next period; returns the epoch that just ended. */
  bumpEpoch(): number {
    const e = this.epoch;
    this.cfg.setUint32(CFG.epoch, (e + 1) >>> 0 || 1, true);
    return e;
  }

  /** Every disk's per-CPU values. */
  readDisks(): { dev: DevKey; cpus: CpuStats[] }[] {
    const out: { dev: DevKey; cpus: CpuStats[] }[] = [];
    forEachPerCpu(this.stats, (k, views) => out.push({ dev: decodeDevKey(k), cpus: views.map(decodeCpuStats) }));
    return out;
  }

  deleteDisk(d: DevKey): void {
    this.stats.delete(devKeyBytes(d));
  }

  /**
   * Removes in-flight entries older than `maxAgeNs` (requests whose completion was never
   * seen, e.g. freed without completing); returns how many.
   */
  sweepInflight(maxAgeNs: bigint): number {
    const now = process.hrtime.bigint(); // CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns
    const stale: Uint8Array[] = [];
    const map = this.inflight;
    map.lookupBatch(({ keys, values, count }) => {
      const v = new DataView(values.buffer, values.byteOffset, values.byteLength);
      for (let i = 0; i < count; i++) {
        const queued = v.getBigUint64(i * map.valueSize + INFLIGHT.queued_ns, true);
        const issued = v.getBigUint64(i * map.valueSize + INFLIGHT.issue_ns, true);
        const seen = issued > queued ? issued : queued;
        if (seen > 0n && now - seen > maxAgeNs) stale.push(keys.slice(i * map.keySize, (i + 1) * map.keySize));
      }
    }, 1024);
    for (const k of stale) map.delete(k);
    return stale.length;
  }

  /** Cumulative count of io_err records the ring could not take. */
  ringDropTotal(): number {
    return Number(sumPerCpuU64(this.drops, new Uint32Array([2]))[0] ?? 0n);
  }

  /** Increments of the map-full counters since the last call, by reason (ring drops excluded). */
  dropDeltas(): Record<string, number> {
    const out: Record<string, number> = {};
    for (let i = 0; i < 2; i++) {
      const total = Number(sumPerCpuU64(this.drops, new Uint32Array([i]))[0] ?? 0n);
      out[DROP_REASONS[i]!] = Math.max(0, total - this.dropTotals[i]!);
      this.dropTotals[i] = total;
    }
    return out;
  }

  /** Delivers the error records waiting in the ring now. */
  drainErrors(): number {
    return this.ring.drain();
  }

  [Symbol.dispose](): void {
    this.o.bpf.close(this.obj); // the ring subscription goes with it
  }
}
