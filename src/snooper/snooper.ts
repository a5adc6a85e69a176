// The snooper: a process and container table kept from /proc (./proc-table.ts), each
// probe's scope (snoopers / blacklist, rest-api.md §6.2) resolved against it and kept
// current (./scope-view.ts), and the label enricher that adds process and container labels
// to process-level rows (./labels.ts, outputs.md §2.3). This file wires them: the scan
// timer, exec/exit events, scope creation and re-resolution.
//
// Cost model (measured with src/snooper/scan-cost.ts). Every `intervalMs` one scan:
// * discovery: /proc/loadavg's "last pid" names the pids allocated since the previous
//   scan; those few are read (status for the tgid, then stat and cgroup). A full listing
//   of /proc (~0.5 ms with a few hundred pids and cold caches) runs only every
//   FULL_SCAN_EVERY scans, when more than MAX_PROBED_PIDS pids were allocated, or when
//   the procfs is not our pid namespace's (loadavg reports the reader's namespace);
//   a pid that comes round again in that range, or below the last pid after the counter
//   wrapped, is read again (pid reuse);
// * exits: the pids some scope matches are re-read every scan, all others are noticed
//   by the next full listing;
// * re-validation (stat: start time, comm, parent): a rotating batch so every pid is
//   seen once per REVALIDATE_ROUNDS scans, and pids younger than YOUNG_MS every scan,
//   because a fresh fork usually exec()s right away. A new start time is a new process
//   (pid reuse); a new comm or parent means exec/rename: the command line (read lazily,
//   only when a matcher or a label needs it) and the cgroup are read again. An exec
//   that keeps the comm of an old process is seen only through an event;
// * resolution: only the pids that changed are matched again, unless the container set
//   changed.
// Periodic scans run only while a scope that selects processes is open (a whitelist with
// entries, or a blacklist). A whole-host scope (no snoopers) needs no matching: the table
// is brought up to date when a consumer reads it (labels of a process-level row, the
// container list), at most once per interval, so a probe that never asks (baseinfo cpu,mem)
// costs no scans. `pushEvent` lets an exec/exit event source (eBPF) update the table
// between scans.
import type { HostFs } from "../host/fs.ts";
import type { Logger } from "../log/logger.ts";
import type { ContainerInfo, ScopeView } from "../probe/define.ts";
import { findFeature } from "../probes/catalog.ts";
import { wholeHostScope, type ScopeFactory } from "../probe/scope.ts";
import type { ProbeSettings, ScopeKind } from "../probe/settings.ts";
import type { LabelEnricher } from "../store/store.ts";
import { LabelEnrichment } from "./labels.ts";
import { ProcTable, type ProcEntry, type ProcRecord } from "./proc-table.ts";
import { SnooperScope } from "./scope-view.ts";

export { CMDLINE_LABEL_MAX, parseLoadavg, type Loadavg, type ProcEntry } from "./proc-table.ts";

export const DEFAULT_SNOOPER_INTERVAL_MS = 1000;
/** More scope-matched pids than this: list /proc every scan to see exits. */
const MAX_WATCHED_PIDS = 256;

export type ProcEvent = { type: "exec"; pid: number } | { type: "exit"; pid: number } | { type: "fork"; pid: number };

export interface SnooperStats {
  scans: number;
  /** Sum of scan durations, wall clock (ms). */
  scanMs: number;
  /** Sum of the CPU time (user + system) the scans took (ms). */
  scanCpuMs: number;
  lastScanMs: number;
  processes: number;
  containers: number;
  /** Resolved objects dropped over MAX_SCOPE_OBJECTS, summed over probes and time. */
  droppedObjects: number;
}

export interface SnooperOptions {
  host: HostFs;
  log: Logger;
  /** The agent's own pid: its children never match proc_name. */
  selfPid: number;
  /** Scan period (ms); default 1000. */
  intervalMs?: number;
  /** Called with the number of newly dropped objects when a scope exceeds the limit. */
  onDrop?: (feature: string, n: number) => void;
  /** Clock (ms), for tests. */
  now?: () => number;
  /**
   * Discover new pids from /proc/loadavg's last pid between full listings; default: when
   * the procfs is our own pid namespace's (`<procfs>/self` is this process).
   */
  lastPidDiscovery?: boolean;
}

