// The ProbeContext a run gets from the manager: its configuration and scope, the host, the
// lazily detected kernel features, its own ctx.bpf (closed with the run), drop counters,
// declared limits, and emit/event guarded by what the definition declared.
import type { AgentMetrics } from "../egress/agent-metrics.ts";
import type { KernelFeatures } from "../host/features.ts";
import type { HostFs } from "../host/fs.ts";
import { errorText } from "../log/error-text.ts";
import type { Logger } from "../log/logger.ts";
import { RingPoller } from "../libbpf/poller.ts";
import type { ProbeEvent, Row, TableDef } from "../store/table.ts";
import type { BpfDropCounts } from "./bpf-drops.ts";
import type { PageRoutes } from "./pages.ts";
import type { ProbeContext, ProbeDefinition, ScopeView } from "./define.ts";
import { ProbeBpfSet } from "./probe-bpf.ts";
import type { ProbeSettings } from "./settings.ts";

/** Ring drains: every 5 ms while records arrive, every 200 ms once idle. */
export const RING_BUSY_MS = 5;
export const RING_IDLE_MS = 200;

/** The agent's one ring poller (probes reach it through ctx.bpf.ringbuf). */
export function agentRingPoller(log: Logger): RingPoller {
  return new RingPoller({
    intervalMs: RING_BUSY_MS,
    idleIntervalMs: RING_IDLE_MS,
    onError: (ring, e) => log.warn(`ring buffer ${ring}: ${errorText(e)}`),
  });
}

/** A declared limit's value: the agent's override when given, else its default. */
export function probeLimit(def: ProbeDefinition, name: string, override: number | undefined): number {
  const decl = def.limits?.[name];
  if (!decl) throw new Error(`probe ${def.feature} has no limit ${name}`);
  return override ?? decl.default;
}

/** The members the manager replaces on a live reconfiguration. */
export type MutableContext = ProbeContext & {
  settings: ProbeSettings;
  subitems: Set<string>;
  params: ProbeSettings["params"];
  scope: ScopeView;
  readonly bpf: ProbeBpfSet;
};

export interface ContextDeps {
  def: ProbeDefinition;
  settings: ProbeSettings;
  scope: ScopeView;
  host: HostFs;
  log: Logger;
  signal: AbortSignal;
  features: () => KernelFeatures;
  poller: RingPoller;
  drops: BpfDropCounts;
  limits?: Readonly<Record<string, number>>;
  metrics: AgentMetrics;
  /** Pages on the metrics port (ctx.servePage); absent: none. */
  pages?: PageRoutes;
  emit(table: TableDef, row: Row): void;
  event(e: ProbeEvent): void;
}

export function createProbeContext(d: ContextDeps): MutableContext {
  const def = d.def;
  const feature = def.feature;
  const allowed = new Set(def.tables.map((t) => t.name));
  const declaredEvents = def.events && new Set(def.events.flatMap((e) => e.metrics.map((m) => `${e.entity}\0${m}`)));
  const ctx: MutableContext = {
    feature,
    settings: d.settings,
    subitems: new Set(d.settings.subitems),
    params: d.settings.params,
    scope: d.scope,
    host: d.host,
    log: d.log,
    signal: d.signal,
    get features() {
      return d.features();
    },
    bpf: new ProbeBpfSet({
      feature,
      log: d.log,
      features: d.features,
      poller: d.poller,
      scope: () => ctx.scope,
      drops: (reason) => d.drops.counter(feature, reason),
    }),
    drops: (reason: string) => d.drops.counter(feature, reason),
    limit: (name: string) => probeLimit(def, name, d.limits?.[name]),
    servePage: d.pages ? (handler) => d.pages!.serve(feature, handler) : undefined,
    emit: (table: TableDef, row: Row) => {
      if (!allowed.has(table.name)) throw new Error(`probe ${feature} emitted a row of foreign table ${table.name}`);
      d.emit(table, row);
    },
    event: (e: ProbeEvent) => {
      if (declaredEvents && !declaredEvents.has(`${e.entity}\0${e.metric}`)) {
        throw new Error(`probe ${feature} raised an undeclared event ${e.entity}.${e.metric}`);
      }
      d.event(e);
    },
    parseError: (item: string, detail?: string) => {
      d.metrics.parseErrors.inc({ probe: feature, item });
      d.log.debug(`skipped ${item}${detail ? `: ${detail}` : ""}`);
    },
    num: (key: string) => {
      const v = ctx.settings.params[key];
      return typeof v === "number" ? v : 0;
    },
  };
  return ctx;
}
