// The kernel side of the flamegraph probe (bpf/flamegraph/flamegraph.bpf.c): the object,
// the perf events on every CPU (oncpu), the sched_switch hook (offcpu), the page fault and
// brk/mmap hooks (mem), and the read of a
// period: flip the active map set, then read and clear the other one. Stack ids are
// resolved to instruction pointers here; symbols are ./symbolize.ts's job.
import type { KernelFeatures } from "../../host/features.ts";
import type { BpfObject } from "../../libbpf/object.ts";
import { sumPerCpuU64 } from "../../libbpf/percpu.ts";
import { openPerfOnAllCpus, type PerfEventSet } from "../../libbpf/perf-cpus.ts";
import { PerfSwConfig, PerfType } from "../../libbpf/perf.ts";
import { StackTraceMap } from "../../libbpf/stacks.ts";
import type { ProbeBpf } from "../../probe/define.ts";
import { hasRawTracepoint } from "../../probe/probe-bpf.ts";
import { GLIBC_PROGRAMS } from "./glibc.ts";

export type SampleKind = "oncpu" | "offcpu" | "mem" | "mem_glibc";

/** One (process, user stack, kernel stack) count of a period, innermost frame first. */
export interface RawSample {
  readonly kind: SampleKind;
  readonly tgid: number;
  readonly user: readonly bigint[];
  readonly kernel: readonly bigint[];
  /** oncpu: samples; offcpu: nanoseconds off the CPU; mem: bytes. */
  readonly value: number;
  /** A frame after the stacks naming where mem bytes came from ("[mmap]", "[brk]"; page faults: none). */
  readonly leaf?: string;
  /** brk/mmap: the word at the user stack pointer, maybe the return address into the caller a frame-pointer walk skips (Symbolizer.userFramesWithHint). */
  readonly hint?: bigint;
}

/** drops map slots (enum flame_drop) and the reasons they are reported under. */
const DROP_REASONS = ["counts_full", "stack_lost", "offcpu_start_full", "offcpu_period_boundary", "mem_call_full", "alloc_full", "alloc_live_full", "alloc_call_full", "alloc_stack_lost"] as const;
/** The key's kind word (FLAME_ONCPU … FLAME_MEM_BRK) as the type it is written under. */
const KINDS: readonly { kind: SampleKind; leaf?: string }[] = [{ kind: "oncpu" }, { kind: "offcpu" }, { kind: "mem" }, { kind: "mem", leaf: "[mmap]" }, { kind: "mem", leaf: "[brk]" }];
const KEY_SIZE = 24;

export interface FlameKernelOptions {
  readonly bpf: ProbeBpf;
  readonly oncpu: boolean;
  readonly offcpu: boolean;
  /** mem from user page faults (x86's exceptions:page_fault_user). */
  readonly memFaults: boolean;
  /** mem from brk and anonymous mmap calls (syscalls:sys_{enter,exit}_{brk,mmap}). */
  readonly memCalls: boolean;
  /** mem_glibc: the malloc/free uprobe programs are loaded (./glibc.ts attaches them). */
  readonly glibc: boolean;
  /** mem_glibc: allocations tracked at once, and distinct allocating stacks. */
  readonly maxAllocs: number;
  readonly maxAllocStacks: number;
  /** perf_sample_period in ms: one sample per CPU every this many ms of CPU clock. */
  readonly samplePeriodMs: number;
  readonly maxStacks: number;
  readonly maxSleepers: number;
}

/** Whether this kernel has the user page fault tracepoint (x86: exceptions:page_fault_user). */
export function hasPageFaultTracepoint(f: KernelFeatures): boolean {
  return hasRawTracepoint(f, "page_fault_user", ["exceptions"]);
}

/** Whether this kernel has the brk and mmap syscall tracepoints (CONFIG_FTRACE_SYSCALLS). */
export function hasMemCallTracepoints(f: KernelFeatures): boolean {
  return ["brk", "mmap"].every((c) => f.hasTracepoint("syscalls", `sys_enter_${c}`) && f.hasTracepoint("syscalls", `sys_exit_${c}`));
}

/** The mem programs and their tracepoints (attached by section). */
const MEM_CALL_PROGRAMS = ["flame_mmap_enter", "flame_mmap_exit", "flame_brk_enter", "flame_brk_exit"] as const;

/** Why this kernel cannot sample at all, or undefined. */
export function flameUnsupported(f: KernelFeatures): string | undefined {
  const noBpf = f.bpfUnavailable();
  if (noBpf) return noBpf;
  if (!f.attach.perf_event.ok && !hasRawTracepoint(f, "sched_switch", ["sched"])) {
    return `neither perf_event programs (${f.attach.perf_event.reason}) nor the sched_switch tracepoint are available`;
  }
  return undefined;
}

export class FlameKernel implements Disposable {
  readonly obj: BpfObject;
  /** What is attached, for the start-up log. */
  readonly attached: string[] = [];
  private perf: PerfEventSet | undefined;
  private readonly state: DataView;
  private readonly stacks: [StackTraceMap, StackTraceMap];
  private readonly dropsSeen = new Array<bigint>(DROP_REASONS.length).fill(0n);