export interface Snooper {
  readonly scopeFactory: ScopeFactory;
  readonly enricher: LabelEnricher;
  /** Exec/exit notifications from an event source; applied at once, scopes re-resolved soon. */
  pushEvent(e: ProcEvent): void;
  /** Scans now (tests, or after a burst of events). */
  refresh(): void;
  process(pid: number): Readonly<ProcEntry> | undefined;
  container(id12: string): ContainerInfo | undefined;
  /** Every known container, by 12-char id. */
  containers(): ReadonlyMap<string, ContainerInfo>;
  stats(): SnooperStats;
  close(): void;
}

export function createSnooper(opts: SnooperOptions): Snooper {
  return new SnooperImpl(opts);
}

class SnooperImpl implements Snooper {
  private readonly host: HostFs;
  private readonly log: Logger;
  private readonly selfPid: number;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly table: ProcTable;
  private readonly labels: LabelEnrichment;
  private readonly scopes = new Set<SnooperScope>();
  private readonly byOwner = new Map<string, SnooperScope>();
  private timer?: ReturnType<typeof setInterval>;
  private lastRefreshAt = -Infinity;
  private dirty = false;
  private resolveQueued = false;
  private closed = false;
  private readonly st: SnooperStats = { scans: 0, scanMs: 0, scanCpuMs: 0, lastScanMs: 0, processes: 0, containers: 0, droppedObjects: 0 };
  readonly scopeFactory: ScopeFactory;
  readonly enricher: LabelEnricher;

  constructor(private readonly opts: SnooperOptions) {
    this.host = opts.host;
    this.log = opts.log;
    this.selfPid = opts.selfPid;
    this.intervalMs = opts.intervalMs ?? DEFAULT_SNOOPER_INTERVAL_MS;
    this.now = opts.now ?? Date.now;
    const lastPidDiscovery = opts.lastPidDiscovery ?? opts.host.readlink(`${opts.host.proc()}/self`) === String(process.pid);
    this.table = new ProcTable(opts.host, this.now, lastPidDiscovery);
    this.labels = new LabelEnrichment({
      lookup: (pid) => this.lookup(pid),
      containerByFullId: (id) => this.table.recs.get(id),
      containerByShortId: (id12) => this.table.short.get(id12),
      podLabels: (podId) => this.table.podLabels.get(podId),
      scopeOf: (owner) => this.byOwner.get(owner),
    });
    this.scopeFactory = (feature, settings, scopeKind) => this.createScope(feature, settings, scopeKind ?? findFeature(feature)?.scopeKind);
    this.enricher = (table, row, owner) => this.labels.enrich(table, row, owner);
  }

  /** Pids matched by some scope (checked for exit between full listings); undefined when too many. */
  private watchedPids(): Set<number> | undefined {
    const out = new Set<number>();
    for (const s of this.scopes) {
      for (const p of s.matchedPids()) {
        out.add(p);
        if (out.size > MAX_WATCHED_PIDS) return undefined;
      }
    }
    return out;
  }

  /** One scan and, when something changed, re-resolution of every scope (timed together). */
  refresh(): void {
    if (this.closed) return;
    this.lastRefreshAt = this.now();
    const started = performance.now();
    const cpu0 = process.cpuUsage();
    const changed = this.table.scan(this.watchedPids());
    if (changed || this.dirty) this.resolveAll();
    const took = performance.now() - started;
    const cpu = process.cpuUsage(cpu0);
    this.st.scans++;
    this.st.scanCpuMs += (cpu.user + cpu.system) / 1000;
    this.st.scanMs += took;
    this.st.lastScanMs = took;
  }

