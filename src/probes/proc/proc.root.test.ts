// The proc probe against the running kernel: real processes (testdata/procload.c) do known
// activity while in scope, and the rows carry exactly that activity.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Proc, TestScope, collectRows, openRun, procContext, procPreflight, settle, sleeping } from "./test-kit.ts";

const pre = procPreflight("proc root tests");

describe("proc probe (root)", () => {
  const procs: Proc[] = [];
  const start = (...args: string[]) => {
    const p = new Proc([pre.bin, ...args]);
    procs.push(p);
    return p;
  };
  afterAll(() => {
    for (const p of procs) p.kill();
  });

  test.if(pre.can)("failed syscalls: exactly the process's own failures, per period, and none while out of scope", async () => {
    const scope = new TestScope([]);
    const ctx = procContext({ subitems: ["proc_syscall"], scope });
    await using run = await openRun(ctx);
    const p = start("fail", "600");
    await p.waitFor(/ready/);
    await sleeping(p.pid); // in its read of stdin: that read is not in scope
    scope.add(p.pid);
    // The loader's failed access("/etc/ld.so.preload") happened before the process joined the scope.
    expect(await collectRows(run, ctx, "proc_syscall", p.pid)).toEqual([]);
    p.send();
    await p.waitFor(/failed 600/);
    const first = await collectRows(run, ctx, "proc_syscall", p.pid);
    p.send();
    await p.waitFor(/failed 600\n[^]*failed 600/);
    const second = await collectRows(run, ctx, "proc_syscall", p.pid);
    // open() of a missing file is the only failing call between a line and its answer.
    expect(first).toEqual([{ tgid: String(p.pid), syscall_failed: 600 }]);
    expect(second).toEqual([{ tgid: String(p.pid), syscall_failed: 600 }]);
    expect(Number(first[0]!.syscall_failed) + Number(second[0]!.syscall_failed)).toBe(1200);

    // Out of scope: the kernel no longer counts it and its series go.
    scope.remove(p.pid);
    p.send();
    await p.waitFor(/(failed 600[^]*){3}/);
    expect(await collectRows(run, ctx, "proc_syscall", p.pid)).toEqual([]);
    // Back in scope: counting starts again from what it does from now on.
    scope.add(p.pid);
    p.send();
    await p.waitFor(/(failed 600[^]*){4}/);
    expect(await collectRows(run, ctx, "proc_syscall", p.pid)).toEqual([{ tgid: String(p.pid), syscall_failed: 600 }]);
    p.send("exit");
    await p.proc.exited;
    // Its last period was reported; after exit the process has no series.
    expect(await collectRows(run, ctx, "proc_syscall", p.pid)).toEqual([{ tgid: String(p.pid), syscall_failed: 0 }]);
    expect(await collectRows(run, ctx, "proc_syscall", p.pid)).toEqual([]);
  });

  test.if(pre.can)("off-CPU: a 2 s sleep in read() on a pipe", async () => {
    const scope = new TestScope([]);
    const ctx = procContext({ subitems: ["proc_offcpu"], scope });
    await using run = await openRun(ctx);
    const p = start("pipe");
    await p.waitFor(/ready/);
    await sleeping(p.pid); // in its read of stdin: that read is not in scope
    scope.add(p.pid);
    await collectRows(run, ctx, "proc_cpu");
    p.send();
    const m = await p.waitFor(/blocked (\d+) span (\d+)/);
    const blocked = Number(m[1]);
    const span = Number(m[2]);
    const rows = await collectRows(run, ctx, "proc_cpu", p.pid);
    expect(rows.length).toBe(1);
    const off = Number(rows[0]!.offcpu_ns);
    // Lower bound: read() was off CPU for all of its measured time but the few µs it ran
    // before sleeping and after waking. Upper bound: everything off CPU ended between the
    // line waking it (not counted: it went to sleep before joining the scope) and its answer,
    // so at most the program's own span from the line to the answer (+1 ms for the clock
    // reads and the write around it).
    console.log(`off-CPU ${off} ns, read() blocked ${blocked} ns, span ${span} ns`);
    expect(blocked).toBeGreaterThan(1_990_000_000);
    expect(off).toBeGreaterThanOrEqual(blocked - 1_000_000);
    expect(off).toBeLessThanOrEqual(span + 1_000_000);
    // A pipe read is not I/O wait.
    expect(Number(rows[0]!.iowait_ns)).toBe(0);
  });

  test.if(pre.can)("DNS: 50 getaddrinfo(localhost), failures and gethostbyname* per domain", async () => {
    const scope = new TestScope([]);
    const ctx = procContext({ subitems: ["proc_dns"], scope });
    await using run = await openRun(ctx);
    const p = start("dns");
    await p.waitFor(/ready/);
    await sleeping(p.pid); // in its read of stdin: that read is not in scope
    scope.add(p.pid);
    p.send();
    await p.waitFor(/dns done/);
    await settle();
    const rows = await collectRows(run, ctx, "proc_dns", p.pid);
    const by = new Map(rows.map((r) => [r.domain, r]));
    expect([...by.keys()].sort()).toEqual(["127.0.0.1", "::1", "bad.example", "localhost"]);
    const lh = by.get("localhost")!;
    expect([lh.count, lh.error_count, lh.error_ratio]).toEqual([50, 0, 0]);
    expect(Number(lh.delay_avg)).toBeGreaterThan(0);
    expect(Number(lh.max_delay)).toBeGreaterThanOrEqual(Number(lh.delay_avg));
    const bad = by.get("bad.example")!;
    expect([bad.count, bad.error_count, bad.error_ratio]).toEqual([3, 3, 1]);
    expect([by.get("127.0.0.1")!.count, by.get("127.0.0.1")!.error_count]).toEqual([4, 0]);
    expect([by.get("::1")!.count, by.get("::1")!.error_count]).toEqual([2, 0]);
    expect(ctx.rec.events.map((e) => [e.key, e.metric, e.message])).toEqual([[`${p.pid}_bad.example`, "error_ratio", `Process(PID:${p.pid}) DNS error ratio(100.000 %).`]]);
    // The next period: another round, counted in that period only.
    p.send();
    await p.waitFor(/dns done\n[^]*dns done/);
    await settle();
    const again = await collectRows(run, ctx, "proc_dns", p.pid);
    expect(again.find((r) => r.domain === "localhost")?.count).toBe(50);
    // Out of scope: nothing more.
    scope.remove(p.pid);
    p.send();
    await p.waitFor(/(dns done[^]*){3}/);
    await settle();
    expect(await collectRows(run, ctx, "proc_dns", p.pid)).toEqual([]);
  });

  test.if(pre.can)("timed syscalls: futex, epoll_wait and sched_yield time of the process", async () => {
    const scope = new TestScope([]);
    const ctx = procContext({ subitems: ["proc_syscall"], scope });
    await using run = await openRun(ctx);
    const p = start("wait");
    await p.waitFor(/ready/);
    await sleeping(p.pid); // in its read of stdin: that read is not in scope
    scope.add(p.pid);
    p.send();
    const span = Number((await p.waitFor(/waited (\d+)/))[1]);
    ctx.rec.rows = [];
    await run.collect();
    const row = (t: string) => ctx.rec.rows.find((r) => r.table === t && r.row.tgid === String(p.pid))?.row;
    const sched = row("proc_syscall_sched")!;
    // The futex wait timed out after 100 ms (its only failure), epoll_wait waited 50 ms;
    // each is bounded by the program's own span from the line to the answer.
    expect(row("proc_syscall")).toEqual({ tgid: String(p.pid), syscall_failed: 1 });
    expect(Number(sched.ns_futex)).toBeGreaterThanOrEqual(100_000_000);
    const epoll = Number(sched.ns_epoll_wait) + Number(sched.ns_epoll_pwait);
    expect(epoll).toBeGreaterThanOrEqual(50_000_000);
    expect(Number(sched.ns_futex) + epoll + Number(sched.ns_sched_yield)).toBeLessThanOrEqual(span);
    expect(Number(sched.ns_sched_yield)).toBeGreaterThan(0);
  });

  const fsWhy = () =>
    !Bun.which("mkfs.ext4") ? "mkfs.ext4 is not installed (e2fsprogs)" : !existsSync("/dev/loop-control") ? "no loop devices (/dev/loop-control absent)" : undefined;
  const fsPre = pre.can ? procPreflight("proc fs test", fsWhy) : pre;
  test.if(fsPre.can)("file systems: reads on a loop-mounted ext4 and on tmpfs land in their own tables", async () => {
    const dir = mkdtempSync(join(tmpdir(), "gopher-procfs-"));
    const img = join(dir, "ext4.img");
    const ext4 = join(dir, "ext4");
    const tmpfs = join(dir, "tmpfs");
    mkdirSync(ext4);
    mkdirSync(tmpfs);
    const sh = (cmd: string[]) => {
      const r = Bun.spawnSync(cmd, { stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString()}`);
    };
    try {
      sh(["truncate", "-s", "32M", img]);
      sh(["mkfs.ext4", "-q", "-F", img]);
      sh(["mount", "-o", "loop", img, ext4]);
      sh(["mount", "-t", "tmpfs", "-o", "size=8m", "gopher-proc-test", tmpfs]);
      const bytes = 1 << 20;
      writeFileSync(join(ext4, "data"), new Uint8Array(bytes).fill(1));
      writeFileSync(join(tmpfs, "data"), new Uint8Array(bytes).fill(2));
      const scope = new TestScope([]);
      const ctx = procContext({ subitems: ["proc_fs", "proc_io"], scope });
      await using run = await openRun(ctx);
      const p = start("read", join(ext4, "data"), join(tmpfs, "data"));
      await p.waitFor(/ready/);
      await sleeping(p.pid); // in its read of stdin: that read is not in scope
      scope.add(p.pid);
      const period = async () => {
        ctx.rec.rows = [];
        await run.collect();
        const get = (t: string) => ctx.rec.rows.find((r) => r.table === t && r.row.tgid === String(p.pid))?.row;
        return { ext4: get("proc_ext4"), tmpfs: get("proc_tmpfs"), overlay: get("proc_overlay"), io: get("proc_syscall_io") };
      };
      p.send();
      await p.waitFor(new RegExp(`read ${bytes}`));
      const a = await period();
      // The ext4 file was opened, read to the end and fsynced; nothing touched tmpfs or overlay.
      expect(Number(a.ext4!.ns_ext4_open)).toBeGreaterThan(0);
      expect(Number(a.ext4!.ns_ext4_read)).toBeGreaterThan(0);
      expect(Number(a.ext4!.ns_ext4_flush)).toBeGreaterThan(0);
      expect(a.tmpfs).toBeUndefined();
      expect(a.overlay).toBeUndefined();
      // Every read() and fsync() of the period was on the ext4 file: the syscall times are the fs times.
      expect(a.io!.ns_read).toBe(a.ext4!.ns_ext4_read);
      expect(a.io!.ns_fsync).toBe(a.ext4!.ns_ext4_flush);
      p.send();
      await p.waitFor(new RegExp(`read ${bytes}\n[^]*read ${bytes}`));
      const b = await period();
      expect(Number(b.tmpfs!.ns_tmpfs_read)).toBeGreaterThan(0);
      expect(Number(b.tmpfs!.ns_tmpfs_flush)).toBeGreaterThan(0);
      expect([b.ext4!.ns_ext4_read, b.ext4!.ns_ext4_open, b.ext4!.ns_ext4_write, b.ext4!.ns_ext4_flush]).toEqual([0, 0, 0, 0]);
      // This period's read() time also holds the read of stdin that waited for the line
      // (it started in scope during the first period): the pipe is neither ext4 nor tmpfs.
      expect(Number(b.io!.ns_read)).toBeGreaterThan(Number(b.tmpfs!.ns_tmpfs_read));
      expect(b.io!.ns_fsync).toBe(b.tmpfs!.ns_tmpfs_flush);
      expect(b.overlay).toBeUndefined();
      expect(await p.proc.exited).toBe(0); // it ends after the last file
    } finally {
      Bun.spawnSync(["umount", tmpfs]);
      Bun.spawnSync(["umount", ext4]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test.if(pre.can)("ioctl: the slowest call's fd and command fields, and the period's time in ioctl()", async () => {
    const scope = new TestScope([]);
    const ctx = procContext({ subitems: ["proc_ioctl", "proc_syscall"], scope });
    await using run = await openRun(ctx);
    const p = start("ioctl");
    await p.waitFor(/ready/);
    await sleeping(p.pid);
    scope.add(p.pid);
    p.send();
    await p.waitFor(/ioctls 10/);
    ctx.rec.rows = [];
    await run.collect();
    const row = (t: string) => ctx.rec.rows.filter((r) => r.table === t && r.row.tgid === String(p.pid)).map((r) => r.row);
    // BLKGETSIZE64 = _IOR(0x12, 114, u64) on fd 0, refused by the pipe: the only failures.
    const [io] = row("proc_syscall_ioctl");
    const { ns_ioctl: _ns, ...labels } = io!;
    expect(labels).toEqual({ tgid: String(p.pid), ioctl_fd: "0", ioctl_dir: "2", ioctl_type: "18", ioctl_nr: "114", ioctl_size: 8 });
    expect(Number(io!.ns_ioctl)).toBeGreaterThan(0);
    expect(row("proc_syscall")).toEqual([{ tgid: String(p.pid), syscall_failed: 10 }]);
    // A period without ioctl: no row.
    expect(await collectRows(run, ctx, "proc_syscall_ioctl", p.pid)).toEqual([]);
  });

  test.if(pre.can)("every subitem at once: all programs load and attach, a collection reports", async () => {
    const scope = new TestScope([process.pid]);
    const ctx = procContext({ subitems: ["proc_syscall", "proc_fs", "proc_dns", "proc_io", "proc_pagecache", "proc_net", "proc_offcpu", "proc_ioctl", "proc_pygc"], scope });
    await using run = await openRun(ctx);
    await Bun.sleep(100);
    ctx.rec.rows = [];
    await run.collect();
    // This test process (bun) was switched out and in at least once while in scope.
    expect(ctx.rec.rows.some((r) => r.table === "proc_cpu" && r.row.tgid === String(process.pid))).toBe(true);
  });
});
