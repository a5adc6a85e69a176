import { describe, expect, test } from "bun:test";
import { gunzipSync } from "node:zlib";
import { AgentMetrics } from "../egress/agent-metrics.ts";
import { Gauge } from "../egress/prom.ts";
import { PrometheusRenderer } from "../egress/prometheus.ts";
import { MetricStore } from "../store/store.ts";
import { defineTable } from "../store/table.ts";
import { metricsApp } from "./metrics.ts";
import { ScrapeCache } from "./scrape-cache.ts";

const cpu = defineTable({
  name: "system_cpu",
  entity: "cpu",
  version: "1.0.0",
  fields: [
    { name: "cpu", type: "key", description: "CPU index" },
    { name: "util_per", type: "gauge", description: "CPU utilization, percent" },
  ],
});

function setup(agentRenderMs = 0) {
  const store = new MetricStore({ maxRowsPerTable: 100 });
  const agent = new AgentMetrics(store, { version: "t", commit: "t" });
  let agentRenders = 0;
  new Gauge({
    name: "gala_gopher_agent_test_renders",
    help: "agent renders so far",
    registers: [agent.registry],
    async collect() {
      agentRenders++;
      if (agentRenderMs) await Bun.sleep(agentRenderMs);
      this.set(agentRenders);
    },
  });
  const renderer = new PrometheusRenderer(store, "m-1");
  return { store, agent, renderer, renders: () => agentRenders };
}

describe("scrape cache", () => {
  test("one build per store change however many scrapes; the gzip is made once per build", async () => {
    let now = 0;
    const s = setup();
    const cache = new ScrapeCache(s, { now: () => now, agentRefreshMs: 250 });
    s.store.upsert(cpu, { cpu: "0", util_per: 1 }, "baseinfo", 1, 0);
    const bodies = await Promise.all(Array.from({ length: 60 }, () => cache.get()));
    expect(cache.builds).toBe(1);
    expect(new Set(bodies).size).toBe(1);
    const b = bodies[0]!;
    expect(b.gzip()).toBe(b.gzip());
    expect(new TextDecoder().decode(gunzipSync(b.gzip()))).toBe(new TextDecoder().decode(b.bytes));
    for (let i = 0; i < 50; i++) await cache.get();
    expect(cache.builds).toBe(1);
    s.store.upsert(cpu, { cpu: "0", util_per: 2 }, "baseinfo", 2, 0);
    const after = await cache.get();
    expect(cache.builds).toBe(2);
    expect(new TextDecoder().decode(after!.bytes)).toContain('gala_gopher_cpu_util_per{cpu="0",machine_id="m-1"} 2\n');
    // The agent's own part is refreshed after agentRefreshMs even when the store is unchanged.
    now += 249;
    await cache.get();
    expect(cache.builds).toBe(2);
    now += 1;
    await cache.get();
    expect(cache.builds).toBe(3);
    expect(s.renders()).toBe(3);
  });

  test("past the bound a scrape gets 503 with Retry-After, counted in gala_gopher_agent_dropped_total", async () => {
    const s = setup(100);
    const cache = new ScrapeCache(s, { maxWaiting: 8 });
    const app = metricsApp({ ...s, healthy: () => true, cache });
    const answers = await Promise.all(Array.from({ length: 12 }, () => app.request("/metrics")));
    const codes = answers.map((r) => r.status).sort();
    // One scrape builds, eight wait for that build, three are refused.
    expect(codes.filter((c) => c === 200).length).toBe(9);
    expect(codes.filter((c) => c === 503).length).toBe(3);
    const refused = answers.find((r) => r.status === 503)!;
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(cache.builds).toBe(1);
    await Bun.sleep(260); // past AGENT_REFRESH_MS: the agent part is rebuilt
    const next = await (await app.request("/metrics", { headers: { "Accept-Encoding": "gzip" } })).arrayBuffer();
    const text = new TextDecoder().decode(gunzipSync(new Uint8Array(next)));
    expect(text).toContain('gala_gopher_agent_dropped_total{channel="metrics_scrape",reason="too_many_waiting"} 3');
  });

  test("the served bytes are valid UTF-8 even when a label value holds a lone surrogate", async () => {
    const s = setup();
    s.store.upsert(cpu, { cpu: "a\ud800b", util_per: 1 }, "baseinfo", 1, 0);
    const body = await new ScrapeCache(s).get();
    const text = new TextDecoder("utf-8", { fatal: true }).decode(body!.bytes);
    expect(text).toContain('cpu="a\ufffdb"');
  });
});
