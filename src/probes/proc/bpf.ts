// The kernel half of the proc probe: opens bpf/proc/proc.bpf.o through ctx.bpf with the
// programs the enabled subitems need (and this kernel has), attaches them, and reads the
// per-process values and drop counters. DNS uprobes are placed per process by ./dns.ts.
import type { KernelFeatures } from "../../host/features.ts";
import { KernelBtf } from "../../libbpf/btf.ts";
import type { BpfMap, BpfObject } from "../../libbpf/object.ts";
import { sumPerCpuU64 } from "../../libbpf/percpu.ts";
import { hasRawTracepoint, type ProbeBpf } from "../../probe/probe-bpf.ts";
import { decodeVals, S, VALS_BYTES, type IoctlMax, type PeriodMax } from "./values.ts";

/** A timed syscall: the tracepoint pair syscalls/sys_{enter,exit}_<name>, and who needs it. */
const SYSCALLS: Readonly<Record<string, readonly string[]>> = {
  mount: ["proc_io"],
  umount: ["proc_io"],
  read: ["proc_io", "proc_fs"],
  write: ["proc_io", "proc_fs"],
  fsync: ["proc_io", "proc_fs"],
  pread64: ["proc_fs"],
  pwrite64: ["proc_fs"],
  readv: ["proc_fs"],
  writev: ["proc_fs"],
  fdatasync: ["proc_fs"],
  openat: ["proc_fs"],
  sendmsg: ["proc_net"],
  recvmsg: ["proc_net"],
  sched_yield: ["proc_syscall"],
  futex: ["proc_syscall"],
  epoll_wait: ["proc_syscall"],
  epoll_pwait: ["proc_syscall"],
  fork: ["proc_syscall"],
  vfork: ["proc_syscall"],
  clone: ["proc_syscall"],
  ioctl: ["proc_ioctl"],
};

/** Raw-tracepoint programs: program → [tracepoint, category, subitem]. */
const RAW: Readonly<Record<string, readonly [string, string, string]>> = {
  on_sys_exit: ["sys_exit", "raw_syscalls", "proc_syscall"],
  on_switch: ["sched_switch", "sched", "proc_offcpu"],
  on_reclaim_begin: ["mm_vmscan_direct_reclaim_begin", "vmscan", "proc_pagecache"],
  on_reclaim_end: ["mm_vmscan_direct_reclaim_end", "vmscan", "proc_pagecache"],
  count_mm_filemap_get_pages: ["mm_filemap_get_pages", "filemap", "proc_pagecache"],
  count_mm_filemap_add_to_page_cache: ["mm_filemap_add_to_page_cache", "filemap", "proc_pagecache"],
  count_writeback_dirty_folio: ["writeback_dirty_folio", "writeback", "proc_pagecache"],
  count_block_dirty_buffer: ["block_dirty_buffer", "block", "proc_pagecache"],
  on_bio_queue: ["block_bio_queue", "block", "proc_io"], // on_bio_queue_q instead before Linux 5.11
  on_bio_complete: ["block_bio_complete", "block", "proc_io"],
  on_rq_complete: ["block_rq_complete", "block", "proc_io"],
  on_hang: ["sched_process_hang", "sched", "proc_io"],
};
const DNS_PROGRAMS = ["dns_enter", "dns_exit_gai", "dns_exit_ghbn"];
const PYGC_PROGRAMS = ["pygc_enter", "pygc_exit"];
/** Subitems built on the per-process values. */
export const VALUE_SUBITEMS = ["proc_syscall", "proc_fs", "proc_io", "proc_pagecache", "proc_net", "proc_offcpu", "proc_ioctl", "proc_pygc"];
/** enum proc_drop → drop reason. */
const DROP_REASONS = ["procs_map_full", "inflight_map_full", "dns_ringbuf_full", "period_max_map_full"] as const;

/** Whether this kernel can run the probe at all; the reason when not. */
export function procUnsupported(f: KernelFeatures): string | undefined {
  const gone = f.bpfUnavailable();
  if (gone) return gone;
  if (!f.attach.raw_tracepoint.ok) return `raw tracepoints cannot be attached: ${f.attach.raw_tracepoint.reason}`;
  if (!f.mapTypes.ringbuf) return "BPF ring buffers are not supported (kernel < 5.8)";
  if (!f.mapTypes.lru_hash) return "LRU hash maps are not supported";
  return undefined;
}

