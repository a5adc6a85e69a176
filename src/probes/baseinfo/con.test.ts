import { afterEach, describe, expect, test } from "bun:test";
import { appendFileSync, linkSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import path from "node:path";
import { HostFs, hostPathsUnder } from "../../host/fs.ts";
import type { Logger } from "../../log/logger.ts";
import type { ContainerInfo, ProbeContext, ScopeView } from "../../probe/define.ts";
import { emptyScope, type ProbeSettings } from "../../probe/settings.ts";
import { createSnooper, type Snooper } from "../../snooper/snooper.ts";
import { copyFixture, FIXTURES, tempDir, which } from "../../../test/harness.ts";
import { containerRoot, createConCollector, dirSize, writeRate } from "./con.ts";
import { recordingContext } from "./test-context.ts";

const hostAt = (dir: string) => new HostFs(hostPathsUnder(dir));
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
const tmp: string[] = [];
const snoopers: Snooper[] = [];
afterEach(() => {
  for (const d of tmp.splice(0)) rmSync(d, { recursive: true, force: true });
  for (const s of snoopers.splice(0)) s.close();
});
const settings = (): ProbeSettings => ({ name: "baseinfo", subitems: ["con"], mode: "whitelist", scope: emptyScope(), customLabels: {}, podLabels: [], params: {}, wanted: true });
const info = (id: string, cgroupPath: string): ContainerInfo => ({ id, name: "", image: "", podId: "", pod: "", podNamespace: "", cgroupPath });

describe("bounded directory walk (du -sb)", () => {
  test("apparent sizes of the tree, symlinks not followed, hard links once", () => {
    const d = tempDir("gg-du-");
    tmp.push(d);
    mkdirSync(path.join(d, "a/b/c"), { recursive: true });
    writeFileSync(path.join(d, "a/one"), "x".repeat(1000));
    writeFileSync(path.join(d, "a/b/c/two"), "y".repeat(5000));
    linkSync(path.join(d, "a/b/c/two"), path.join(d, "a/hard"));
    symlinkSync("/etc", path.join(d, "a/link"));
    const r = dirSize(d);
    expect(r.error).toBeUndefined();
    const du = which("du");
    if (du) {
      const out = Bun.spawnSync([du, "-sb", d]).stdout.toString();
      expect(r.bytes).toBe(Number(out.split("\t")[0]));
    } else {
      console.log("du not installed: size checked against the file sizes only");
      expect(r.bytes).toBeGreaterThan(6000);
    }
  });

  test("bounds: too many entries, too deep, missing", () => {
    const d = tempDir("gg-du-");
    tmp.push(d);
    for (let i = 0; i < 30; i++) writeFileSync(path.join(d, `f${i}`), "z");
    expect(dirSize(d, 10).error).toBe("too many entries");
    expect(dirSize(d, 100).bytes).toBeGreaterThan(30);
    mkdirSync(path.join(d, "1/2/3/4/5"), { recursive: true });
    expect(dirSize(d, 100, 3).error).toBe("too deep");
    expect(dirSize(path.join(d, "nope")).error).toBe("missing");
    expect(dirSize(path.join(d, "f1")).bytes).toBe(1);
  });

  test("rate", () => {
    expect(writeRate(undefined, 100, 5)).toBeUndefined();
    expect(writeRate(100, 600, undefined)).toBeUndefined();
    expect(writeRate(100, 612, 5)).toBe(102);
    expect(writeRate(600, 100, 5)).toBe(0);
  });
});

describe("container root", () => {
  test("cgroup v1: cgroup.procs of the memory hierarchy → /proc/<pid>/root", () => {
    const host = hostAt(path.join(FIXTURES, "docker-cgv1"));
    const id = "4b5e57f6eb2f42b9039b3d1e13929295f231749c510cbe341cd68036d9af97e2";
    expect(containerRoot(host, info(id.slice(0, 12), `/docker/${id}`))).toBe(host.proc("1200", "root"));
  });

  test("cgroup v2", () => {
    const host = hostAt(path.join(FIXTURES, "k8s-cgv2"));
    const s = createSnooper({ host, log: quiet, selfPid: 999_999, intervalMs: 60_000 });
    snoopers.push(s);
    s.refresh();
    expect(containerRoot(host, s.container("34fb46c847bb")!)).toBe(host.proc("3150", "root"));
  });

  test("no process visible: containerd bundle rootfs; else undefined", () => {
    const dir = copyFixture("k8s-cgv2");
    tmp.push(dir);
    const host = hostAt(dir);
    const id = "9125f2177ab83f5c73fb81320caa3d23f4c19ea50066f638f196b6e9920fa0c1";
    expect(containerRoot(host, info(id.slice(0, 12), "/gone"))).toBe(path.join(dir, "run/containerd/io.containerd.runtime.v2.task/k8s.io", id, "rootfs"));
    expect(containerRoot(host, info("ffffffffffff", ""))).toBeUndefined();
  });
});

describe("system_con_io collector", () => {
  test("bytes/s written into elf_path of each container in scope; first report has no row", () => {
    const dir = copyFixture("docker-cgv1");
    tmp.push(dir);
    const host = hostAt(dir);
    const s = createSnooper({ host, log: quiet, selfPid: 999_999, intervalMs: 60_000 });
    snoopers.push(s);
    const ctx = recordingContext(host, ["con"], { elf_path: "/var/log/nginx" });
    (ctx as { scope: ScopeView }).scope = s.scopeFactory("baseinfo", settings());
    let mono = 0;
    const c = createConCollector(ctx as ProbeContext, { statfs: () => undefined, qdiscs: () => undefined, monotonicSeconds: () => mono });
    c.collect();
    expect(ctx.table("system_con_io")).toEqual([]);
    appendFileSync(path.join(dir, "proc/1200/root/var/log/nginx/access.log"), "w".repeat(10_000));
    writeFileSync(path.join(dir, "proc/uptime"), "3605.00 7000.00\n");
    mono = 5;
    c.collect();
    // Only the web container has a visible root with that directory.
    expect(ctx.table("system_con_io")).toEqual([{ container_id: "4b5e57f6eb2f", dir: "/var/log/nginx", write_rate: 2000 }]);
    expect(ctx.parseErrors).toEqual([]);
  });

  test("elf_path unset: nothing, logged once", () => {
    const host = hostAt(path.join(FIXTURES, "docker-cgv1"));
    const ctx = recordingContext(host, ["con"], { elf_path: "" });
    const c = createConCollector(ctx, { statfs: () => undefined, qdiscs: () => undefined, monotonicSeconds: () => 0 });
    c.collect();
    c.collect();
    expect(ctx.rows.size).toBe(0);
    expect(ctx.logs.filter((l) => l.includes("elf_path")).length).toBe(1);
  });
});
