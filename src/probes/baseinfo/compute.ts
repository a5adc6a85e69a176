// Pure functions turning parsed baseinfo samples into table rows (subitems cpu, mem).
//
// Delta rule: a delta-based field is only reported when both samples have the value and
// the counter did not go backwards. With no previous sample (first report after start or
// after reconfiguration), a CPU that was not there before, or a counter that wrapped or
// was reset, the field is undefined, i.e. not exported: never a bogus or negative delta.

import type { Row } from "../../store/table.ts";
import {
  CPU_STAT_COLUMNS,
  type CpuJiffies,
  type CpuMhz,
  type DentryState,
  type Meminfo,
  type ProcStat,
  type SoftirqCounts,
  type Softirqs,
  type SoftnetStat,
} from "./parse.ts";

/** Key value of the system_cpu_util row (the whole machine). */
export const CPU_UTIL_KEY = "cpu";
/** Key value of the system_meminfo row. */
export const MEMINFO_KEY = "/proc/meminfo";
/** Key value of the system_dentry row. */
export const DENTRY_KEY = "fs.dentry-state";
/** Decimals of the percent fields (upstream prints %.2f). */
export const PERCENT_DECIMALS = 2;
/**
 * Decimals of system_cpu.mhz. Upstream prints `%.3f`, which is also how /proc/cpuinfo
 * reports it ("2300.000"), so the value is kept as reported.
 */
export const MHZ_DECIMALS = 3;

/** One sample of the cpu subitem's sources, parsed. Optional sources were unreadable. */
export interface CpuSample {
  readonly stat: ProcStat;
  readonly softirqs?: Softirqs;
  readonly softnet?: SoftnetStat;
  readonly mhz?: CpuMhz;
}

export interface CpuRowsResult {
  /** system_cpu rows, one per CPU of the current /proc/stat, by ascending CPU id. */
  readonly cpu: Row[];
  /** The system_cpu_util row (key `cpu`); total_used_per undefined without a delta. */
  readonly cpuUtil: Row;
  /** total_used_per as a number, for the `Too high cpu utilization` event check. */
  readonly totalUsedPer: number | undefined;
}

export interface MemRowsResult {
  /** system_meminfo row; undefined when /proc/meminfo gave no values at all. */
  readonly meminfo: Row | undefined;
  /** system_dentry row; undefined when dentry-state was unusable. */
  readonly dentry: Row | undefined;
  /** util and swap_util as numbers, for the mem events. */
  readonly util: number | undefined;
  readonly swapUtil: number | undefined;
}

/** cur − prev for a monotonic counter; undefined if either is missing or it went backwards. */
export function counterDelta(prev: number | undefined, cur: number | undefined): number | undefined {
  if (prev === undefined || cur === undefined) return undefined;
  if (!Number.isFinite(prev) || !Number.isFinite(cur) || cur < prev) return undefined;
  return cur - prev;
}

function fixed(v: number | undefined, decimals: number): string | undefined {
  return v === undefined || !Number.isFinite(v) ? undefined : v.toFixed(decimals);
}

/**
 * Busy percentage between two samples of one /proc/stat line:
 * 100 × (1 − Δ(idle + iowait) / Δ(user + nice + system + idle + iowait + irq + softirq + steal)).
 * Undefined when any column went backwards or no time passed.
 */
export function busyPercent(prev: CpuJiffies | undefined, cur: CpuJiffies | undefined): number | undefined {
  if (prev === undefined || cur === undefined) return undefined;
  let total = 0;
  for (const k of CPU_STAT_COLUMNS) {
    const d = counterDelta(prev[k], cur[k]);
    if (d === undefined) return undefined;
    total += d;
  }
  if (total <= 0) return undefined;
  const idle = cur.idle - prev.idle + (cur.iowait - prev.iowait);
  return (100 * (total - idle)) / total;
}

const MSEC_FIELDS: readonly [string, keyof CpuJiffies][] = CPU_STAT_COLUMNS.map((k) => [`${k}_msec`, k]);
const SOFTIRQ_FIELDS: readonly (keyof SoftirqCounts)[] = ["rcu", "timer", "sched", "net_rx"];

/**
 * system_cpu rows and the system_cpu_util row from two consecutive samples.
 *
 * - rcu, timer, sched, net_rx: /proc/softirqs deltas.
 * - <state>_msec: /proc/stat jiffies delta × 1000 / clockTicks (USER_HZ), rounded.
 * - backlog_drops, rps_count: /proc/net/softnet_stat dropped and received_rps deltas.
 * - util_per, total_used_per: busyPercent of the CPU's / the aggregate line, "%.2f".
 * - mhz: current /proc/cpuinfo value as reported (absolute, given even without `prev`).
 */
