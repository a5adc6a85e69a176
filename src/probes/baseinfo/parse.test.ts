import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import {
  parseCpuinfoMhz,
  parseDentryState,
  parseMeminfo,
  parseProcStat,
  parseSoftirqs,
  parseSoftnetStat,
  parseVmallocUsed,
} from "./parse.ts";

const HOSTS = path.join(import.meta.dir, "../../../test/fixtures/hosts");
const fx = (host: string, rel: string): string => readFileSync(path.join(HOSTS, host, rel), "utf8");
const bm = (rel: string): string => fx("bare-metal", rel);
const broken = (rel: string): string => fx("broken", rel);

/** Readable live procfs text, or undefined (not Linux, or no permission). */
function live(p: string): string | undefined {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return undefined;
  }
}

/** Online CPU count as the kernel reports it (what /proc/stat lists). */
function onlineCpuCount(): number | undefined {
  for (const cmd of [["getconf", "_NPROCESSORS_ONLN"], ["nproc", "--all"]]) {
    try {
      const r = Bun.spawnSync(cmd);
      const n = Number(r.stdout.toString().trim());
      if (r.exitCode === 0 && Number.isInteger(n) && n > 0) return n;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

const onLinux = existsSync("/proc/stat");

describe("parseProcStat", () => {
  test("bare-metal fixture, exact values", () => {
    const s = parseProcStat(bm("proc/stat"));
    expect(s.errors).toEqual([]);
    expect(s.btime).toBe(1766390400);
    expect(s.total).toEqual({
      user: 17509526,
      nice: 5772,
      system: 7108016,
      idle: 321802456,
      iowait: 180244,
      irq: 46418,
      softirq: 353085,
      steal: 0,
    });
    expect([...s.cpus.keys()]).toEqual([0, 1, 2, 3]);
    expect(s.cpus.get(0)).toEqual({
      user: 4521873,
      nice: 1032,
      system: 1873450,
      idle: 80123456,
      iowait: 45678,
      irq: 12345,
      softirq: 98765,
      steal: 0,
    });
    expect(s.cpus.get(3)).toEqual({
      user: 2876543,
      nice: 1543,
      system: 1234567,
      idle: 82567890,
      iowait: 12345,
      irq: 8765,
      softirq: 54321,
      steal: 0,
    });
  });

  test("bare-metal .next sample", () => {
    const s = parseProcStat(bm("proc/stat.next"));
    expect(s.errors).toEqual([]);
    expect(s.cpus.get(2)).toEqual({
      user: 6123706,
      nice: 987,
      system: 2345778,
      idle: 78345778,
      iowait: 98805,
      irq: 15435,
      softirq: 123463,
      steal: 0,
    });
  });

  test("old kernels: missing trailing columns count as 0", () => {
    // 2.6.0-2.6.10: 7 columns (no steal); 2.4: 4 columns.
    const s7 = parseProcStat("cpu  10 1 5 100 2 3 4\ncpu0 10 1 5 100 2 3 4\n");
    expect(s7.errors).toEqual([]);
    expect(s7.cpus.get(0)).toEqual({ user: 10, nice: 1, system: 5, idle: 100, iowait: 2, irq: 3, softirq: 4, steal: 0 });
    const s4 = parseProcStat("cpu 10 1 5 100\ncpu0 10 1 5 100\nbtime 5\n");
    expect(s4.errors).toEqual([]);
    expect(s4.total).toEqual({ user: 10, nice: 1, system: 5, idle: 100, iowait: 0, irq: 0, softirq: 0, steal: 0 });
    expect(s4.btime).toBe(5);
  });

  test("CPU ids with gaps (offline CPUs) are kept as printed", () => {
    const s = parseProcStat("cpu 2 0 0 2 0 0 0 0 0 0\ncpu0 1 0 0 1 0 0 0 0 0 0\ncpu5 1 0 0 1 0 0 0 0 0 0\n");
    expect(s.errors).toEqual([]);
    expect([...s.cpus.keys()]).toEqual([0, 5]);
  });

  test("broken fixture: keeps the good lines, reports the rest", () => {
    const s = parseProcStat(broken("proc/stat"));
    expect(s.total?.user).toBe(17509526);
    expect([...s.cpus.keys()]).toEqual([0]);
    expect(s.btime).toBeUndefined();
    // cpu1 garbage column, cpuX bad name, cpu2 not newline-terminated.
    expect(s.errors.length).toBe(3);
    expect(s.errors.join("\n")).toContain("garbage");
    expect(s.errors.join("\n")).toContain("cpuX");
    expect(s.errors.join("\n")).toContain("truncated");
  });

  test("a line narrower than the others is truncated, not an old kernel", () => {
    const s = parseProcStat("cpu  1 2 3 4 5 6 7 8 0 0\ncpu0 1 2 3 4 5\ncpu1 1 2 3 4 5 6 7 8 0 0\n");
    expect([...s.cpus.keys()]).toEqual([1]);
    expect(s.errors).toEqual(["stat line 2: truncated (5 of 8 columns)"]);
  });

  test("garbage and empty input never throw", () => {
    for (const t of ["", "\n", "\u0000\u0001\u00ff", "cpu", "cpu a b c d\n", "btime x\n", "cpu -1 2 3 4\n", "cpu 1e3 2 3 4\n"]) {
      const s = parseProcStat(t);
      expect(s.total).toBeUndefined();
      expect(s.errors.length).toBeGreaterThan(0);
    }
    expect(parseProcStat(undefined as unknown as string).errors.length).toBeGreaterThan(0);
  });

  test("duplicates are rejected", () => {
    const s = parseProcStat("cpu 1 1 1 1\ncpu 2 2 2 2\ncpu0 1 1 1 1\ncpu0 2 2 2 2\n");
    expect(s.total?.user).toBe(1);
    expect(s.cpus.get(0)?.user).toBe(1);
    expect(s.errors.length).toBe(2);
  });

  test.if(onLinux)("live /proc/stat parses cleanly, one line per online CPU", () => {
    const s = parseProcStat(readFileSync("/proc/stat", "utf8"));
    expect(s.errors).toEqual([]);
    expect(s.total).toBeDefined();
    expect(s.btime).toBeGreaterThan(0);
    const n = onlineCpuCount();
    if (n !== undefined) expect(s.cpus.size).toBe(n);
  });
});

describe("parseSoftirqs", () => {
  test("bare-metal fixture, exact values", () => {
    const s = parseSoftirqs(bm("proc/softirqs"));
    expect(s.errors).toEqual([]);
    expect([...s.cpus.keys()]).toEqual([0, 1, 2, 3]);
    expect(s.cpus.get(0)).toEqual({ timer: 31234567, net_rx: 45678901, sched: 23456789, rcu: 19876543 });
    expect(s.cpus.get(3)).toEqual({ timer: 27654321, net_rx: 234567, sched: 9876543, rcu: 8765432 });
    const n = parseSoftirqs(bm("proc/softirqs.next"));
    expect(n.errors).toEqual([]);
    expect(n.cpus.get(2)).toEqual({ timer: 32458110, net_rx: 98774255, sched: 28768349, rcu: 21990060 });
  });

  test("header ids map columns (possible CPUs with gaps)", () => {
    const s = parseSoftirqs("   CPU0  CPU2\n   RCU:  5  7\nTIMER: 1 2\n");
    expect(s.errors).toEqual([]);
    expect(s.cpus.get(0)).toEqual({ rcu: 5, timer: 1 });
    expect(s.cpus.get(2)).toEqual({ rcu: 7, timer: 2 });
    expect(s.cpus.has(1)).toBe(false);
  });

  test("broken fixture", () => {
    const s = parseSoftirqs(broken("proc/softirqs"));
    expect(s.cpus.get(0)).toEqual({ timer: 31234567, sched: 23456789 });
    expect(s.cpus.get(1)).toEqual({ timer: 29876543 });
    expect(s.cpus.get(3)).toEqual({ timer: 27654321, sched: 9876543 });
    // SCHED cpu1 "abc", RCU line not newline-terminated.
    expect(s.errors.length).toBe(2);
  });

  test("row narrower or wider than the header is rejected", () => {
    const s = parseSoftirqs("CPU0 CPU1\nRCU: 1\nTIMER: 1 2 3\nSCHED: 4 5\n");
    expect(s.cpus.get(1)).toEqual({ sched: 5 });
    expect(s.errors.length).toBe(2);
  });

  test("garbage never throws", () => {
    for (const t of ["", "junk", "CPU0 CPUx\nRCU: 1 2\n", "RCU: 1 2\n", "constructor: 1\n__proto__: 2\n", "\u0000\n"]) {
      expect(() => parseSoftirqs(t)).not.toThrow();
    }
    const noHeader = parseSoftirqs("RCU: 1 2\n");
    expect(noHeader.cpus.get(1)).toEqual({ rcu: 2 });
    expect(noHeader.errors.length).toBeGreaterThan(0);
    expect(parseSoftirqs("junk\n").errors.length).toBeGreaterThan(0);
  });

  test.if(onLinux && existsSync("/proc/softirqs"))("live /proc/softirqs covers every online CPU", () => {
    const s = parseSoftirqs(readFileSync("/proc/softirqs", "utf8"));
    expect(s.errors).toEqual([]);
    const stat = parseProcStat(readFileSync("/proc/stat", "utf8"));
    for (const id of stat.cpus.keys()) {
      const c = s.cpus.get(id);
      expect(c?.rcu).toBeNumber();
      expect(c?.timer).toBeNumber();
      expect(c?.sched).toBeNumber();
      expect(c?.net_rx).toBeNumber();
    }
  });
});

describe("parseSoftnetStat", () => {
  test("bare-metal fixture (5.10 layout, cpu id column), exact values", () => {
    const s = parseSoftnetStat(bm("proc/net/softnet_stat"));
    expect(s.errors).toEqual([]);
    expect(s.cpuIdSource).toBe("column");
    expect([...s.cpus.keys()]).toEqual([0, 1, 2, 3]);
    expect(s.cpus.get(0)).toEqual({ processed: 0x0a1b2c3d, dropped: 0, timeSqueeze: 0x1f3, receivedRps: 0x1a2f0, flowLimitCount: 0 });
    expect(s.cpus.get(2)).toEqual({ processed: 0x1234abcd, dropped: 58, timeSqueeze: 1234, receivedRps: 0x2f1d8, flowLimitCount: 5 });
    const n = parseSoftnetStat(bm("proc/net/softnet_stat.next"));
    expect(n.errors).toEqual([]);
    expect(n.cpus.get(2)?.dropped).toBe(75);
    expect(n.cpus.get(2)?.receivedRps).toBe(0x2f6e2);
  });

  const row = (vals: number[]): string => vals.map((v) => v.toString(16).padStart(8, "0")).join(" ");

  test("cpu id column wins over row order (offline CPUs skipped, 5.10+)", () => {
    const z = [0, 0, 0, 0, 0, 0];
    const text = `${row([10, 1, 0, ...z, 7, 0, 0, 0])}\n${row([20, 2, 0, ...z, 8, 0, 0, 3])}\n`;
    const s = parseSoftnetStat(text, [0, 1]);
    expect(s.cpuIdSource).toBe("column");
    expect(s.cpus.get(0)?.processed).toBe(10);
    expect(s.cpus.get(3)).toEqual({ processed: 20, dropped: 2, timeSqueeze: 0, receivedRps: 8, flowLimitCount: 0 });
    expect(s.cpus.has(1)).toBe(false);
  });

  test("6.x layout with 15 columns", () => {
    const z = [0, 0, 0, 0, 0, 0];
    const s = parseSoftnetStat(`${row([5, 0, 0, ...z, 9, 0, 1, 1, 0, 1])}\n`);
    expect(s.errors).toEqual([]);
    expect(s.cpus.get(1)?.receivedRps).toBe(9);
  });

  test("old kernels without the cpu id: nth row = nth online CPU, else row index", () => {
    const z = [0, 0, 0, 0, 0, 0];
    const text = `${row([10, 1, 0, ...z, 7, 0])}\n${row([20, 2, 0, ...z, 8, 0])}\n`;
    const online = parseSoftnetStat(text, [0, 2]);
    expect(online.cpuIdSource).toBe("online");
    expect([...online.cpus.keys()]).toEqual([0, 2]);
    const idx = parseSoftnetStat(text);
    expect(idx.cpuIdSource).toBe("index");
    expect([...idx.cpus.keys()]).toEqual([0, 1]);
    const tooFew = parseSoftnetStat(text, [0]);
    expect([...tooFew.cpus.keys()]).toEqual([0]);
    expect(tooFew.errors.length).toBe(1);
    // 2.6.x: 9 columns, no received_rps.
    const old = parseSoftnetStat(`${row([1, 2, 3, 0, 0, 0, 0, 0, 0])}\n`);
    expect(old.cpus.get(0)).toEqual({ processed: 1, dropped: 2, timeSqueeze: 3 });
  });

  test("broken fixture: garbage row and truncated row rejected", () => {
    const s = parseSoftnetStat(broken("proc/net/softnet_stat"));
    expect([...s.cpus.keys()]).toEqual([0]);
    expect(s.cpus.get(0)?.receivedRps).toBe(0x1a2f0);
    expect(s.errors.length).toBe(2);
  });

  test("a narrower row is truncated", () => {
    const z = [0, 0, 0, 0, 0, 0];
    const s = parseSoftnetStat(`${row([10, 1, 0, ...z, 7, 0, 0, 0])}\n${row([20, 2, 0])}\n`);
    expect([...s.cpus.keys()]).toEqual([0]);
    expect(s.errors).toEqual(["softnet_stat line 2: truncated (3 of 13 columns)"]);
  });

  test("garbage never throws", () => {
    for (const t of ["", "zz", "00000001\n", "0000000g 00000000\n", "1 2 3\n", "\u00ff\u00fe\n"]) {
      const s = parseSoftnetStat(t);
      expect(s.cpus.size).toBe(0);
    }
  });

  test.if(existsSync("/proc/net/softnet_stat"))("live /proc/net/softnet_stat: one row per online CPU", () => {
    const stat = parseProcStat(readFileSync("/proc/stat", "utf8"));
    const online = [...stat.cpus.keys()].sort((a, b) => a - b);
    const s = parseSoftnetStat(readFileSync("/proc/net/softnet_stat", "utf8"), online);
    expect(s.errors).toEqual([]);
    expect([...s.cpus.keys()].sort((a, b) => a - b)).toEqual(online);
  });
});

describe("parseCpuinfoMhz", () => {
  test("bare-metal fixture, exact values", () => {
    const m = parseCpuinfoMhz(bm("proc/cpuinfo"));
    expect(m?.errors).toEqual([]);
    expect([...(m?.mhz ?? [])]).toEqual([
      [0, 2500],
      [1, 2499.998],
      [2, 3900.125],
      [3, 1000.013],
    ]);
  });

  test("arch without cpu MHz (arm64) → undefined", () => {
    const arm = "processor\t: 0\nBogoMIPS\t: 50.00\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\n\nprocessor\t: 1\nBogoMIPS\t: 50.00\n\n";
    expect(parseCpuinfoMhz(arm)).toBeUndefined();
    expect(parseCpuinfoMhz("")).toBeUndefined();
  });

  test("broken fixture", () => {
    const m = parseCpuinfoMhz(broken("proc/cpuinfo"));
    expect([...(m?.mhz ?? [])]).toEqual([[1, 2400]]);
    // "fast" and the cut-off last line.
    expect(m?.errors.length).toBe(2);
  });

  test("blocks without a processor line are numbered by position", () => {
    const m = parseCpuinfoMhz("cpu MHz : 100.5\n\ncpu MHz : 200\n");
    expect([...(m?.mhz ?? [])]).toEqual([
      [0, 100.5],
      [1, 200],
    ]);
  });

  test("garbage never throws", () => {
    for (const t of ["cpu MHz", "cpu MHz:", "cpu MHz : NaN\n", "processor : x\ncpu MHz : 1\n", ":::\n", "\u0000"]) {
      expect(() => parseCpuinfoMhz(t)).not.toThrow();
    }
    expect(parseCpuinfoMhz("cpu MHz : -1\n")?.mhz.size).toBe(0);
  });

  // Some architectures (and some VMs) do not report "cpu MHz": then there is nothing to check.
  const liveCpuinfo = existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : undefined;
  const liveMhz = liveCpuinfo === undefined ? undefined : parseCpuinfoMhz(liveCpuinfo);
  if (liveMhz === undefined) {
    console.log(`skipping the live /proc/cpuinfo test: ${liveCpuinfo === undefined ? "/proc/cpuinfo is missing" : "it has no 'cpu MHz' lines (the architecture does not report it)"}`);
  }
  test.if(liveMhz !== undefined)("live /proc/cpuinfo", () => {
    const m = liveMhz!;
    expect(m.errors).toEqual([]);
    const stat = parseProcStat(readFileSync("/proc/stat", "utf8"));
    for (const id of stat.cpus.keys()) expect(m.mhz.get(id)).toBeGreaterThan(0);
  });
});

describe("parseMeminfo", () => {
  test("bare-metal fixture, exact values", () => {
    const m = parseMeminfo(bm("proc/meminfo"));
    expect(m.errors).toEqual([]);
    const v = m.values;
    expect(v.get("MemTotal")).toBe(16265432);
    expect(v.get("MemFree")).toBe(2345678);
    expect(v.get("Active(anon)")).toBe(3456789);
    expect(v.get("VmallocTotal")).toBe(34359738367);
    expect(v.get("HugePages_Total")).toBe(512);
    expect(v.get("Hugepagesize")).toBe(2048);
    expect(v.get("Hugetlb")).toBe(1048576);
    expect(v.size).toBe(51);
  });

  test("broken fixture", () => {
    const m = parseMeminfo(broken("proc/meminfo"));
    expect([...m.values]).toEqual([
      ["MemTotal", 16265432],
      ["SwapTotal", 0],
    ]);
    // "lots", binary line, cut-off "Buffers:      12".
    expect(m.errors.length).toBe(3);
  });

  test("units other than kB, duplicates and garbage are errors", () => {
    const m = parseMeminfo("MemTotal: 10 MB\nMemFree: 5 kB\nMemFree: 6 kB\nfoo bar\n__proto__: 3 kB\n");
    expect([...m.values]).toEqual([
      ["MemFree", 5],
      ["__proto__", 3],
    ]);
    expect(m.errors.length).toBe(3);
    expect(parseMeminfo("").errors).toEqual(["meminfo: no values"]);
  });

  test.if(existsSync("/proc/meminfo"))("live /proc/meminfo", () => {
    const m = parseMeminfo(readFileSync("/proc/meminfo", "utf8"));
    expect(m.errors).toEqual([]);
    expect(m.values.get("MemTotal")).toBeGreaterThan(0);
    expect(m.values.get("MemFree")).toBeNumber();
  });
});

describe("parseDentryState", () => {
  test("bare-metal fixture", () => {
    expect(parseDentryState(bm("proc/sys/fs/dentry-state"))).toEqual({
      state: { nr_dentry: 187654, nr_unused: 143210, age_limit: 45 },
      errors: [],
    });
  });

  test("broken fixture and garbage", () => {
    const b = parseDentryState(broken("proc/sys/fs/dentry-state"));
    expect(b.state).toBeUndefined();
    expect(b.errors.length).toBe(1);
    for (const t of ["", "a b c", "1 2", "1 2 -3", "\u0000", "1.5 2 3"]) {
      const r = parseDentryState(t);
      expect(r.state).toBeUndefined();
      expect(r.errors.length).toBe(1);
    }
    // Older kernels print fewer trailing columns; three are enough.
    expect(parseDentryState("1 2 3\n").state).toEqual({ nr_dentry: 1, nr_unused: 2, age_limit: 3 });
  });

  test.if(existsSync("/proc/sys/fs/dentry-state"))("live dentry-state", () => {
    const r = parseDentryState(readFileSync("/proc/sys/fs/dentry-state", "utf8"));
    expect(r.errors).toEqual([]);
    expect(r.state?.nr_dentry).toBeGreaterThan(0);
  });
});

describe("parseVmallocUsed", () => {
  test("bare-metal fixture: sum of vmalloc areas, not meminfo VmallocUsed", () => {
    const mem = parseMeminfo(bm("proc/meminfo"));
    // 12288 + 16384 + 20480 + 20480 + 266240 + 4198400 + 36864 = 4571136 B = 4464 KiB
    // (vmap, ioremap, vm_map_ram and unpurged areas are not counted).
    expect(parseVmallocUsed(bm("proc/vmallocinfo"), mem)).toEqual({ kb: 4464, source: "vmallocinfo", errors: [] });
  });

  test("rounds down to KiB", () => {
    const t = "0xffff0000-0xffff1000    1536 f+0x1/0x2 pages=1 vmalloc N0=1\n0xffff2000-0xffff3000    1000 g pages=1 vmalloc\n";
    expect(parseVmallocUsed(t).kb).toBe(2);
  });

  test("falls back to meminfo VmallocUsed when vmallocinfo is absent or unusable", () => {
    const mem = parseMeminfo(bm("proc/meminfo"));
    expect(parseVmallocUsed(undefined, mem)).toEqual({ kb: 56789, source: "meminfo", errors: [] });
    expect(parseVmallocUsed("", mem)).toEqual({ kb: 56789, source: "meminfo", errors: [] });
    const g = parseVmallocUsed(broken("proc/vmallocinfo"), mem);
    expect(g.kb).toBe(56789);
    expect(g.source).toBe("meminfo");
    expect(g.errors.length).toBe(2);
    expect(parseVmallocUsed(broken("proc/vmallocinfo"), parseMeminfo(broken("proc/meminfo"))).kb).toBeUndefined();
    expect(parseVmallocUsed(undefined)).toEqual({ kb: undefined, source: undefined, errors: [] });
  });

  test("no vmalloc areas at all is 0, not a fallback", () => {
    const t = "0xffff0000-0xffff2000    8192 acpi_os_map_iomem+0x1/0x2 phys=0x0 ioremap\n";
    expect(parseVmallocUsed(t, parseMeminfo("VmallocUsed: 9 kB\n"))).toEqual({ kb: 0, source: "vmallocinfo", errors: [] });
  });

  const vmallocinfo = live("/proc/vmallocinfo");
  test.if(vmallocinfo !== undefined)("live /proc/vmallocinfo (root only)", () => {
    const r = parseVmallocUsed(vmallocinfo, parseMeminfo(readFileSync("/proc/meminfo", "utf8")));
    expect(r.errors).toEqual([]);
    expect(r.kb).toBeGreaterThan(0);
  });
});

describe("every parser is total", () => {
  const parsers: ((t: string) => unknown)[] = [
    parseProcStat,
    parseSoftirqs,
    (t) => parseSoftnetStat(t),
    (t) => parseSoftnetStat(t, [0, 1]),
    parseCpuinfoMhz,
    parseMeminfo,
    parseDentryState,
    (t) => parseVmallocUsed(t),
  ];
  const files = [
    "proc/stat",
    "proc/softirqs",
    "proc/net/softnet_stat",
    "proc/cpuinfo",
    "proc/meminfo",
    "proc/vmallocinfo",
    "proc/sys/fs/dentry-state",
  ];

  test("every prefix of every fixture file, through every parser", () => {
    for (const f of files) {
      const text = bm(f);
      for (let n = 0; n <= text.length; n += 7) {
        const cut = text.slice(0, n);
        for (const p of parsers) expect(() => p(cut)).not.toThrow();
      }
    }
  });

  test("random bytes", () => {
    let seed = 12345;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const alphabet = "cpu0123456789abcdefxX :\t\n-.()kBMHzRCUTIMERSCHED_NETRX\u0000\u00ff";
    for (let i = 0; i < 300; i++) {
      let s = "";
      const len = rnd() % 400;
      for (let j = 0; j < len; j++) s += alphabet[rnd() % alphabet.length];
      for (const p of parsers) expect(() => p(s)).not.toThrow();
    }
  });
});
