// The bytes /metrics serves, built once per change and shared by every scraper: the store's
// exposition is rendered when the store's version changes (PrometheusRenderer caches on
// it), the agent's own gala_gopher_agent_* part at most once per AGENT_REFRESH_MS, and the
// gzip form once per built body, when the first scraper asks for it. Scrapes that arrive
// while a body is being built wait for that build instead of starting their own; past
// `maxWaiting` of them a scrape is refused (the caller answers 503 with Retry-After and
// counts it), so a flood of scrapers costs one rendering per change, not one per request.
import type { AgentMetrics } from "../egress/agent-metrics.ts";
import type { PrometheusRenderer } from "../egress/prometheus.ts";

/** The agent's own metrics are re-rendered at most this often while scrapes keep coming. */
export const AGENT_REFRESH_MS = 250;
/** Scrapes that may wait for one build; more are refused. */
export const MAX_WAITING_SCRAPES = 64;

export interface ScrapeSources {
  renderer: PrometheusRenderer;
  agent: AgentMetrics;
}

/** One built body: UTF-8 text (lone surrogates become U+FFFD) and its gzip, made on demand. */
export class ScrapeBody {
  private gz: Uint8Array<ArrayBuffer> | undefined;
  constructor(
    readonly bytes: Uint8Array<ArrayBuffer>,
    readonly storeVersion: number,
    readonly builtAt: number,
  ) {}

  gzip(): Uint8Array<ArrayBuffer> {
    return (this.gz ??= Bun.gzipSync(this.bytes));
  }
}

export class ScrapeCache {
  private current: ScrapeBody | undefined;
  private building: Promise<ScrapeBody> | undefined;
  private waiting = 0;
  /** Builds since start (for tests and the bench: one per change, not one per scrape). */
  builds = 0;

  constructor(
    private readonly src: ScrapeSources,
    private readonly opts: { agentRefreshMs?: number; maxWaiting?: number; now?: () => number } = {},
  ) {}

  private now(): number {
    return this.opts.now?.() ?? performance.now();
  }

  private fresh(b: ScrapeBody | undefined): b is ScrapeBody {
    if (!b) return false;
    if (b.storeVersion !== this.src.renderer.storeVersion()) return false;
    return this.now() - b.builtAt < (this.opts.agentRefreshMs ?? AGENT_REFRESH_MS);
  }

  /** The current body, or undefined when too many scrapes already wait for a build. */
  async get(): Promise<ScrapeBody | undefined> {
    if (this.fresh(this.current)) return this.current;
    if (this.building) {
      if (this.waiting >= (this.opts.maxWaiting ?? MAX_WAITING_SCRAPES)) return undefined;
      this.waiting++;
      try {
        return await this.building;
      } finally {
        this.waiting--;
      }
    }
    this.building = this.build();
    try {
      return (this.current = await this.building);
    } finally {
      this.building = undefined;
    }
  }

  private async build(): Promise<ScrapeBody> {
    const t0 = performance.now();
    const storeVersion = this.src.renderer.storeVersion();
    const text = this.src.renderer.render() + (await this.src.agent.render());
    this.src.agent.noteRender((performance.now() - t0) / 1000);
    this.builds++;
    return new ScrapeBody(new TextEncoder().encode(text), storeVersion, this.now());
  }
}
