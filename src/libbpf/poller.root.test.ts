// The shared ring-buffer poller against the kernel: a program emits a known number of
// records into two rings (one big, one that overflows); the poller's single timer delivers
// every record of the big ring in order, and the small ring's deliveries plus its counted
// drops equal what was emitted. Run for both read modes (mmap only where it is ordered).
import { describe, expect, test } from "bun:test";
import { dlopen, FFIType } from "bun:ffi";
import { ensureBpf } from "../../scripts/bpf.ts";
import { detectFeatures } from "../host/features.ts";
import { bpfObjectBytes } from "./assets.ts";
import { BpfObject, possibleCpus } from "./object.ts";
import { perCpuValues, sumPerCpuU64 } from "./percpu.ts";
import { RingPoller, type RingReadMode } from "./poller.ts";
import { MMAP_READ_IS_ORDERED } from "./ringbuf.ts";

const root = process.getuid?.() === 0;
let why = root ? "" : "not root";
if (root) {
  try {
    ensureBpf({ quiet: true });
    why = detectFeatures().bpfUnavailable() ?? "";
  } catch (e) {
    why = (e as Error).message;
  }
}
const can = root && !why;
if (!can) console.warn(`poller.root.test: skipped: ${why}`);
if (can && !MMAP_READ_IS_ORDERED) console.warn(`poller.root.test: mmap mode skipped: plain loads are not acquire loads on ${process.arch}`);

const { getppid } = dlopen("libc.so.6", { getppid: { args: [], returns: FFIType.i32 } }).symbols;

function openRings(): BpfObject {
  const obj = BpfObject.open(bpfObjectBytes("rings"), { name: "rings" });
  obj.map("rings.rodata").data().setUint32(0, process.pid, true);
  obj.load();
  obj.own(obj.program("on_getppid").attach());
  return obj;
}

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await Bun.sleep(5);
}

describe("RingPoller", () => {
  for (const mode of ["mmap", "libbpf"] as RingReadMode[]) {
    const ok = can && (mode === "libbpf" || MMAP_READ_IS_ORDERED);
    test.if(ok)(`${mode}: one timer delivers every record of two rings; overflow is counted exactly`, async () => {
      using obj = openRings();
      using poller = new RingPoller({ intervalMs: 5, mode });
      const a: bigint[] = [];
      let b = 0;
      let reportedDrops = 0;
      const dropsMap = obj.map("ring_b_drops");
      const key = new Uint32Array([0]);
      const ha = poller.add(obj.map("ring_a"), (d, off) => {
        expect(d.getUint32(off, true)).toBe(1);
        a.push(d.getBigUint64(off + 8, true));
      });
      const hb = poller.add(obj.map("ring_b"), (d, off) => void (d.getUint32(off, true) === 2 && b++), {
        drops: { read: () => sumPerCpuU64(dropsMap, key)[0]!, report: (n) => void (reportedDrops += n) },
      });
      expect(poller.running).toBe(true);

      for (let i = 0; i < 3000; i++) getppid(); // one burst: no tick can run in between
      await until(() => a.length === 3000 && b + reportedDrops === 6000);
      expect(a).toEqual(Array.from({ length: 3000 }, (_, i) => BigInt(i)));
      const kernelDrops = Number(sumPerCpuU64(dropsMap, key)[0]);
      expect(kernelDrops).toBeGreaterThan(0);
      expect(reportedDrops).toBe(kernelDrops);
      expect(b + kernelDrops).toBe(6000);
      expect(perCpuValues(dropsMap, key)!.length).toBe(possibleCpus());

      // Small bursts fit: every record arrives, no new drops.
      for (let k = 0; k < 5; k++) {
        for (let i = 0; i < 40; i++) getppid();
        await until(() => b + reportedDrops === 6000 + 80 * (k + 1));
      }
      expect(a.length).toBe(3200);
      expect(reportedDrops).toBe(kernelDrops);
      expect(b).toBe(6400 - kernelDrops);
      const st = poller.stats();
      expect(st.map((s) => [s.name, s.mode, s.records, s.dropped])).toEqual([
        ["ring_a", mode, 3200, 0],
        ["ring_b", mode, b, kernelDrops],
      ]);
      console.log(`${mode}: ring_a 3200/3200 in order, ring_b ${b} delivered + ${kernelDrops} dropped = 6400`);

      ha[Symbol.dispose]();
      for (let i = 0; i < 10; i++) getppid();
      await until(() => b === 6420 - kernelDrops);
      expect(b).toBe(6420 - kernelDrops);
      expect(a.length).toBe(3200);
      expect(poller.running).toBe(true);
      hb[Symbol.dispose]();
      expect(poller.running).toBe(false);
    });

    test.if(ok)(`${mode}: a throwing handler costs its record only; the error is reported`, () => {
      using obj = openRings();
      const errors: string[] = [];
      using poller = new RingPoller({ intervalMs: 1000, mode, onError: (ring, e) => errors.push(`${ring}: ${(e as Error).message}`) });
      const seen: bigint[] = [];
      using _h = poller.add(obj.map("ring_a"), (d, off) => {
        const s = d.getBigUint64(off + 8, true);
        if (s === 3n) throw new Error("bad record 3");
        seen.push(s);
      });
      for (let i = 0; i < 8; i++) getppid();
      expect(poller.poll()).toBe(8);
      expect(seen).toEqual([0n, 1n, 2n, 4n, 5n, 6n, 7n]);
      expect(errors).toEqual(["ring_a: bad record 3"]);
      expect(poller.stats()[0]!.handlerErrors).toBe(1);
    });
  }
});

describe("RingPoller intervals and drain()", () => {
  test.if(can)("idle: no tick within idleIntervalMs delivers a record; drain() delivers it at once", async () => {
    using obj = openRings();
    using poller = new RingPoller({ intervalMs: 5, idleIntervalMs: 400 });
    let got = 0;
    const h = poller.add(obj.map("ring_a"), () => void got++);
    await Bun.sleep(30); // a few empty ticks: the poller is now idle
    getppid();
    await Bun.sleep(100); // well below idleIntervalMs: nothing delivered by the timer
    expect(got).toBe(0);
    expect(h.drain()).toBe(1);
    expect(got).toBe(1);
    getppid();
    await until(() => got === 2, 1000); // the idle tick still comes
    expect(got).toBe(2);
    h[Symbol.dispose]();
    expect(h.drain()).toBe(0);
    expect(poller.running).toBe(false);
  });

  test("idleIntervalMs below intervalMs is refused", () => {
    expect(() => new RingPoller({ intervalMs: 10, idleIntervalMs: 5 })).toThrow("idleIntervalMs must be >= intervalMs");
  });
});
