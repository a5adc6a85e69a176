import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import type { TableDef } from "../../store/table.ts";
import {
  busyPercent,
  counterDelta,
  cpuRows,
  type CpuSample,
  hugePagesKb,
  memRows,
  memUtilPercent,
  swapUtilPercent,
} from "./compute.ts";
import {
  parseCpuinfoMhz,
  parseDentryState,
  parseMeminfo,
  parseProcStat,
  parseSoftirqs,
  parseSoftnetStat,
  parseVmallocUsed,
} from "./parse.ts";
import { baseinfoCpuMemTables, systemCpuTable, systemCpuUtilTable, systemDentryTable, systemMeminfoTable } from "./tables.ts";

const BM = path.join(import.meta.dir, "../../../test/fixtures/hosts/bare-metal");
const bm = (rel: string): string => readFileSync(path.join(BM, rel), "utf8");

/** One cpu sample from the bare-metal fixture; `next` picks the *.next files (5 s later). */
function fixtureSample(next: boolean): CpuSample {
  const sfx = next ? ".next" : "";
  const stat = parseProcStat(bm(`proc/stat${sfx}`));
  return {
    stat,
    softirqs: parseSoftirqs(bm(`proc/softirqs${sfx}`)),
    softnet: parseSoftnetStat(bm(`proc/net/softnet_stat${sfx}`), [...stat.cpus.keys()]),
    mhz: parseCpuinfoMhz(bm("proc/cpuinfo")),
  };
}

const fieldNames = (t: TableDef): string[] => t.fields.map((f) => f.name);
const DELTA_FIELDS = fieldNames(systemCpuTable).filter((f) => f !== "cpu" && f !== "mhz");

/** A tiny hand-made sample: jiffies per CPU in CPU_STAT_COLUMNS order. */
function sample(
  cpus: Record<number, number[]>,
  opts: { softirq?: Record<number, number[]>; softnet?: Record<number, [number, number]>; mhz?: Record<number, number> } = {},
): CpuSample {
  const line = (name: string, v: number[]): string => `${name} ${v.join(" ")} 0 0`;
  const ids = Object.keys(cpus).map(Number);
  const agg = [0, 0, 0, 0, 0, 0, 0, 0];
  for (const id of ids) (cpus[id] ?? []).forEach((v, i) => (agg[i] = (agg[i] ?? 0) + v));
  const stat = parseProcStat([line("cpu", agg), ...ids.map((id) => line(`cpu${id}`, cpus[id] ?? []))].join("\n") + "\n");
  expect(stat.errors).toEqual([]);
  const s: { -readonly [K in keyof CpuSample]: CpuSample[K] } = { stat };
  if (opts.softirq) {
    const sids = Object.keys(opts.softirq).map(Number);
    const rows = ["RCU:", "TIMER:", "SCHED:", "NET_RX:"].map(
      (n, i) => `${n} ${sids.map((id) => opts.softirq?.[id]?.[i] ?? 0).join(" ")}`,
    );
    s.softirqs = parseSoftirqs(`${sids.map((id) => `CPU${id}`).join(" ")}\n${rows.join("\n")}\n`);
    expect(s.softirqs.errors).toEqual([]);
  }
  if (opts.softnet) {
    const hex = (v: number): string => v.toString(16).padStart(8, "0");
    const text = Object.entries(opts.softnet)
      .map(([id, [drop, rps]]) => [1, drop, 0, 0, 0, 0, 0, 0, 0, rps, 0, 0, Number(id)].map(hex).join(" "))
      .join("\n");
    s.softnet = parseSoftnetStat(`${text}\n`);
    expect(s.softnet.errors).toEqual([]);
  }
  if (opts.mhz) {
    const text = Object.entries(opts.mhz)
      .map(([id, m]) => `processor\t: ${id}\ncpu MHz\t\t: ${m.toFixed(3)}\n`)
      .join("\n");
    s.mhz = parseCpuinfoMhz(text);
  }
  return s;
}

