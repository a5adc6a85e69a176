// The snooper: a process and container table kept from /proc, each probe's scope
// (snoopers / blacklist, rest-api.md §6.2) resolved against it and kept current, and the
// label enricher that adds process and container labels to process-level rows
// (outputs.md §2.3).
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
import { findFeature } from "../probe/features.ts";
import { wholeHostScope, type ScopeFactory } from "../probe/scope.ts";
import { observesWholeHost, type ProbeSettings } from "../probe/settings.ts";
import type { LabelEnricher } from "../store/store.ts";
import type { Row, TableDef } from "../store/table.ts";
import { parseCgroupFile, type CgroupContainerRef } from "./cgroup.ts";
import { compileScope, matchProcName, MAX_SCOPE_OBJECTS, resolveScope, type CompiledScope, type ProcView } from "./match.ts";
import { cmdlineArgs, javaMainClass, parseBtime, parseStatHead, pidOfName, PF_KTHREAD, startEpochSeconds } from "./procfs.ts";
import { ContainerResolver, toContainerInfo, type ContainerMeta } from "./runtimes.ts";

export const DEFAULT_SNOOPER_INTERVAL_MS = 1000;
/** Every known pid is re-validated at least once per this many scans. */
const REVALIDATE_ROUNDS = 60;
const REVALIDATE_MIN_BATCH = 4;
/** A full /proc listing at least every this many scans. */
const FULL_SCAN_EVERY = 5;
/** More new pids than this since the last scan: list /proc instead of probing each. */
const MAX_PROBED_PIDS = 64;
/** More scope-matched pids than this: list /proc every scan to see exits. */
const MAX_WATCHED_PIDS = 256;
/** Pids younger than this are re-validated on every scan (exec right after fork). */
const YOUNG_MS = 2_000;
/** Longest `cmdline` label value (outputs.md §2.3). */
export const CMDLINE_LABEL_MAX = 127;
/** Container metadata that is still incomplete is retried after 1, 2, 4 … 60 s. */
const META_RETRY_MAX_MS = 60_000;

export interface ProcEntry extends ProcView {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
  /** Arguments joined with spaces (read from /proc on first use, then cached). */
  readonly cmdline: string;
  /** The `cmdline` label: main class for Java, else the command line; ≤127 chars. */
  readonly cmdlineLabel: string;
  readonly startTicks: number;
  /** Seconds since the epoch. */
  readonly startTime: number;
  readonly kthread: boolean;
  /** Full 64-hex id of its container. */
  readonly fullContainerId?: string;
  readonly containerId?: string;
  /** When the snooper first saw it (ms). */
  readonly seenAt: number;
}

/** A process table entry; the command line is read lazily (most pids never need it). */
class ProcRecord implements ProcEntry {
  private args?: string[];
  private joined?: string;
  private label?: string;
  fullContainerId?: string;
  containerId?: string;
  /** Scan number that last saw the pid in /proc. */
  mark = 0;

  constructor(
    private readonly readCmdline: (pid: number) => string | undefined,
    readonly pid: number,
    public ppid: number,
    public comm: string,
    readonly startTicks: number,
    readonly startTime: number,
    readonly kthread: boolean,
    readonly seenAt: number,
  ) {}

  private argv(): string[] {
    return (this.args ??= cmdlineArgs(this.readCmdline(this.pid)));
  }

  get cmdline(): string {
    return (this.joined ??= this.argv().join(" ").trim());
  }

  get cmdlineLabel(): string {
    if (this.label === undefined) {
      const l = (this.comm === "java" ? javaMainClass(this.argv()) : undefined) ?? this.cmdline;
      this.label = l.length > CMDLINE_LABEL_MAX ? l.slice(0, CMDLINE_LABEL_MAX) : l;
    }
    return this.label;
  }

