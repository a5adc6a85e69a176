// Uprobes against the kernel: a C program calls gg_counted() N times (N on its command line);
// entry and return probes placed from the binary's own ELF symbols through /proc/<pid>/root
// count exactly N per process, in per-binary scope (a process started after the attach is
// covered, one attachment per inode) and per-process scope (only reported processes count).
import { describe, expect, test } from "bun:test";
import { ensureBpf } from "../../scripts/bpf.ts";
import { detectFeatures } from "../host/features.ts";
import { bpfObjectBytes } from "./assets.ts";
import { BpfObject } from "./object.ts";
import { ccPath, compileTestProgram } from "./testdata/cc.ts";
import { UprobeError, UprobeSet } from "./uprobe.ts";

const root = process.getuid?.() === 0;
let why = root ? "" : "not root";
if (root) {
  try {
    ensureBpf({ quiet: true });
    const f = detectFeatures();
    why = f.bpfUnavailable() ?? (f.attach.uprobe.ok ? "" : `uprobes unavailable: ${f.attach.uprobe.reason}`);
    if (!why && !ccPath()) why = "no C compiler for the uprobe target";
  } catch (e) {
    why = (e as Error).message;
  }
}
const can = root && !why;
if (!can) console.warn(`uprobe.root.test: skipped: ${why}`);

/** Starts the target; it calls gg_counted `n` times once `go()` is called. */
function start(exe: string, n: number) {
  const p = Bun.spawn([exe, String(n)], { stdin: "pipe" });
  return {
    pid: p.pid,
    async go() {
      p.stdin.write("g");
      await p.stdin.end();
      expect(await p.exited).toBe(0);
    },
    kill: () => p.kill(9),
  };
}

describe("uprobes following processes", () => {
  test.if(can)("per binary: exact entry and return counts, a later process covered, one attachment per inode", async () => {
    const exe = compileTestProgram("ucount", ["-O0"]);
    using obj = BpfObject.open(bpfObjectBytes("ucount"), { name: "ucount" });
    obj.load();
    const count = (pid: number, kind: number) => {
      const v = new BigUint64Array(1);
      return obj.map("calls").lookup(new Uint32Array([pid, kind]), v) ? Number(v[0]) : 0;
    };
    using entry = new UprobeSet(obj.program("on_entry"), { binary: exe, symbol: "gg_counted" }, { scope: "binary" });
    using ret = new UprobeSet(obj.program("on_return"), { binary: exe, symbol: "gg_counted", retprobe: true }, { scope: "binary" });
    const p1 = start(exe, 37);
    const p2 = start(exe, 5);
    try {
      expect(entry.addProcess(p1.pid)).toBe("attached");
      expect(ret.addProcess(p1.pid)).toBe("attached");
      expect(entry.addProcess(p2.pid)).toBe("shared");
      expect(entry.attachments).toBe(1);
      await p1.go();
      await p2.go();
      const late = start(exe, 23); // started after the attach and never reported
      await late.go();
      expect([count(p1.pid, 1), count(p1.pid, 2)]).toEqual([37, 37]);
      expect(count(p2.pid, 1)).toBe(5);
      expect([count(late.pid, 1), count(late.pid, 2)]).toEqual([23, 23]);
      entry.removeProcess(p1.pid);
      expect(entry.attachments).toBe(1);
      entry.removeProcess(p2.pid);
      expect(entry.attachments).toBe(0); // detached: no process uses it any more
      const after = start(exe, 9);
      await after.go();
      expect([count(after.pid, 1), count(after.pid, 2)]).toEqual([0, 9]);
    } finally {
      p1.kill();
      p2.kill();
    }
  });

  test.if(can)("per process: only reported processes count, including one reported after the first attach", async () => {
    const exe = compileTestProgram("ucount", ["-O0"]);
    using obj = BpfObject.open(bpfObjectBytes("ucount"), { name: "ucount" });
    obj.program("on_return").setAutoload(false);
    obj.load();
    const count = (pid: number) => {
      const v = new BigUint64Array(1);
      return obj.map("calls").lookup(new Uint32Array([pid, 1]), v) ? Number(v[0]) : 0;
    };
    using set = new UprobeSet(obj.program("on_entry"), { binary: exe, symbol: "gg_counted" }, { scope: "process" });
    const a = start(exe, 11);
    const b = start(exe, 13);
    try {
      expect(set.addProcess(a.pid)).toBe("attached");
      const c = start(exe, 17); // starts after the first attach; the snooper reports it
      expect(set.addProcess(c.pid)).toBe("attached");
      expect(set.attachments).toBe(2);
      await Promise.all([a.go(), b.go(), c.go()]);
      expect([count(a.pid), count(b.pid), count(c.pid)]).toEqual([11, 0, 17]);
      set.removeProcess(a.pid);
      set.removeProcess(c.pid);
      expect(set.attachments).toBe(0);
      expect(set.addProcess(a.pid)).toBe("absent"); // exited
    } finally {
      a.kill();
      b.kill();
    }
  });

  test.if(can)("libraries by pattern; a missing symbol is a clear error", async () => {
    using obj = BpfObject.open(bpfObjectBytes("ucount"), { name: "ucount" });
    obj.load();
    using libcSet = new UprobeSet(obj.program("on_entry"), { binary: /\/libc\.so\.6$/, symbol: "getppid" }, { scope: "process" });
    expect(libcSet.addProcess(process.pid)).toBe("attached");
    const { getppid } = (await import("bun:ffi")).dlopen("libc.so.6", { getppid: { args: [], returns: "i32" } }).symbols;
    for (let i = 0; i < 6; i++) getppid();
    const v = new BigUint64Array(1);
    expect(obj.map("calls").lookup(new Uint32Array([process.pid, 1]), v)).toBe(true);
    expect(v[0]).toBe(6n);
    using bad = new UprobeSet(obj.program("on_return"), { binary: /\/libc\.so\.6$/, symbol: "no_such_fn" }, { scope: "binary" });
    expect(() => bad.addProcess(process.pid)).toThrow(UprobeError);
    expect(() => bad.addProcess(process.pid)).toThrow(/has no function no_such_fn/);
    expect(() => new UprobeSet(obj.program("on_entry"), { binary: "relative/bin", symbol: "f" }, { scope: "binary" })).toThrow(/not absolute/);
  });
});