describe("cpuRows: bare-metal fixture, sample → .next (5 s, USER_HZ 100)", () => {
  const prev = fixtureSample(false);
  const cur = fixtureSample(true);

  test("parsed without errors", () => {
    for (const s of [prev, cur]) {
      expect(s.stat.errors).toEqual([]);
      expect(s.softirqs?.errors).toEqual([]);
      expect(s.softnet?.errors).toEqual([]);
      expect(s.mhz?.errors).toEqual([]);
    }
  });

  test("exact system_cpu rows", () => {
    const r = cpuRows(prev, cur);
    // Hand computation (jiffies deltas user,nice,system,idle,iowait,irq,softirq,steal):
    //  cpu0: 120,0,45,320,5,2,8,0   Σ=500  busy = 100×(500−(320+5))/500 = 35.00
    //  cpu1:  60,10,30,395,0,1,4,0  Σ=500  busy = 100×(500−395)/500     = 21.00
    //  cpu2: 250,0,100,100,40,3,7,0 Σ=500  busy = 100×(500−140)/500     = 72.00
    //  cpu3:  15,0,10,471,1,0,2,0   Σ=499  busy = 100×27/499 = 5.4108…  → 5.41
    //  *_msec = Δjiffies × 1000 / 100 = Δ × 10.
    // softirqs Δ (RCU, TIMER, SCHED, NET_RX):
    //  cpu0 1817,1253,2104,3412  cpu1 1502,1187,1598,151  cpu2 2406,1321,2917,8823  cpu3 455,604,301,19
    // softnet Δ dropped / received_rps:
    //  cpu0 0 / 0x1a4b4−0x1a2f0=452  cpu1 0 / 0x3f1−0x3e8=9  cpu2 0x4b−0x3a=17 / 0x2f6e2−0x2f1d8=1290  cpu3 0 / 0
    expect(r.cpu).toEqual([
      {
        cpu: "0",
        rcu: 1817,
        timer: 1253,
        sched: 2104,
        net_rx: 3412,
        user_msec: 1200,
        nice_msec: 0,
        system_msec: 450,
        idle_msec: 3200,
        iowait_msec: 50,
        irq_msec: 20,
        softirq_msec: 80,
        steal_msec: 0,
        backlog_drops: 0,
        rps_count: 452,
        util_per: "35.00",
        mhz: "2500.000",
      },
      {
        cpu: "1",
        rcu: 1502,
        timer: 1187,
        sched: 1598,
        net_rx: 151,
        user_msec: 600,
        nice_msec: 100,
        system_msec: 300,
        idle_msec: 3950,
        iowait_msec: 0,
        irq_msec: 10,
        softirq_msec: 40,
        steal_msec: 0,
        backlog_drops: 0,
        rps_count: 9,
        util_per: "21.00",
        mhz: "2499.998",
      },
      {
        cpu: "2",
        rcu: 2406,
        timer: 1321,
        sched: 2917,
        net_rx: 8823,
        user_msec: 2500,
        nice_msec: 0,
        system_msec: 1000,
        idle_msec: 1000,
        iowait_msec: 400,
        irq_msec: 30,
        softirq_msec: 70,
        steal_msec: 0,
        backlog_drops: 17,
        rps_count: 1290,
        util_per: "72.00",
        mhz: "3900.125",
      },
      {
        cpu: "3",
        rcu: 455,
        timer: 604,
        sched: 301,
        net_rx: 19,
        user_msec: 150,
        nice_msec: 0,
        system_msec: 100,
        idle_msec: 4710,
        iowait_msec: 10,
        irq_msec: 0,
        softirq_msec: 20,
        steal_msec: 0,
        backlog_drops: 0,
        rps_count: 0,
        util_per: "5.41",
        mhz: "1000.013",
      },
    ]);
  });

  test("exact system_cpu_util row", () => {
    const r = cpuRows(prev, cur);
    // Aggregate line Δ: 445,10,185,1286,46,6,21,0  Σ=1999, idle+iowait=1332
    // → 100×667/1999 = 33.3667 → "33.37".
    expect(r.cpuUtil).toEqual({ cpu: "cpu", total_used_per: "33.37" });
    expect(r.totalUsedPer).toBeCloseTo(33.36668, 4);
  });

  test("rows carry exactly the table's fields", () => {
    const r = cpuRows(prev, cur);
    for (const row of r.cpu) expect(Object.keys(row).sort()).toEqual(fieldNames(systemCpuTable).sort());
    expect(Object.keys(r.cpuUtil).sort()).toEqual(fieldNames(systemCpuUtilTable).sort());
  });

  test("first sample: no delta field is reported, only mhz", () => {
    const r = cpuRows(undefined, prev);
    expect(r.cpu.map((row) => row.cpu)).toEqual(["0", "1", "2", "3"]);
    for (const row of r.cpu) {
      for (const f of DELTA_FIELDS) expect(row[f]).toBeUndefined();
    }
    expect(r.cpu.map((row) => row.mhz)).toEqual(["2500.000", "2499.998", "3900.125", "1000.013"]);
    expect(r.cpuUtil).toEqual({ cpu: "cpu", total_used_per: undefined });
    expect(r.totalUsedPer).toBeUndefined();
  });

  test("same sample twice: zero deltas, utilisation unknown (no time passed)", () => {
    const r = cpuRows(prev, prev);
    expect(r.cpu[0]?.user_msec).toBe(0);
    expect(r.cpu[0]?.rcu).toBe(0);
    expect(r.cpu[0]?.util_per).toBeUndefined();
    expect(r.cpuUtil.total_used_per).toBeUndefined();
  });

  test("samples swapped (counters went backwards): nothing negative, nothing reported", () => {
    const r = cpuRows(cur, prev);
    for (const row of r.cpu) {
      for (const f of DELTA_FIELDS) {
        const v = row[f];
        if (v !== undefined) expect(v).toBe(0); // only counters that did not move
      }
      expect(row.util_per).toBeUndefined();
    }
    expect(r.cpuUtil.total_used_per).toBeUndefined();
  });
});

