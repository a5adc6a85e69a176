// baseinfo subitem disk: table system_iostat, one row per whole disk, `iostat -x`
// semantics over /proc/diskstats deltas with /proc/uptime as the time base:
//   rspeed = Δreads/s, rspeed_kB = Δsectors_read/2/s, r_await = Δread_ms/Δreads,
//   rareq = Δsectors_read/2/Δreads (KiB), same for writes, aqu = Δweighted_ms/1000/s,
//   util = Δio_ms/10/s capped at 100; all "%.2f"; awaits and request sizes are 0.00
//   when no request completed in the period (as iostat prints them).
//
// Which devices: without `dev_name`, whole disks — names that exist under /sys/block
// (partitions do not) — except loop and ram devices (a file or memory, not a disk) and
// devices that never completed an I/O since boot (iostat hides those too). With
// `dev_name`, exactly that /proc/diskstats device, whatever it is (loop, partition…):
// naming one is the operator's explicit choice.
import type { HostFs } from "../../host/fs.ts";
import type { ProbeContext } from "../../probe/define.ts";
import type { Row } from "../../store/table.ts";
import { devNameParam, intervalSeconds, reportErrors, type Collector, type CollectorDeps } from "./collector.ts";
import { systemIostatTable } from "./tables.ts";
import { completeLines, dec, delta, fixed2, parseUptime, short, words } from "./text.ts";

export interface DiskCounters {
  readonly major: number;
  readonly minor: number;
  readonly rdIos: number;
  readonly rdSectors: number;
  readonly rdTicks: number;
  readonly wrIos: number;
  readonly wrSectors: number;
  readonly wrTicks: number;
  readonly ioTicks: number;
  /** Weighted ms spent doing I/O (field 11, `time_in_queue`). */
  readonly rqTicks: number;
}

export interface Diskstats {
  /** Devices in file order. */
  readonly devices: ReadonlyMap<string, DiskCounters>;
  readonly errors: string[];
}

/**
 * /proc/diskstats: `major minor name` then 11 (≤4.17), 15 (4.18+) or 17 (5.5+) numbers.
 * Pre-2.6.25 kernels printed partitions with 4 numbers: those lines are skipped without
 * error. Every other line must have at least 11 numbers and as many as the widest line
 * (the kernel prints one width; a narrower line was cut off).
 */
export function parseDiskstats(text: string): Diskstats {
  const errors: string[] = [];
  const devices = new Map<string, DiskCounters>();
  const parsed: { line: number; name: string; v: number[] }[] = [];
  completeLines(text, errors, "diskstats").forEach((line, i) => {
    const w = words(line);
    if (w.length === 0) return;
    const name = w[2];
    const nums = [w[0], w[1], ...w.slice(3)].map(dec);
    const bad = nums.findIndex((n) => n === undefined);
    if (name === undefined || bad >= 0) {
      errors.push(`diskstats line ${i + 1}: unparsable "${short(line)}"`);
      return;
    }
    const stats = nums.length - 2;
    if (stats === 4) return;
    if (stats < 11) {
      errors.push(`diskstats line ${i + 1}: ${name} has ${stats} of 11 fields`);
      return;
    }
    parsed.push({ line: i + 1, name, v: nums as number[] });
  });
  const width = parsed.reduce((m, p) => Math.max(m, p.v.length), 0);
  for (const p of parsed) {
    if (p.v.length < width) {
      errors.push(`diskstats line ${p.line}: ${p.name} truncated (${p.v.length - 2} of ${width - 2} fields)`);
      continue;
    }
    if (devices.has(p.name)) {
      errors.push(`diskstats line ${p.line}: duplicate ${p.name}`);
      continue;
    }
    const v = (k: number): number => p.v[k] ?? 0;
    devices.set(p.name, {
      major: v(0),
      minor: v(1),
      rdIos: v(2),
      rdSectors: v(4),
      rdTicks: v(5),
      wrIos: v(6),
      wrSectors: v(8),
      wrTicks: v(9),
      ioTicks: v(11),
      rqTicks: v(12),
    });
  }
  return { devices, errors };
}

/** /sys/block spells a `/` of a device name (cciss/c0d0) as `!`. */
export function sysBlockName(name: string): string {
  return name.replaceAll("/", "!");
}

/** A whole disk by the default rule (see the file comment). */
export function isDefaultDisk(host: HostFs, name: string, c: DiskCounters): boolean {
  if (/^(loop|ram)\d+$/.test(name)) return false;
  if (c.rdIos === 0 && c.wrIos === 0) return false;
  return host.exists(host.sys("block", sysBlockName(name)));
}

