// A perf event fd handed to attachPerfEvent belongs to the link; when the attach fails the
// fd is closed there, not leaked (one per CPU per failed start otherwise).
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { ensureBpf } from "../../scripts/bpf.ts";
import { detectFeatures } from "../host/features.ts";
import { bpfObjectBytes } from "./assets.ts";
import { BpfError } from "./errors.ts";
import { BpfObject } from "./object.ts";
import { perfEventOpen, PerfSwConfig, PerfType } from "./perf.ts";

function preflight(): string {
  if (process.getuid?.() !== 0) return "not root";
  try {
    ensureBpf({ quiet: true });
    const f = detectFeatures();
    return f.bpfUnavailable() ?? (f.attach.perf_event.ok ? "" : `perf_event programs: ${f.attach.perf_event.reason}`);
  } catch (e) {
    return (e as Error).message;
  }
}
const why = preflight();
if (why) console.warn(`perf-attach.root.test: skipped: ${why}`);

describe("attachPerfEvent", () => {
  test.if(!why)("a failed attach closes the perf event fd; a good one keeps it until the link is destroyed", () => {
    using obj = BpfObject.open(bpfObjectBytes("selftest"), { name: "selftest" });
    for (const p of ["tp_getppid", "uprobe_fn", "on_sockops"]) obj.program(p).setAutoload(false);
    obj.load();
    const open = () => perfEventOpen({ type: PerfType.SOFTWARE, config: PerfSwConfig.CPU_CLOCK, frequency: 100, cpu: 0 });
    const bad = open();
    expect(existsSync(`/proc/self/fd/${bad}`)).toBe(true);
    // A raw_tp program cannot be attached to a perf event.
    expect(() => obj.program("raw_sys_enter").attachPerfEvent(bad)).toThrow(BpfError);
    expect(existsSync(`/proc/self/fd/${bad}`)).toBe(false);
    const good = open();
    const link = obj.program("on_sample").attachPerfEvent(good);
    expect(existsSync(`/proc/self/fd/${good}`)).toBe(true);
    link.destroy();
    expect(existsSync(`/proc/self/fd/${good}`)).toBe(false);
  });
});
