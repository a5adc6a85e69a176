// The snooper: a process and container table kept from /proc, each probe's scope
// (snoopers / blacklist, rest-api.md §6.2) resolved against it and kept current, and the
// label enricher that adds process and container labels to process-level rows
// (outputs.md §2.3).
//
// Cost model. A scan lists /proc (one readdir) every `intervalMs`; only pids not seen
// before are read (stat, cmdline, cgroup: ~10 µs each). Known pids are re-validated in
// small batches (stat: start time, comm): every pid at least every REVALIDATE_ROUNDS
// scans, and pids younger than YOUNG_MS on every scan, because a fresh fork usually
// exec()s right away and changes comm/cmdline. A pid whose start time changed is a new
// process (pid reuse). Scans run only while at least one scope is open. `pushEvent` lets
// an exec/exit event source (eBPF) update the table between scans.
import type { HostFs } from "../host/fs.ts";
import type { Logger } from "../log/logger.ts";
import type { ContainerInfo, ScopeView } from "../probe/define.ts";
import { findFeature } from "../probe/features.ts";
import { wholeHostScope, type ScopeFactory } from "../probe/scope.ts";
import { observesWholeHost, type ProbeSettings } from "../probe/settings.ts";
import type { LabelEnricher } from "../store/store.ts";
import type { Row, TableDef } from "../store/table.ts";
import { parseCgroupFile, type CgroupContainerRef } from "./cgroup.ts";
import { compileScope, resolveScope, type CompiledScope, type ProcView } from "./match.ts";
import { cmdlineArgs, javaMainClass, parseBtime, parsePidStat, pidsOf, PF_KTHREAD, startEpochSeconds } from "./procfs.ts";
import { ContainerResolver, toContainerInfo, type ContainerMeta } from "./runtimes.ts";

export const DEFAULT_SNOOPER_INTERVAL_MS = 1000;
/** Every known pid is re-validated at least once per this many scans. */
const REVALIDATE_ROUNDS = 10;
/** Pids younger than this are re-validated on every scan (exec right after fork). */
const YOUNG_MS = 5_000;
/** Longest `cmdline` label value (outputs.md §2.3). */
export const CMDLINE_LABEL_MAX = 127;
/** Container metadata that is still incomplete is retried after 1, 2, 4 … 60 s. */
const META_RETRY_MAX_MS = 60_000;

export interface ProcEntry extends ProcView {
  readonly pid: number;
  ppid: number;
  comm: string;
  cmdline: string;
  /** The `cmdline` label: main class for Java, else the command line; ≤127 chars. */
  cmdlineLabel: string;
  startTicks: number;
  /** Seconds since the epoch. */
  startTime: number;
  kthread: boolean;
  /** Full 64-hex id of its container. */
  fullContainerId?: string;
  containerId?: string;
  /** When the snooper first saw it (ms). */
  seenAt: number;
}

interface ContainerRec {
  ref: CgroupContainerRef;
  meta: ContainerMeta;
  info: ContainerInfo;
  pids: Set<number>;
  complete: boolean;
  retryAt: number;
  retryMs: number;
}

export type ProcEvent = { type: "exec"; pid: number } | { type: "exit"; pid: number } | { type: "fork"; pid: number };

export interface SnooperStats {
  scans: number;
  /** Sum of scan durations (ms). */
  scanMs: number;
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

interface TableFlags {
  hasTgid: boolean;
  hasComm: boolean;
  isProc: boolean;
  hasContainerId: boolean;
}

const NO_LABELS: readonly (readonly [string, string])[] = Object.freeze([]);

export function createSnooper(opts: SnooperOptions): Snooper {
  return new SnooperImpl(opts);
}

class SnooperImpl implements Snooper {
  private readonly host: HostFs;
  private readonly log: Logger;
  private readonly selfPid: number;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly resolver: ContainerResolver;
  private readonly procs = new Map<number, ProcEntry>();
  /** By full 64-hex id. */
  private readonly recs = new Map<string, ContainerRec>();
  /** By 12-char id. */
  private readonly short = new Map<string, ContainerRec>();
  private readonly podLabels = new Map<string, Record<string, string>>();
  private readonly scopes = new Set<SnooperScope>();
  private readonly byOwner = new Map<string, SnooperScope>();
  private readonly flags = new WeakMap<TableDef, TableFlags>();
  private timer?: ReturnType<typeof setInterval>;
  private btime: number | undefined;
  private cursor = 0;
  private dirty = false;
  private resolveQueued = false;
  private closed = false;
  private readonly st: SnooperStats = { scans: 0, scanMs: 0, lastScanMs: 0, processes: 0, containers: 0, droppedObjects: 0 };
  readonly scopeFactory: ScopeFactory;
  readonly enricher: LabelEnricher;

