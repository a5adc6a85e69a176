// The probe manager: holds every feature's settings, serialises configuration requests,
// runs built-in probes (configure → start → live reconfigure → stop) on their
// report_period, and isolates failures: a probe that throws or hangs is marked failed,
// restarted with back-off, and never takes another probe or a server down.
import type { HostFs } from "../host/fs.ts";
import { detectFeatures, type KernelFeatures } from "../host/features.ts";
import { errorText } from "../log/error-text.ts";
import type { Logger } from "../log/logger.ts";
import type { AgentMetrics, ProbeState } from "../egress/agent-metrics.ts";
import { EventDeduper, formatEvent } from "../egress/events.ts";
import { metadataMessage } from "../egress/metadata.ts";
import type { RowBatch, SinkSet } from "../egress/sink.ts";
import type { MetricStore, StoredRow } from "../store/store.ts";
import type { ProbeEvent, Row, TableDef } from "../store/table.ts";
import { BpfDropCounts } from "./bpf-drops.ts";
import { NotSupported, type ProbeContext, type ProbeDefinition, type ProbeRun } from "./define.ts";
import type { RingPoller } from "../libbpf/poller.ts";
import { agentRingPoller, createProbeContext, type MutableContext } from "./context.ts";
import type { PageRoutes } from "./pages.ts";
import { FeatureCatalog } from "./catalog.ts";
import { NOT_BUILT } from "./not-built.ts";
import { reservedLabelNames } from "./labels.ts";
import { applyRequest, defaultSettings, envelope, renderGet } from "./request.ts";
import { wholeHostScopeFactory, type ScopeFactory } from "./scope.ts";
import type { FeatureDef, ProbeSettings } from "./settings.ts";

export interface ManagerDeps {
  /** The probes built into this agent (implementations). */
  definitions: readonly ProbeDefinition[];
  /** The features REST answers for; default: the definitions' plus upstream's not built. */
  catalog?: FeatureCatalog;
  store: MetricStore;
  metrics: AgentMetrics;
  host: HostFs;
  log: Logger;
  sinks: SinkSet;
  machineId: string;
  /** event.timeout: de-duplication window of native probes' events (s). */
  eventTimeoutSec: number;
  /** How long a collect() may take before the probe is declared hung (ms); default max(report_period, 30 s). */
  collectTimeoutMs?: number;
  /** First restart delay after a failure (ms); doubles up to 60 s. */
  restartBaseMs?: number;
  /** Resolves a probe's snoopers/blacklist into a live scope; default: the whole host. */
  scopeFactory?: ScopeFactory;
  /** The kernel's features, detected on first use and then kept (default: detectFeatures()). */
  features?: () => KernelFeatures;
  /** Where ctx.drops() counts (default: a private instance). */
  drops?: BpfDropCounts;
  /** The one poller of every probe's ring buffers (default: a private one). */
  poller?: RingPoller;
  /** Overrides of probes' declared limits (feature → limit name → value), already validated. */
  limits?: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Pages probes serve on the metrics port (ctx.servePage); absent: none. */
  pages?: PageRoutes;
}

export interface Reply {
  status: number;
  body: string;
}

const MAX_BACKOFF_MS = 60_000;
const UNSUPPORTED = "unsupported: ";

class ProbeTimeoutError extends Error {
  readonly code = "EPROBETIMEOUT";
}

/** Everything the manager tracks for one feature. */
interface Runtime {
  readonly feature: FeatureDef;
  readonly def: ProbeDefinition | undefined;
  settings: ProbeSettings;
  state: ProbeState;
  error?: string;
  run?: ProbeRun;
  ctx?: MutableContext;
  bpf?: MutableContext["bpf"];
  abort?: AbortController;
  timer?: ReturnType<typeof setTimeout>;
  cycle: number;
  failures: number;
  /** Tables that have reported at least once (metadata is sent on the first report). */
  reported: Set<string>;
  /** Bumped on every start/stop so stale timers and collections are ignored. */
  generation: number;
  collecting?: Promise<void>;
}