  constructor(private readonly o: FlameKernelOptions) {
    const stack = new DisposableStack();
    try {
      this.obj = this.openObject(o.offcpu ? "btf" : "none");
      if (o.oncpu) {
        const perf = openPerfOnAllCpus({ type: PerfType.SOFTWARE, config: PerfSwConfig.CPU_CLOCK, period: o.samplePeriodMs * 1_000_000 });
        stack.use(perf);
        perf.attach(this.obj.program("flame_oncpu"));
        this.perf = perf;
        this.attached.push(`perf_event cpu-clock every ${o.samplePeriodMs} ms on CPUs ${perf.cpus.join(",")}`);
      }
      this.state = this.obj.map(".data.flame").data();
      this.state.setUint32(4, process.pid, true); // flame_state.agent
      this.stacks = [new StackTraceMap(this.obj.map("stacks_a")), new StackTraceMap(this.obj.map("stacks_b"))];
      stack.move();
    } catch (e) {
      stack.dispose();
      throw e;
    }
  }

  /** Opens and loads the object with the sched_switch hook of `offcpu` ("btf": tp_btf, falling back to the raw tracepoint). */
  private openObject(offcpu: "btf" | "raw" | "none"): BpfObject {
    const { bpf } = this.o;
    const obj = bpf.open("flamegraph", {
      maps: {
        stacks_a: { maxEntries: this.o.maxStacks },
        stacks_b: { maxEntries: this.o.maxStacks },
        counts_a: { maxEntries: this.o.maxStacks },
        counts_b: { maxEntries: this.o.maxStacks },
        offcpu_start: { maxEntries: this.o.maxSleepers },
        // The maps of a type not sampled are made as small as the kernel allows (they are preallocated).
        mem_calls: { maxEntries: this.o.memCalls ? this.o.maxSleepers : 1 },
        alloc_stacks: { maxEntries: this.o.glibc ? this.o.maxAllocStacks : 1 },
        alloc_live: { maxEntries: this.o.glibc ? this.o.maxAllocStacks : 1 },
        allocs: { maxEntries: this.o.glibc ? this.o.maxAllocs : 1 },
        alloc_calls: { maxEntries: this.o.glibc ? this.o.maxSleepers : 1 },
      },
    });
    obj.program("flame_oncpu").setAutoload(this.o.oncpu);
    obj.program("flame_offcpu_btf").setAutoload(offcpu === "btf");
    obj.program("flame_offcpu_raw").setAutoload(offcpu === "raw");
    obj.program("flame_mem").setAutoload(this.o.memFaults);
    for (const p of MEM_CALL_PROGRAMS) obj.program(p).setAutoload(this.o.memCalls);
    for (const p of GLIBC_PROGRAMS) obj.program(p).setAutoload(this.o.glibc);
    try {
      bpf.load(obj);
    } catch (e) {
      bpf.close(obj);
      if (offcpu === "btf") return this.openObject("raw");
      throw e;
    }
    if (offcpu === "btf") bpf.attach(obj, "flame_offcpu_btf");
    if (offcpu === "raw") bpf.attach(obj, "flame_offcpu_raw", "sched_switch");
    if (offcpu !== "none") this.attached.push(offcpu === "btf" ? "tp_btf/sched_switch" : "raw_tp/sched_switch");
    if (this.o.memFaults) {
      bpf.attach(obj, "flame_mem", "page_fault_user");
      this.attached.push("raw_tp/page_fault_user");
    }
    if (this.o.memCalls) {
      for (const p of MEM_CALL_PROGRAMS) bpf.attach(obj, p);
      this.attached.push("syscalls:sys_{enter,exit}_{brk,mmap}");
    }
    return obj;
  }

  /**
   * Ends the period: the programs move to the other map set, then this one is read
   * (counts and stacks) and cleared. `visit` sees every count with its stacks.
   */
  async readPeriod(visit: (s: RawSample) => void): Promise<number> {
    const was = this.state.getUint32(0, true) & 1;
    this.state.setUint32(0, was ^ 1, true);
    await Bun.sleep(1); // programs that fetched the old set finish (they run for microseconds)
    const counts = this.obj.map(was ? "counts_b" : "counts_a");
    const stacks = this.stacks[was]!;
    const memo = new Map<number, bigint[]>();
    const frames = (id: number): bigint[] => {
      if (id < 0) return [];
      let f = memo.get(id);
      if (!f) memo.set(id, (f = stacks.read(id) ?? []));
      return f;
    };
    let n = 0;
    counts.lookupAndDeleteBatch(({ keys, values, count }) => {
      const k = new DataView(keys.buffer, keys.byteOffset, keys.byteLength);
      const v = new DataView(values.buffer, values.byteOffset, values.byteLength);
      for (let i = 0; i < count; i++) {
        const o = i * KEY_SIZE;
        const kind = KINDS[k.getUint32(o + 12, true)];
        if (!kind) continue;
        n++;
        const value = Number(v.getBigUint64(i * 8, true));
        const hint = kind.leaf ? k.getBigUint64(o + 16, true) : undefined;
        visit({ kind: kind.kind, leaf: kind.leaf, hint, tgid: k.getUint32(o, true), user: frames(k.getInt32(o + 4, true)), kernel: frames(k.getInt32(o + 8, true)), value });
      }
    }, 4096);
    stacks.clear();
    return n;
  }

  /** What the kernel refused since the last call, per drop reason. */
  dropDeltas(): Record<string, number> {
    const out: Record<string, number> = {};
    const map = this.obj.map("drops");
    for (let i = 0; i < DROP_REASONS.length; i++) {
      const total = sumPerCpuU64(map, new Uint32Array([i]))[0]!;
      const d = total - this.dropsSeen[i]!;
      this.dropsSeen[i] = total;
      if (d > 0n) out[DROP_REASONS[i]!] = Number(d);
    }
    return out;
  }

  /** Detaches the perf events (no more oncpu samples); the maps stay readable. */
  stopSampling(): void {
    this.perf?.[Symbol.dispose]();
    this.perf = undefined;
  }

  [Symbol.dispose](): void {
    this.stopSampling();
  }
}