  constructor(private readonly opts: SnooperOptions) {
    this.host = opts.host;
    this.log = opts.log;
    this.selfPid = opts.selfPid;
    this.intervalMs = opts.intervalMs ?? DEFAULT_SNOOPER_INTERVAL_MS;
    this.now = opts.now ?? Date.now;
    this.resolver = new ContainerResolver(opts.host, this.now);
    this.scopeFactory = (feature, settings) => this.createScope(feature, settings);
    this.enricher = (table, row, owner) => this.enrich(table, row, owner);
  }

  // ---- process table -----------------------------------------------------------------

  private bootTime(): number {
    if (this.btime === undefined) this.btime = parseBtime(this.host.readProc("stat")) ?? 0;
    return this.btime;
  }

  /** Reads a process from /proc; undefined when it is gone or unreadable. */
  private load(pid: number): ProcEntry | undefined {
    const stat = parsePidStat(this.host.readProc(String(pid), "stat"));
    if (!stat || stat.pid !== pid) return undefined;
    const e: ProcEntry = {
      pid,
      ppid: stat.ppid,
      comm: stat.comm,
      cmdline: "",
      cmdlineLabel: "",
      startTicks: stat.startTicks,
      startTime: startEpochSeconds(this.bootTime(), stat.startTicks),
      kthread: (stat.flags & PF_KTHREAD) !== 0,
      seenAt: this.now(),
    };
    this.readCmdline(e);
    if (!e.kthread) this.readCgroup(e);
    return e;
  }

  private readCmdline(e: ProcEntry): void {
    const args = cmdlineArgs(this.host.readProc(String(e.pid), "cmdline"));
    e.cmdline = args.join(" ").trim();
    const label = (e.comm === "java" ? javaMainClass(args) : undefined) ?? e.cmdline;
    e.cmdlineLabel = label.length > CMDLINE_LABEL_MAX ? label.slice(0, CMDLINE_LABEL_MAX) : label;
  }

  /** (Re)reads the cgroup and moves the process between container records. */
  private readCgroup(e: ProcEntry): boolean {
    const ref = parseCgroupFile(this.host.readProc(String(e.pid), "cgroup"));
    const full = ref?.id;
    if (full === e.fullContainerId) return false;
    this.detach(e);
    if (ref) {
      const rec = this.containerRec(ref);
      rec.pids.add(e.pid);
      e.fullContainerId = ref.id;
      e.containerId = rec.info.id;
    }
    return true;
  }

  private detach(e: ProcEntry): void {
    if (!e.fullContainerId) return;
    const rec = this.recs.get(e.fullContainerId);
    e.fullContainerId = undefined;
    e.containerId = undefined;
    if (!rec) return;
    rec.pids.delete(e.pid);
    if (rec.pids.size === 0) {
      this.recs.delete(rec.ref.id);
      if (this.short.get(rec.info.id) === rec) this.short.delete(rec.info.id);
      if (rec.meta.sandbox && rec.info.podId) this.podLabels.delete(rec.info.podId);
    }
  }

  private containerRec(ref: CgroupContainerRef): ContainerRec {
    let rec = this.recs.get(ref.id);
    if (rec) return rec;
    const meta = this.resolver.resolve(ref);
    rec = { ref, meta, info: toContainerInfo(ref, meta), pids: new Set(), complete: isComplete(meta), retryAt: 0, retryMs: 1000 };
    rec.retryAt = this.now() + rec.retryMs;
    this.recs.set(ref.id, rec);
    this.short.set(rec.info.id, rec);
    if (meta.sandbox && meta.podLabels && rec.info.podId) this.podLabels.set(rec.info.podId, meta.podLabels);
    return rec;
  }

