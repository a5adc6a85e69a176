import { describe, expect, test } from "bun:test";
import { Registry } from "../egress/prom.ts";
import type { Logger } from "../log/logger.ts";
import { reportKernelFeaturesLater } from "./features-later.ts";

function memLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const l = (level: string) => (m: string) => void lines.push(`${level} ${m}`);
  const log = { debug: l("DEBUG"), info: l("INFO"), warn: l("WARN"), error: l("ERROR"), child: () => log, lines };
  return log;
}

const kernelFamilies = async (r: Registry): Promise<string[]> =>
  (await r.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith("gala_gopher_agent_kernel_"));

describe("reportKernelFeaturesLater", () => {
  test("nothing is detected, logged or registered before the delay", async () => {
    const registry = new Registry();
    const log = memLog();
    using _report = reportKernelFeaturesLater(registry, log, 300);
    expect(await kernelFamilies(registry)).toEqual([]);
    expect(log.lines).toEqual([]);
  });

  test("after the delay: the summary line is logged and both gauges are registered", async () => {
    const registry = new Registry();
    const log = memLog();
    using _report = reportKernelFeaturesLater(registry, log, 20);
    const end = Date.now() + 20_000;
    while ((await kernelFamilies(registry)).length < 2 && Date.now() < end) await Bun.sleep(20);
    expect((await kernelFamilies(registry)).sort()).toEqual(["gala_gopher_agent_kernel_feature", "gala_gopher_agent_kernel_info"]);
    expect(log.lines.some((l) => /^INFO kernel \S+ \S+: .*; hooks: /.test(l))).toBe(true);
  });

  test("disposed before the delay: never runs", async () => {
    const registry = new Registry();
    const log = memLog();
    {
      using _report = reportKernelFeaturesLater(registry, log, 20);
    }
    await Bun.sleep(300);
    expect(await kernelFamilies(registry)).toEqual([]);
    expect(log.lines).toEqual([]);
  });
});
