// Stack-trace map against the kernel: a frame-pointer C program spinning in main -> chain_a
// -> chain_b -> chain_c is sampled on every CPU; its user stacks, resolved through
// /proc/<pid>/maps and the ELF reader, contain exactly that call chain. The per-CPU sample
// counter read through the per-CPU helpers agrees with itself in every view.
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { ensureBpf } from "../../scripts/bpf.ts";
import { detectFeatures } from "../host/features.ts";
import { bpfObjectBytes } from "./assets.ts";
import { ElfFile } from "./elf.ts";
import { BpfObject } from "./object.ts";
import { forEachPerCpu, sumPerCpuU64 } from "./percpu.ts";
import { openPerfOnAllCpus } from "./perf-cpus.ts";
import { PerfSwConfig, PerfType } from "./perf.ts";
import { parseProcMaps, resolveUserAddress, stackIdError, StackTraceMap } from "./stacks.ts";
import { ccPath, compileTestProgram } from "./testdata/cc.ts";

const root = process.getuid?.() === 0;
let why = root ? "" : "not root";
if (root) {
  try {
    ensureBpf({ quiet: true });
    const f = detectFeatures();
    why = f.bpfUnavailable() ?? (f.attach.perf_event.ok ? "" : `perf_event programs unavailable: ${f.attach.perf_event.reason}`);
    if (!why && !ccPath()) why = "no C compiler for the frame-pointer fixture";
  } catch (e) {
    why = (e as Error).message;
  }
}
const can = root && !why;
if (!can) console.warn(`stacks.root.test: skipped: ${why}`);

describe("stack-trace map", () => {
  test.if(can)("user stacks of a frame-pointer program resolve to main -> chain_a -> chain_b -> chain_c", async () => {
    const exe = compileTestProgram("fpchain", ["-O0", "-fno-omit-frame-pointer"]);
    const child = Bun.spawn([exe, "1500"]);
    try {
      await Bun.sleep(30);
      const maps = parseProcMaps(readFileSync(`/proc/${child.pid}/maps`, "utf8"));
      expect(maps.some((m) => m.path === exe)).toBe(true);
      using obj = BpfObject.open(bpfObjectBytes("profile"), { name: "profile" });
      obj.map("profile.rodata").data().setUint32(0, child.pid, true);
      obj.program("not_perf").setAutoload(false);
      obj.load();
      using set = openPerfOnAllCpus({ type: PerfType.SOFTWARE, config: PerfSwConfig.CPU_CLOCK, frequency: 199 });
      set.attach(obj.program("on_sample"));
      await child.exited;
      set[Symbol.dispose]();

      const elf = ElfFile.open(exe);
      const stacks = new StackTraceMap(obj.map("stacks"));
      expect(stacks.depth).toBe(127);
      const name = (ip: bigint) => {
        const r = resolveUserAddress(maps, ip);
        if (r?.path !== exe) return "?";
        const v = elf.vaddrOf(r.fileOffset);
        return (v !== undefined && elf.symbolize(v)?.name) || "?";
      };
      let total = 0;
      let chained = 0;
      let leafInC = 0;
      obj.map("counts").lookupBatch(({ keys, values, count }) => {
        const k = new DataView(keys.buffer);
        const v = new DataView(values.buffer);
        for (let i = 0; i < count; i++) {
          expect(k.getUint32(i * 12, true)).toBe(child.pid);
          const n = Number(v.getBigUint64(i * 8, true));
          const ustack = k.getInt32(i * 12 + 4, true);
          const kstack = k.getInt32(i * 12 + 8, true);
          expect(kstack >= 0 || stackIdError(kstack) === "EFAULT").toBe(true); // user-mode samples have no kernel stack
          total += n;
          const frames = (stacks.read(ustack) ?? []).map(name);
          const at = frames.indexOf("chain_c");
          if (at >= 0 && frames.slice(at, at + 4).join(" ") === "chain_c chain_b chain_a main") chained += n;
          if (frames[0] === "chain_c") leafInC += n;
        }
      });
      console.log(`fpchain: ${total} samples, ${chained} with chain_c<-chain_b<-chain_a<-main, ${leafInC} with chain_c innermost; ${stacks.ids().length} stacks`);
      expect(total).toBeGreaterThan(150); // 1.5 s of the program's CPU time at 199 Hz (~298 samples)
      expect(chained / total).toBeGreaterThan(0.9);
      expect(leafInC / total).toBeGreaterThan(0.5);

      // Per-CPU helpers: the sample counter seen whole, summed and per entry agree.
      const key = new Uint32Array([0]);
      const sum = sumPerCpuU64(obj.map("samples"), key)[0]!;
      let visited = 0n;
      expect(forEachPerCpu(obj.map("samples"), (_k, vals) => vals.forEach((d) => (visited += d.getBigUint64(0, true))))).toBe(1);
      expect(visited).toBe(sum);
      expect(sum).toBeGreaterThanOrEqual(BigInt(total));
      expect(stacks.clear()).toBeGreaterThan(0);
      expect(stacks.ids()).toEqual([]);
    } finally {
      child.kill();
    }
  });
});