  /** Retries incomplete container metadata (config files written after the first process). */
  private retryContainers(): boolean {
    let changed = false;
    const now = this.now();
    for (const rec of this.recs.values()) {
      if (rec.complete || now < rec.retryAt) continue;
      const meta = this.resolver.resolve(rec.ref);
      rec.retryMs = Math.min(rec.retryMs * 2, META_RETRY_MAX_MS);
      rec.retryAt = now + rec.retryMs;
      const info = toContainerInfo(rec.ref, meta);
      if (JSON.stringify(info) !== JSON.stringify(rec.info)) {
        rec.info = info;
        changed = true;
      }
      rec.meta = meta;
      rec.complete = isComplete(meta);
      if (meta.sandbox && meta.podLabels && info.podId) this.podLabels.set(info.podId, meta.podLabels);
    }
    return changed;
  }

  private add(e: ProcEntry): void {
    this.procs.set(e.pid, e);
  }

  private remove(pid: number): void {
    const e = this.procs.get(pid);
    if (!e) return;
    this.detach(e);
    this.procs.delete(pid);
  }

  /** Re-reads stat; returns "gone", "replaced" (pid reuse), "changed" (exec/rename) or "same". */
  private revalidate(e: ProcEntry, young: boolean): "gone" | "replaced" | "changed" | "same" {
    const stat = parsePidStat(this.host.readProc(String(e.pid), "stat"));
    if (!stat) return "gone";
    if (stat.startTicks !== e.startTicks) return "replaced";
    let changed = false;
    if (stat.comm !== e.comm || stat.ppid !== e.ppid) {
      e.comm = stat.comm;
      e.ppid = stat.ppid;
      this.readCmdline(e);
      changed = true;
    } else if (young) {
      const before = e.cmdline;
      this.readCmdline(e);
      if (before !== e.cmdline) changed = true;
    }
    if (young && !e.kthread && this.readCgroup(e)) changed = true;
    return changed ? "changed" : "same";
  }

  /** One scan of /proc; returns true when anything changed. */
  private scanOnce(): boolean {
    const started = performance.now();
    const now = this.now();
    const pids = pidsOf(this.host.list(this.host.proc()));
    let changed = false;
    const live = new Set<number>();
    for (const pid of pids) {
      live.add(pid);
      if (this.procs.has(pid)) continue;
      const e = this.load(pid);
      if (e) {
        this.add(e);
        changed = true;
      }
    }
    for (const pid of [...this.procs.keys()]) {
      if (!live.has(pid)) {
        this.remove(pid);
        changed = true;
      }
    }
    // Re-validation: young pids every scan, plus a rotating batch of the others.
    const all = [...this.procs.values()];
    const batch = Math.max(16, Math.ceil(all.length / REVALIDATE_ROUNDS));
    const start = all.length ? this.cursor % all.length : 0;
    const picked = new Set<ProcEntry>();
    for (let i = 0; i < Math.min(batch, all.length); i++) picked.add(all[(start + i) % all.length]!);
    this.cursor = start + batch;
    for (const e of all) if (now - e.seenAt < YOUNG_MS) picked.add(e);
    for (const e of picked) {
      const r = this.revalidate(e, now - e.seenAt < YOUNG_MS);
      if (r === "same") continue;
      changed = true;
      if (r === "changed") continue;
      this.remove(e.pid);
      if (r === "gone") continue;
      const fresh = this.load(e.pid);
      if (fresh) this.add(fresh);
    }
    if (this.retryContainers()) changed = true;
    const took = performance.now() - started;
    this.st.scans++;
    this.st.scanMs += took;
    this.st.lastScanMs = took;
    return changed;
  }

  refresh(): void {
    if (this.closed) return;
    const changed = this.scanOnce();
    if (changed || this.dirty) this.resolveAll();
  }

