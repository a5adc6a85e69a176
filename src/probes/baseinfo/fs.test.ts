import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import path from "node:path";
import { BARE_METAL_STATFS, FixtureHost, HOSTS, fakeDeps } from "./test-fixture-host.ts";
import { candidateMounts, createFsCollector, dfPercent, dfRow, parseMounts, unescapeMountField } from "./fs.ts";
import { recordingContext } from "./test-context.ts";

const fx = (host: string, rel: string): string => readFileSync(path.join(HOSTS, host, rel), "utf8");

describe("parseMounts", () => {
  test("bare-metal fixture, octal escapes decoded", () => {
    const m = parseMounts(fx("bare-metal", "proc/mounts"));
    expect(m.errors).toEqual([]);
    expect(m.entries.length).toBe(21);
    expect(m.entries[14]).toEqual({ fsname: "/dev/nvme0n1p1", mountPoint: "/mnt/backup disk", type: "ext4", options: ["rw", "relatime"] });
    expect(unescapeMountField("a\\011b\\012c\\134d\\040e")).toBe("a\tb\nc\\d e");
  });
  test("broken fixture", () => {
    const m = parseMounts(fx("broken", "proc/mounts"));
    expect(m.entries.map((e) => e.mountPoint)).toEqual(["/", "/run"]);
    expect(m.errors.length).toBe(3);
  });
  test("total on garbage", () => {
    for (const t of ["", "\n", "a\n", "a /b\n", "\\\\\\ / x y\n"]) expect(() => parseMounts(t)).not.toThrow();
  });
});

describe("candidateMounts (df's selection)", () => {
  test("pseudo types dropped, over-mount once, bind mounts of a device once", () => {
    const c = candidateMounts(parseMounts(fx("bare-metal", "proc/mounts")).entries);
    expect(c.map((e) => e.mountPoint)).toEqual([
      "/dev",
      "/run",
      "/",
      "/boot",
      "/mnt/backup disk",
      "/snap/core20/1974",
      "/var/lib/docker/overlay2/3f1c/merged",
      "/run/user/0",
      "/run/credentials",
      "/dev/shm",
    ]);
    // the visible /dev/shm is the last one mounted
    expect(c.at(-1)?.options).toContain("size=65536k");
  });
});

describe("df arithmetic", () => {
  test("percentages round up as df does; 0 total is unknown", () => {
    expect(dfPercent(0, 10)).toBe(0);
    expect(dfPercent(1, 1000)).toBe(1);
    expect(dfPercent(500, 1000)).toBe(50);
    expect(dfPercent(501, 1000)).toBe(51);
    expect(dfPercent(10, 10)).toBe(100);
    expect(dfPercent(0, 0)).toBeUndefined();
  });
  test("KiB from 512-byte blocks round up", () => {
    const r = dfRow({ fsname: "x", mountPoint: "/x", type: "vfat", options: ["rw"] }, { bsize: 512, blocks: 3, bfree: 1, bavail: 1, files: 0, ffree: 0 });
    expect(r.row).toMatchObject({ Blocks: "2", Used: 1, Free: 1, UsePer: 67, Inodes: "0", IUsed: 0, IFree: 0, IUsePer: undefined });
  });
  test("zero blocks or nonsense is skipped", () => {
    const m = { fsname: "x", mountPoint: "/x", type: "ramfs", options: ["rw"] };
    expect(dfRow(m, { bsize: 4096, blocks: 0, bfree: 0, bavail: 0, files: 0, ffree: 0 }).row).toBeUndefined();
    expect(dfRow(m, { bsize: Number.NaN, blocks: 1, bfree: 0, bavail: 0, files: 0, ffree: 0 }).row).toBeUndefined();
  });
});

