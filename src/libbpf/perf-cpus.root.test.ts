// Perf events on every online CPU against the kernel: the software CPU clock sampled by
// frequency and by period delivers samples at the asked rate (counted per CPU by a perf_event
// program); a hardware event without a PMU fails clearly or falls back; a failed attach
// closes its fd.
import { describe, expect, test } from "bun:test";
import { existsSync, readlinkSync } from "node:fs";
import { ensureBpf } from "../../scripts/bpf.ts";
import { detectFeatures } from "../host/features.ts";
import { bpfObjectBytes } from "./assets.ts";
import { BpfError } from "./errors.ts";
import { BpfObject } from "./object.ts";
import { perCpuValues } from "./percpu.ts";
import { onlineCpus, openPerfOnAllCpus, parseCpuList, PerfEventUnavailable } from "./perf-cpus.ts";
import { perfEventOpen, PerfSwConfig, PerfType } from "./perf.ts";

const root = process.getuid?.() === 0;
let why = root ? "" : "not root";
if (root) {
  try {
    ensureBpf({ quiet: true });
    const f = detectFeatures();
    why = f.bpfUnavailable() ?? (f.attach.perf_event.ok ? "" : `perf_event programs unavailable: ${f.attach.perf_event.reason}`);
  } catch (e) {
    why = (e as Error).message;
  }
}
const can = root && !why;
if (!can) console.warn(`perf-cpus.root.test: skipped: ${why}`);
const hasPmu = existsSync("/sys/bus/event_source/devices/cpu");
console.warn(`perf-cpus.root.test: ${hasPmu ? "PMU present: the no-PMU fallback test is skipped" : "no PMU (/sys/bus/event_source/devices/cpu absent): the hardware-event test is skipped"}`);

/** Keeps every online CPU busy for `ms` (one spinning shell per CPU). */
async function busyAllCpus(ms: number): Promise<void> {
  const kids = onlineCpus().map(() => Bun.spawn(["sh", "-c", "while :; do :; done"]));
  await Bun.sleep(ms);
  for (const k of kids) k.kill(9);
  await Promise.all(kids.map((k) => k.exited));
}

function sampleCounts(obj: BpfObject): bigint[] {
  return (perCpuValues(obj.map("samples"), new Uint32Array([0])) ?? []).map((v) => v.getBigUint64(0, true));
}

describe("perf events on every online CPU", () => {
  test("CPU lists parse exactly; malformed ones are refused", () => {
    expect(parseCpuList("0-3,5,7-8\n")).toEqual([0, 1, 2, 3, 5, 7, 8]);
    expect(parseCpuList("0")).toEqual([0]);
    expect(() => parseCpuList("0-x")).toThrow(/bad element "0-x"/);
    expect(() => parseCpuList("3-1")).toThrow(/runs backwards/);
  });

  const rates: { how: { frequency: number } | { period: number }; hz: number }[] = [
    { how: { frequency: 99 }, hz: 99 },
    { how: { period: 10_000_000 }, hz: 100 },
  ];
  for (const { how, hz } of rates) {
    test.if(can)(`software CPU clock ${JSON.stringify(how)}: ${hz} Hz × CPUs × seconds, within 10 %`, async () => {
      using obj = BpfObject.open(bpfObjectBytes("profile"), { name: "profile" });
      obj.program("not_perf").setAutoload(false);
      obj.load();
      const cpus = onlineCpus();
      using set = openPerfOnAllCpus({ type: PerfType.SOFTWARE, config: PerfSwConfig.CPU_CLOCK, ...how });
      expect(set.cpus).toEqual(cpus);
      const t0 = performance.now();
      set.attach(obj.program("on_sample"));
      await busyAllCpus(2000);
      const before = sampleCounts(obj);
      set[Symbol.dispose]();
      const seconds = (performance.now() - t0) / 1000;
      const after = sampleCounts(obj);
      expect(after).toEqual(before); // detached: no more samples
      const expected = hz * cpus.length * seconds;
      const total = Number(after.reduce((a, b) => a + b, 0n));
      console.log(`${JSON.stringify(how)}: ${total} samples on ${cpus.length} CPUs in ${seconds.toFixed(2)} s, expected ${expected.toFixed(0)} (per CPU ${after.join(", ")})`);
      expect(Math.abs(total - expected) / expected).toBeLessThan(0.1);
      for (const c of cpus) expect(Math.abs(Number(after[c]!) - hz * seconds) / (hz * seconds)).toBeLessThan(0.15);
    });
  }

  test.if(can && !hasPmu)("no PMU: a hardware event fails with PerfEventUnavailable, or falls back to the CPU clock when asked", () => {
    expect(() => openPerfOnAllCpus({ type: PerfType.HARDWARE, config: 0, frequency: 99 })).toThrow(PerfEventUnavailable);
    expect(() => openPerfOnAllCpus({ type: PerfType.HARDWARE, config: 0, frequency: 99 })).toThrow(/hardware perf event \(config 0\) unavailable/);
    using set = openPerfOnAllCpus({ type: PerfType.HARDWARE, config: 0, frequency: 99, fallbackToCpuClock: true });
    expect([set.fellBack, set.type, set.config]).toEqual([true, PerfType.SOFTWARE, PerfSwConfig.CPU_CLOCK]);
  });

  test.if(can && hasPmu)("with a PMU: a hardware cpu-cycles event opens on every CPU without fallback", () => {
    using set = openPerfOnAllCpus({ type: PerfType.HARDWARE, config: 0, frequency: 99, fallbackToCpuClock: true });
    expect([set.fellBack, set.type]).toEqual([false, PerfType.HARDWARE]);
  });

  test.if(can)("invalid sampling options are refused with the reason", () => {
    expect(() => openPerfOnAllCpus({ type: PerfType.SOFTWARE, config: 0 })).toThrow(/exactly one of frequency and period/);
    expect(() => openPerfOnAllCpus({ type: PerfType.SOFTWARE, config: 0, frequency: 99, period: 5 })).toThrow(/exactly one/);
    expect(() => openPerfOnAllCpus({ type: PerfType.SOFTWARE, config: 0, frequency: 0 })).toThrow(/frequency must be a positive integer/);
    expect(() => openPerfOnAllCpus({ type: PerfType.SOFTWARE, config: 0, frequency: 10_000_000 })).toThrow(/perf_event_max_sample_rate/);
  });

  test.if(can)("a failed attach closes the perf event fd", () => {
    using obj = BpfObject.open(bpfObjectBytes("profile"), { name: "profile" });
    obj.load();
    const fd = perfEventOpen({ type: PerfType.SOFTWARE, config: PerfSwConfig.CPU_CLOCK, period: 1_000_000_000, cpu: 0 });
    expect(readlinkSync(`/proc/self/fd/${fd}`)).toBe("anon_inode:[perf_event]");
    expect(() => obj.program("not_perf").attachPerfEvent(fd)).toThrow(BpfError);
    expect(() => readlinkSync(`/proc/self/fd/${fd}`)).toThrow(/ENOENT/);
  });
});
