// baseinfo subitem `proc`: table system_proc, one row per process in the probe's scope
// (the whole host when no snoopers are configured, DECISIONS.md), from
// /proc/<pid>/{stat,io,fd,smaps_rollup,limits,status}.
//
// Field semantics (upstream system_procs.c where it has the field):
// * deltas over the report period (first report after start, reconfiguration or a new
//   process: not exported): rchar/wchar/syscr/syscw/read/write/cancelled_write bytes,
//   minor/major page faults, utime/stime/cutime/cstime jiffies;
// * cpu_util, cpu_user_util, cpu_system_util: (Δutime+Δstime) resp. Δutime, Δstime in
//   ticks (USER_HZ 100) over the interval, percent of ONE CPU (top's convention: a
//   process busy on two CPUs shows 200), "%.2f"; the interval is the /proc/uptime
//   difference, else the monotonic clock;
// * absolute: fd_count (entries of /proc/<pid>/fd), fd_free_per = (soft "Max open files"
//   − fd_count) / limit × 100 ("%.2f", 100.00 when unlimited), smaps_rollup sizes (KiB),
//   priority, nice, num_threads, vm_size (bytes, stat vsize), pm_size (bytes, VmRSS of
//   status, else rss pages × 4096), pm_util (pm_size / MemTotal × 100, "%.2f"), cpu (the
//   CPU it last ran on).
// Whole-host mode skips kernel threads (no memory, files or I/O of their own); a scope
// that names one (proc_id, proc_name) still gets it. Zombies (exited, not yet reaped)
// are skipped. A process that cannot be read
// (gone, or permission) is skipped; a file that alone is unreadable leaves its fields
// out of the row.
import type { HostFs } from "../../host/fs.ts";
import type { ProbeContext, ScopeView } from "../../probe/define.ts";
import type { Row } from "../../store/table.ts";
import { PF_KTHREAD, parseMaxOpenFiles, parsePidIo, parsePidStat, parsePidStatus, parseSmapsRollup, pidsOf, CLOCK_TICKS, type PidIo, type PidStat, type SmapsRollup } from "../../snooper/procfs.ts";
import { intervalSeconds, type Collector, type CollectorDeps } from "./collector.ts";
import { parseMeminfo } from "./parse.ts";
import { systemProcTable } from "./tables-proc.ts";
import { delta, fixed2, parseUptime } from "./text.ts";

/** One process read once. */
export interface ProcSample {
  readonly stat: PidStat;
  readonly io?: PidIo;
  readonly fdCount?: number;
  readonly smaps?: SmapsRollup;
  readonly maxOpenFiles?: number;
  readonly vmRssKb?: number;
  /** Periods this process has been sampled before (drives the smaps/limits refresh). */
  readonly age?: number;
}

/** The time base of one collection. */
export interface SampleTime {
  readonly uptime?: number;
  readonly mono: number;
}

/** How many periods a cached smaps_rollup / limits reading is reused (cost control). */
export const SMAPS_EVERY = 3;
export const LIMITS_EVERY = 12;

/**
 * Reads one process; undefined when its stat cannot be read (gone, or not a process).
 * With `prev` (the same process's previous sample), the expensive smaps_rollup (a VMA walk
 * in the kernel) is re-read every SMAPS_EVERY periods and limits every LIMITS_EVERY.
 */
export function readProcSample(host: HostFs, pid: number, prev?: ProcSample): ProcSample | undefined {
  const p = String(pid);
  const stat = parsePidStat(host.readProc(p, "stat"));
  if (!stat || stat.pid !== pid) return undefined;
  const same = prev !== undefined && prev.stat.startTicks === stat.startTicks;
  const age = same ? (prev.age ?? 0) + 1 : 0;
  // Kernel threads have no user memory, fds or I/O accounting worth reading: stat only.
  if ((stat.flags & PF_KTHREAD) !== 0) return { stat, age };
  const fdDir = host.proc(p, "fd");
  // Since Linux 6.2 the size of /proc/<pid>/fd is the number of open fds: no listing needed.
  const st = host.stat(fdDir);
  let fdCount: number | undefined;
  if (st && st.size > 0 && host.procIsProcfs()) fdCount = st.size;
  else {
    const fds = host.list(fdDir);
    // An unreadable fd directory lists as [] — only trust 0 when the directory is there.
    fdCount = fds.length > 0 || st !== undefined ? fds.length : undefined;
  }
  const reuseSmaps = same && age % SMAPS_EVERY !== 0 && prev.smaps !== undefined;
  const reuseLimits = same && age % LIMITS_EVERY !== 0 && prev.maxOpenFiles !== undefined;
  return {
    stat,
    age,
    io: parsePidIo(host.readProc(p, "io")),
    fdCount,
    smaps: reuseSmaps ? prev.smaps : parseSmapsRollup(host.readProc(p, "smaps_rollup")),
    maxOpenFiles: reuseLimits ? prev.maxOpenFiles : parseMaxOpenFiles(host.readProc(p, "limits")),
    vmRssKb: parsePidStatus(host.readProc(p, "status"))?.vmRssKb,
  };
}

