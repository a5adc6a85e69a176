// Collectors of the baseinfo subitems cpu and mem (parsers in parse.ts, rows in compute.ts).
import type { ProbeContext } from "../../probe/define.ts";
import { type Collector, type CollectorDeps, reportErrors } from "./collector.ts";
import { cpuRows, memRows, type CpuSample } from "./compute.ts";
import { parseCpuList } from "./cpulist.ts";
import { parseCpuinfoMhz, parseDentryState, parseMeminfo, parseProcStat, parseSoftirqs, parseSoftnetStat, parseVmallocUsed } from "./parse.ts";
import { systemCpuTable, systemCpuUtilTable, systemDentryTable, systemMeminfoTable } from "./tables.ts";

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

export function createCpuCollector(ctx: ProbeContext, _deps: CollectorDeps): Collector {
  let prev: CpuSample | undefined;
  return {
    reset() {
      prev = undefined;
    },
    collect() {
      const cur = readCpuSample(ctx);
      if (!cur) return;
      const rows = cpuRows(prev, cur);
      for (const r of rows.cpu) ctx.emit(systemCpuTable, r);
      ctx.emit(systemCpuUtilTable, rows.cpuUtil);
      const thr = ctx.num("res_upper_thr");
      if (thr > 0 && rows.totalUsedPer !== undefined && rows.totalUsedPer > thr) {
        ctx.event({ entity: "cpu", key: "cpu", metric: "total_used_per", message: `Too high cpu utilization(${fmt(rows.totalUsedPer)}%).` });
      }
      prev = cur;
    },
  };
}

export function createMemCollector(ctx: ProbeContext, _deps: CollectorDeps): Collector {
  return {
    reset() {},
    collect() {
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
      const thr = ctx.num("res_upper_thr");
      if (thr > 0 && rows.util !== undefined && rows.util > thr) {
        ctx.event({ entity: "mem", key: "/proc/meminfo", metric: "util", message: `Too high mem utilization(${fmt(rows.util)}%).` });
      }
      if (thr > 0 && rows.swapUtil !== undefined && rows.swapUtil > thr) {
        ctx.event({ entity: "mem", key: "/proc/meminfo", metric: "swap_util", message: `Too high swap utilization(${fmt(rows.swapUtil)}%).` });
      }
    },
  };
}
