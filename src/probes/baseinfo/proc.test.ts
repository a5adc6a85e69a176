import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { HostFs, hostPathsUnder } from "../../host/fs.ts";
import type { Logger } from "../../log/logger.ts";
import type { ProbeContext, ScopeView } from "../../probe/define.ts";
import { emptyScope, type ProbeSettings } from "../../probe/settings.ts";
import { createSnooper, type Snooper } from "../../snooper/snooper.ts";
import { copyFixture, FIXTURES } from "../../../test/harness.ts";
import { LIMITS_EVERY, SMAPS_EVERY, procRow, procTargets, readProcSample, createProcCollector } from "./proc.ts";
import { baseinfoProcTables, systemConIoTable, systemProcTable } from "./tables-proc.ts";
import { recordingContext } from "./test-context.ts";

const hostAt = (dir: string) => new HostFs(hostPathsUnder(dir));
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
const tmp: string[] = [];
const snoopers: Snooper[] = [];
afterEach(() => {
  for (const d of tmp.splice(0)) rmSync(d, { recursive: true, force: true });
  for (const s of snoopers.splice(0)) s.close();
});

function settings(scope: Partial<ProbeSettings["scope"]> = {}): ProbeSettings {
  return { name: "baseinfo", subitems: ["proc"], mode: "whitelist", scope: { ...emptyScope(), ...scope }, customLabels: {}, podLabels: [], params: {}, wanted: true };
}

function withScope(ctx: ProbeContext, scope: ScopeView): void {
  (ctx as { scope: ScopeView }).scope = scope;
}

const deps = (mono: () => number) => ({ statfs: () => undefined, qdiscs: () => undefined, monotonicSeconds: mono });

/** Rewrites fields (1-based proc(5) numbers) of /proc/<pid>/stat in a copied fixture. */
function bumpStat(dir: string, pid: number, changes: Record<number, number>): void {
  const file = path.join(dir, "proc", String(pid), "stat");
  const text = readFileSync(file, "utf8");
  const close = text.lastIndexOf(")");
  const head = text.slice(0, close + 1);
  const f = text.slice(close + 2).trim().split(" ");
  for (const [n, v] of Object.entries(changes)) f[Number(n) - 3] = String(v);
  writeFileSync(file, `${head} ${f.join(" ")}\n`);
}