export interface ProcKernelOptions {
  bpf: ProbeBpf;
  features: KernelFeatures;
  subitems: ReadonlySet<string>;
  maxProcs: number;
  maxThreads: number;
  maxBios: number;
}

export class ProcKernel {
  readonly obj: BpfObject;
  readonly attached: string[] = [];
  readonly missing: string[] = [];
  private readonly procs: BpfMap;
  private readonly ioctlMax: BpfMap;
  private readonly dropsMap: BpfMap;
  private readonly periodMax: BpfMap;
  private readonly dropTotals = DROP_REASONS.map(() => 0);
  /** cfg.epoch in the mmapped .bss (selects the period_max parity). */
  private readonly epochAt: { view: DataView; offset: number };
  private epoch = 0;

  constructor(o: ProcKernelOptions) {
    const f = o.features;
    const on = (s: string) => o.subitems.has(s);
    const obj = o.bpf.open("proc", {
      maps: {
        procs: { maxEntries: o.maxProcs },
        ioctl_max: { maxEntries: o.maxProcs },
        inflight: { maxEntries: o.maxThreads },
        offstart: { maxEntries: o.maxThreads },
        reclaim_start: { maxEntries: o.maxThreads },
        pygc_start: { maxEntries: o.maxThreads },
        period_max: { maxEntries: 2 * o.maxProcs },
        bios: { maxEntries: o.maxBios },
        // scope.h's process-event ring: only listed processes' exec/fork/exit go through it,
        // a few dozen bytes each; 32 KiB instead of 128 saves 192 KiB of RSS (it is mapped twice).
        gopher_scope_events: { maxEntries: 32 * 1024 },
      },
    });
    this.obj = obj;
    const attach: [string, string | undefined][] = [];
    for (const [name, users] of Object.entries(SYSCALLS)) {
      const want = users.some(on);
      const has = f.hasTracepoint("syscalls", `sys_enter_${name}`) && f.hasTracepoint("syscalls", `sys_exit_${name}`);
      if (want && !has) this.missing.push(`syscalls/sys_{enter,exit}_${name}`);
      for (const p of [`enter_${name}`, `exit_${name}`]) {
        obj.program(p).setAutoload(want && has);
        if (want && has) attach.push([p, undefined]);
      }
    }
    for (const [prog, [tp, cat, sub]] of Object.entries(RAW)) {
      const want = on(sub);
      const has = hasRawTracepoint(f, tp, [cat]);
      if (want && !has) this.missing.push(`${cat}/${tp}`);
      obj.program(prog).setAutoload(want && has);
      if (want && has) attach.push([prog, tp]);
    }
    const values = VALUE_SUBITEMS.some(on);
    obj.program("on_proc_exit").setAutoload(values);
    if (values) attach.push(["on_proc_exit", "sched_process_exit"]);
    for (const p of DNS_PROGRAMS) obj.program(p).setAutoload(on("proc_dns"));
    for (const p of PYGC_PROGRAMS) obj.program(p).setAutoload(on("proc_pygc"));
    // block_bio_queue lost its request_queue argument in Linux 5.11.
    const withQueue = f.rawTracepointArgs("block_bio_queue") === 2;
    obj.program("on_bio_queue_q").setAutoload(false);
    if (withQueue && obj.program("on_bio_queue").autoload) {
      obj.program("on_bio_queue").setAutoload(false);
      obj.program("on_bio_queue_q").setAutoload(true);
      const i = attach.findIndex(([p]) => p === "on_bio_queue");
      attach[i] = ["on_bio_queue_q", "block_bio_queue"];
    }
    o.bpf.load(obj);
    for (const [prog, tp] of attach) {
      o.bpf.attach(obj, prog, tp);
      this.attached.push(tp ?? prog.replace(/^(enter|exit)_/, "sys_$1_"));
    }
    using btf = KernelBtf.ofObject(obj.handle);
    const cfg = btf?.structLayout("proc_cfg");
    const vals = btf?.structLayout("proc_vals");
    if (!cfg || !vals) throw new Error("proc.bpf.o carries no BTF for struct proc_cfg/proc_vals");
    if (vals.size !== VALS_BYTES) throw new Error(`struct proc_vals is ${vals.size} bytes, user space expects ${VALS_BYTES}`);
    const pm = btf?.structLayout("period_max");
    if (pm?.size !== 16 || pm.members.get("pygc_ns")?.offset !== 8) throw new Error("struct period_max is not { u64 bio_ns; u64 pygc_ns; } as user space expects");
    const view = obj.map("proc.bss").data();
    view.setUint32(cfg.members.get("io_on")!.offset, on("proc_io") ? 1 : 0, true);
    view.setUint32(cfg.members.get("fs_on")!.offset, on("proc_fs") ? 1 : 0, true);
    this.epochAt = { view, offset: cfg.members.get("epoch")!.offset };
    this.periodMax = obj.map("period_max");
    this.procs = obj.map("procs");
    this.ioctlMax = obj.map("ioctl_max");
    this.dropsMap = obj.map("drops");
  }

