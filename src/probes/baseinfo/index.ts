// baseinfo: whole-host basics read straight from /proc (no child processes).
// This version implements the cpu and mem subitems; the others are accepted by the
// REST API and reported as not implemented in the log.
import { defineProbe, type ProbeContext, type ProbeRun } from "../../probe/define.ts";
import { cpuRows, memRows, type CpuSample } from "./compute.ts";
import { parseCpuinfoMhz, parseDentryState, parseMeminfo, parseProcStat, parseSoftirqs, parseSoftnetStat, parseVmallocUsed } from "./parse.ts";
import { baseinfoCpuMemTables, systemCpuTable, systemCpuUtilTable, systemDentryTable, systemMeminfoTable } from "./tables.ts";

const IMPLEMENTED = new Set(["cpu", "mem"]);

/** "0-3,5" → [0,1,2,3,5] (sysfs cpu list format). */
export function parseCpuList(text: string | undefined): number[] | undefined {
  if (!text) return undefined;
  const out: number[] = [];
  for (const part of text.trim().split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) return undefined;
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b - a > 65536) return undefined;
    for (let i = a; i <= b; i++) out.push(i);
  }
  return out;
}

function reportErrors(ctx: ProbeContext, item: string, errors: readonly string[]): void {
  if (errors.length) ctx.parseError(item, errors.slice(0, 3).join("; "));
}

function readCpuSample(ctx: ProbeContext): CpuSample | undefined {
  const statText = ctx.host.readProc("stat");
  if (statText === undefined) {
    ctx.parseError("/proc/stat", "unreadable");
    return undefined;
  }
  const stat = parseProcStat(statText);
  reportErrors(ctx, "/proc/stat", stat.errors);
  const irqText = ctx.host.readProc("softirqs");
  const softirqs = irqText === undefined ? undefined : parseSoftirqs(irqText);
  if (softirqs) reportErrors(ctx, "/proc/softirqs", softirqs.errors);
  const netText = ctx.host.readProc("net", "softnet_stat");
  const online = parseCpuList(ctx.host.readSys("devices", "system", "cpu", "online"));
  const softnet = netText === undefined ? undefined : parseSoftnetStat(netText, online);
  if (softnet) reportErrors(ctx, "/proc/net/softnet_stat", softnet.errors);
  const infoText = ctx.host.readProc("cpuinfo");
  const mhz = infoText === undefined ? undefined : parseCpuinfoMhz(infoText);
  if (mhz) reportErrors(ctx, "/proc/cpuinfo", mhz.errors);
  return { stat, softirqs, softnet, mhz };
}

function fmt(n: number): string {
  return n.toFixed(2);
}

export default defineProbe({
  feature: "baseinfo",
  tables: baseinfoCpuMemTables,
  unsupported(host) {
    return host.exists(host.proc("stat")) ? undefined : `${host.proc("stat")} is not readable (is procfs mounted?)`;
  },
  open(ctx): ProbeRun {
    let prevCpu: CpuSample | undefined;
    const warned = new Set<string>();
    const warnUnimplemented = () => {
      for (const s of ctx.subitems) {
        if (!IMPLEMENTED.has(s) && !warned.has(s)) {
          warned.add(s);
          ctx.log.warn(`subitem ${s} is not implemented in this version; it reports nothing`);
        }
      }
    };
    warnUnimplemented();
    return {
      collect() {
        const thr = ctx.num("res_upper_thr");
        if (ctx.subitems.has("cpu")) {
          const cur = readCpuSample(ctx);
          if (cur) {
            const rows = cpuRows(prevCpu, cur);
            for (const r of rows.cpu) ctx.emit(systemCpuTable, r);
            ctx.emit(systemCpuUtilTable, rows.cpuUtil);
            if (thr > 0 && rows.totalUsedPer !== undefined && rows.totalUsedPer > thr) {
              ctx.event({ entity: "cpu", key: "cpu", metric: "total_used_per", message: `Too high cpu utilization(${fmt(rows.totalUsedPer)}%).` });
            }
            prevCpu = cur;
          }
        }
        if (ctx.subitems.has("mem")) {
          const memText = ctx.host.readProc("meminfo");
          if (memText === undefined) ctx.parseError("/proc/meminfo", "unreadable");
          const meminfo = memText === undefined ? undefined : parseMeminfo(memText);
          if (meminfo) reportErrors(ctx, "/proc/meminfo", meminfo.errors);
          const dentryText = ctx.host.readProc("sys", "fs", "dentry-state");
          const dentry = dentryText === undefined ? undefined : parseDentryState(dentryText);
          if (dentry) reportErrors(ctx, "/proc/sys/fs/dentry-state", dentry.errors);
          const vmalloc = parseVmallocUsed(ctx.host.readProc("vmallocinfo"), meminfo);
          const rows = memRows(meminfo, dentry?.state, vmalloc.kb);
          if (rows.meminfo) ctx.emit(systemMeminfoTable, rows.meminfo);
          if (rows.dentry) ctx.emit(systemDentryTable, rows.dentry);
          if (thr > 0 && rows.util !== undefined && rows.util > thr) {
            ctx.event({ entity: "mem", key: "/proc/meminfo", metric: "util", message: `Too high mem utilization(${fmt(rows.util)}%).` });
          }
          if (thr > 0 && rows.swapUtil !== undefined && rows.swapUtil > thr) {
            ctx.event({ entity: "mem", key: "/proc/meminfo", metric: "swap_util", message: `Too high swap utilization(${fmt(rows.swapUtil)}%).` });
          }
        }
      },
      reconfigure() {
        // A changed subitem set or period restarts the delta baseline: no bogus deltas.
        prevCpu = undefined;
        warnUnimplemented();
      },
      async [Symbol.asyncDispose]() {
        prevCpu = undefined;
      },
    };
  },
});