describe("fs collector (statfs stubbed)", () => {
  const host = new FixtureHost("bare-metal");
  test("rows like df -T and df -T -i; statfs rooted at --path.rootfs", async () => {
    const ctx = recordingContext(host, ["fs"]);
    const deps = fakeDeps(host.paths.rootfs, BARE_METAL_STATFS);
    await createFsCollector(ctx, deps).collect();
    expect(deps.statfsCalls).toContain(path.join(host.paths.rootfs, "mnt/backup disk"));
    const row = (mp: string) => ctx.table("system_df").find((r) => r.MountOn === mp);
    expect(ctx.table("system_df").map((r) => r.MountOn)).toEqual([
      "/dev",
      "/run",
      "/",
      "/boot",
      "/mnt/backup disk",
      "/snap/core20/1974",
      "/var/lib/docker/overlay2/3f1c/merged",
      "/run/user/0",
      "/dev/shm",
    ]);
    expect(row("/")).toEqual({ MountOn: "/", MountStatus: "rw", Fsname: "/dev/sda2", Fstype: "xfs", Inodes: "488281216", IUsed: 1281216, IFree: 487000000, IUsePer: 1, Blocks: "976562500", Used: 493827156, Free: 482735344, UsePer: 51 });
    expect(row("/mnt/backup disk")).toEqual({ MountOn: "/mnt/backup disk", MountStatus: "rw", Fsname: "/dev/nvme0n1p1", Fstype: "ext4", Inodes: "6000", IUsed: 5900, IFree: 100, IUsePer: 99, Blocks: "400000", Used: 364000, Free: 16000, UsePer: 96 });
    expect(row("/snap/core20/1974")).toEqual({ MountOn: "/snap/core20/1974", MountStatus: "ro", Fsname: "/dev/loop0", Fstype: "squashfs", Inodes: "0", IUsed: 0, IFree: 0, IUsePer: undefined, Blocks: "64512", Used: 64512, Free: 0, UsePer: 100 });
    expect(row("/dev/shm")).toEqual({ MountOn: "/dev/shm", MountStatus: "rw", Fsname: "tmpfs", Fstype: "tmpfs", Inodes: "2033000", IUsed: 10, IFree: 2032990, IUsePer: 1, Blocks: "65536", Used: 1536, Free: 64000, UsePer: 3 });
    expect(row("/dev")).toMatchObject({ Blocks: "8123456", Used: 0, UsePer: 0, IUsed: 464, IUsePer: 1 });
    expect(ctx.events).toEqual([]);
    expect(ctx.parseErrors).toEqual([]);
  });
  test("events over res_upper_thr, key = mount point, upstream texts", async () => {
    const ctx = recordingContext(host, ["fs"], { res_upper_thr: 90 });
    await createFsCollector(ctx, fakeDeps(host.paths.rootfs, BARE_METAL_STATFS)).collect();
    expect(ctx.events).toEqual([
      { entity: "fs", key: "/mnt/backup disk", metric: "IUsePer", message: "Too many Inodes consumed(99%)." },
      { entity: "fs", key: "/mnt/backup disk", metric: "UsePer", message: "Too many Blocks used(96%)." },
      { entity: "fs", key: "/snap/core20/1974", metric: "UsePer", message: "Too many Blocks used(100%)." },
    ]);
  });
  test("a mount statfs cannot answer is skipped (like df), the rest reported", async () => {
    const ctx = recordingContext(host, ["fs"]);
    await createFsCollector(ctx, fakeDeps(host.paths.rootfs, { "/": BARE_METAL_STATFS["/"]! })).collect();
    expect(ctx.table("system_df").map((r) => r.MountOn)).toEqual(["/"]);
  });
  test("a statfs that hangs (dead NFS server) is skipped after the timeout, logged once", async () => {
    const ctx = recordingContext(host, ["fs"]);
    const deps = fakeDeps(host.paths.rootfs, BARE_METAL_STATFS);
    const answer = deps.statfs;
    deps.statfs = (p) => (p.endsWith("/boot") ? new Promise(() => {}) : Promise.resolve(answer(p)));
    const c = createFsCollector(ctx, deps, 50);
    const t0 = performance.now();
    await c.collect();
    await c.collect();
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(ctx.table("system_df").filter((r) => r.MountOn === "/").length).toBe(2);
    expect(ctx.table("system_df").some((r) => r.MountOn === "/boot")).toBe(false);
    expect(ctx.logs.filter((l) => l.includes("/boot did not answer")).length).toBe(1);
  });
  test("broken mounts: good lines reported, bad ones counted", async () => {
    const b = new FixtureHost("broken");
    const ctx = recordingContext(b, ["fs"]);
    await createFsCollector(ctx, fakeDeps(b.paths.rootfs, { "/": BARE_METAL_STATFS["/"]!, "/run": BARE_METAL_STATFS["/run"]! })).collect();
    expect(ctx.table("system_df").map((r) => r.MountOn)).toEqual(["/", "/run"]);
    expect(ctx.parseErrors.map((e) => e.item)).toEqual(["/proc/mounts"]);
  });
});