export class ProbeManager {
  private readonly runtimes = new Map<string, Runtime>();
  private readonly defs = new Map<string, ProbeDefinition>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly dedup: EventDeduper;
  private expiryTimer?: ReturnType<typeof setInterval>;
  private metaTimer?: ReturnType<typeof setInterval>;
  private closed = false;
  private readonly features: () => KernelFeatures;
  private detected?: KernelFeatures;
  readonly drops: BpfDropCounts;
  private readonly poller: RingPoller;
  /** The poller was created here (not handed in): closed at shutdown. */
  private readonly ownPoller: boolean;
  readonly catalog: FeatureCatalog;

  constructor(private readonly deps: ManagerDeps) {
    this.catalog = deps.catalog ?? FeatureCatalog.of(deps.definitions, NOT_BUILT);
    for (const d of deps.definitions) {
      if (!this.catalog.find(d.feature)) throw new Error(`probe ${d.feature} is not a feature of the catalog`);
      this.defs.set(d.feature, d);
    }
    const detect = deps.features ?? (() => detectFeatures(deps.log));
    this.features = () => (this.detected ??= detect());
    this.drops = deps.drops ?? new BpfDropCounts();
    this.ownPoller = !deps.poller;
    this.poller = deps.poller ?? agentRingPoller(deps.log);
    this.dedup = new EventDeduper(deps.eventTimeoutSec);
    this.expiryTimer = setInterval(() => this.expire(), 5_000);
    this.expiryTimer.unref?.();
    this.metaTimer = setInterval(() => this.resendMetadata(), 600_000);
    this.metaTimer.unref?.();
  }

  // ---- configuration (REST, gopher-ctl, probes.init) ------------------------------

  /** Runs `f` after every earlier request finished (one global lock, as upstream). */
  private serial<T>(f: () => Promise<T>): Promise<T> {
    const next = this.queue.then(f, f);
    this.queue = next.catch(() => undefined);
    return next;
  }

  get(urlName: string): Reply {
    const f = this.catalog.find(urlName);
    if (!f) return { status: 404, body: envelope(false, "url not found") };
    const rt = this.runtimes.get(f.name);
    if (!rt) return { status: 200, body: "{}\n" };
    return { status: 200, body: this.renderWithStatus(rt) };
  }

