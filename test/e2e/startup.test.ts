// Start-up order: nothing the first report does not need may delay it. The kernel feature
// detection (~200 ms) is scheduled once probes.init was applied; its log line and gauges follow.
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { agentFiles, cliArgs, scrape, spawnAgent, waitFor, type Child } from "../harness.ts";

const BASEINFO_CPU_MEM = `baseinfo {"cmd":{"probe":["cpu","mem"]},"params":{"report_period":5},"state":"running"}\n`;
let child: Child | undefined;

afterAll(async () => {
  await child?.stop();
});

describe("agent start-up (bun src/main.ts)", () => {
  test("first data comes before the kernel feature report, which then appears in the log and on /metrics", async () => {
    const f = await agentFiles();
    writeFileSync(f.probesInit, BASEINFO_CPU_MEM);
    child = spawnAgent(cliArgs(f), { useSource: true, env: { GOPHER_LOG_STDERR: "0" } });
    await waitFor("gala_gopher_mem_total_kB", async () => {
      return (await scrape(f.metricsPort)).includes("gala_gopher_mem_total_kB") ? true : undefined;
    }, 30_000, 5);
    const body = await waitFor("gala_gopher_agent_kernel_info", async () => {
      const b = await scrape(f.metricsPort);
      return b.includes("gala_gopher_agent_kernel_info{") ? b : undefined;
    }, 30_000);
    expect(body).toMatch(/^gala_gopher_agent_kernel_feature\{feature="btf"\} [01]$/m);
    const log = readFileSync(join(f.logDir, "debug", "gopher.log"), "utf8").split("\n");
    const applied = log.findIndex((l) => l.endsWith(`${f.probesInit}: 1 line(s) applied, 0 failed`));
    const kernel = log.findIndex((l) => /\[INFO\] kernel \S+ \S+: .*; hooks: /.test(l));
    expect(applied).toBeGreaterThan(0);
    expect(kernel).toBeGreaterThan(applied);
  });
});