describe("cpuRows: delta rules", () => {
  test("softirq and softnet counter wrap → undefined for that field only", () => {
    const prev = sample(
      { 0: [100, 0, 50, 800, 10, 0, 5, 0] },
      { softirq: { 0: [4294967290, 10, 20, 30] }, softnet: { 0: [4294967295, 100] } },
    );
    const cur = sample(
      { 0: [150, 0, 60, 880, 10, 0, 5, 0] },
      { softirq: { 0: [5, 15, 26, 37] }, softnet: { 0: [3, 150] } },
    );
    const [row] = cpuRows(prev, cur).cpu;
    expect(row?.rcu).toBeUndefined();
    expect(row?.timer).toBe(5);
    expect(row?.sched).toBe(6);
    expect(row?.net_rx).toBe(7);
    expect(row?.backlog_drops).toBeUndefined();
    expect(row?.rps_count).toBe(50);
    // Δ 50,0,10,80,0,0,0,0 Σ=140 → 100×60/140 = 42.857… → "42.86"
    expect(row?.util_per).toBe("42.86");
    expect(row?.user_msec).toBe(500);
  });

  test("a jiffies column going backwards drops that column and the utilisation", () => {
    // Known NO_HZ artefact: idle can step back slightly.
    const prev = sample({ 0: [100, 0, 50, 800, 10, 0, 5, 0] });
    const cur = sample({ 0: [150, 0, 60, 799, 12, 0, 5, 0] });
    const [row] = cpuRows(prev, cur).cpu;
    expect(row?.idle_msec).toBeUndefined();
    expect(row?.user_msec).toBe(500);
    expect(row?.iowait_msec).toBe(20);
    expect(row?.util_per).toBeUndefined();
  });

  test("CPU appears (hot-plug): its deltas are undefined; CPU disappears: no row", () => {
    const prev = sample({ 0: [10, 0, 0, 90, 0, 0, 0, 0], 2: [10, 0, 0, 90, 0, 0, 0, 0] }, { softirq: { 0: [1, 1, 1, 1], 2: [1, 1, 1, 1] } });
    const cur = sample(
      { 0: [20, 0, 0, 180, 0, 0, 0, 0], 1: [5, 0, 0, 5, 0, 0, 0, 0] },
      { softirq: { 0: [2, 2, 2, 2], 1: [9, 9, 9, 9] }, mhz: { 0: 1000, 1: 1200.5 } },
    );
    const r = cpuRows(prev, cur);
    expect(r.cpu.map((row) => row.cpu)).toEqual(["0", "1"]);
    expect(r.cpu[0]?.util_per).toBe("10.00");
    expect(r.cpu[0]?.rcu).toBe(1);
    for (const f of DELTA_FIELDS) expect(r.cpu[1]?.[f]).toBeUndefined();
    expect(r.cpu[1]?.mhz).toBe("1200.500");
  });

  test("missing sources: fields undefined, no throw", () => {
    const prev = sample({ 0: [10, 0, 0, 90, 0, 0, 0, 0] }, { softnet: { 0: [1, 1] } });
    const cur = sample({ 0: [20, 0, 0, 180, 0, 0, 0, 0] });
    const [row] = cpuRows(prev, cur).cpu;
    expect(row?.rcu).toBeUndefined();
    expect(row?.backlog_drops).toBeUndefined();
    expect(row?.rps_count).toBeUndefined();
    expect(row?.mhz).toBeUndefined();
    expect(row?.util_per).toBe("10.00");
    const empty = cpuRows(undefined, { stat: parseProcStat("garbage") });
    expect(empty.cpu).toEqual([]);
    expect(empty.cpuUtil).toEqual({ cpu: "cpu", total_used_per: undefined });
  });

  test("clock ticks other than 100", () => {
    const prev = sample({ 0: [0, 0, 0, 0, 0, 0, 0, 0] });
    const cur = sample({ 0: [5, 7, 0, 1, 0, 0, 0, 0] });
    const [r250] = cpuRows(prev, cur, 250).cpu;
    expect(r250?.user_msec).toBe(20);
    const [r300] = cpuRows(prev, cur, 300).cpu;
    expect(r300?.nice_msec).toBe(23); // 7 × 1000 / 300 = 23.33 → 23
    const [bad] = cpuRows(prev, cur, 0).cpu;
    expect(bad?.user_msec).toBe(50); // invalid tick rate falls back to 100
  });

  test("helpers", () => {
    expect(counterDelta(undefined, 1)).toBeUndefined();
    expect(counterDelta(1, undefined)).toBeUndefined();
    expect(counterDelta(5, 4)).toBeUndefined();
    expect(counterDelta(4, 4)).toBe(0);
    expect(counterDelta(Number.NaN, 4)).toBeUndefined();
    const j = (idle: number, user: number) => ({ user, nice: 0, system: 0, idle, iowait: 0, irq: 0, softirq: 0, steal: 0 });
    expect(busyPercent(j(0, 0), j(75, 25))).toBe(25);
    expect(busyPercent(j(0, 0), j(0, 0))).toBeUndefined();
    expect(busyPercent(undefined, j(0, 0))).toBeUndefined();
  });
});

