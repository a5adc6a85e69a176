import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { Registry } from "../egress/prom.ts";
import type { Logger } from "../log/logger.ts";
import { parseChildReport } from "./features-child.ts";
import { detectedFeatures, setFeaturesForTest } from "./features.ts";
import { reportKernelFeaturesLater } from "./features-later.ts";

const MAIN = [process.execPath, join(import.meta.dir, "..", "main.ts")];

function memLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const l = (level: string) => (m: string) => void lines.push(`${level} ${m}`);
  const log = { debug: l("DEBUG"), info: l("INFO"), warn: l("WARN"), error: l("ERROR"), child: () => log, lines };
  return log;
}

const kernelFamilies = async (r: Registry): Promise<string[]> =>
  (await r.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith("gala_gopher_agent_kernel_")).sort();

async function untilRegistered(r: Registry): Promise<string[]> {
  const end = Date.now() + 30_000;
  while ((await kernelFamilies(r)).length < 2 && Date.now() < end) await Bun.sleep(20);
  return kernelFamilies(r);
}

const SUMMARY = /^INFO kernel \S+ \S+: .*; hooks: /;

describe("reportKernelFeaturesLater", () => {
  test("nothing is detected, logged or registered before the delay", async () => {
    const registry = new Registry();
    const log = memLog();
    using _report = reportKernelFeaturesLater(registry, log, { delayMs: 300, childCommand: MAIN });
    expect(await kernelFamilies(registry)).toEqual([]);
    expect(log.lines).toEqual([]);
  });

  test("after the delay: detected in a child process (not in this one), summary replayed, both gauges registered", async () => {
    setFeaturesForTest(undefined);
    const registry = new Registry();
    const log = memLog();
    using _report = reportKernelFeaturesLater(registry, log, { delayMs: 20, childCommand: MAIN });
    expect(await untilRegistered(registry)).toEqual(["gala_gopher_agent_kernel_feature", "gala_gopher_agent_kernel_info"]);
    expect(log.lines.filter((l) => SUMMARY.test(l))).toHaveLength(1);
    expect(log.lines.some((l) => l.startsWith("WARN"))).toBe(false);
    expect(detectedFeatures()).toBeUndefined();
    const text = await registry.metrics();
    expect(text).toMatch(/^gala_gopher_agent_kernel_feature\{feature="btf"\} [01]$/m);
    expect(text).toContain(`gala_gopher_agent_kernel_info{release="${(await Bun.file("/proc/sys/kernel/osrelease").text()).trim()}"`);
  });

  test("a child that fails: warned, then detected in this process", async () => {
    setFeaturesForTest(undefined);
    const registry = new Registry();
    const log = memLog();
    using _report = reportKernelFeaturesLater(registry, log, { delayMs: 20, childCommand: ["false"] });
    expect(await untilRegistered(registry)).toEqual(["gala_gopher_agent_kernel_feature", "gala_gopher_agent_kernel_info"]);
    expect(log.lines.find((l) => l.startsWith("WARN"))).toMatch(/^WARN kernel feature child exited with 1: ; detecting kernel features in the agent's process$/);
    expect(log.lines.filter((l) => SUMMARY.test(l))).toHaveLength(1);
    expect(detectedFeatures()).toBeDefined();
  });

  test("disposed before the delay: never runs", async () => {
    const registry = new Registry();
    const log = memLog();
    {
      using _report = reportKernelFeaturesLater(registry, log, { delayMs: 20, childCommand: MAIN });
    }
    await Bun.sleep(300);
    expect(await kernelFamilies(registry)).toEqual([]);
    expect(log.lines).toEqual([]);
  });
});

describe("parseChildReport", () => {
  const facts = {
    release: "6.1",
    arch: "x64",
    vmlinuxBtf: true,
    libbpf: { ok: true },
    tracefs: { mountedByUs: false },
    progTypes: { kprobe: true },
    mapTypes: { hash: true },
    helpers: { ktime_get_ns: true },
    attach: { tracepoint: { ok: true } },
  };
  test("a well-formed report", () => {
    const r = parseChildReport(JSON.stringify({ facts, log: [["debug", "x"]] }));
    expect(r.facts.release).toBe("6.1");
    expect(r.log).toEqual([["debug", "x"]]);
  });
  test.each([
    ["not json", "kernel feature child printed no JSON"],
    [JSON.stringify({ log: [] }), "report has no facts object"],
    [JSON.stringify({ facts: { ...facts, release: 6 }, log: [] }), "facts.release is not a string"],
    [JSON.stringify({ facts: { ...facts, vmlinuxBtf: "yes" }, log: [] }), "facts.vmlinuxBtf is not a boolean"],
    [JSON.stringify({ facts: { ...facts, attach: null }, log: [] }), "facts.attach is not an object"],
    [JSON.stringify({ facts: { ...facts, helpers: { a: 1 } }, log: [] }), "facts.helpers.a is not a boolean"],
    [JSON.stringify({ facts: { ...facts, attach: { kprobe: {} } }, log: [] }), "facts.attach.kprobe.ok is not a boolean"],
    [JSON.stringify({ facts, log: [["trace", "x"]] }), "log is not a list of [level, text]"],
  ])("%s → %s", (text, message) => {
    expect(() => parseChildReport(text)).toThrow(message);
  });
});
