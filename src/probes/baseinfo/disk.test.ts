import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import path from "node:path";
import { createDiskCollector, iostatRows, isDefaultDisk, parseDiskstats, sysBlockName, type DiskSample } from "./disk.ts";
import { FixtureHost, HOSTS, fakeDeps } from "./test-fixture-host.ts";
import { recordingContext } from "./test-context.ts";

const fx = (host: string, rel: string): string => readFileSync(path.join(HOSTS, host, rel), "utf8");

describe("parseDiskstats", () => {
  test("bare-metal fixture (17 fields, kernel 5.5+)", () => {
    const d = parseDiskstats(fx("bare-metal", "proc/diskstats"));
    expect(d.errors).toEqual([]);
    expect([...d.devices.keys()]).toEqual(["sda", "sda1", "sda2", "nvme0n1", "nvme0n1p1", "loop0", "sr0"]);
    expect(d.devices.get("sda")).toEqual({ major: 8, minor: 0, rdIos: 100000, rdSectors: 8000000, rdTicks: 50000, wrIos: 200000, wrSectors: 16000000, wrTicks: 300000, ioTicks: 400000, rqTicks: 350000 });
  });
  test("vm fixture (15 fields, 4.18..5.4) and the 11-field layout", () => {
    expect(parseDiskstats(fx("vm", "proc/diskstats")).errors).toEqual([]);
    const old = parseDiskstats("   8 0 sda 1 2 3 4 5 6 7 8 9 10 11\n   8 1 sda1 1 2 3 4\n");
    expect(old.errors).toEqual([]);
    expect([...old.devices.keys()]).toEqual(["sda"]); // 4-field partition lines of pre-2.6.25 kernels are skipped
    expect(old.devices.get("sda")?.rqTicks).toBe(11);
  });
  test("broken fixture", () => {
    const d = parseDiskstats(fx("broken", "proc/diskstats"));
    expect([...d.devices.keys()]).toEqual(["sda"]);
    // sdb 3 fields, nvme0n1 garbage, vdz narrower than the others, vda cut off
    expect(d.errors.length).toBe(4);
  });
  test("total on garbage", () => {
    for (const t of ["", "x\n", "1 2\n", "1 2 3 4 5 6 7 8 9 10 11 12 13 14\n", "-1 0 sda 1 2 3 4 5 6 7 8 9 10 11\n"]) expect(() => parseDiskstats(t)).not.toThrow();
  });
});

describe("which devices", () => {
  const host = new FixtureHost("bare-metal");
  const d = parseDiskstats(fx("bare-metal", "proc/diskstats"));
  const pick = (n: string) => isDefaultDisk(host, n, d.devices.get(n)!);
  test("whole disks with I/O; partitions, loop, never-used sr0 excluded", () => {
    expect([...d.devices.keys()].filter(pick)).toEqual(["sda", "nvme0n1"]);
  });
  test("/sys/block spelling of slashes", () => {
    expect(sysBlockName("cciss/c0d0")).toBe("cciss!c0d0");
  });
});