  pushEvent(e: ProcEvent): void {
    if (this.closed) return;
    const t = this.table;
    if (e.type === "exit") {
      if (t.procs.has(e.pid)) {
        t.remove(e.pid);
        this.markDirty();
      }
      return;
    }
    t.remove(e.pid);
    const fresh = t.load(e.pid);
    if (fresh) t.add(fresh);
    this.markDirty();
  }

  private markDirty(): void {
    this.dirty = true;
    if (this.resolveQueued) return;
    this.resolveQueued = true;
    queueMicrotask(() => {
      this.resolveQueued = false;
      if (this.dirty && !this.closed) this.resolveAll();
    });
  }

  /** Re-resolves every scope: only the touched pids, unless the container set changed. */
  private resolveAll(): void {
    this.dirty = false;
    const delta = this.table.takeChanges();
    for (const s of this.scopes) s.resolve(delta);
  }

  /** Whether some open scope matches processes, which needs the periodic scan. */
  private needsScans(): boolean {
    for (const s of this.scopes) if (!s.passive) return true;
    return false;
  }

  /** Brings the table up to date on a read when no periodic scan does, at most once per interval. */
  private refreshOnRead(): void {
    if (!this.timer && !this.closed && this.now() - this.lastRefreshAt >= this.intervalMs) this.refresh();
  }

  private ensureTimer(): void {
    if (this.timer || this.closed || !this.needsScans()) return;
    this.timer = setInterval(() => {
      try {
        this.refresh();
      } catch (e) {
        this.log.warn(`snooper scan failed: ${(e as Error).message}`);
      }
    }, this.intervalMs);
    this.timer.unref?.();
  }

  private stopTimerIfIdle(): void {
    if (!this.needsScans() && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  // ---- scopes -------------------------------------------------------------------------

  private createScope(feature: string, settings: ProbeSettings, scopeKind: ScopeKind | undefined): ScopeView {
    if (this.closed || !scopeKind || scopeKind === "NONE") return wholeHostScope();
    const wasScanning = this.needsScans();
    const scope = new SnooperScope(this, feature, settings);
    this.scopes.add(scope);
    this.byOwner.set(feature, scope);
    if (!scope.passive && !wasScanning) this.refresh();
    scope.resolve();
    this.ensureTimer();
    return scope;
  }

  /** @internal */ disposeScope(s: SnooperScope): void {
    this.scopes.delete(s);
    if (this.byOwner.get(s.feature) === s) this.byOwner.delete(s.feature);
    this.stopTimerIfIdle();
  }

  /** @internal */ procViews(): Iterable<ProcEntry> {
    return this.table.procs.values();
  }

  /** @internal */ proc(pid: number): ProcEntry | undefined {
    return this.table.procs.get(pid);
  }

  /** @internal */ selfPidValue(): number {
    return this.selfPid;
  }

  /** @internal */ noteDropped(feature: string, n: number): void {
    this.st.droppedObjects += n;
    this.opts.onDrop?.(feature, n);
    this.log.warn(`[${feature}] scope resolves to more than 1000 objects; ${n} more dropped`);
  }

  containers(): Map<string, ContainerInfo> {
    this.refreshOnRead();
    return this.table.containers();
  }

  process(pid: number): Readonly<ProcEntry> | undefined {
    return this.table.procs.get(pid);
  }

  container(id12: string): ContainerInfo | undefined {
    return this.table.short.get(id12.slice(0, 12).toLowerCase())?.info;
  }

  stats(): SnooperStats {
    return { ...this.st, processes: this.table.procs.size, containers: this.table.recs.size };
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    for (const s of [...this.scopes]) s[Symbol.dispose]();
    this.table.clear();
  }

  /** A process by pid: from the table, else read now (a process newer than the last scan). */
  private lookup(pid: number): ProcRecord | undefined {
    // No periodic scan (only whole-host scopes, or NONE-kind probes): keep the table
    // current from here instead, at most once per interval.
    this.refreshOnRead();
    const e = this.table.procs.get(pid);
    if (e) return e;
    if (this.closed || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
    const fresh = this.table.load(pid);
    if (fresh) {
      this.table.add(fresh);
      if (this.scopes.size) this.markDirty();
    }
    return fresh;
  }
}
