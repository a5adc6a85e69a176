// Probe pages on the metrics port: GET /<feature>[/...] reaches the run's handler while
// it is registered; other paths and /metrics are unchanged; a disposed (or replaced)
// registration stops answering.
import { describe, expect, test } from "bun:test";
import { AgentMetrics } from "../egress/agent-metrics.ts";
import { PrometheusRenderer } from "../egress/prometheus.ts";
import { metricsApp } from "../http/metrics.ts";
import { MetricStore } from "../store/store.ts";
import { PageRoutes } from "./pages.ts";

function app(pages: PageRoutes) {
  const store = new MetricStore({ maxRowsPerTable: 10 });
  return metricsApp({ renderer: new PrometheusRenderer(store, "m-1"), agent: new AgentMetrics(store, { version: "t", commit: "t" }), healthy: () => true, pages });
}

describe("probe pages", () => {
  test("served while registered, with the rest of the path and the query; 404 after", async () => {
    const pages = new PageRoutes();
    const a = app(pages);
    const handle = pages.serve("flamegraph", (sub, q) => new Response(`sub=${sub} type=${q.get("type")}`));
    expect(await (await a.request("http://h/flamegraph")).text()).toBe("sub= type=null");
    expect(await (await a.request("http://h/flamegraph/data?type=oncpu")).text()).toBe("sub=/data type=oncpu");
    const other = await a.request("http://h/other");
    expect([other.status, await other.text()]).toEqual([404, "not found\n"]);
    expect((await a.request("http://h/metrics")).status).toBe(200);
    const replaced = pages.serve("flamegraph", () => new Response("new"));
    handle[Symbol.dispose](); // the old run's handle no longer owns the route
    expect(await (await a.request("http://h/flamegraph")).text()).toBe("new");
    replaced[Symbol.dispose]();
    expect((await a.request("http://h/flamegraph")).status).toBe(404);
  });
});