  /** exec() or a rename: forget the cached command line. */
  execed(comm: string, ppid: number): void {
    this.comm = comm;
    this.ppid = ppid;
    this.args = this.joined = this.label = undefined;
  }
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
  private readonly procs = new Map<number, ProcRecord>();
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
  private scanNo = 0;
  private lastFull = 0;
  private lastRefreshAt = -Infinity;
  private lastLoad?: Loadavg;
  private readonly lastPidDiscovery: boolean;
  private readonly procRoot: string;
  /** Scan order for the rotating re-validation; rebuilt after the table changed. */
  private order?: ProcRecord[];
  /** Processes first seen less than YOUNG_MS ago. */
  private young: ProcRecord[] = [];
  /** Pids added, removed or changed since the last resolution. */
  private touched = new Set<number>();
  /** A container appeared, vanished or changed its metadata since the last resolution. */
  private containersChanged = false;
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
    this.resolver = new ContainerResolver(opts.host, this.now);
    this.procRoot = opts.host.proc();
    this.lastPidDiscovery = opts.lastPidDiscovery ?? opts.host.readlink(`${this.procRoot}/self`) === String(process.pid);
    this.scopeFactory = (feature, settings) => this.createScope(feature, settings);
    this.enricher = (table, row, owner) => this.enrich(table, row, owner);
  }

  // ---- process table -----------------------------------------------------------------

  private bootTime(): number {
    if (this.btime === undefined) this.btime = parseBtime(this.host.readProc("stat")) ?? 0;
    return this.btime;
  }

  private statPath(pid: number): string {
    return `${this.procRoot}/${pid}/stat`;
  }

  /** Reads a process from /proc; undefined when it is gone or unreadable. */
  private load(pid: number): ProcRecord | undefined {
    const stat = parseStatHead(this.host.read(this.statPath(pid)));
    if (!stat || stat.pid !== pid) return undefined;
    const kthread = (stat.flags & PF_KTHREAD) !== 0;
    const e = new ProcRecord(this.cmdlineReader, pid, stat.ppid, stat.comm, stat.startTicks, startEpochSeconds(this.bootTime(), stat.startTicks), kthread, this.now());
    if (!kthread) this.readCgroup(e);
    return e;
  }

  private readonly cmdlineReader = (pid: number): string | undefined => this.host.read(`${this.procRoot}/${pid}/cmdline`);

  /** (Re)reads the cgroup and moves the process between container records. */
  private readCgroup(e: ProcRecord): boolean {
    const ref = parseCgroupFile(this.host.read(`${this.procRoot}/${e.pid}/cgroup`));
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

  private detach(e: ProcRecord): void {
    if (!e.fullContainerId) return;
    const rec = this.recs.get(e.fullContainerId);
    e.fullContainerId = undefined;
    e.containerId = undefined;
    if (!rec) return;
    rec.pids.delete(e.pid);
    if (rec.pids.size === 0) {
      this.containersChanged = true;
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
    this.containersChanged = true;
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
        this.containersChanged = true;
        changed = true;
      }
      rec.meta = meta;
      rec.complete = isComplete(meta);
      if (meta.sandbox && meta.podLabels && info.podId) this.podLabels.set(info.podId, meta.podLabels);
    }
    return changed;
  }

  private add(e: ProcRecord): void {
    this.procs.set(e.pid, e);
    this.order = undefined;
    this.young.push(e);
    this.touched.add(e.pid);
  }

  private remove(pid: number): void {
    const e = this.procs.get(pid);
    if (!e) return;
    this.detach(e);
    this.procs.delete(pid);
    this.order = undefined;
    this.touched.add(pid);
  }

  /**
   * Re-reads stat; returns "gone", "replaced" (pid reuse), "changed" (exec or rename:
   * comm or parent changed; the command line and cgroup are read again) or "same".
   */
  private revalidate(e: ProcRecord): "gone" | "replaced" | "changed" | "same" {
    const stat = parseStatHead(this.host.read(this.statPath(e.pid)));
    if (!stat) return "gone";
    if (stat.startTicks !== e.startTicks) return "replaced";
    if (stat.comm === e.comm && stat.ppid === e.ppid) return "same";
    e.execed(stat.comm, stat.ppid);
    if (!e.kthread) this.readCgroup(e);
    this.touched.add(e.pid);
    return "changed";
  }

  /** A pid allocated since the last scan: loaded when it is a process (not a thread). */
  private probeNew(pid: number): boolean {
    const status = this.host.read(`${this.procRoot}/${pid}/status`);
    const tgid = status && /^Tgid:\s+(\d+)/m.exec(status)?.[1];
    if (tgid !== String(pid)) return false;
    const e = this.load(pid);
    if (!e) return false;
    e.mark = this.scanNo;
    this.add(e);
    return true;
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

  /** Lists /proc: loads new pids, drops vanished ones; true when anything changed. */
  private discover(): boolean {
    const mark = this.scanNo;
    this.lastFull = mark;
    let changed = false;
    for (const name of this.host.list(this.procRoot)) {
      const pid = pidOfName(name);
      if (pid <= 0) continue;
      const known = this.procs.get(pid);
      if (known) {
        known.mark = mark;
        continue;
      }
      const e = this.load(pid);
      if (e) {
        e.mark = mark;
        this.add(e);
        changed = true;
      }
    }
    for (const e of this.procs.values()) {
      if (e.mark !== mark) {
        this.remove(e.pid);
        changed = true;
      }
    }
    return changed;
  }

  /** One scan of /proc; returns true when anything changed. */
  private scanOnce(): boolean {
    const now = this.now();
    let changed = false;
    // Discovery. A full listing of /proc costs ~0.5 ms with a few hundred pids and cold
    // caches, so it runs only every FULL_SCAN_EVERY scans, or when /proc/loadavg cannot
    // tell what changed. In between, the "last pid" field of /proc/loadavg names the pids
    // allocated since the previous scan (pids are handed out in increasing order): those
    // few are read one by one (threads are skipped), and the pids some scope currently
    // matches are checked for exit. Trusted only when the procfs belongs to our own pid
    // namespace (loadavg reports the reader's namespace).
    const la = parseLoadavg(this.host.read(`${this.procRoot}/loadavg`));
    const prev = this.lastLoad;
    this.lastLoad = la;
    this.scanNo++;
    const watched = this.watchedPids();
    const gap = la && prev ? la.lastPid - prev.lastPid : -1;
    const full =
      !this.lastPidDiscovery || !la || !prev || this.scanNo - this.lastFull >= FULL_SCAN_EVERY || gap < 0 || gap > MAX_PROBED_PIDS || watched === undefined;
    if (full) {
      changed = this.discover();
      // The pid counter wrapped: every pid handed out since the last scan may be reused.
      if (this.lastPidDiscovery && gap < 0 && la && prev) {
        for (const e of [...this.procs.values()]) {
          if (e.pid > la.lastPid && e.pid <= prev.lastPid) continue;
          const r = this.revalidate(e);
          if (r === "same" || r === "changed") continue;
          this.remove(e.pid);
          const fresh = r === "replaced" ? this.load(e.pid) : undefined;
          if (fresh) {
            fresh.mark = this.scanNo;
            this.add(fresh);
          }
        }
        changed = true;
      }
    } else {
      for (let pid = prev!.lastPid + 1; pid <= la!.lastPid; pid++) {
        // A pid handed out again since the last scan: whatever the table holds is gone.
        if (this.procs.has(pid)) {
          this.remove(pid);
          changed = true;
        }
        if (this.probeNew(pid)) changed = true;
      }
      for (const pid of watched!) {
        const e = this.procs.get(pid);
        if (e && this.revalidate(e) === "gone") {
          this.remove(pid);
          changed = true;
        }
      }
    }
    // Re-validation: young pids every scan, plus a rotating batch of the others.
    const order = (this.order ??= [...this.procs.values()]);
    const n = order.length;
    const batch = Math.min(n, Math.max(REVALIDATE_MIN_BATCH, Math.ceil(n / REVALIDATE_ROUNDS)));
    const picked: ProcRecord[] = [];
    for (let i = 0; i < batch; i++) picked.push(order[(this.cursor + i) % n]!);
    this.cursor = n ? (this.cursor + batch) % n : 0;
    for (const e of this.young) if (now - e.seenAt < YOUNG_MS && !picked.includes(e)) picked.push(e);
    this.young = this.young.filter((e) => now - e.seenAt < YOUNG_MS && this.procs.get(e.pid) === e);
    for (const e of picked) {
      if (this.procs.get(e.pid) !== e) continue;
      const r = this.revalidate(e);
      if (r === "same") continue;
      changed = true;
      if (r === "changed") continue;
      this.remove(e.pid);
      if (r === "gone") continue;
      const fresh = this.load(e.pid);
      if (fresh) {
        fresh.mark = this.scanNo;
        this.add(fresh);
      }
    }
    if (this.retryContainers()) changed = true;
    return changed;
  }

  /** One scan and, when something changed, re-resolution of every scope (timed together). */
  refresh(): void {
    if (this.closed) return;
    this.lastRefreshAt = this.now();
    const started = performance.now();
    const cpu0 = process.cpuUsage();
    const changed = this.scanOnce();
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

  /** Re-resolves every scope: only the touched pids, unless the container set changed. */
  private resolveAll(): void {
    this.dirty = false;
    const delta = this.containersChanged ? undefined : this.touched;
    for (const s of this.scopes) s.resolve(delta);
    this.containersChanged = false;
    this.touched = new Set();
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

  private createScope(feature: string, settings: ProbeSettings): ScopeView {
    const def = findFeature(feature);
    if (this.closed || !def || def.scopeKind === "NONE") return wholeHostScope();
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
    return this.procs.values();
  }

  /** @internal */ proc(pid: number): ProcEntry | undefined {
    return this.procs.get(pid);
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
    this.refreshOnRead();
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
    this.order = undefined;
    this.young = [];
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
  private lookup(pid: number): ProcRecord | undefined {
    // No periodic scan (only whole-host scopes, or NONE-kind probes): keep the table
    // current from here instead, at most once per interval.
    this.refreshOnRead();
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

export interface Loadavg {
  /** Kernel scheduling entities (threads) in existence. */
  readonly threads: number;
  /** The pid most recently allocated (in the reader's pid namespace). */
  readonly lastPid: number;
}

/** The 4th and 5th fields of /proc/loadavg. */
export function parseLoadavg(text: string | undefined): Loadavg | undefined {
  const m = text ? /^\S+ \S+ \S+ \d+\/(\d+) (\d+)\s*$/.exec(text) : null;
  return m ? { threads: Number(m[1]), lastPid: Number(m[2]) } : undefined;
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
  private resolved = false;
  /** Whole host without a blacklist: matches nothing, so it needs no periodic scan. */
  readonly passive: boolean;
  private readonly listeners = new Set<(added: readonly number[], removed: readonly number[]) => void>();
  private disposed = false;

  constructor(
    private readonly owner: SnooperImpl,
    readonly feature: string,
    settings: ProbeSettings,
  ) {
    this.wholeHost = observesWholeHost(settings);
    this.blacklist = settings.mode === "blacklist";
    this.passive = this.wholeHost && !this.blacklist;
    this.compiled = compileScope(settings.scope);
    this.podLabelNames = [...settings.podLabels];
  }

  /**
   * Re-resolves against the current tables and notifies listeners of the difference.
   * With `delta` (the pids that changed, container set unchanged) only those are tested.
   */
  resolve(delta?: ReadonlySet<number>): void {
    if (this.disposed) return;
    if (delta && this.resolved && this.dropped.size === 0 && this.incremental(delta)) return;
    this.resolved = true;
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
    this.notify(plus, minus, containersChanged);
  }

  /** Tests only the changed pids; false when a full resolution is needed (object limit). */
  private incremental(delta: ReadonlySet<number>): boolean {
    if (this.compiled.empty) return true;
    const c = this.compiled;
    const self = this.owner.selfPidValue();
    const plus: number[] = [];
    const minus: number[] = [];
    const labels: [number, Readonly<Record<string, string>> | undefined][] = [];
    for (const pid of delta) {
      const e = this.owner.proc(pid);
      const m = e && c.procNames.length ? matchProcName(c, e, self) : undefined;
      const inScope = c.procIds.has(pid) || m !== undefined || (e?.containerId !== undefined && this.matchedContainers.has(e.containerId));
      labels.push([pid, m?.label]);
      const was = this.matched.has(pid);
      if (inScope && !was) plus.push(pid);
      else if (!inScope && was) minus.push(pid);
    }
    // Over the object limit: the full resolution decides what is dropped.
    if (this.matched.size + plus.length - minus.length + this.matchedContainers.size > MAX_SCOPE_OBJECTS) return false;
    for (const p of plus) this.matched.add(p);
    for (const p of minus) this.matched.delete(p);
    for (const [pid, l] of labels) {
      if (l) this.labels.set(pid, l);
      else this.labels.delete(pid);
    }
    this.notify(plus, minus, false);
    return true;
  }

  private notify(plus: number[], minus: number[], containersChanged: boolean): void {
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

  /** Matched processes (whitelist: in scope; blacklist: excluded). */
  matchedPids(): ReadonlySet<number> {
    return this.matched;
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
