// metric/event/meta out_channel = logs|json: files, formats and contents on a fixture host.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startAgent, type RunningAgent } from "../../src/daemon.ts";
import { agentFiles, copyFixture, put, rmrf, waitFor, type AgentFiles, agentOptions } from "../harness.ts";

const MID = "4c4c4544-0042-3510-8052-b4c04f4d4e32-192.168.1.20";

async function run(channel: "logs" | "json") {
  const host = copyFixture("bare-metal");
  const files = await agentFiles({ metricChannel: channel, eventTimeout: 0 });
  const agent = await startAgent(agentOptions(files, host),
    { GOPHER_LOG_STDERR: "0" },
  );
  return { host, files, agent };
}

describe("metric channel logs", () => {
  let ctx: { host: string; files: AgentFiles; agent: RunningAgent };
  beforeAll(async () => (ctx = await run("logs")));
  afterAll(async () => {
    await ctx.agent.stop();
    rmrf(ctx.host);
  });

  test("no metrics server; Prometheus text with timestamps in gopher_metrics_0; events and metadata logged", async () => {
    expect(ctx.agent.metricsPort).toBeUndefined();
    // res_upper_thr 1 with the fixture's 42.54 % memory use raises the mem event.
    const r = await put(ctx.agent.restPort!, "baseinfo", { cmd: { probe: ["mem"] }, params: { report_event: 1, res_upper_thr: 1 }, state: "running" });
    expect(r.status).toBe(200);
    const file = join(ctx.files.logDir, "metrics", "gopher_metrics_0");
    const text = await waitFor("metric log", () => (existsSync(file) ? readFileSync(file, "utf8") : undefined));
    expect(text).toMatch(new RegExp(`^gala_gopher_mem_total_kB\\{infos="/proc/meminfo",machine_id="${MID}"\\} 16265432 \\d+000$`, "m"));
    expect(text).toContain("\n\n");
    const events = readFileSync(join(ctx.files.logDir, "event", "gopher_event_0"), "utf8").trim().split("\n");
    const ev = JSON.parse(events[0] ?? "");
    expect(ev.Attributes.entity_id).toBe(`${MID}_mem_:proc:meminfo`);
    expect(ev.Resource.metric).toBe("gala_gopher_mem_util");
    expect(ev.Body).toEndWith("WARN Entity(/proc/meminfo) Too high mem utilization(42.54%).");
    const meta = readFileSync(join(ctx.files.logDir, "meta", "gopher_meta.log"), "utf8");
    expect(meta).toContain('"meta_name": "system_meminfo", "entity_name": "mem", "version": "1.0.0", "keys": ["machine_id", "infos"]');
  });
});

describe("metric channel json", () => {
  let ctx: { host: string; files: AgentFiles; agent: RunningAgent };
  beforeAll(async () => (ctx = await run("json")));
  afterAll(async () => {
    await ctx.agent.stop();
    rmrf(ctx.host);
  });

  test("one JSON object per row; gauge values as strings", async () => {
    await put(ctx.agent.restPort!, "baseinfo", { cmd: { probe: ["mem"] }, state: "running" });
    const file = join(ctx.files.logDir, "metrics", "gopher_metrics_0");
    const text = await waitFor("json log", () => (existsSync(file) ? readFileSync(file, "utf8") : undefined));
    const rows = text.trim().split("\n").map((l) => JSON.parse(l));
    const mem = rows.find((r) => r.table_name === "system_meminfo");
    expect(mem.entity_name).toBe("mem");
    expect(mem.labels).toEqual({ infos: "/proc/meminfo", machine_id: MID });
    expect(mem.metrics.total_kB).toBe("16265432");
    expect(mem.metrics.util).toBe("42.54");
    expect(mem.histos).toEqual({});
    expect(mem.timestamp % 1000).toBe(0);
  });
});
