// One probe's live scope as the snooper resolves it (rest-api.md §6.2): the processes and
// containers its snoopers or blacklist match, kept current as the process table changes
// (incrementally when only some pids changed), with change notifications for the probe.
import type { ContainerInfo, ScopeView } from "../probe/define.ts";
import { observesWholeHost, type ProbeSettings } from "../probe/settings.ts";
import { compileScope, matchProcName, MAX_SCOPE_OBJECTS, resolveScope, type CompiledScope } from "./match.ts";
import type { ProcEntry } from "./proc-table.ts";

/** What a scope needs from the snooper that owns it. */
export interface ScopeOwner {
  containers(): Map<string, ContainerInfo>;
  procViews(): Iterable<ProcEntry>;
  proc(pid: number): ProcEntry | undefined;
  selfPidValue(): number;
  noteDropped(feature: string, n: number): void;
  disposeScope(s: SnooperScope): void;
}

const EMPTY_PIDS: ReadonlySet<number> = new Set();

/** One probe's live scope. */
export class SnooperScope implements ScopeView {
  readonly wholeHost: boolean;
  /** Whole host without a blacklist: matches nothing, so it needs no periodic scan. */
  readonly passive: boolean;
  readonly podLabelNames: readonly string[];
  private readonly compiled: CompiledScope;
  private readonly blacklist: boolean;
  private matched = new Set<number>();
  private matchedContainers = new Map<string, ContainerInfo>();
  private labels = new Map<number, Readonly<Record<string, string>>>();
  private dropped = new Set<string>();
  private resolved = false;
  private readonly listeners = new Set<(added: readonly number[], removed: readonly number[]) => void>();
  private disposed = false;

  constructor(
    private readonly owner: ScopeOwner,
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
