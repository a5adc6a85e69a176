// Sampling perf events on every online CPU (one perf_event_open per CPU, pid -1), for
// perf_event BPF programs such as CPU profilers. Frequency or period sampling. A hardware
// event on a machine without a PMU (VMs like this one) either falls back to the software
// CPU clock, when asked, or fails with PerfEventUnavailable naming the reason.
import { readFileSync } from "node:fs";
import { BpfError } from "./errors.ts";
import { libc } from "./ffi.ts";
import type { BpfLink, BpfProgram } from "./object.ts";
import { perfEventOpen, PerfSwConfig, PerfType } from "./perf.ts";

/** The requested perf event cannot be opened on this machine. */
export class PerfEventUnavailable extends Error {
  readonly code = "ENOPERF";
  constructor(
    message: string,
    readonly errno: number,
  ) {
    super(message);
    this.name = "PerfEventUnavailable";
  }
}

/** Parses a kernel CPU list ("0-3,5,7-8"); throws on anything else. */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  const t = text.trim();
  if (t === "") return out;
  for (const part of t.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`invalid CPU list ${JSON.stringify(text)}: bad element ${JSON.stringify(part)}`);
    const lo = Number(m[1]);
    const hi = m[2] === undefined ? lo : Number(m[2]);
    if (hi < lo) throw new Error(`invalid CPU list ${JSON.stringify(text)}: range ${part} runs backwards`);
    for (let c = lo; c <= hi; c++) out.push(c);
  }
  return out;
}

/** The online CPUs (/sys/devices/system/cpu/online). */
export function onlineCpus(path = "/sys/devices/system/cpu/online"): number[] {
  return parseCpuList(readFileSync(path, "utf8"));
}

export interface PerfSamplingOptions {
  /** PerfType.* (perf_event_attr.type). */
  type: number;
  /** perf_event_attr.config (e.g. PerfSwConfig.CPU_CLOCK, or 0 = cpu-cycles for HARDWARE). */
  config: number;
  /** Samples per second per CPU (freq mode); exactly one of frequency and period. */
  frequency?: number;
  /** Events between samples (ns for the software clocks). */
  period?: number;
  /** A HARDWARE event that cannot be opened becomes the software CPU clock (same frequency/period). */
  fallbackToCpuClock?: boolean;
  /** CPUs to open on (default: every online CPU). */
  cpus?: number[];
}

const NO_PMU_ERRNOS = new Set([2 /* ENOENT */, 19 /* ENODEV */, 95 /* EOPNOTSUPP */]);

/** One perf event per CPU; attach a perf_event program, dispose to detach and close. */
export class PerfEventSet implements Disposable {
  private fds: (number | null)[];
  private readonly links: BpfLink[] = [];

  constructor(
    fds: number[],
    /** CPU of each event, same order. */
    readonly cpus: number[],
    readonly type: number,
    readonly config: number,
    /** True when a hardware event was replaced by the software CPU clock. */
    readonly fellBack: boolean,
  ) {
    this.fds = fds;
  }

  /** Attaches `prog` (SEC("perf_event"), loaded) to every event; the links own the fds. */
  attach(prog: BpfProgram): void {
    for (let i = 0; i < this.fds.length; i++) {
      const fd = this.fds[i];
      if (fd === null || fd === undefined) throw new BpfError(`attach ${prog.name} on CPU ${this.cpus[i]}`, 16, "perf event already attached");
      this.fds[i] = null; // attachPerfEvent owns (or closes) it from here on
      this.links.push(prog.attachPerfEvent(fd));
    }
  }

  [Symbol.dispose](): void {
    for (const l of this.links.splice(0)) l.destroy();
    for (const fd of this.fds) if (fd !== null) libc().close(fd);
    this.fds = this.fds.map(() => null);
  }
}

function maxSampleRate(): number | undefined {
  try {
    return Number(readFileSync("/proc/sys/kernel/perf_event_max_sample_rate", "utf8").trim());
  } catch {
    return undefined;
  }
}

function openOn(cpus: number[], type: number, config: number, o: PerfSamplingOptions): number[] {
  const fds: number[] = [];
  try {
    for (const cpu of cpus) fds.push(perfEventOpen({ type, config, frequency: o.frequency, period: o.period, cpu }));
    return fds;
  } catch (e) {
    for (const fd of fds) libc().close(fd);
    throw e;
  }
}

/**
 * Opens a sampling perf event on every online CPU (or `o.cpus`).
 * @throws RangeError for invalid sampling options; PerfEventUnavailable when the event does
 *   not exist here (no PMU) and no fallback was asked for; BpfError for other failures.
 */
export function openPerfOnAllCpus(o: PerfSamplingOptions): PerfEventSet {
  if ((o.frequency === undefined) === (o.period === undefined)) throw new RangeError("perf sampling: give exactly one of frequency and period");
  const rate = o.frequency ?? o.period!;
  if (!Number.isInteger(rate) || rate <= 0) throw new RangeError(`perf sampling: ${o.frequency !== undefined ? "frequency" : "period"} must be a positive integer, got ${rate}`);
  const max = maxSampleRate();
  if (o.frequency !== undefined && max !== undefined && o.frequency > max) {
    throw new RangeError(`perf sampling: frequency ${o.frequency} Hz exceeds kernel.perf_event_max_sample_rate (${max})`);
  }
  const cpus = o.cpus ?? onlineCpus();
  if (cpus.length === 0) throw new RangeError("perf sampling: no CPUs to open on");
  try {
    return new PerfEventSet(openOn(cpus, o.type, o.config, o), cpus, o.type, o.config, false);
  } catch (e) {
    const errno = (e as BpfError).errno ?? 0;
    if (o.type !== PerfType.HARDWARE || !NO_PMU_ERRNOS.has(errno)) throw e;
    if (!o.fallbackToCpuClock) {
      throw new PerfEventUnavailable(`hardware perf event (config ${o.config}) unavailable: ${(e as Error).message} — no PMU on this machine? (ask for the software CPU clock)`, errno);
    }
    return new PerfEventSet(openOn(cpus, PerfType.SOFTWARE, PerfSwConfig.CPU_CLOCK, o), cpus, PerfType.SOFTWARE, PerfSwConfig.CPU_CLOCK, true);
  }
}
