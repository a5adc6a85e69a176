// The agent's own metrics (gala_gopher_agent_*), kept with prom-client: probe state,
// errors, restarts, collection duration, series per table and every drop counter.
import { Counter, Gauge, Registry } from "./prom.ts";
import type { MetricStore } from "../store/store.ts";

export const PROBE_STATES = ["running", "stopped", "failed", "unsupported", "starting"] as const;
export type ProbeState = (typeof PROBE_STATES)[number];

export class AgentMetrics {
  readonly registry = new Registry();
  readonly probeState: Gauge<"probe" | "state">;
  private readonly probeUnsupported: Gauge<"probe" | "reason">;
  private readonly unsupportedReason = new Map<string, string>();
  readonly probeErrors: Counter<"probe">;
  readonly probeRestarts: Counter<"probe">;
  readonly collectSeconds: Gauge<"probe">;
  readonly parseErrors: Counter<"probe" | "item">;
  readonly dropped: Counter<"channel" | "reason">;
  private readonly series: Gauge<"table">;
  private readonly tableDrops: Counter<"table" | "reason">;
  private readonly tableDropsSeen = new Map<string, number>();
  private labelsLeftOutSeen = 0;
  private labelsDuplicatedSeen = 0;
  private lastCollectSeconds = 0;

  constructor(
    private readonly store: MetricStore,
    info: { version: string; commit: string },
  ) {
    const r = [this.registry];
    new Gauge({ name: "gala_gopher_agent_info", help: "agent version and commit; value 1", labelNames: ["version", "commit"], registers: r }).set(
      { version: info.version, commit: info.commit },
      1,
    );
    this.probeState = new Gauge({
      name: "gala_gopher_agent_probe_state",
      help: "1 for the current state of each configured probe (running, stopped, failed, unsupported, starting)",
      labelNames: ["probe", "state"],
      registers: r,
    });
    this.probeUnsupported = new Gauge({
      name: "gala_gopher_agent_probe_unsupported",
      help: "1 with the reason this host cannot run a probe (the probe shows \"unsupported: <reason>\" in GET)",
      labelNames: ["probe", "reason"],
      registers: r,
    });
    this.probeErrors = new Counter({ name: "gala_gopher_agent_probe_errors_total", help: "collections or starts of a probe that failed", labelNames: ["probe"], registers: r });
    this.probeRestarts = new Counter({ name: "gala_gopher_agent_probe_restarts_total", help: "automatic restarts of a failed probe", labelNames: ["probe"], registers: r });
    this.collectSeconds = new Gauge({ name: "gala_gopher_agent_probe_collect_duration_seconds", help: "duration of the probe's last collection", labelNames: ["probe"], registers: r });
    this.parseErrors = new Counter({ name: "gala_gopher_agent_parse_errors_total", help: "host files or items a probe could not parse and skipped", labelNames: ["probe", "item"], registers: r });
    this.dropped = new Counter({ name: "gala_gopher_agent_dropped_total", help: "messages or lines dropped by an output channel, by reason", labelNames: ["channel", "reason"], registers: r });
    this.series = new Gauge({ name: "gala_gopher_agent_series", help: "live rows (series sets) held per table", labelNames: ["table"], registers: r });
    this.tableDrops = new Counter({ name: "gala_gopher_agent_rows_dropped_total", help: "rows refused by the store since start, by table and reason", labelNames: ["table", "reason"], registers: r });
    new Gauge({
      name: "gala_gopher_agent_scrape_render_seconds",
      help: "time the previous /metrics rendering took",
      registers: r,
      collect: () => undefined,
    });
  }

  setProbeState(probe: string, state: ProbeState, unsupportedReason?: string): void {
    for (const s of PROBE_STATES) this.probeState.set({ probe, state: s }, s === state ? 1 : 0);
    const old = this.unsupportedReason.get(probe);
    const reason = state === "unsupported" ? unsupportedReason ?? "" : undefined;
    if (old !== undefined && old !== reason) {
      this.probeUnsupported.remove({ probe, reason: old });
      this.unsupportedReason.delete(probe);
    }
    if (reason !== undefined) {
      this.probeUnsupported.set({ probe, reason }, 1);
      this.unsupportedReason.set(probe, reason);
    }
  }

  removeProbe(probe: string): void {
    for (const s of PROBE_STATES) this.probeState.remove({ probe, state: s });
  }

  noteRender(seconds: number): void {
    this.lastCollectSeconds = seconds;
  }

  /** Refreshes the store-derived gauges and renders the registry. */
  async render(): Promise<string> {
    for (const [table, n] of this.store.seriesCount()) this.series.set({ table }, n);
    for (const [table, d] of this.store.dropped) {
      for (const reason of ["table_full", "labels_too_long"] as const) {
        const key = `${table}\0${reason}`;
        const delta = d[reason] - (this.tableDropsSeen.get(key) ?? 0);
        if (delta > 0) this.tableDrops.inc({ table, reason }, delta);
        this.tableDropsSeen.set(key, d[reason]);
      }
    }
    const leftOut = this.store.labelsLeftOut - this.labelsLeftOutSeen;
    if (leftOut > 0) this.dropped.inc({ channel: "series_labels", reason: "invalid_label_name" }, leftOut);
    this.labelsLeftOutSeen = this.store.labelsLeftOut;
    const duplicated = this.store.labelsDuplicated - this.labelsDuplicatedSeen;
    if (duplicated > 0) this.dropped.inc({ channel: "series_labels", reason: "duplicate_label_name" }, duplicated);
    this.labelsDuplicatedSeen = this.store.labelsDuplicated;
    const g = this.registry.getSingleMetric("gala_gopher_agent_scrape_render_seconds") as Gauge<string> | undefined;
    g?.set(this.lastCollectSeconds);
    return this.registry.metrics();
  }
}