describe("system_proc rows", () => {
  test("docker-cgv1 nginx master: first report has no deltas", () => {
    const host = hostAt(path.join(FIXTURES, "docker-cgv1"));
    const cur = readProcSample(host, 1200)!;
    expect(procRow(1200, cur, undefined, undefined, 8000000)).toEqual({
      tgid: "1200",
      pgid: "1200",
      ppid: "1190",
      fd_count: 8,
      fd_free_per: "99.22",
      rchar_bytes: undefined,
      wchar_bytes: undefined,
      syscr_count: undefined,
      syscw_count: undefined,
      read_bytes: undefined,
      write_bytes: undefined,
      cancelled_write_bytes: undefined,
      shared_clean_size: 1000,
      shared_dirty_size: 10,
      private_clean_size: 2000,
      private_dirty_size: 3000,
      referenced_size: 5000,
      lazyfree_size: 0,
      swap_data_size: 0,
      swap_data_pss_size: 0,
      minor_pagefault_count: undefined,
      major_pagefault_count: undefined,
      utime_jiffies: undefined,
      stime_jiffies: undefined,
      cutime_jiffies: undefined,
      cstime_jiffies: undefined,
      priority: 20,
      nice: 0,
      num_threads: 1,
      vm_size: 157286400,
      pm_size: 10485760,
      pm_util: "0.13",
      cpu: 0,
    });
  });

  test("second report: deltas and CPU percentages over the interval", () => {
    const dir = copyFixture("docker-cgv1");
    tmp.push(dir);
    const host = hostAt(dir);
    const a = readProcSample(host, 1200)!;
    bumpStat(dir, 1200, { 10: 20600, 12: 13, 14: 1400, 15: 600, 16: 7, 17: 3 });
    writeFileSync(path.join(dir, "proc/1200/io"), "rchar: 101000\nwchar: 52048\nsyscr: 310\nsyscw: 220\nread_bytes: 4096\nwrite_bytes: 16384\ncancelled_write_bytes: 4096\n");
    const b = readProcSample(host, 1200)!;
    const r = procRow(1200, b, a, 5, 8000000);
    expect(r).toMatchObject({
      rchar_bytes: 1000,
      wchar_bytes: 2048,
      syscr_count: 10,
      syscw_count: 20,
      read_bytes: 0,
      write_bytes: 8192,
      cancelled_write_bytes: 4096,
      minor_pagefault_count: 600,
      major_pagefault_count: 1,
      utime_jiffies: 400,
      stime_jiffies: 100,
      cutime_jiffies: 7,
      cstime_jiffies: 3,
      // 500 ticks in 5 s = 1 CPU-second per second
      cpu_util: "100.00",
      cpu_user_util: "80.00",
      cpu_system_util: "20.00",
    });
  });

  test("a reused pid (other start time) gets no deltas", () => {
    const dir = copyFixture("docker-cgv1");
    tmp.push(dir);
    const host = hostAt(dir);
    const a = readProcSample(host, 1200)!;
    bumpStat(dir, 1200, { 22: 90000 });
    const r = procRow(1200, readProcSample(host, 1200)!, a, 5, 8000000);
    expect(r.utime_jiffies).toBeUndefined();
    expect(r.rchar_bytes).toBeUndefined();
    expect(r.cpu_util).toBeUndefined();
  });

  test("unlimited open files, missing files, truncated stat", () => {
    const host = hostAt(path.join(FIXTURES, "docker-cgv1"));
    const java = readProcSample(host, 1530)!;
    expect(procRow(1530, java, undefined, undefined, undefined)).toMatchObject({ fd_count: 3, fd_free_per: "100.00", pm_size: 204800 * 1024, pm_util: undefined, num_threads: 40 });
    const bash = readProcSample(host, 2000)!; // no io, smaps, limits, status, fd
    const r = procRow(2000, bash, undefined, undefined, 8000000);
    expect(r.fd_count).toBeUndefined();
    expect(r.fd_free_per).toBeUndefined();
    expect(r.shared_clean_size).toBeUndefined();
    expect(r.pm_size).toBe(2560 * 4096);
    expect(readProcSample(host, 2500)).toBeUndefined(); // truncated stat
    expect(readProcSample(host, 2700)).toBeUndefined(); // no stat
    expect(readProcSample(host, 99999)).toBeUndefined();
  });
});

describe("which processes", () => {
  test("whole host: every pid minus the blacklist; kernel threads are skipped by the collector", () => {
    const host = hostAt(path.join(FIXTURES, "docker-cgv1"));
    const s = createSnooper({ host, log: quiet, selfPid: 999_999, intervalMs: 60_000 });
    snoopers.push(s);
    expect(procTargets(host, s.scopeFactory("baseinfo", settings())).pids).toEqual([1, 2, 880, 1200, 1201, 1500, 1530, 2000, 2001, 2500, 2600, 2700]);
    const bl = s.scopeFactory("baseinfo", { ...settings({ container_id: ["4b5e57f6eb2f"] }), mode: "blacklist" });
    expect(procTargets(host, bl).pids).toEqual([1, 2, 880, 1500, 1530, 2000, 2001, 2500, 2600, 2700]);
    const ctx = recordingContext(host, ["proc"]);
    withScope(ctx, s.scopeFactory("baseinfo", settings()));
    createProcCollector(ctx, deps(() => 0)).collect();
    expect(ctx.table("system_proc").map((r) => r.tgid)).toEqual(["1", "880", "1200", "1201", "1500", "1530", "2000", "2001", "2600"]);
  });

  test("whitelist: only the scope's processes, deltas from the second report on", () => {
    const dir = copyFixture("docker-cgv1");
    tmp.push(dir);
    const host = hostAt(dir);
    const s = createSnooper({ host, log: quiet, selfPid: 999_999, intervalMs: 60_000 });
    snoopers.push(s);
    const ctx = recordingContext(host, ["proc"]);
    withScope(ctx, s.scopeFactory("baseinfo", settings({ proc_name: [{ comm: "^nginx$", cmdline: "" }] })));
    let mono = 100;
    const c = createProcCollector(ctx, deps(() => mono));
    c.collect();
    expect(ctx.table("system_proc").map((r) => [r.tgid, r.utime_jiffies])).toEqual([
      ["1200", undefined],
      ["1201", undefined],
    ]);
    ctx.clear();
    bumpStat(dir, 1200, { 14: 1100 });
    writeFileSync(path.join(dir, "proc/uptime"), "3605.00 7000.00\n");
    mono = 105;
    c.collect();
    expect(ctx.table("system_proc").map((r) => [r.tgid, r.utime_jiffies, r.cpu_util])).toEqual([
      ["1200", 100, "20.00"],
      ["1201", 0, "0.00"],
    ]);
    c.reset();
    ctx.clear();
    c.collect();
    expect(ctx.table("system_proc")[0]?.utime_jiffies).toBeUndefined();
  });
});

