// The metrics exporter (web_server, default 127.0.0.1:8888): `/` and `/metrics` serve
// the latest snapshot of every live series plus the agent's own metrics; `/healthz`.
import { Hono } from "hono";
import type { AgentMetrics } from "../egress/agent-metrics.ts";
import type { PrometheusRenderer } from "../egress/prometheus.ts";

export const PROM_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export interface MetricsAppDeps {
  renderer: PrometheusRenderer;
  agent: AgentMetrics;
  healthy: () => boolean;
}

export async function scrapeText(d: Pick<MetricsAppDeps, "renderer" | "agent">): Promise<string> {
  const t0 = performance.now();
  const body = d.renderer.render() + (await d.agent.render());
  d.agent.noteRender((performance.now() - t0) / 1000);
  return body;
}

export function metricsApp(d: MetricsAppDeps): Hono {
  const app = new Hono();
  const serve = async (accept: string | undefined) => {
    const text = await scrapeText(d);
    if (accept && /\bgzip\b/.test(accept)) {
      return new Response(Bun.gzipSync(text), {
        headers: { "Content-Type": PROM_CONTENT_TYPE, "Content-Encoding": "gzip", Vary: "Accept-Encoding" },
      });
    }
    return new Response(text, { headers: { "Content-Type": PROM_CONTENT_TYPE } });
  };
  app.get("/", (c) => serve(c.req.header("accept-encoding")));
  app.get("/metrics", (c) => serve(c.req.header("accept-encoding")));
  app.get("/healthz", (c) => (d.healthy() ? c.text("ok\n") : c.text("unhealthy\n", 503)));
  app.all("/", (c) => c.text("method not allowed\n", 405, { Allow: "GET" }));
  app.all("/metrics", (c) => c.text("method not allowed\n", 405, { Allow: "GET" }));
  app.notFound((c) => c.text("not found\n", 404));
  return app;
}
