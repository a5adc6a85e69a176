// proc_io's bio table against real block I/O on loop devices of the test's own: a process
// in scope doing O_DIRECT (one bio per call) shows exactly its bios per size class, per
// period; buffered I/O on a loop-mounted ext4 shows bounded counts (the page cache and the
// file system decide the bio sizes); writes to a loop device over a full tmpfs show one bio
// error per failed call; a process blocked on a frozen file system is reported hung.
// Another process doing the same meanwhile is not counted.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Row } from "../../store/table.ts";
import { Proc, TestScope, openRun, procContext, procPreflight, sleeping, type ProcTestContext } from "./test-kit.ts";

function sh(cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}
const has = (tool: string) => Bun.spawnSync(["sh", "-c", `command -v ${tool}`]).exitCode === 0;

const pre = procPreflight("proc bio root tests", () => {
  for (const tool of ["losetup", "mount", "mkfs.ext4", "truncate"]) if (!has(tool)) return `${tool} is not installed`;
  return undefined;
});

const MiB = 1 << 20;
const work = pre.can ? mkdtempSync(join(tmpdir(), "gopher-procbio-")) : "";
const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups.reverse()) {
    try {
      c();
    } catch (e) {
      console.warn(`cleanup: ${(e as Error).message}`);
    }
  }
  if (work) rmSync(work, { recursive: true, force: true });
});

function loopDevice(file: string, sizeMiB: number): string {
  sh(["truncate", "-s", `${sizeMiB}M`, file]);
  const dev = sh(["losetup", "-f", "--show", file]).trim();
  cleanups.push(() => void Bun.spawnSync(["losetup", "-d", dev]));
  return dev;
}

function start(...args: string[]): Proc {
  const p = new Proc([pre.bin, ...args]);
  cleanups.push(() => p.kill());
  return p;
}

/** A procload child that waits in its read of stdin, put in scope. */
async function inScope(scope: TestScope, ...args: string[]): Promise<Proc> {
  const p = start(...args);
  await p.waitFor(/ready/);
  await sleeping(p.pid); // in its read of stdin: that read is not in scope
  scope.add(p.pid);
  return p;
}

async function period(run: { collect(): void | Promise<void> }, ctx: ProcTestContext, tgid: number): Promise<Row | undefined> {
  ctx.rec.rows = [];
  await run.collect();
  return ctx.rec.rows.find((r) => r.table === "proc_io" && r.row.tgid === String(tgid))?.row;
}
const counts = (r: Row | undefined) => (r ? [r.less_4k_io_read, r.less_4k_io_write, r.greater_4k_io_read, r.greater_4k_io_write, r.bio_err_count, r.hang_count] : undefined);

