// perf_event_open(2) through libc's syscall(), for perf_event BPF programs (one fd per CPU).
import { ptr } from "bun:ffi";
import { BpfError } from "./errors.ts";
import { errno, libc, num, strerror } from "./ffi.ts";
import { PERF_ATTR_FLAG_FREQ, PerfEventAttr } from "./structs.ts";

const NR_PERF_EVENT_OPEN_X86_64 = 298;
const NR_PERF_EVENT_OPEN_ARM64 = 241;

export const PerfType = { HARDWARE: 0, SOFTWARE: 1, TRACEPOINT: 2 } as const;
export const PerfSwConfig = { CPU_CLOCK: 0, TASK_CLOCK: 1 } as const;

export interface PerfEventOptions {
  type: number;
  config: number;
  /** Samples per second (freq mode) when set, else sample_period. */
  frequency?: number;
  period?: number;
  /** -1: every process. */
  pid?: number;
  cpu: number;
}

/** Opens one perf event; returns its fd (hand it to attachPerfEvent, which then owns it). */
export function perfEventOpen(o: PerfEventOptions): number {
  const attr = PerfEventAttr.make({
    type: o.type,
    size: PerfEventAttr.size,
    config: o.config,
    sample_period: o.frequency ?? o.period ?? 0, // the union with sample_freq
    flags: o.frequency ? PERF_ATTR_FLAG_FREQ : 0n,
  });
  const nr = process.arch === "arm64" ? NR_PERF_EVENT_OPEN_ARM64 : NR_PERF_EVENT_OPEN_X86_64;
  const fd = num(libc().syscall(nr, ptr(attr.bytes), o.pid ?? -1, o.cpu, -1, 8 /* PERF_FLAG_FD_CLOEXEC */));
  if (fd < 0) {
    const e = errno();
    throw new BpfError(`perf_event_open(type ${o.type}, config ${o.config}, cpu ${o.cpu})`, e, strerror(e));
  }
  return fd;
}