const IO_FIELDS: readonly [string, keyof PidIo][] = [
  ["rchar_bytes", "rchar"],
  ["wchar_bytes", "wchar"],
  ["syscr_count", "syscr"],
  ["syscw_count", "syscw"],
  ["read_bytes", "readBytes"],
  ["write_bytes", "writeBytes"],
  ["cancelled_write_bytes", "cancelledWriteBytes"],
];

const SMAPS_FIELDS: readonly [string, keyof SmapsRollup][] = [
  ["shared_clean_size", "sharedClean"],
  ["shared_dirty_size", "sharedDirty"],
  ["private_clean_size", "privateClean"],
  ["private_dirty_size", "privateDirty"],
  ["referenced_size", "referenced"],
  ["lazyfree_size", "lazyFree"],
  ["swap_data_size", "swap"],
  ["swap_data_pss_size", "swapPss"],
];

/**
 * The system_proc row of one process. `prev` is the same process one period earlier
 * (same pid and start time) or undefined; `secs` the interval; `memTotalKb` MemTotal.
 */
export function procRow(pid: number, cur: ProcSample, prev: ProcSample | undefined, secs: number | undefined, memTotalKb: number | undefined): Row {
  const s = cur.stat;
  const p = prev && prev.stat.startTicks === s.startTicks ? prev : undefined;
  const row: Record<string, string | number | undefined> = {
    tgid: String(pid),
    pgid: String(s.pgrp),
    ppid: String(s.ppid),
    fd_count: cur.fdCount,
  };
  if (cur.fdCount !== undefined && cur.maxOpenFiles !== undefined) {
    row.fd_free_per = cur.maxOpenFiles === Infinity ? "100.00" : fixed2(((cur.maxOpenFiles - cur.fdCount) / cur.maxOpenFiles) * 100);
  }
  for (const [field, k] of IO_FIELDS) row[field] = p?.io && cur.io ? delta(p.io[k], cur.io[k]) : undefined;
  for (const [field, k] of SMAPS_FIELDS) row[field] = cur.smaps?.[k];
  const d = (k: "minflt" | "majflt" | "utime" | "stime" | "cutime" | "cstime") => (p ? delta(p.stat[k], s[k]) : undefined);
  row.minor_pagefault_count = d("minflt");
  row.major_pagefault_count = d("majflt");
  row.utime_jiffies = d("utime");
  row.stime_jiffies = d("stime");
  row.cutime_jiffies = d("cutime");
  row.cstime_jiffies = d("cstime");
  row.priority = s.priority;
  row.nice = s.nice;
  row.num_threads = s.numThreads;
  row.vm_size = s.vsize;
  const pm = cur.vmRssKb !== undefined ? cur.vmRssKb * 1024 : s.rssPages * 4096;
  row.pm_size = pm;
  row.pm_util = memTotalKb ? fixed2((pm / (memTotalKb * 1024)) * 100) : undefined;
  row.cpu = s.processor;
  const ut = row.utime_jiffies as number | undefined;
  const st = row.stime_jiffies as number | undefined;
  if (secs !== undefined && secs > 0 && ut !== undefined && st !== undefined) {
    const pct = (ticks: number) => fixed2((ticks / CLOCK_TICKS / secs) * 100);
    row.cpu_util = pct(ut + st);
    row.cpu_user_util = pct(ut);
    row.cpu_system_util = pct(st);
  }
  return row;
}

/** The pids to report: the scope's processes, or every process of the host (no kernel threads). */
export function procTargets(host: HostFs, scope: ScopeView): { pids: number[]; wholeHost: boolean } {
  if (!scope.wholeHost) return { pids: [...scope.pids()].sort((a, b) => a - b), wholeHost: false };
  const excluded = scope.excluded();
  return { pids: pidsOf(host.list(host.proc())).filter((p) => !excluded.has(p)), wholeHost: true };
}

export function createProcCollector(ctx: ProbeContext, deps: CollectorDeps): Collector {
  let prev = new Map<number, ProcSample>();
  let prevTime: SampleTime | undefined;
  return {
    reset() {
      prev = new Map();
      prevTime = undefined;
    },
    collect() {
      const up = ctx.host.readProc("uptime");
      const now: SampleTime = { uptime: up === undefined ? undefined : parseUptime(up).seconds, mono: deps.monotonicSeconds() };
      const secs = intervalSeconds(prevTime, now);
      const memText = ctx.host.readProc("meminfo");
      const memTotalKb = memText === undefined ? undefined : parseMeminfo(memText).values.get("MemTotal");
      const { pids, wholeHost } = procTargets(ctx.host, ctx.scope);
      const next = new Map<number, ProcSample>();
      for (const pid of pids) {
        const cur = readProcSample(ctx.host, pid, prev.get(pid));
        if (!cur) continue;
        if (wholeHost && (cur.stat.flags & PF_KTHREAD) !== 0) continue;
        // A zombie has exited; only its parent has not collected it yet.
        if (cur.stat.state === "Z" || cur.stat.state === "X") continue;
        ctx.emit(systemProcTable, procRow(pid, cur, prev.get(pid), secs, memTotalKb));
        next.set(pid, cur);
      }
      prev = next;
      prevTime = now;
    },
  };
}