export interface DiskSample {
  readonly stats: Diskstats;
  readonly uptime?: number;
  readonly mono: number;
}

export interface IostatResult {
  readonly rows: Row[];
  /** util per disk as a number, for the `Disk device saturated` event. */
  readonly util: { disk: string; util: number }[];
}

/** system_iostat rows for `names` (file order). Without a previous sample every field is undefined. */
export function iostatRows(prev: DiskSample | undefined, cur: DiskSample, names: readonly string[]): IostatResult {
  const rows: Row[] = [];
  const util: { disk: string; util: number }[] = [];
  const secs = intervalSeconds(prev, cur);
  for (const name of names) {
    const c = cur.stats.devices.get(name);
    if (!c) continue;
    const p = prev?.stats.devices.get(name);
    // A different major:minor under the same name is another device: no deltas.
    const same = p !== undefined && p.major === c.major && p.minor === c.minor;
    const d = (k: keyof DiskCounters): number | undefined => (same ? delta(p[k], c[k]) : undefined);
    const rdIos = d("rdIos");
    const wrIos = d("wrIos");
    const rdSec = d("rdSectors");
    const wrSec = d("wrSectors");
    const rdTicks = d("rdTicks");
    const wrTicks = d("wrTicks");
    const ioTicks = d("ioTicks");
    const rqTicks = d("rqTicks");
    const per = (v: number | undefined): number | undefined => (v === undefined || secs === undefined ? undefined : v / secs);
    const avg = (num: number | undefined, n: number | undefined, scale = 1): number | undefined =>
      num === undefined || n === undefined ? undefined : n === 0 ? 0 : num / n / scale;
    const u = per(ioTicks);
    const utilPct = u === undefined ? undefined : Math.min(100, u / 10);
    rows.push({
      disk_name: name,
      rspeed: fixed2(per(rdIos)),
      rspeed_kB: fixed2(per(rdSec === undefined ? undefined : rdSec / 2)),
      r_await: fixed2(avg(rdTicks, rdIos)),
      rareq: fixed2(avg(rdSec, rdIos, 2)),
      wspeed: fixed2(per(wrIos)),
      wspeed_kB: fixed2(per(wrSec === undefined ? undefined : wrSec / 2)),
      w_await: fixed2(avg(wrTicks, wrIos)),
      wareq: fixed2(avg(wrSec, wrIos, 2)),
      aqu: fixed2(per(rqTicks === undefined ? undefined : rqTicks / 1000)),
      util: fixed2(utilPct),
    });
    if (utilPct !== undefined) util.push({ disk: name, util: utilPct });
  }
  return { rows, util };
}

export function createDiskCollector(ctx: ProbeContext, deps: CollectorDeps): Collector {
  let prev: DiskSample | undefined;
  let missingWarned = "";
  return {
    reset() {
      prev = undefined;
    },
    collect() {
      const text = ctx.host.readProc("diskstats");
      if (text === undefined) {
        ctx.parseError("/proc/diskstats", "unreadable");
        return;
      }
      const stats = parseDiskstats(text);
      reportErrors(ctx, "/proc/diskstats", stats.errors);
      const up = ctx.host.readProc("uptime");
      const uptime = up === undefined ? undefined : parseUptime(up);
      if (uptime) reportErrors(ctx, "/proc/uptime", uptime.errors);
      const want = devNameParam(ctx);
      const names = [...stats.devices].filter(([n, c]) => (want ? n === want : isDefaultDisk(ctx.host, n, c))).map(([n]) => n);
      if (want && names.length === 0 && missingWarned !== want) {
        missingWarned = want;
        ctx.log.warn(`disk: dev_name ${want} is not in /proc/diskstats; no disk rows`);
      }
      const cur: DiskSample = { stats, uptime: uptime?.seconds, mono: deps.monotonicSeconds() };
      const res = iostatRows(prev, cur, names);
      for (const r of res.rows) ctx.emit(systemIostatTable, r);
      const thr = ctx.num("res_upper_thr");
      if (thr > 0) {
        for (const u of res.util) {
          if (u.util > thr) {
            ctx.event({ entity: "disk", key: u.disk, metric: "util", message: `Disk device saturated(${u.util.toFixed(2)}%).`, device: u.disk });
          }
        }
      }
      prev = cur;
    },
  };
}