describe("iostatRows (iostat -x)", () => {
  const s = (host: string, next: boolean, uptime: number): DiskSample => ({
    stats: parseDiskstats(fx(host, `proc/diskstats${next ? ".next" : ""}`)),
    uptime,
    mono: 0,
  });
  test("first sample: nothing but the key", () => {
    expect(iostatRows(undefined, s("bare-metal", false, 350000), ["sda"]).rows).toEqual([
      { disk_name: "sda", rspeed: undefined, rspeed_kB: undefined, r_await: undefined, rareq: undefined, wspeed: undefined, wspeed_kB: undefined, w_await: undefined, wareq: undefined, aqu: undefined, util: undefined },
    ]);
  });
  test("bare-metal over 5 s", () => {
    const r = iostatRows(s("bare-metal", false, 350000), s("bare-metal", true, 350005), ["sda", "nvme0n1", "loop0"]);
    expect(r.rows).toEqual([
      { disk_name: "sda", rspeed: "100.00", rspeed_kB: "4000.00", r_await: "2.00", rareq: "40.00", wspeed: "200.00", wspeed_kB: "8000.00", w_await: "3.00", wareq: "40.00", aqu: "0.80", util: "50.00" },
      { disk_name: "nvme0n1", rspeed: "2000.00", rspeed_kB: "160000.00", r_await: "0.15", rareq: "80.00", wspeed: "0.00", wspeed_kB: "0.00", w_await: "0.00", wareq: "0.00", aqu: "0.34", util: "99.80" },
      { disk_name: "loop0", rspeed: "1.60", rspeed_kB: "6.40", r_await: "0.50", rareq: "4.00", wspeed: "0.00", wspeed_kB: "0.00", w_await: "0.00", wareq: "0.00", aqu: "0.00", util: "0.10" },
    ]);
    expect(r.util).toEqual([
      { disk: "sda", util: 50 },
      { disk: "nvme0n1", util: 99.8 },
      { disk: "loop0", util: 0.1 },
    ]);
  });
  test("vm over 10 s", () => {
    expect(iostatRows(s("vm", false, 1000), s("vm", true, 1010), ["vda"]).rows).toEqual([
      { disk_name: "vda", rspeed: "10.00", rspeed_kB: "320.00", r_await: "1.50", rareq: "32.00", wspeed: "30.00", wspeed_kB: "480.00", w_await: "3.00", wareq: "16.00", aqu: "0.11", util: "8.00" },
    ]);
  });
  test("util is capped at 100; another device under the same name gives no deltas", () => {
    const a = parseDiskstats("8 0 sda 0 0 0 0 0 0 0 0 0 0 0\n");
    const b = parseDiskstats("8 0 sda 0 0 0 0 0 0 0 0 0 2000 0\n");
    expect(iostatRows({ stats: a, uptime: 1, mono: 0 }, { stats: b, uptime: 2, mono: 0 }, ["sda"]).rows[0]?.util).toBe("100.00");
    const other = parseDiskstats("8 16 sda 5 0 0 0 0 0 0 0 0 0 0\n");
    expect(iostatRows({ stats: a, uptime: 1, mono: 0 }, { stats: other, uptime: 2, mono: 0 }, ["sda"]).rows[0]?.rspeed).toBeUndefined();
  });
});

describe("disk collector", () => {
  test("bare-metal: sda and nvme0n1; util event over res_upper_thr with Device", () => {
    const host = new FixtureHost("bare-metal");
    const ctx = recordingContext(host, ["disk"], { res_upper_thr: 90 });
    const c = createDiskCollector(ctx, fakeDeps(host.paths.rootfs));
    c.collect();
    expect(ctx.table("system_iostat").map((r) => r.disk_name)).toEqual(["sda", "nvme0n1"]);
    expect(ctx.events).toEqual([]);
    host.next = true;
    ctx.clear();
    c.collect();
    expect(ctx.table("system_iostat").map((r) => [r.disk_name, r.util])).toEqual([
      ["sda", "50.00"],
      ["nvme0n1", "99.80"],
    ]);
    expect(ctx.events).toEqual([{ entity: "disk", key: "nvme0n1", metric: "util", message: "Disk device saturated(99.80%).", device: "nvme0n1" }]);
    ctx.params.res_upper_thr = 0;
    ctx.clear();
    c.collect();
    expect(ctx.events).toEqual([]);
  });
  test("dev_name selects a loop device or a partition", () => {
    const host = new FixtureHost("bare-metal");
    for (const dev of ["loop0", "sda1"]) {
      const ctx = recordingContext(host, ["disk"], { dev_name: dev });
      createDiskCollector(ctx, fakeDeps(host.paths.rootfs)).collect();
      expect(ctx.table("system_iostat").map((r) => r.disk_name)).toEqual([dev]);
    }
  });
  test("broken host: counted, the good disk still reported", () => {
    const host = new FixtureHost("broken");
    const ctx = recordingContext(host, ["disk"], { dev_name: "sda" });
    createDiskCollector(ctx, fakeDeps(host.paths.rootfs)).collect();
    expect(ctx.table("system_iostat").map((r) => r.disk_name)).toEqual(["sda"]);
    expect(ctx.parseErrors.map((e) => e.item).sort()).toEqual(["/proc/diskstats", "/proc/uptime"]);
  });
});
