// The flamegraph probe's mem subitem against the kernel (root), exact values: a program that
// maps 64 MiB anonymous in map_region and grows its heap by 8 MiB with brk in grow_heap
// shows exactly those bytes under main;map_region;…;[mmap] and main;grow_heap;…;[brk]
// (brk and mmap syscall tracepoints; libc's wrapper, which has no frame pointer, between
// them and its caller through the stack-pointer hint). Skipped with the reason when not root or when the
// kernel lacks the tracepoints.
import { describe, expect, test } from "bun:test";
import { detectFeatures } from "../../host/features.ts";
import { Proc } from "../../probe/test-root.ts";
import { hasMemCallTracepoints } from "./kernel.ts";
import { compileFixture, rootPreflight } from "./test-kit.ts";
import { profileLive, share } from "./test-live.ts";

const can = rootPreflight("mem.root.test", (f) => (hasMemCallTracepoints(f) ? undefined : "no syscalls:sys_{enter,exit}_{brk,mmap} tracepoints"));
const MiB = 1 << 20;

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
});
