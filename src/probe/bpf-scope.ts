// The user-space half of bpf/include/scope.h: keeps one object's scope map and mode word
// in step with the probe's live scope (ctx.scope), and answers the kernel's process
// events (exec and fork re-ask the scope in whitelist mode; exit removed the entry).
import { KernelBtf } from "../libbpf/btf.ts";
import type { BpfObject } from "../libbpf/object.ts";
import type { RecordHandler } from "../libbpf/ringbuf.ts";
import type { ScopeView } from "./define.ts";
import type { RingHandle, RingOptions } from "../libbpf/poller.ts";

/** The map, section, ring and programs scope.h declares. */
export const SCOPE_MAP = "gopher_scope";
export const SCOPE_STATE = ".data.gscope";
export const SCOPE_EVENTS = "gopher_scope_events";
/** Program → the sched tracepoint it runs on. */
export const SCOPE_PROGRAMS: Readonly<Record<string, string>> = {
  gopher_scope_exit: "sched_process_exit",
  gopher_scope_exec: "sched_process_exec",
  gopher_scope_fork: "sched_process_fork",
};

/** enum gopher_scope_mode */
export type ScopeMode = 0 | 1 | 2;
const PROC_EXEC = 1;
const PROC_FORK = 2;
const PROC_EXIT = 3;
/** struct gopher_proc_event: kind and tgid offsets (pinned by _Static_assert in scope.h). */
const EV_KIND = 0;
const EV_TGID = 4;

export interface ScopeChange {
  /** Processes now observed that were not (their data may be counted again). */
  readonly joined: readonly number[];
  /** Processes no longer observed (their data should be dropped, not reported). */
  readonly left: readonly number[];
  readonly mode: ScopeMode;
  /** The kind of list changed: earlier joins and leaves are moot. */
  readonly modeChanged: boolean;
}

export interface BpfScopeOptions {
  onChange?(c: ScopeChange): void;
}

export interface BpfScopeDeps {
  /** The probe's current scope (the manager replaces ctx.scope on reconfiguration). */
  scope(): ScopeView;
  ringbuf(onRecord: RecordHandler, drops: NonNullable<RingOptions["drops"]>): RingHandle;
  drops(reason: string): (n: number) => void;
}

/** Whether an object includes scope.h. */
export function hasKernelScope(obj: BpfObject): boolean {
  return obj.maps.has(SCOPE_MAP) && obj.maps.has(SCOPE_STATE);
}

export class BpfScope implements Disposable {
  private readonly listed = new Set<number>();
  private mode: ScopeMode = 0;
  private readonly modeOff: number;
  private readonly syncedOff: number;
  private readonly lostOff: number;
  private unsubscribe: () => void = () => undefined;
  private readonly ring: RingHandle;
  private readonly state: DataView;
  private readonly mapFull: (n: number) => void;
  private readonly eventLost: (n: number) => void;
  private disposed = false;

  constructor(
    private readonly obj: BpfObject,
    private readonly deps: BpfScopeDeps,
    private readonly o: BpfScopeOptions = {},
  ) {
    if (!hasKernelScope(obj)) throw new Error(`${obj.name}.bpf.o does not include scope.h (no ${SCOPE_MAP} map)`);
    {
      using btf = KernelBtf.ofObject(obj.handle);
      const st = btf?.structLayout("gopher_scope_state");
      if (!st) throw new Error(`${obj.name}.bpf.o carries no BTF for struct gopher_scope_state`);
      const member = (name: string) => {
        const m = st.members.get(name);
        if (!m) throw new Error(`${obj.name}.bpf.o: struct gopher_scope_state has no member ${name} (scope.h out of date)`);
        return m.offset;
      };
      this.modeOff = member("mode");
      this.syncedOff = member("synced");
      this.lostOff = member("lost");
    }
    this.state = obj.map(SCOPE_STATE).data();
    this.mapFull = deps.drops("scope_map_full");
    this.eventLost = deps.drops("proc_ringbuf_full");
    this.ring = deps.ringbuf(
      (view, off) => this.onEvent(view.getUint32(off + EV_KIND, true), view.getUint32(off + EV_TGID, true)),
      // Process events the kernel could not put in the ring (counted in gopher_scope_state.lost).
      { read: () => this.state.getBigUint64(this.lostOff, true), report: this.eventLost },
    );
    this.watch();
  }

