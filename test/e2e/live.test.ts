// The agent in-process against this machine's real /proc: REST, metrics, gopher-ctl,
// probes.init, promtool.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { startAgent, type RunningAgent } from "../../src/daemon.ts";
import { ctlExchange } from "../../src/ctl/client.ts";
import { CMD_METRIC, CMD_PROBE, OP_GET, OP_SET } from "../../src/ctl/protocol.ts";
import { agentFiles, put, sampleValue, scrape, waitFor, which, type AgentFiles } from "../harness.ts";

let files: AgentFiles;
let agent: RunningAgent;

beforeAll(async () => {
  files = await agentFiles();
  writeFileSync(files.probesInit, "# boot config\n\nbaseinfo {\"cmd\":{\"probe\":[\"mem\"]},\n");
  agent = await startAgent(
    { configPath: files.conf, configPathGiven: true, probesInit: files.probesInit, saveProbes: true, runDir: files.runDir },
    { GOPHER_LOG_STDERR: "0" },
  );
});

afterAll(async () => {
  await agent.stop();
});

function memTotalKb(): number {
  const m = /^MemTotal:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"));
  return Number(m?.[1]);
}

describe("live host", () => {
  test("a bad probes.init line is skipped and logged with its line number", () => {
    const log = readFileSync(join(files.logDir, "debug", "gopher.log"), "utf8");
    expect(log).toContain(`${files.probesInit}:3: baseinfo: invalid json format; line skipped`);
  });

  test("PUT baseinfo cpu,mem → /metrics agrees with /proc within one period", async () => {
    const r = await put(agent.restPort!, "baseinfo", { cmd: { probe: ["cpu", "mem"] }, params: { report_period: 5 }, state: "running" });
    expect(r.body).toBe('{ "result": "success", "message":"New config takes effect" }\n');
    const first = await waitFor("mem series", async () => {
      const t = await scrape(agent.metricsPort!);
      return t.includes("gala_gopher_mem_total_kB{") ? t : undefined;
    });
    expect(sampleValue(first, 'gala_gopher_mem_total_kB{infos="/proc/meminfo"')).toBe(memTotalKb());
    // The first report carries no deltas (no bogus values), only absolute fields.
    expect(first).not.toContain("gala_gopher_cpu_util_per{");
    const second = await waitFor(
      "cpu deltas",
      async () => {
        const t = await scrape(agent.metricsPort!);
        return t.includes("gala_gopher_cpu_util_per{") ? t : undefined;
      },
      8000,
      100,
    );
    const cpus = second.split("\n").filter((l) => l.startsWith("gala_gopher_cpu_util_per{"));
    expect(cpus.length).toBe(availableParallelism());
    for (const l of cpus) {
      const v = Number(l.slice(l.lastIndexOf(" ") + 1));
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(100);
    }
    // user+nice+system+idle+iowait+irq+softirq+steal of one CPU over a 5 s period ≈ 5000 ms.
    const fields = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"];
    let sum = 0;
    for (const f of fields) sum += sampleValue(second, `gala_gopher_cpu_${f}_msec{cpu="0"`) ?? 0;
    expect(sum).toBeGreaterThan(4000);
    expect(sum).toBeLessThan(6500);
    const total = sampleValue(second, 'gala_gopher_cpu_total_used_per{cpu="cpu"');
    expect(total).toBeGreaterThanOrEqual(0);
    expect(total).toBeLessThanOrEqual(100);
  });

  test("two scrapers see the same data; every series once", async () => {
    const [a, b] = await Promise.all([scrape(agent.metricsPort!), scrape(agent.metricsPort!, "/")]);
    const strip = (t: string) => t.split("\n").filter((l) => l.startsWith("gala_gopher_") && !l.startsWith("gala_gopher_agent_"));
    expect(strip(a)).toEqual(strip(b));
    const names = strip(a).map((l) => l.slice(0, l.lastIndexOf(" ")));
    expect(new Set(names).size).toBe(names.length);
  });

  test("gzip when asked; /healthz; 404 and 405", async () => {
    const r = await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`, { headers: { "Accept-Encoding": "gzip" }, decompress: false } as RequestInit);
    expect(r.headers.get("content-encoding")).toBe("gzip");
    const text = new TextDecoder().decode(Bun.gunzipSync(new Uint8Array(await r.arrayBuffer())));
    expect(text).toContain("gala_gopher_mem_total_kB");
    expect((await fetch(`http://127.0.0.1:${agent.metricsPort}/healthz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${agent.metricsPort}/nope`)).status).toBe(404);
    expect((await fetch(`http://127.0.0.1:${agent.metricsPort}/metrics`, { method: "POST" })).status).toBe(405);
  });

  test.if(which("promtool") !== undefined)("promtool check metrics: valid text; lint only flags upstream's contract names", async () => {
    const text = await scrape(agent.metricsPort!);
    const p = Bun.spawnSync(["promtool", "check", "metrics"], { stdin: new TextEncoder().encode(text) });
    const out = p.stdout.toString() + p.stderr.toString();
    expect(out).not.toContain("error");
    expect([0, 3]).toContain(p.exitCode);
    const allowed = /(snake_case|abbreviated units|should not have "_count" suffix|should have "_total" suffix)/;
    for (const line of out.split("\n").filter(Boolean)) {
      const name = line.split(" ")[0] ?? "";
      // Upstream's metric names are the contract (DECISIONS.md); our own must be clean.
      expect(name.startsWith("gala_gopher_agent_")).toBe(false);
      expect(line).toMatch(allowed);
    }
  });

  test("gopher-ctl: probe get/set and metric over the command socket", async () => {
    const sock = join(files.runDir, "gala_gopher_cmd.sock");
    const got = await ctlExchange(sock, { cmd: CMD_PROBE, op: OP_GET, name: "baseinfo", json: "" });
    expect(got).toBe((await (await fetch(`http://127.0.0.1:${agent.restPort}/baseinfo`)).text()));
    const set = await ctlExchange(sock, { cmd: CMD_PROBE, op: OP_SET, name: "baseinfo", json: '{"params":{"report_event":1}}' });
    expect(set).toBe('{ "result": "success", "message":"New config takes effect" }\n');
    const bad = await ctlExchange(sock, { cmd: CMD_PROBE, op: OP_GET, name: "nosuch", json: "" });
    expect(bad).toBe('{ "result": "failed", "message":"Failed to get probe config" }\n');
    const metric = await ctlExchange(sock, { cmd: CMD_METRIC, op: OP_GET, name: "", json: "" });
    expect(metric).toContain("gala_gopher_mem_total_kB");
  });

  test("self metrics: probe state, collection duration, series", async () => {
    const t = await scrape(agent.metricsPort!);
    expect(t).toContain('gala_gopher_agent_probe_state{probe="baseinfo",state="running"} 1');
    expect(t).toMatch(/gala_gopher_agent_probe_collect_duration_seconds\{probe="baseinfo"\} [0-9.e-]+/);
    expect(t).toContain('gala_gopher_agent_series{table="system_meminfo"} 1');
  });

  test("metadata log gets one message per table that reported", () => {
    const lines = readFileSync(join(files.logDir, "meta", "gopher_meta.log"), "utf8").trim().split("\n");
    const names = lines.map((l) => JSON.parse(l).meta_name).sort();
    expect(names).toEqual(["system_cpu", "system_cpu_util", "system_dentry", "system_meminfo"]);
  });

  test("stop saves the running configuration back to probes.init (--save-probes)", async () => {
    await agent.stop();
    const saved = readFileSync(files.probesInit, "utf8").split("\n").filter((l) => l && !l.startsWith("#"));
    expect(saved.length).toBe(1);
    expect(saved[0]).toStartWith('baseinfo {"cmd":{"bin":');
    expect(saved[0]).toContain('"probe":["cpu","mem"]');
    expect(saved[0]).toEndWith('"state":"running"}');
  });
});