  pushEvent(e: ProcEvent): void {
    if (this.closed) return;
    if (e.type === "exit") {
      if (this.procs.has(e.pid)) {
        this.remove(e.pid);
        this.markDirty();
      }
      return;
    }
    this.remove(e.pid);
    const fresh = this.load(e.pid);
    if (fresh) this.add(fresh);
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

  private resolveAll(): void {
    this.dirty = false;
    for (const s of this.scopes) s.resolve();
  }

  private ensureTimer(): void {
    if (this.timer || this.closed) return;
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
    if (this.scopes.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  // ---- scopes -------------------------------------------------------------------------

  private createScope(feature: string, settings: ProbeSettings): ScopeView {
    const def = findFeature(feature);
    if (this.closed || !def || def.scopeKind === "NONE") return wholeHostScope();
    const wasEmpty = this.scopes.size === 0;
    const scope = new SnooperScope(this, feature, settings);
    this.scopes.add(scope);
    this.byOwner.set(feature, scope);
    if (wasEmpty) this.scanOnce();
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
    return this.procs.values();
  }

  /** @internal */ selfPidValue(): number {
    return this.selfPid;
  }

  /** @internal */ noteDropped(feature: string, n: number): void {
    this.st.droppedObjects += n;
    this.opts.onDrop?.(feature, n);
    this.log.warn(`[${feature}] scope resolves to more than 1000 objects; ${n} more dropped`);
  }

  containers(): ReadonlyMap<string, ContainerInfo> {
    const m = new Map<string, ContainerInfo>();
    for (const rec of this.recs.values()) m.set(rec.info.id, rec.info);
    return m;
  }

  process(pid: number): Readonly<ProcEntry> | undefined {
    return this.procs.get(pid);
  }

  container(id12: string): ContainerInfo | undefined {
    return this.short.get(id12.slice(0, 12).toLowerCase())?.info;
  }

  stats(): SnooperStats {
    return { ...this.st, processes: this.procs.size, containers: this.recs.size };
  }

  close(): void {
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    for (const s of [...this.scopes]) s[Symbol.dispose]();
    this.procs.clear();
    this.recs.clear();
    this.short.clear();
  }

  // ---- labels (outputs.md §2.3) -------------------------------------------------------

  private tableFlags(t: TableDef): TableFlags {
    let f = this.flags.get(t);
    if (!f) {
      const labelish = t.fields.filter((x) => x.type === "key" || x.type === "label").map((x) => x.name);
      f = {
        hasTgid: labelish.includes("tgid"),
        hasComm: t.fields.some((x) => x.name === "comm"),
        isProc: t.entity === "proc",
        hasContainerId: labelish.includes("container_id"),
      };
      this.flags.set(t, f);
    }
    return f;
  }

  /** A process by pid: from the table, else read now (a process newer than the last scan). */
  private lookup(pid: number): ProcEntry | undefined {
    const e = this.procs.get(pid);
    if (e) return e;
    if (this.closed || !Number.isSafeInteger(pid) || pid <= 0) return undefined;
    const fresh = this.load(pid);
    if (fresh) {
      this.add(fresh);
      if (this.scopes.size) this.markDirty();
    }
    return fresh;
  }

  private containerLabels(rec: ContainerRec, withId: boolean, scope: SnooperScope | undefined, out: [string, string][]): void {
    const i = rec.info;
    if (withId) out.push(["container_id", i.id]);
    out.push(["container_name", i.name], ["container_image", i.image]);
    if (!i.podId) return;
    out.push(["pod_id", i.podId], ["pod", i.pod], ["pod_namespace", i.podNamespace]);
    const names = scope?.podLabelNames ?? [];
    if (!names.length) return;
    const labels = this.podLabels.get(i.podId);
    for (const n of names) out.push([n, labels?.[n] ?? "not found"]);
  }

  private enrich(table: TableDef, row: Row, owner: string): readonly (readonly [string, string])[] | null {
    const f = this.tableFlags(table);
    if (!f.hasTgid && !f.hasContainerId) return NO_LABELS;
    const scope = this.byOwner.get(owner);
    const out: [string, string][] = [];
    let containerDone = false;
    if (f.hasTgid) {
      const pid = Number(row.tgid);
      const p = this.lookup(pid);
      if (!p) {
        if (!f.hasComm) return null;
      } else {
        if (!f.hasComm) out.push(["comm", p.comm]);
        if (f.isProc) out.push(["cmdline", p.cmdlineLabel], ["start_time", String(p.startTime)]);
        const label = scope?.labelFor(pid);
        if (label) for (const k of Object.keys(label)) out.push([k, label[k]!]);
        const rec = p.fullContainerId ? this.recs.get(p.fullContainerId) : undefined;
        if (rec) {
          this.containerLabels(rec, !f.hasContainerId, scope, out);
          containerDone = true;
        }
      }
    }
    if (f.hasContainerId && !containerDone) {
      const id = row.container_id;
      const rec = typeof id === "string" && id ? this.short.get(id.slice(0, 12).toLowerCase()) : undefined;
      if (rec) this.containerLabels(rec, false, scope, out);
    }
    return out;
  }
}

function isComplete(m: ContainerMeta): boolean {
  return !!m.sandbox || (!!m.name && !!m.image);
}

const EMPTY_PIDS: ReadonlySet<number> = new Set();

/** One probe's live scope. */
class SnooperScope implements ScopeView {
  readonly wholeHost: boolean;
  readonly podLabelNames: readonly string[];
  private readonly compiled: CompiledScope;
  private readonly blacklist: boolean;
  private matched = new Set<number>();
  private matchedContainers = new Map<string, ContainerInfo>();
  private labels = new Map<number, Readonly<Record<string, string>>>();
  private dropped = new Set<string>();
  private readonly listeners = new Set<(added: readonly number[], removed: readonly number[]) => void>();
  private disposed = false;

  constructor(
    private readonly owner: SnooperImpl,
    readonly feature: string,
    settings: ProbeSettings,
  ) {
    this.wholeHost = observesWholeHost(settings);
    this.blacklist = settings.mode === "blacklist";
    this.compiled = compileScope(settings.scope);
    this.podLabelNames = [...settings.podLabels];
  }

  /** Re-resolves against the current tables and notifies listeners of the difference. */
  resolve(): void {
    if (this.disposed) return;
    const all = this.owner.containers();
    let pids = new Set<number>();
    let containers = new Map<string, ContainerInfo>();
    let labels = new Map<number, Readonly<Record<string, string>>>();
    let dropped: string[] = [];
    if (!this.compiled.empty) {
      const r = resolveScope(this.compiled, this.owner.procViews(), all.values(), this.owner.selfPidValue());
      ({ pids, containers, labels, dropped } = r);
    }
    const fresh = dropped.filter((d) => !this.dropped.has(d));
    this.dropped = new Set(dropped);
    if (fresh.length) this.owner.noteDropped(this.feature, fresh.length);
    const before = this.matched;
    const beforeContainers = this.matchedContainers;
    this.matched = pids;
    this.labels = labels;
    this.matchedContainers = containers;
    const plus: number[] = [];
    const minus: number[] = [];
    for (const p of pids) if (!before.has(p)) plus.push(p);
    for (const p of before) if (!pids.has(p)) minus.push(p);
    let containersChanged = containers.size !== beforeContainers.size;
    if (!containersChanged) for (const [k, v] of containers) if (beforeContainers.get(k) !== v) containersChanged = true;
    if (!plus.length && !minus.length && !containersChanged) return;
    // In blacklist mode the observed set grows when a pid leaves the excluded set.
    const added = this.blacklist ? minus : this.wholeHost ? [] : plus;
    const removed = this.blacklist ? plus : this.wholeHost ? [] : minus;
    for (const cb of [...this.listeners]) {
      try {
        cb(added, removed);
      } catch {
        // A listener's failure is its probe's business; the scope stays consistent.
      }
    }
  }

  pids(): ReadonlySet<number> {
    return this.wholeHost ? EMPTY_PIDS : this.matched;
  }

  excluded(): ReadonlySet<number> {
    return this.blacklist ? this.matched : EMPTY_PIDS;
  }

  containers(): ReadonlyMap<string, ContainerInfo> {
    if (!this.wholeHost) return this.matchedContainers;
    const all = this.owner.containers() as Map<string, ContainerInfo>;
    if (this.blacklist) for (const id of this.matchedContainers.keys()) all.delete(id);
    return all;
  }

  includes(pid: number): boolean {
    if (this.blacklist) return !this.matched.has(pid);
    if (this.wholeHost) return true;
    return this.matched.has(pid);
  }

  labelFor(pid: number): Readonly<Record<string, string>> | undefined {
    return this.blacklist ? undefined : this.labels.get(pid);
  }

  onChange(cb: (added: readonly number[], removed: readonly number[]) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  [Symbol.dispose](): void {
    if (this.disposed) return;
    this.disposed = true;
    this.listeners.clear();
    this.owner.disposeScope(this);
  }
}
