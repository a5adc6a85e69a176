// The metrics exporter (web_server, default 127.0.0.1:8888): `/` and `/metrics` serve
// the latest snapshot of every live series plus the agent's own metrics; `/healthz`.
// Scrapers share cached bytes (scrape-cache.ts); when too many wait for one build the
// scrape gets 503 with Retry-After, counted as
// gala_gopher_agent_dropped_total{channel="metrics_scrape",reason="too_many_waiting"}.
import { Hono } from "hono";
import type { AgentMetrics } from "../egress/agent-metrics.ts";
import type { PrometheusRenderer } from "../egress/prometheus.ts";
import type { PageRoutes } from "../probe/pages.ts";
import { acceptMissingHost } from "./absolute-url.ts";
import { ScrapeCache } from "./scrape-cache.ts";

export const PROM_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
export const SCRAPE_RETRY_AFTER_S = 1;

export interface MetricsAppDeps {
  renderer: PrometheusRenderer;
  agent: AgentMetrics;
  healthy: () => boolean;
  /** Shared with gopher-ctl's `metrics`; one is made when absent. */
  cache?: ScrapeCache;
  /** Pages probes serve (GET /<feature>[/...], e.g. /flamegraph). */
  pages?: PageRoutes;
}

/** The exposition text as the endpoint serves it now (gopher-ctl). */
export async function scrapeText(d: Pick<MetricsAppDeps, "renderer" | "agent">): Promise<string> {
  const t0 = performance.now();
  const body = d.renderer.render() + (await d.agent.render());
  d.agent.noteRender((performance.now() - t0) / 1000);
  return body;
}

export function metricsApp(d: MetricsAppDeps): Hono {
  const app = new Hono();
  const cache = d.cache ?? new ScrapeCache(d);
  const serve = async (accept: string | undefined) => {
    const body = await cache.get();
    if (!body) {
      d.agent.dropped.inc({ channel: "metrics_scrape", reason: "too_many_waiting" });
      return new Response("too many concurrent scrapes; retry later\n", {
        status: 503,
        headers: { "Content-Type": "text/plain; charset=utf-8", "Retry-After": String(SCRAPE_RETRY_AFTER_S) },
      });
    }
    if (accept && /\bgzip\b/.test(accept)) {
      return new Response(body.gzip(), {
        headers: { "Content-Type": PROM_CONTENT_TYPE, "Content-Encoding": "gzip", Vary: "Accept-Encoding" },
      });
    }
    return new Response(body.bytes, { headers: { "Content-Type": PROM_CONTENT_TYPE } });
  };
  app.get("/", (c) => serve(c.req.header("accept-encoding")));
  app.get("/metrics", (c) => serve(c.req.header("accept-encoding")));
  app.get("/healthz", (c) => (d.healthy() ? c.text("ok\n") : c.text("unhealthy\n", 503)));
  app.all("/", (c) => c.text("method not allowed\n", 405, { Allow: "GET" }));
  app.all("/metrics", (c) => c.text("method not allowed\n", 405, { Allow: "GET" }));
  if (d.pages) {
    const pages = d.pages;
    app.get("*", async (c, next) => (await pages.handle(new URL(c.req.url))) ?? next());
  }
  app.notFound((c) => c.text("not found\n", 404));
  return acceptMissingHost(app);
}