describe("proc_io bios (root)", () => {
  test.if(pre.can)("64 MiB written and 32 MiB read with O_DIRECT on a loop device: exactly its bios per size class, per period; another process is not counted", async () => {
    const dev = loopDevice(join(work, "direct.img"), 80);
    const scope = new TestScope([]);
    const ctx = procContext({ subitems: ["proc_io"], scope });
    await using run = await openRun(ctx);
    const p = await inScope(scope, "dio", dev);
    const other = start("dio", dev); // the same I/O, out of scope
    await other.waitFor(/ready/);
    await period(run, ctx, p.pid);
    const t0 = Bun.nanoseconds();
    p.send("w");
    other.send("w");
    await p.waitFor(/dio w failed 0/);
    await other.waitFor(/dio w failed 0/);
    const w = await period(run, ctx, p.pid);
    p.send("r");
    await p.waitFor(/dio r failed 0/);
    const r = await period(run, ctx, p.pid);
    const span = Bun.nanoseconds() - t0;
    // 1024 × 64 KiB + 100 × 512 B writes, then 512 × 64 KiB + 50 × 512 B reads: one bio each.
    expect(counts(w)).toEqual([0, 100, 0, 1024, 0, 0]);
    expect(counts(r)).toEqual([50, 0, 512, 0, 0, 0]);
    for (const row of [w!, r!]) {
      expect(Number(row.bio_latency)).toBeGreaterThan(0);
      expect(Number(row.bio_latency)).toBeLessThan(span);
    }
    // Summed over the periods: the activity (64 MiB + 50 KiB written, 32 MiB + 25 KiB read).
    expect(64 * 1024 * Number(w!.greater_4k_io_write) + 512 * Number(w!.less_4k_io_write)).toBe(64 * MiB + 100 * 512);
    expect(64 * 1024 * (Number(w!.greater_4k_io_read) + Number(r!.greater_4k_io_read)) + 512 * Number(r!.less_4k_io_read)).toBe(32 * MiB + 50 * 512);
    // Out of scope: its next I/O is not counted and its series go.
    scope.remove(p.pid);
    p.send("w");
    await p.waitFor(/dio w failed 0[^]*dio r[^]*dio w failed 0/);
    expect(await period(run, ctx, p.pid)).toBeUndefined();
    expect(ctx.rec.rows.filter((x) => x.table === "proc_io" && x.row.tgid === String(other.pid))).toEqual([]);
  });

  test.if(pre.can)("buffered I/O on a loop-mounted ext4: its fsync'ed writes and page-cache-miss reads, bounded", async () => {
    const dev = loopDevice(join(work, "ext4.img"), 64);
    sh(["mkfs.ext4", "-q", "-F", dev]);
    const mnt = join(work, "ext4");
    mkdirSync(mnt);
    sh(["mount", dev, mnt]);
    cleanups.push(() => void Bun.spawnSync(["umount", mnt]));
    const scope = new TestScope([]);
    const ctx = procContext({ subitems: ["proc_io"], scope });
    await using run = await openRun(ctx);
    const p = await inScope(scope, "buffered", join(mnt, "data"));
    await period(run, ctx, p.pid);
    p.send("w");
    await p.waitFor(/buffered w 8388608/);
    const w = (await period(run, ctx, p.pid))!;
    p.send("r");
    await p.waitFor(/buffered r 8388608/);
    const r = (await period(run, ctx, p.pid))!;
    console.log(`buffered 8 MiB: write period ${JSON.stringify(counts(w))} bio_latency ${w.bio_latency}, read period ${JSON.stringify(counts(r))} bio_latency ${r.bio_latency}`);
    // fsync writes the 8 MiB back in the process's own context: at least one bio, at most one
    // per 4 KiB page (+ a few small ones: a cache flush); the journal commit runs in jbd2.
    expect(Number(w.greater_4k_io_write)).toBeGreaterThanOrEqual(1);
    expect(Number(w.greater_4k_io_write)).toBeLessThanOrEqual(2048);
    expect(Number(w.less_4k_io_write)).toBeLessThanOrEqual(8);
    expect(Number(w.bio_latency)).toBeGreaterThan(0);
    // The reads miss the page cache: readahead in the reader's context, at most one bio per page.
    expect(Number(r.greater_4k_io_read) + Number(r.less_4k_io_read)).toBeGreaterThanOrEqual(1);
    expect(Number(r.greater_4k_io_read) + Number(r.less_4k_io_read)).toBeLessThanOrEqual(2048 + 8);
    expect([r.greater_4k_io_write, r.bio_err_count, w.bio_err_count]).toEqual([0, 0, 0]);
  });

  test.if(pre.can)("writes to a loop device whose backing file is on a full tmpfs: one bio error per failed call", async () => {
    const small = join(work, "small");
    mkdirSync(small);
    sh(["mount", "-t", "tmpfs", "-o", "size=2M", "gopher-procbio", small]);
    cleanups.push(() => void Bun.spawnSync(["umount", small]));
    const dev = loopDevice(join(small, "backing"), 80);
    const scope = new TestScope([]);
    const ctx = procContext({ subitems: ["proc_io"], scope });
    await using run = await openRun(ctx);
    const p = await inScope(scope, "dio", dev);
    await period(run, ctx, p.pid);
    p.send("w");
    const failed = Number((await p.waitFor(/dio w failed (\d+)/))[1]);
    const w = (await period(run, ctx, p.pid))!;
    console.log(`full tmpfs: ${failed} failed writes, row ${JSON.stringify(w)}`);
    expect(failed).toBeGreaterThan(1000); // 2 MiB of room for 64 MiB
    expect(counts(w)).toEqual([0, 100, 0, 1024, failed, 0]);
  });

  const hangWhy = () => (!has("fsfreeze") ? "fsfreeze is not installed (util-linux)" : !existsSync("/proc/sys/kernel/hung_task_timeout_secs") ? "the kernel has no hung-task detector (CONFIG_DETECT_HUNG_TASK)" : readFileSync("/proc/sys/kernel/hung_task_panic", "utf8").trim() !== "0" ? "kernel.hung_task_panic is set: a hung task would panic the machine" : undefined);
  const hangPre = pre.can ? procPreflight("proc hang test", hangWhy) : pre;
  test.if(hangPre.can)("hang_count: a process blocked writing to a frozen file system is reported hung (hung_task_timeout_secs 1), another is not counted", async () => {
    const dev = loopDevice(join(work, "hang.img"), 64);
    sh(["mkfs.ext4", "-q", "-F", dev]);
    const mnt = join(work, "hang");
    mkdirSync(mnt);
    sh(["mount", dev, mnt]);
    cleanups.push(() => void Bun.spawnSync(["umount", mnt]));
    const timeoutFile = "/proc/sys/kernel/hung_task_timeout_secs";
    const savedTimeout = readFileSync(timeoutFile, "utf8").trim();
    const scope = new TestScope([]);
    const ctx = procContext({ subitems: ["proc_io"], scope });
    await using run = await openRun(ctx);
    const p = await inScope(scope, "buffered", join(mnt, "a"));
    const other = start("buffered", join(mnt, "b"));
    await other.waitFor(/ready/);
    await period(run, ctx, p.pid);
    sh(["fsfreeze", "-f", mnt]);
    let hungMs = 0;
    try {
      writeFileSync(timeoutFile, "1");
      const t0 = Date.now();
      p.send("w");
      other.send("w");
      await Bun.sleep(4000);
      hungMs = Date.now() - t0;
    } finally {
      writeFileSync(timeoutFile, savedTimeout);
      sh(["fsfreeze", "-u", mnt]);
    }
    await p.waitFor(/buffered w 8388608/);
    const row = (await period(run, ctx, p.pid))!;
    console.log(`hung ${hungMs} ms with hung_task_timeout_secs 1: hang_count ${row.hang_count}`);
    // The detector checks once a second and reports a task blocked for over a second at
    // every check: at least once, at most once per second blocked.
    expect(Number(row.hang_count)).toBeGreaterThanOrEqual(1);
    expect(Number(row.hang_count)).toBeLessThanOrEqual(Math.floor(hungMs / 1000));
    expect(ctx.rec.rows.filter((x) => x.table === "proc_io" && x.row.tgid === String(other.pid))).toEqual([]);
  });
});
