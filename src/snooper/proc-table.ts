// The snooper's process and container table, kept from /proc (the cost model is in
// ./snooper.ts): processes by pid with their container, containers by full and short id
// with their metadata, and what changed since the last resolution of the scopes.
import type { HostFs } from "../host/fs.ts";
import type { ContainerInfo } from "../probe/define.ts";
import { parseCgroupFile, type CgroupContainerRef } from "./cgroup.ts";
import type { ProcView } from "./match.ts";
import { cmdlineArgs, javaMainClass, parseBtime, parseStatHead, pidOfName, PF_KTHREAD, startEpochSeconds } from "./procfs.ts";
import { ContainerResolver, toContainerInfo, type ContainerMeta } from "./runtimes.ts";

/** Every known pid is re-validated at least once per this many scans. */
const REVALIDATE_ROUNDS = 60;
const REVALIDATE_MIN_BATCH = 4;
/** A full /proc listing at least every this many scans. */
const FULL_SCAN_EVERY = 5;
/** More new pids than this since the last scan: list /proc instead of probing each. */
const MAX_PROBED_PIDS = 64;
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
export class ProcRecord implements ProcEntry {
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

export interface ContainerRec {
  ref: CgroupContainerRef;
  meta: ContainerMeta;
  info: ContainerInfo;
  pids: Set<number>;
  complete: boolean;
  retryAt: number;
  retryMs: number;
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

export class ProcTable {
  readonly procs = new Map<number, ProcRecord>();
  /** By full 64-hex id. */
  readonly recs = new Map<string, ContainerRec>();
  /** By 12-char id. */
  readonly short = new Map<string, ContainerRec>();
  readonly podLabels = new Map<string, Record<string, string>>();
  private readonly resolver: ContainerResolver;
  private readonly procRoot: string;
  private btime: number | undefined;
  private cursor = 0;
  private scanNo = 0;
  private lastFull = 0;
  private lastLoad?: Loadavg;
  /** Scan order for the rotating re-validation; rebuilt after the table changed. */
  private order?: ProcRecord[];
  /** Processes first seen less than YOUNG_MS ago. */
  private young: ProcRecord[] = [];
  /** Pids added, removed or changed since the last resolution. */
  touched = new Set<number>();
  /** A container appeared, vanished or changed its metadata since the last resolution. */
  containersChanged = false;

  constructor(
    private readonly host: HostFs,
    private readonly now: () => number,
    /** Discover new pids from /proc/loadavg's last pid between full listings. */
    private readonly lastPidDiscovery: boolean,
  ) {
    this.resolver = new ContainerResolver(host, now);
    this.procRoot = host.proc();
  }

  /** What changed since the last call: the touched pids, or undefined when the container set changed. */
  takeChanges(): ReadonlySet<number> | undefined {
    const delta = this.containersChanged ? undefined : this.touched;
    this.containersChanged = false;
    this.touched = new Set();
    return delta;
  }

  containers(): Map<string, ContainerInfo> {
    const m = new Map<string, ContainerInfo>();
    for (const rec of this.recs.values()) m.set(rec.info.id, rec.info);
    return m;
  }

  clear(): void {
    this.procs.clear();
    this.order = undefined;
    this.young = [];
    this.recs.clear();
    this.short.clear();
  }

  private bootTime(): number {
    if (this.btime === undefined) this.btime = parseBtime(this.host.readProc("stat")) ?? 0;
    return this.btime;
  }

  private statPath(pid: number): string {
    return `${this.procRoot}/${pid}/stat`;
  }

  /** Reads a process from /proc; undefined when it is gone or unreadable. */
  load(pid: number): ProcRecord | undefined {
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

  add(e: ProcRecord): void {
    this.procs.set(e.pid, e);
    this.order = undefined;
    this.young.push(e);
    this.touched.add(e.pid);
  }

  remove(pid: number): void {
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

  /**
   * One scan of /proc; returns true when anything changed. `watched`: the pids some scope
   * matches (checked for exit between full listings), undefined when too many.
   */
  scan(watched: ReadonlySet<number> | undefined): boolean {
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
}