  private renderWithStatus(rt: Runtime): string {
    const doc = renderGet(rt.feature, rt.settings, rt.state === "running");
    if (!rt.error) return doc;
    // Keep the upstream document and add the failure reason as one more sorted key.
    const parsed = JSON.parse(doc) as Record<string, unknown>;
    parsed.error = rt.error;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(parsed).sort()) sorted[k] = parsed[k];
    return JSON.stringify(sorted) + "\n";
  }

  /** Applies a request document (already decoded) to a feature. */
  put(urlName: string, doc: unknown): Promise<Reply> {
    return this.serial(() => this.putNow(urlName, doc));
  }

  private async putNow(urlName: string, doc: unknown): Promise<Reply> {
    if (this.closed) return { status: 503, body: envelope(false, "agent is shutting down") };
    const f = this.catalog.find(urlName);
    if (!f) return { status: 400, body: envelope(false, `invalid probe name ${urlName}`) };
    const rt = this.runtime(f, urlName);
    const before = rt.settings;
    const running = rt.state === "running";
    const res = applyRequest(f, before, doc, { running, reservedLabels: reservedLabelNames(rt.def?.tables ?? []) });
    if (!res.ok) {
      rt.settings = res.settings;
      this.deps.store.setOwnerLabels(f.name, rt.settings.customLabels);
      return { status: 400, body: envelope(false, res.message) };
    }
    rt.settings = res.settings;
    this.deps.store.setOwnerLabels(f.name, rt.settings.customLabels);
    if (res.state === "running") {
      rt.settings.wanted = true;
      if (rt.state !== "running") {
        const err = await this.start(rt);
        if (err) {
          // Roll back the other sections; the probe stays wanted (keep-alive retries).
          rt.settings = { ...before, wanted: true };
          this.deps.store.setOwnerLabels(f.name, rt.settings.customLabels);
          return { status: 400, body: envelope(false, "failed to start probe") };
        }
        return { status: 200, body: envelope(true, "New config takes effect") };
      }
    } else if (res.state === "stopped") {
      rt.settings.wanted = false;
      if (rt.state !== "stopped") await this.stop(rt, "stopped");
      return { status: 200, body: envelope(true, "New config takes effect") };
    }
    if (rt.state === "running" && res.changed) await this.reconfigure(rt, before);
    return { status: 200, body: envelope(true, "New config takes effect") };
  }

  private runtime(f: FeatureDef, urlName: string): Runtime {
    let rt = this.runtimes.get(f.name);
    if (!rt) {
      rt = {
        feature: f,
        def: this.defs.get(f.name),
        settings: defaultSettings(f, urlName),
        state: "stopped",
        cycle: 0,
        failures: 0,
        reported: new Set(),
        generation: 0,
      };
      this.runtimes.set(f.name, rt);
      this.deps.metrics.setProbeState(f.name, "stopped");
    }
    return rt;
  }

  /** `<feature> <GET json>` lines for every configured probe (probes.init --save). */
  savedConfiguration(): string {
    let out = "";
    for (const f of this.catalog.features) {
      const rt = this.runtimes.get(f.name);
      if (!rt) continue;
      const doc = renderGet(rt.feature, rt.settings, rt.settings.wanted);
      if (doc.trim() !== "{}") out += `${f.name} ${doc.trim()}\n`;
    }
    return out;
  }

  stateOf(feature: string): { state: ProbeState; error?: string } | undefined {
    const rt = this.runtimes.get(feature);
    return rt && { state: rt.state, error: rt.error };
  }

  // ---- lifecycle ---------------------------------------------------------------------

  private setState(rt: Runtime, state: ProbeState, error?: string): void {
    rt.state = state;
    rt.error = error;
    const unsupported = state === "unsupported" && error?.startsWith(UNSUPPORTED) ? error.slice(UNSUPPORTED.length) : undefined;
    this.deps.metrics.setProbeState(rt.feature.name, state, unsupported);
  }

  private period(rt: Runtime): number {
    const p = rt.settings.params.report_period;
    return (typeof p === "number" && p > 0 ? p : 60) * 1000;
  }

  /** Opens the probe and schedules its first collection now; returns an error text or undefined. */
  private async start(rt: Runtime): Promise<string | undefined> {
    const log = this.deps.log.child(rt.feature.name);
    if (!rt.def) {
      this.setState(rt, "stopped", `no built-in implementation of ${rt.feature.name} in this version`);
      log.warn(`start refused: ${rt.error}`);
      return rt.error;
    }
    this.setState(rt, "starting");
    try {
      const reason = rt.def.requires?.(this.features());
      if (reason) throw new NotSupported(reason);
      await this.open(rt);
    } catch (e) {
      if (e instanceof NotSupported) {
        await this.close(rt);
        this.setState(rt, "unsupported", e.message);
        log.warn(e.message);
        return e.message;
      }
      const msg = errorText(e);
      this.deps.metrics.probeErrors.inc({ probe: rt.feature.name });
      await this.close(rt);
      this.setState(rt, "failed", `start failed: ${msg}`);
      rt.failures++;
      const delay = this.scheduleRestart(rt);
      log.error(`start failed: ${msg}; retrying in ${Math.round(delay / 1000)} s`);
      return msg;
    }
    this.setState(rt, "running");
    log.info(`started (subitems: ${rt.settings.subitems.join(",") || "-"}, report_period ${this.period(rt) / 1000} s)`);
    this.schedule(rt, 0);
    return undefined;
  }

  private async open(rt: Runtime): Promise<void> {
    const def = rt.def!;
    rt.generation++;
    const abort = new AbortController();
    const ctx = this.context(rt, abort.signal);
    rt.abort = abort;
    rt.ctx = ctx;
    rt.bpf = ctx.bpf;
    rt.run = await def.open(ctx);
  }

  private context(rt: Runtime, signal: AbortSignal): MutableContext {
    const feature = rt.feature.name;
    return createProbeContext({
      def: rt.def!,
      settings: rt.settings,
      scope: (this.deps.scopeFactory ?? wholeHostScopeFactory)(feature, rt.settings, rt.feature.scopeKind),
      host: this.deps.host,
      log: this.deps.log.child(feature),
      signal,
      features: this.features,
      poller: this.poller,
      drops: this.drops,
      limits: this.deps.limits?.[feature],
      metrics: this.deps.metrics,
      pages: this.deps.pages,
      emit: (table, row) => this.emit(rt, table, row),
      event: (e) => this.event(rt, e),
    });
  }

  private pending = new Map<Runtime, Map<TableDef, StoredRow[]>>();

  private emit(rt: Runtime, table: TableDef, row: Row): void {
    const stored = this.deps.store.upsert(table, row, rt.feature.name, rt.cycle, Date.now());
    if (!stored) return;
    if (!rt.reported.has(table.name)) {
      rt.reported.add(table.name);
      this.deps.sinks.meta(metadataMessage(table, Date.now()));
    }
    if (!this.deps.sinks.hasRows) return;
    let m = this.pending.get(rt);
    if (!m) this.pending.set(rt, (m = new Map()));
    let list = m.get(table);
    if (!list) m.set(table, (list = []));
    list.push(stored);
  }

  private event(rt: Runtime, e: ProbeEvent): void {
    if (rt.settings.params.report_event !== 1) return;
    const now = Date.now();
    if (!this.dedup.admit(rt.feature.name, e.key, now)) return;
    this.deps.sinks.event(formatEvent(e, this.deps.machineId, now));
  }

  private schedule(rt: Runtime, delayMs: number): void {
    clearTimeout(rt.timer);
    const gen = rt.generation;
    rt.timer = setTimeout(() => void this.tick(rt, gen), delayMs);
  }

  private async tick(rt: Runtime, gen: number): Promise<void> {
    if (gen !== rt.generation || rt.state !== "running" || !rt.run) return;
    const started = performance.now();
    rt.cycle++;
    const run = rt.run;
    const timeoutMs = this.deps.collectTimeoutMs ?? Math.max(this.period(rt), 30_000);
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const work = Promise.resolve().then(() => run.collect());
      rt.collecting = work.then(
        () => undefined,
        () => undefined,
      );
      await Promise.race([
        work,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new ProbeTimeoutError(`collection did not finish within ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (e) {
      clearTimeout(timer);
      if (gen !== rt.generation) return;
      this.pending.delete(rt);
      await this.fail(rt, e);
      return;
    }
    clearTimeout(timer);
    if (gen !== rt.generation) return;
    this.deps.store.retireUnseen(rt.feature.name, rt.def!.tables, rt.cycle);
    const batch = this.pending.get(rt);
    if (batch) {
      this.pending.delete(rt);
      const batches: RowBatch[] = [...batch].map(([table, rows]) => ({ table, rows }));
      this.deps.sinks.rows(batches, Date.now());
    }
    const took = performance.now() - started;
    this.deps.metrics.collectSeconds.set({ probe: rt.feature.name }, took / 1000);
    if (rt.failures > 0 && rt.cycle > 3) rt.failures = 0;
    this.schedule(rt, Math.max(0, this.period(rt) - took));
  }

  private async fail(rt: Runtime, e: unknown): Promise<void> {
    const msg = errorText(e);
    const name = rt.feature.name;
    this.deps.metrics.probeErrors.inc({ probe: name });
    rt.failures++;
    await this.close(rt);
    this.setState(rt, "failed", msg);
    const delay = this.scheduleRestart(rt);
    this.deps.log.error(`[${name}] failed: ${msg}; restarting in ${Math.round(delay / 1000)} s`);
  }

  /** Reopens a failed, still wanted probe after 1, 2, 4 … 60 s; returns the delay. */
  private scheduleRestart(rt: Runtime): number {
    const delay = Math.min((this.deps.restartBaseMs ?? 1000) * 2 ** Math.max(0, rt.failures - 1), MAX_BACKOFF_MS);
    const gen = rt.generation;
    clearTimeout(rt.timer);
    rt.timer = setTimeout(() => {
      if (gen !== rt.generation || !rt.settings.wanted || this.closed) return;
      void this.serial(async () => {
        if (gen !== rt.generation || !rt.settings.wanted || rt.state !== "failed") return;
        this.deps.metrics.probeRestarts.inc({ probe: rt.feature.name });
        await this.start(rt);
      });
    }, delay);
    rt.timer.unref?.();
    return delay;
  }

  /** Disposes the run; never throws, never waits more than 5 s. */
  private async close(rt: Runtime): Promise<void> {
    clearTimeout(rt.timer);
    rt.generation++;
    rt.abort?.abort();
    const run = rt.run;
    const scope = rt.ctx?.scope;
    const bpf = rt.bpf;
    rt.run = undefined;
    rt.ctx = undefined;
    rt.bpf = undefined;
    scope?.[Symbol.dispose]();
    try {
      if (run) await Promise.race([run[Symbol.asyncDispose](), new Promise((r) => setTimeout(r, 5000).unref?.())]);
    } catch (e) {
      this.deps.log.warn(`[${rt.feature.name}] error while stopping: ${errorText(e)}`);
    }
    // Whatever the run opened through ctx.bpf and did not close (also after a failed open()).
    bpf?.[Symbol.dispose]();
  }

  private async stop(rt: Runtime, state: ProbeState): Promise<void> {
    await this.close(rt);
    this.setState(rt, state);
    this.deps.store.removeOwner(rt.feature.name);
    this.pending.delete(rt);
    rt.reported.clear();
    this.deps.log.info(`[${rt.feature.name}] stopped`);
  }

  private async reconfigure(rt: Runtime, before: ProbeSettings): Promise<void> {
    const ctx = rt.ctx;
    const run = rt.run;
    if (!ctx || !run) return;
    const periodChanged = before.params.report_period !== rt.settings.params.report_period;
    if (run.reconfigure) {
      ctx.settings = rt.settings;
      ctx.params = rt.settings.params;
      ctx.subitems = new Set(rt.settings.subitems);
      const oldScope = ctx.scope;
      ctx.scope = (this.deps.scopeFactory ?? wholeHostScopeFactory)(rt.feature.name, rt.settings, rt.feature.scopeKind);
      oldScope[Symbol.dispose]();
      rt.bpf?.rescope();
      try {
        await run.reconfigure();
      } catch (e) {
        await this.fail(rt, e);
        return;
      }
      // Collect at once so the new configuration shows within one period.
      this.schedule(rt, 0);
      return;
    }
    void periodChanged;
    await this.close(rt);
    const err = await this.start(rt);
    if (err) this.deps.log.error(`[${rt.feature.name}] restart after reconfiguration failed: ${err}`);
  }

  // ---- housekeeping ------------------------------------------------------------------

  private expire(): void {
    this.deps.store.expire(Date.now(), (owner) => {
      const rt = this.runtimes.get(owner);
      return Math.max(3 * (rt ? this.period(rt) : 60_000), 60_000);
    });
  }

  private resendMetadata(): void {
    const now = Date.now();
    for (const rt of this.runtimes.values()) {
      for (const t of rt.def?.tables ?? []) if (rt.reported.has(t.name)) this.deps.sinks.meta(metadataMessage(t, now));
    }
  }

  /** Stops every probe (SIGTERM path). */
  async shutdown(): Promise<void> {
    await this.serial(async () => {
      this.closed = true;
      clearInterval(this.expiryTimer);
      clearInterval(this.metaTimer);
      await Promise.all([...this.runtimes.values()].filter((rt) => rt.run || rt.timer).map((rt) => this.stop(rt, "stopped")));
      if (this.ownPoller) this.poller[Symbol.dispose]();
    });
  }
}