  /** Every process with values: tgid → cumulative slots (S.EXITED set once it ended). */
  readProcs(visit: (tgid: number, vals: Float64Array) => void): void {
    const ks = this.procs.keySize;
    const vs = this.procs.valueBufferSize;
    this.procs.lookupBatch(({ keys, values, count }) => {
      const kv = new DataView(keys.buffer, keys.byteOffset);
      const vv = new DataView(values.buffer, values.byteOffset);
      for (let i = 0; i < count; i++) visit(kv.getUint32(i * ks, true), decodeVals(vv, i * vs));
    }, 256);
  }

  deleteProc(tgid: number): void {
    this.procs.delete(new Uint32Array([tgid]));
    this.ioctlMax.delete(new Uint32Array([tgid]));
    for (const parity of [0, 1]) this.periodMax.delete(new Uint32Array([tgid, parity]));
  }

  /** The slowest ioctl of `tgid` since the last call (taken: the kernel starts a new period). */
  takeIoctlMax(tgid: number): IoctlMax | undefined {
    const key = new Uint32Array([tgid]);
    const v = new DataView(new ArrayBuffer(this.ioctlMax.valueSize));
    if (!this.ioctlMax.lookup(key, v)) return undefined;
    this.ioctlMax.delete(key);
    return { ns: Number(v.getBigUint64(0, true)), fd: v.getUint32(8, true), cmd: v.getUint32(12, true) };
  }

  /**
   * Ends the period for the per-period maxima: the kernel moves on to the other parity, and
   * the maxima of the period that ended are taken (read and deleted): tgid → maxima.
   */
  takePeriodMaxima(): Map<number, PeriodMax> {
    const ended = this.epoch & 1;
    this.epoch = (this.epoch + 1) >>> 0;
    this.epochAt.view.setUint32(this.epochAt.offset, this.epoch, true);
    const out = new Map<number, PeriodMax>();
    const ks = this.periodMax.keySize;
    const vs = this.periodMax.valueBufferSize;
    const mine: Uint8Array[] = [];
    this.periodMax.lookupBatch(({ keys, values, count }) => {
      const kv = new DataView(keys.buffer, keys.byteOffset);
      const vv = new DataView(values.buffer, values.byteOffset);
      for (let i = 0; i < count; i++) {
        if (kv.getUint32(i * ks + 4, true) !== ended) continue;
        out.set(kv.getUint32(i * ks, true), { bio: Number(vv.getBigUint64(i * vs, true)), pygc: Number(vv.getBigUint64(i * vs + 8, true)) });
        mine.push(keys.slice(i * ks, (i + 1) * ks));
      }
    }, 256);
    for (const k of mine) this.periodMax.delete(k);
    return out;
  }

  /** What the kernel refused since the last call, per drop reason. */
  dropDeltas(): Record<string, number> {
    const out: Record<string, number> = {};
    DROP_REASONS.forEach((reason, i) => {
      const total = Number(sumPerCpuU64(this.dropsMap, new Uint32Array([i]))[0]);
      if (total > this.dropTotals[i]!) out[reason] = total - this.dropTotals[i]!;
      this.dropTotals[i] = total;
    });
    return out;
  }
}

export const EXITED_SLOT = S.EXITED;