export function cpuRows(prev: CpuSample | undefined, cur: CpuSample, clockTicks = 100): CpuRowsResult {
  const hz = Number.isFinite(clockTicks) && clockTicks > 0 ? clockTicks : 100;
  const ids = [...cur.stat.cpus.keys()].sort((a, b) => a - b);
  const rows: Row[] = [];
  for (const id of ids) {
    const c = cur.stat.cpus.get(id);
    const p = prev?.stat.cpus.get(id);
    const row: Record<string, string | number | undefined> = { cpu: String(id) };

    const cs = cur.softirqs?.cpus.get(id);
    const ps = prev?.softirqs?.cpus.get(id);
    for (const f of SOFTIRQ_FIELDS) row[f] = counterDelta(ps?.[f], cs?.[f]);

    for (const [name, k] of MSEC_FIELDS) {
      const d = counterDelta(p?.[k], c?.[k]);
      row[name] = d === undefined ? undefined : Math.round((d * 1000) / hz);
    }

    const cn = cur.softnet?.cpus.get(id);
    const pn = prev?.softnet?.cpus.get(id);
    row.backlog_drops = counterDelta(pn?.dropped, cn?.dropped);
    row.rps_count = counterDelta(pn?.receivedRps, cn?.receivedRps);

    row.util_per = fixed(busyPercent(p, c), PERCENT_DECIMALS);
    row.mhz = fixed(cur.mhz?.mhz.get(id), MHZ_DECIMALS);
    rows.push(row);
  }

  const totalUsedPer = busyPercent(prev?.stat.total, cur.stat.total);
  return {
    cpu: rows,
    cpuUtil: { cpu: CPU_UTIL_KEY, total_used_per: fixed(totalUsedPer, PERCENT_DECIMALS) },
    totalUsedPer,
  };
}

/** system_meminfo field ← /proc/meminfo key, for the fields copied verbatim (kB). */
const MEMINFO_COPY: readonly [string, string][] = [
  ["total_kB", "MemTotal"],
  ["free_kB", "MemFree"],
  ["available_kB", "MemAvailable"],
  ["buffers_kB", "Buffers"],
  ["cache_kB", "Cached"],
  ["active_kB", "Active"],
  ["inactive_kB", "Inactive"],
  ["swap_total_kB", "SwapTotal"],
  ["swap_free_kB", "SwapFree"],
  ["slab_kB", "Slab"],
  ["SReclaimable_kB", "SReclaimable"],
  ["Unreclaim_kB", "SUnreclaim"],
  ["page_kB", "PageTables"],
  ["stack_kB", "KernelStack"],
  ["active_anon_kB", "Active(anon)"],
  ["inactive_anon_kB", "Inactive(anon)"],
  ["active_file_kB", "Active(file)"],
  ["inactive_file_kB", "Inactive(file)"],
  ["mlocked", "Mlocked"],
  ["shmem_kB", "Shmem"],
];

/**
 * Memory usage percent, as upstream defines it (and as `free` did before procps 3.3.10):
 * 100 × (MemTotal − MemFree − Buffers − Cached) / MemTotal, floored at 0. Page cache and
 * buffers count as free, so the value tracks memory that cannot be dropped cheaply;
 * it is what the `util` event threshold is compared with.
 */
export function memUtilPercent(v: ReadonlyMap<string, number>): number | undefined {
  const total = v.get("MemTotal");
  const free = v.get("MemFree");
  const buffers = v.get("Buffers");
  const cached = v.get("Cached");
  if (total === undefined || free === undefined || buffers === undefined || cached === undefined) return undefined;
  if (total <= 0) return undefined;
  return Math.max(0, (100 * (total - free - buffers - cached)) / total);
}

/** 100 × (SwapTotal − SwapFree) / SwapTotal; 0 when there is no swap. */
export function swapUtilPercent(v: ReadonlyMap<string, number>): number | undefined {
  const total = v.get("SwapTotal");
  const free = v.get("SwapFree");
  if (total === undefined) return undefined;
  if (total === 0) return 0;
  if (free === undefined) return undefined;
  return Math.min(100, Math.max(0, (100 * (total - free)) / total));
}

/**
 * Huge-page memory, KiB: `Hugetlb` (kernel >= 5.0; counts every huge page size) when
 * present, else HugePages_Total × Hugepagesize (default size only, what upstream uses).
 */
export function hugePagesKb(v: ReadonlyMap<string, number>): number | undefined {
  const hugetlb = v.get("Hugetlb");
  if (hugetlb !== undefined) return hugetlb;
  const n = v.get("HugePages_Total");
  const size = v.get("Hugepagesize");
  return n === undefined || size === undefined ? undefined : n * size;
}

/** system_meminfo and system_dentry rows (absolute values, no previous sample needed). */
export function memRows(
  meminfo: Meminfo | undefined,
  dentry: DentryState | undefined,
  vmallocUsedKb: number | undefined,
): MemRowsResult {
  let memRow: Row | undefined;
  let util: number | undefined;
  let swapUtil: number | undefined;
  if (meminfo !== undefined && meminfo.values.size > 0) {
    const v = meminfo.values;
    util = memUtilPercent(v);
    swapUtil = swapUtilPercent(v);
    const copy = (key: string): number | undefined => v.get(key);
    const row: Record<string, string | number | undefined> = { infos: MEMINFO_KEY };
    for (const [field, key] of MEMINFO_COPY) row[field] = copy(key);
    row.util = fixed(util, PERCENT_DECIMALS);
    row.swap_util = fixed(swapUtil, PERCENT_DECIMALS);
    row.vmalloc_kB = vmallocUsedKb;
    row.big_page_kB = hugePagesKb(v);
    memRow = row;
  }
  const dentryRow: Row | undefined =
    dentry === undefined
      ? undefined
      : {
          infos: DENTRY_KEY,
          dentry: dentry.nr_dentry,
          unused_dentry: dentry.nr_unused,
          age_limit: dentry.age_limit,
        };
  return { meminfo: memRow, dentry: dentryRow, util, swapUtil };
}
