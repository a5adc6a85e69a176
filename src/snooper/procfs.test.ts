import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  cmdlineArgs,
  javaMainClass,
  joinCmdline,
  parseBtime,
  parseComm,
  parseMaxOpenFiles,
  parsePidIo,
  parsePidStat,
  parsePidStatus,
  parseSmapsRollup,
  parseStatHead,
  pidOfName,
  pidsOf,
  PF_KTHREAD,
  startEpochSeconds,
} from "./procfs.ts";

const FIX = join(import.meta.dir, "../../test/fixtures/hosts");
const read = (host: string, rel: string) => readFileSync(join(FIX, host, rel), "utf8");

describe("/proc/<pid>/stat", () => {
  test("fixture process: every field used", () => {
    const s = parsePidStat(read("docker-cgv1", "proc/1200/stat"))!;
    expect(s).toEqual({
      pid: 1200,
      comm: "nginx",
      state: "S",
      ppid: 1190,
      pgrp: 1200,
      flags: 0x400100,
      minflt: 20000,
      majflt: 12,
      utime: 1000,
      stime: 500,
      cutime: 0,
      cstime: 0,
      priority: 20,
      nice: 0,
      numThreads: 1,
      startTicks: 50000,
      vsize: 150 * 1024 * 1024,
      rssPages: 2560,
      processor: 0,
    });
  });

  test("comm with spaces and parentheses: everything up to the last ')'", () => {
    const s = parsePidStat(read("docker-cgv1", "proc/2001/stat"))!;
    expect(s.comm).toBe("my proc) (x");
    expect(s.ppid).toBe(2000);
    expect(s.startTicks).toBe(100100);
  });

  test("kernel thread flag", () => {
    expect((parsePidStat(read("docker-cgv1", "proc/2/stat"))!.flags & PF_KTHREAD) !== 0).toBe(true);
    expect((parsePidStat(read("docker-cgv1", "proc/1/stat"))!.flags & PF_KTHREAD) !== 0).toBe(false);
  });

  test("truncated, garbage and empty input → undefined", () => {
    expect(parsePidStat(read("docker-cgv1", "proc/2500/stat"))).toBeUndefined();
    expect(parsePidStat("")).toBeUndefined();
    expect(parsePidStat(undefined)).toBeUndefined();
    expect(parsePidStat("1 (a) S 0 1 1 0 -1")).toBeUndefined();
    expect(parsePidStat("x (a) S " + "1 ".repeat(50))).toBeUndefined();
    expect(parsePidStat("12 (a) S " + "z ".repeat(50))).toBeUndefined();
    expect(parsePidStat("\u0000\u00ff garbage )(")).toBeUndefined();
  });

  test("an old kernel without the processor field still parses", () => {
    const line = read("docker-cgv1", "proc/1/stat").trim().split(" ").slice(0, 30).join(" ");
    const s = parsePidStat(line)!;
    expect(s.startTicks).toBe(10);
    expect(s.processor).toBeUndefined();
  });
});

describe("stat head (the snooper's cheap parse)", () => {
  test("agrees with the full parse on every fixture process", () => {
    for (const pid of [1, 2, 880, 1200, 1201, 1500, 1530, 2000, 2001, 2600]) {
      const text = read("docker-cgv1", `proc/${pid}/stat`);
      const full = parsePidStat(text)!;
      expect(parseStatHead(text)).toEqual({ pid: full.pid, comm: full.comm, ppid: full.ppid, flags: full.flags, startTicks: full.startTicks });
    }
  });

  test("truncated and garbage input", () => {
    const text = read("docker-cgv1", "proc/1200/stat");
    for (let cut = 0; cut < 60; cut += 3) expect(parseStatHead(text.slice(0, cut))).toBeUndefined();
    expect(parseStatHead("1200 (x) S 1 1 1 0 -1 4194560 1 0 0 0 1 1 0 0 20 0 1 0 99")).toEqual({ pid: 1200, comm: "x", ppid: 1, flags: 4194560, startTicks: 99 });
    expect(parseStatHead("abc (x) S 1 1 1 0 -1 0 1 0 0 0 1 1 0 0 20 0 1 0 99 1")).toBeUndefined();
    expect(parseStatHead("5 (x) S z 1 1 0 -1 0 1 0 0 0 1 1 0 0 20 0 1 0 99 1")).toBeUndefined();
    expect(parseStatHead(undefined)).toBeUndefined();
    expect(pidOfName("123")).toBe(123);
    expect(pidOfName("0")).toBe(-1);
    expect(pidOfName("self")).toBe(-1);
    expect(pidOfName("12a")).toBe(-1);
  });
});

