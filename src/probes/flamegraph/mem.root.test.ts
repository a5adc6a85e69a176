// The flamegraph probe's mem subitem against the kernel (root), exact values: a program that
// maps 64 MiB anonymous in map_region and grows its heap by 8 MiB with brk in grow_heap
// shows exactly those bytes under main;map_region;…;[mmap] and main;grow_heap;…;[brk]
// (brk and mmap syscall tracepoints; libc's wrapper, which has no frame pointer, between
// them and its caller through the stack-pointer hint). Skipped with the reason when not root or when the
// kernel lacks the tracepoints. mem_glibc: a program that keeps exactly K blocks of S bytes
// from leak_blocks shows K*S live bytes under main;leak_blocks, its calloc and realloc'd
// blocks exactly under theirs, and nothing of the 10000 blocks it allocated and freed.
import { describe, expect, test } from "bun:test";
import { detectFeatures } from "../../host/features.ts";
import { Proc } from "../../probe/test-root.ts";
import { hasMemCallTracepoints } from "./kernel.ts";
import { compileFixture, rootPreflight } from "./test-kit.ts";
import { profileLive, share } from "./test-live.ts";

const can = rootPreflight("mem.root.test", (f) => (hasMemCallTracepoints(f) ? undefined : "no syscalls:sys_{enter,exit}_{brk,mmap} tracepoints"));
const MiB = 1 << 20;
const glibc = can && detectFeatures().attach.uprobe.ok;
if (can && !glibc) console.warn(`mem.root.test: the mem_glibc test is skipped: uprobes unavailable (${detectFeatures().attach.uprobe.reason})`);

describe("flamegraph mem", () => {
  test.if(can)("brk and mmap: exactly the 64 MiB mapped in map_region and the 8 MiB brk'd in grow_heap, under their stacks", async () => {
    expect(hasMemCallTracepoints(detectFeatures())).toBe(true);
    const exe = compileFixture("mapper", ["-O0", "-fno-omit-frame-pointer"]);
    const proc = new Proc([exe, "64", "8"]);
    try {
      await proc.waitFor(/ready/);
      const p = await profileLive(proc, {
        subitems: ["mem"],
        seconds: 1,
        afterStart: async () => {
          proc.send();
          await proc.waitFor(/done/);
        },
      });
      const mem = p.stacks.get("mem") ?? [];
      const mapped = share(mem, /;main;map_region;[^;]+;\[mmap\]$/);
      const grown = share(mem, /;main;grow_heap;[^;]+;\[brk\]$/);
      console.log(`mapper: ${mapped.matched} bytes under map_region [mmap], ${grown.matched} under grow_heap [brk], of ${mapped.total}; stacks ${JSON.stringify(mem)}; drops ${p.drops}`);
      expect(mapped.matched).toBe(64 * MiB);
      expect(grown.matched).toBe(8 * MiB);
      for (const [stack] of mem) expect(stack.startsWith(`[${proc.pid}]mapper;`)).toBe(true);
      expect(p.parseErrors).toEqual([]);
    } finally {
      proc.kill();
    }
  }, 30_000);

  test.if(glibc)("mem_glibc: K blocks of S bytes kept from leak_blocks are exactly K*S live bytes under it; freed blocks count nothing", async () => {
    const exe = compileFixture("leaker", ["-O0", "-fno-omit-frame-pointer"]);
    const K = 700;
    const S = 3000;
    const proc = new Proc([exe, String(K), String(S)]);
    try {
      await proc.waitFor(/ready/);
      const p = await profileLive(proc, {
        subitems: ["mem_glibc"],
        seconds: 1,
        afterStart: async () => {
          proc.send();
          await proc.waitFor(/done/);
        },
      });
      const live = p.stacks.get("mem_glibc") ?? [];
      const under = (fn: string) => share(live, new RegExp(`;main;${fn}$`)).matched;
      console.log(`leaker: ${JSON.stringify(live)}; drops ${p.drops}; ${p.logs.filter((l) => !l.startsWith("debug")).join(" | ")}`);
      expect(under("leak_blocks")).toBe(K * S);
      expect(under("zeroed_block")).toBe(1000);
      expect(under("grown_block")).toBe(5000);
      expect(share(live, /;churn(;|$)/).matched).toBe(0);
      for (const [stack] of live) expect(stack.startsWith(`[${proc.pid}]leaker;`)).toBe(true);
      expect(p.drops).toBe("[]");
      expect(p.parseErrors).toEqual([]);
    } finally {
      proc.kill();
    }
  }, 30_000);
});