describe("memRows", () => {
  test("bare-metal fixture: exact system_meminfo and system_dentry rows", () => {
    const mem = parseMeminfo(bm("proc/meminfo"));
    const dentry = parseDentryState(bm("proc/sys/fs/dentry-state"));
    const vmalloc = parseVmallocUsed(bm("proc/vmallocinfo"), mem);
    const r = memRows(mem, dentry.state, vmalloc.kb);
    // util = 100 × (16265432 − 2345678 − 456789 − 6543210) / 16265432 = 100 × 6919755 / 16265432
    //      = 42.5427… → "42.54"
    // swap_util = 100 × (8388604 − 8126460) / 8388604 = 100 × 262144 / 8388604 = 3.1250… → "3.13"
    // vmalloc_kB = 4571136 B of vmalloc areas / 1024 = 4464; big_page_kB = Hugetlb = 512 × 2048.
    expect(r.meminfo).toEqual({
      infos: "/proc/meminfo",
      total_kB: 16265432,
      free_kB: 2345678,
      available_kB: 9876543,
      util: "42.54",
      buffers_kB: 456789,
      cache_kB: 6543210,
      active_kB: 7654321,
      inactive_kB: 4567890,
      swap_total_kB: 8388604,
      swap_free_kB: 8126460,
      swap_util: "3.13",
      slab_kB: 898765,
      SReclaimable_kB: 612345,
      Unreclaim_kB: 286420,
      page_kB: 45678,
      vmalloc_kB: 4464,
      stack_kB: 14528,
      active_anon_kB: 3456789,
      inactive_anon_kB: 234567,
      active_file_kB: 4197532,
      inactive_file_kB: 4333323,
      mlocked: 12345,
      big_page_kB: 1048576,
      shmem_kB: 345678,
    });
    expect(r.util).toBeCloseTo(42.5427, 4);
    expect(r.swapUtil).toBeCloseTo(3.125, 4);
    expect(r.dentry).toEqual({ infos: "fs.dentry-state", dentry: 187654, unused_dentry: 143210, age_limit: 45 });
    expect(Object.keys(r.meminfo ?? {}).sort()).toEqual(fieldNames(systemMeminfoTable).sort());
    expect(Object.keys(r.dentry ?? {}).sort()).toEqual(fieldNames(systemDentryTable).sort());
  });

  test("no swap → swap_util 0.00; missing keys → fields not reported", () => {
    const r = memRows(parseMeminfo("MemTotal: 1000 kB\nMemFree: 100 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n"), undefined, undefined);
    expect(r.meminfo?.swap_util).toBe("0.00");
    expect(r.swapUtil).toBe(0);
    expect(r.meminfo?.util).toBeUndefined(); // Buffers/Cached missing
    expect(r.meminfo?.total_kB).toBe(1000);
    expect(r.meminfo?.buffers_kB).toBeUndefined();
    expect(r.meminfo?.vmalloc_kB).toBeUndefined();
    expect(r.meminfo?.big_page_kB).toBeUndefined();
    expect(r.dentry).toBeUndefined();
  });

  test("unusable input → no rows", () => {
    expect(memRows(undefined, undefined, undefined)).toEqual({
      meminfo: undefined,
      dentry: undefined,
      util: undefined,
      swapUtil: undefined,
    });
    expect(memRows(parseMeminfo("garbage\n"), undefined, 5).meminfo).toBeUndefined();
  });

  test("formula helpers", () => {
    const m = (o: Record<string, number>) => new Map(Object.entries(o));
    expect(memUtilPercent(m({ MemTotal: 200, MemFree: 50, Buffers: 10, Cached: 40 }))).toBe(50);
    expect(memUtilPercent(m({ MemTotal: 0, MemFree: 0, Buffers: 0, Cached: 0 }))).toBeUndefined();
    expect(memUtilPercent(m({ MemTotal: 100, MemFree: 90, Buffers: 10, Cached: 40 }))).toBe(0); // floored
    expect(swapUtilPercent(m({ SwapTotal: 400, SwapFree: 100 }))).toBe(75);
    expect(swapUtilPercent(m({ SwapTotal: 400 }))).toBeUndefined();
    expect(swapUtilPercent(m({}))).toBeUndefined();
    // Hugetlb counts 1 GiB pages too; the fallback is the default size only.
    expect(hugePagesKb(m({ HugePages_Total: 2, Hugepagesize: 2048, Hugetlb: 1052672 }))).toBe(1052672);
    expect(hugePagesKb(m({ HugePages_Total: 2, Hugepagesize: 2048 }))).toBe(4096);
    expect(hugePagesKb(m({ Hugepagesize: 2048 }))).toBeUndefined();
  });

  const liveMeminfo = existsSync("/proc/meminfo") && existsSync("/proc/sys/fs/dentry-state");
  if (!liveMeminfo) console.log("skipping the live-host memRows test: /proc/meminfo or /proc/sys/fs/dentry-state is missing (no procfs here)");
  test.if(liveMeminfo)("live host: rows build without errors", () => {
    const mem = parseMeminfo(readFileSync("/proc/meminfo", "utf8"));
    const r = memRows(mem, parseDentryState(readFileSync("/proc/sys/fs/dentry-state", "utf8")).state, undefined);
    expect(r.util).toBeGreaterThanOrEqual(0);
    expect(r.util).toBeLessThanOrEqual(100);
    expect(r.dentry?.dentry).toBeGreaterThan(0);
  });
});

describe("tables.ts matches spec metrics.json", () => {
  const specPath = path.join(import.meta.dir, "../../../../shared/spec/metrics.json");
  const have = existsSync(specPath);
  if (!have) console.log(`skipping spec comparison: ${specPath} not found (spec folder is not part of the repo)`);

  test.if(have)("every table, field for field", () => {
    interface SpecTable {
      table_name: string;
      entity_name: string;
      meta_version?: string | null;
      fields: { name: string; type: string; description: string }[];
    }
    const spec = JSON.parse(readFileSync(specPath, "utf8")) as SpecTable[];
    expect(baseinfoCpuMemTables.map((t) => t.name)).toEqual(["system_cpu", "system_cpu_util", "system_meminfo", "system_dentry"]);
    for (const t of baseinfoCpuMemTables) {
      const s = spec.find((x) => x.table_name === t.name);
      expect(s).toBeDefined();
      if (s === undefined) continue;
      expect(t.entity).toBe(s.entity_name);
      expect(t.version).toBe(s.meta_version ?? "1.0.0");
      expect(t.fields.map((f) => ({ name: f.name, type: f.type as string, description: f.description }))).toEqual(
        s.fields.map((f) => ({ name: f.name, type: f.type, description: f.description })),
      );
    }
  });
});