describe("small files", () => {
  test("btime and start time", () => {
    expect(parseBtime(read("docker-cgv1", "proc/stat"))).toBe(1700000000);
    expect(parseBtime("cpu 1 2 3\n")).toBeUndefined();
    expect(parseBtime("btime abc\n")).toBeUndefined();
    expect(startEpochSeconds(1700000000, 50000)).toBe(1700000500);
    expect(startEpochSeconds(1700000000, 50099)).toBe(1700000500);
  });

  test("comm", () => {
    expect(parseComm("nginx\n")).toBe("nginx");
    expect(parseComm("")).toBe("");
    expect(parseComm(undefined)).toBeUndefined();
  });

  test("cmdline: NUL separated, joined with spaces", () => {
    expect(cmdlineArgs(read("docker-cgv1", "proc/1530/cmdline"))).toEqual(["java", "-Xmx512m", "-cp", "/app/lib/*", "com.shop.Frontend", "--port", "8080"]);
    expect(joinCmdline(read("docker-cgv1", "proc/1201/cmdline"))).toBe("nginx: worker process");
    expect(joinCmdline(read("docker-cgv1", "proc/2/cmdline"))).toBe("");
    expect(joinCmdline(undefined)).toBe("");
    expect(joinCmdline("a\0b")).toBe("a b");
    expect(typeof joinCmdline(read("docker-cgv1", "proc/2600/cmdline"))).toBe("string");
  });

  test("java main class", () => {
    expect(javaMainClass(["java", "-Xmx512m", "-cp", "/app/lib/*", "com.shop.Frontend", "--port", "8080"])).toBe("com.shop.Frontend");
    expect(javaMainClass(["java", "-jar", "/opt/app.jar", "x"])).toBe("/opt/app.jar");
    expect(javaMainClass(["java", "-m", "mod/com.x.Main"])).toBe("mod/com.x.Main");
    expect(javaMainClass(["java", "--module=mod/com.x.Main"])).toBe("mod/com.x.Main");
    expect(javaMainClass(["java", "-version"])).toBeUndefined();
    expect(javaMainClass(["java"])).toBeUndefined();
    expect(javaMainClass(["java", "-cp"])).toBeUndefined();
  });

  test("io", () => {
    expect(parsePidIo(read("docker-cgv1", "proc/1200/io"))).toEqual({
      rchar: 100000,
      wchar: 50000,
      syscr: 300,
      syscw: 200,
      readBytes: 4096,
      writeBytes: 8192,
      cancelledWriteBytes: 0,
    });
    expect(parsePidIo("rchar: 1\nwchar: 2\n")).toBeUndefined();
    expect(parsePidIo("garbage")).toBeUndefined();
    expect(parsePidIo(undefined)).toBeUndefined();
  });

  test("smaps_rollup", () => {
    expect(parseSmapsRollup(read("docker-cgv1", "proc/1200/smaps_rollup"))).toEqual({
      sharedClean: 1000,
      sharedDirty: 10,
      privateClean: 2000,
      privateDirty: 3000,
      referenced: 5000,
      lazyFree: 0,
      swap: 0,
      swapPss: 0,
    });
    expect(parseSmapsRollup("")).toBeUndefined();
    expect(parseSmapsRollup("Rss: x kB\n")).toBeUndefined();
    expect(parseSmapsRollup("Shared_Clean:  12 kB\nShared_Di")).toEqual({ sharedClean: 12 });
  });

  test("limits: Max open files", () => {
    expect(parseMaxOpenFiles(read("docker-cgv1", "proc/1200/limits"))).toBe(1024);
    expect(parseMaxOpenFiles(read("docker-cgv1", "proc/1530/limits"))).toBe(Infinity);
    expect(parseMaxOpenFiles("Max open files  zero")).toBeUndefined();
    expect(parseMaxOpenFiles("Max open files  0  0 files")).toBeUndefined();
    expect(parseMaxOpenFiles(undefined)).toBeUndefined();
  });

  test("status", () => {
    expect(parsePidStatus(read("docker-cgv1", "proc/1530/status"))).toEqual({ vmRssKb: 204800, vmSizeKb: 102400, threads: 40 });
    expect(parsePidStatus("Name: x\n")).toBeUndefined();
    expect(parsePidStatus("VmRSS:\t  812 kB\nThreads:\t3")).toEqual({ vmRssKb: 812, vmSizeKb: undefined, threads: 3 });
    expect(parsePidStatus("VmRSS:\tabc kB\nVmSize: 12x kB\nThreads:\n")).toBeUndefined();
    expect(parsePidStatus("XVmRSS:\t5 kB\n")).toBeUndefined();
    expect(parsePidStatus(undefined)).toBeUndefined();
  });

  test("pid directory names", () => {
    expect(pidsOf(["10", "self", "2", "0", "01", "stat", "3x", "99999999999999999999"])).toEqual([2, 10]);
  });
});