describe("tables-proc.ts matches spec metrics.json", () => {
  const specPath = path.join(import.meta.dir, "../../../../shared/spec/metrics.json");
  const have = existsSync(specPath);
  if (!have) console.log(`skipping spec comparison: ${specPath} not found (spec folder is not part of the repo)`);
  test.if(have)("system_proc and system_con_io", () => {
    type SpecTable = { table_name: string; entity_name: string; meta_version: string; fields: { name: string; type: string; description: string }[] };
    const spec = JSON.parse(readFileSync(specPath, "utf8")) as SpecTable[];
    for (const t of baseinfoProcTables) {
      const s = spec.find((x) => x.table_name === t.name)!;
      expect(t.entity).toBe(s.entity_name);
      expect(t.version).toBe(s.meta_version);
      expect(t.fields.map((f) => [f.name, f.type, f.description])).toEqual(s.fields.map((f) => [f.name, f.type, f.description]));
    }
    expect(baseinfoProcTables).toEqual([systemProcTable, systemConIoTable]);
  });
});

describe("read cost control", () => {
  test("smaps_rollup is re-read every SMAPS_EVERY periods and limits every LIMITS_EVERY; a new process reads both", () => {
    const host = hostAt(path.join(FIXTURES, "docker-cgv1"));
    const first = readProcSample(host, 1200)!;
    expect(first.age).toBe(0);
    let s = first;
    const reread: number[] = [];
    const limitsReread: number[] = [];
    for (let i = 1; i <= 12; i++) {
      const next = readProcSample(host, 1200, s)!;
      if (next.smaps !== s.smaps) reread.push(next.age ?? -1);
      if (next.maxOpenFiles !== s.maxOpenFiles || (next.age ?? 0) % LIMITS_EVERY === 0) limitsReread.push(next.age ?? -1);
      s = next;
    }
    expect(reread).toEqual([3, 6, 9, 12].filter((a) => a % SMAPS_EVERY === 0));
    expect(limitsReread).toEqual([12]);
    // Another process (different start time) never inherits the cache.
    const other = { ...first, stat: { ...first.stat, startTicks: first.stat.startTicks + 1 }, age: 5 };
    expect(readProcSample(host, 1200, other)!.age).toBe(0);
  });
});

describe("a live kernel thread", () => {
  const real = new HostFs({ procfs: "/proc", sysfs: "/sys", rootfs: "/" });
  const pids = real.list("/proc").filter((d) => /^\d+$/.test(d)).map(Number);
  // PF_KTHREAD; a pid namespace of its own (a container) shows none.
  const kthread = pids.map((p) => readProcSample(real, p)).find((x) => x !== undefined && (x.stat.flags & 0x00200000) !== 0);
  if (!kthread) console.warn("skipping the kernel-thread test: no kernel thread is visible in this pid namespace");
  test.if(kthread !== undefined)("a kernel thread is read from stat alone", () => {
    const k = kthread!;
    expect(k.io).toBeUndefined();
    expect(k.smaps).toBeUndefined();
    expect(k.fdCount).toBeUndefined();
  });
});