  /** Processes in the kernel map: listed (whitelist) or excluded (blacklist). */
  get inMap(): ReadonlySet<number> {
    return this.listed;
  }

  get currentMode(): ScopeMode {
    return this.mode;
  }

  /** Whether the kernel side observes `tgid` now: the mode word and the map, read back from the kernel. */
  observes(tgid: number): boolean {
    if (this.state.getUint32(this.syncedOff, true) === 0) return false;
    const mode = this.state.getUint32(this.modeOff, true);
    if (mode === 0) return true;
    const listed = this.obj.map(SCOPE_MAP).lookup(new Uint32Array([tgid]), new Uint8Array(1));
    return mode === 1 ? listed : !listed;
  }

  /** Subscribes to the probe's current scope and pushes it (again after ctx.scope was replaced). */
  watch(): void {
    this.unsubscribe();
    this.unsubscribe = this.deps.scope().onChange(() => this.sync());
    this.sync();
  }

  /** Pushes the scope into the kernel: mode word and map. */
  sync(): void {
    if (this.disposed) return;
    const s = this.deps.scope();
    const excluded = s.excluded();
    const mode: ScopeMode = s.wholeHost ? (excluded.size ? 2 : 0) : 1;
    const modeChanged = mode !== this.mode;
    if (modeChanged) this.replace(new Set());
    const r = this.replace(new Set(mode === 0 ? [] : mode === 1 ? s.pids() : excluded));
    this.setMode(mode);
    // From now on the kernel answers from the mode word and the map (nothing before).
    this.state.setUint32(this.syncedOff, 1, true);
    if (r.refused) this.mapFull(r.refused);
    const joined = mode === 1 ? r.added : r.removed;
    const left = mode === 1 ? r.removed : r.added;
    if (modeChanged || joined.length || left.length) this.o.onChange?.({ joined, left, mode, modeChanged });
  }

  private setMode(mode: ScopeMode): void {
    this.mode = mode;
    this.state.setUint32(this.modeOff, mode, true);
  }

  private replace(want: ReadonlySet<number>): { added: number[]; removed: number[]; refused: number } {
    const map = this.obj.map(SCOPE_MAP);
    const res = { added: [] as number[], removed: [] as number[], refused: 0 };
    for (const t of [...this.listed]) {
      if (want.has(t)) continue;
      map.delete(new Uint32Array([t]));
      this.listed.delete(t);
      res.removed.push(t);
    }
    for (const t of want) {
      if (this.listed.has(t)) continue;
      if (this.put(t)) res.added.push(t);
      else res.refused++;
    }
    return res;
  }

  private put(tgid: number): boolean {
    try {
      this.obj.map(SCOPE_MAP).update(new Uint32Array([tgid]), new Uint8Array([1]));
      this.listed.add(tgid);
      return true;
    } catch {
      return false;
    }
  }

  private onEvent(kind: number, tgid: number): void {
    if (kind === PROC_EXIT) {
      this.listed.delete(tgid); // the kernel removed it from the map
      return;
    }
    if (kind !== PROC_EXEC && kind !== PROC_FORK) return;
    // exec or fork while only listed processes are observed: ask the scope again.
    if (this.mode !== 1 || this.listed.has(tgid)) return;
    if (!this.deps.scope().includes(tgid)) return;
    if (this.put(tgid)) this.o.onChange?.({ joined: [tgid], left: [], mode: 1, modeChanged: false });
    else this.mapFull(1);
  }

  /** Handles the process events waiting in the ring now. */
  drain(): number {
    return this.ring.drain();
  }

  [Symbol.dispose](): void {
    if (this.disposed) return;
    this.disposed = true;
    this.unsubscribe();
    this.ring[Symbol.dispose]();
  }
}
