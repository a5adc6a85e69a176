// mem_glibc: the uprobes on malloc/calloc/realloc/free (and the uretprobes of the first
// three) in the libc each process in scope maps, found through /proc/<pid>/root, and the
// read of the live bytes per allocating stack the kernel keeps
// (bpf/flamegraph/flamegraph-glibc.h). With a whitelist scope the probes are attached per
// process (the other processes using the same libc pay nothing); with the whole host in
// scope, once per libc file. Unlike the other types the values are a state, not a count:
// every read gives the bytes allocated and not yet freed.
import type { HostFs } from "../../host/fs.ts";
import type { BpfObject } from "../../libbpf/object.ts";
import { StackTraceMap } from "../../libbpf/stacks.ts";
import { UprobeError, UprobeSet } from "../../libbpf/uprobe.ts";

/** The libc a process maps (glibc's soname, or an older versioned file name). */
const LIBC = /\/libc(\.so\.\d+|-[\d.]+\.so)$/;

/** Programs (bpf/flamegraph/flamegraph-glibc.h) and the functions they are placed on. */
const HOOKS: readonly { program: string; symbol: string; retprobe?: true }[] = [
  { program: "glibc_malloc", symbol: "malloc" },
  { program: "glibc_malloc_ret", symbol: "malloc", retprobe: true },
  { program: "glibc_calloc", symbol: "calloc" },
  { program: "glibc_calloc_ret", symbol: "calloc", retprobe: true },
  { program: "glibc_realloc", symbol: "realloc" },
  { program: "glibc_realloc_ret", symbol: "realloc", retprobe: true },
  { program: "glibc_free", symbol: "free" },
];
export const GLIBC_PROGRAMS: readonly string[] = HOOKS.map((h) => h.program);

const LIVE_KEY = 8;
const ALLOC_KEY = 16;

export interface GlibcOptions {
  readonly obj: BpfObject;
  readonly host: HostFs;
  /** Attach once per libc file (the whole host is in scope) instead of per process. */
  readonly perBinary: boolean;
  /** Processes (or libc files, per binary) with uprobes at once. */
  readonly maxProcesses: number;
}

/** A process whose libc could not be probed, and why (logged once by the caller). */
export interface GlibcAttachFailure {
  readonly pid: number;
  readonly reason: string;
}

export class GlibcAllocations implements Disposable {
  private readonly sets: UprobeSet[];
  private readonly covered = new Set<number>();
  /** Processes without a libc (static, Go) or that failed: not tried again while they live. */
  private readonly skipped = new Set<number>();
  private readonly stacks: StackTraceMap;
  /** Processes with live bytes at the last read. */
  private seen = new Set<number>();

  constructor(private readonly o: GlibcOptions) {
    const procRoot = o.host.proc();
    this.sets = HOOKS.map(
      (h) =>
        new UprobeSet(o.obj.program(h.program), { binary: LIBC, symbol: h.symbol, retprobe: h.retprobe }, { scope: o.perBinary ? "binary" : "process", procRoot, maxAttachments: o.maxProcesses }),
    );
    this.stacks = new StackTraceMap(o.obj.map("alloc_stacks"));
  }

  /** Processes whose libc is probed. */
  get processes(): number {
    return this.covered.size;
  }

  /** Places the uprobes for the processes of `inScope` not yet covered and drops those of processes gone from it. */
  sync(inScope: ReadonlySet<number>): GlibcAttachFailure[] {
    for (const pid of [...this.covered]) if (!inScope.has(pid)) this.remove(pid);
    for (const pid of [...this.skipped]) if (!inScope.has(pid)) this.skipped.delete(pid);
    const failures: GlibcAttachFailure[] = [];
    for (const pid of inScope) {
      if (this.covered.has(pid) || this.skipped.has(pid)) continue;
      const failure = this.add(pid);
      if (failure) failures.push(failure);
    }
    return failures;
  }

  private add(pid: number): GlibcAttachFailure | undefined {
    let placed = 0;
    try {
      for (const s of this.sets) if (s.addProcess(pid) !== "absent") placed++;
    } catch (e) {
      for (const s of this.sets) s.removeProcess(pid);
      this.skipped.add(pid);
      const reason = e instanceof UprobeError ? e.message : `libc of ${pid}: ${(e as Error).message}`;
      return { pid, reason };
    }
    if (placed === this.sets.length) this.covered.add(pid);
    else {
      for (const s of this.sets) s.removeProcess(pid); // no libc mapped (or gone meanwhile)
      this.skipped.add(pid);
    }
    return undefined;
  }

  private remove(pid: number): void {
    this.covered.delete(pid);
    for (const s of this.sets) s.removeProcess(pid);
  }

  /**
   * Every (process, stack) with live bytes, for processes in `inScope`. Stacks whose bytes
   * went back to zero are removed from the kernel maps, and so is everything recorded for a
   * process that left the scope (its frees are no longer seen).
   */
  read(inScope: ReadonlySet<number>, visit: (tgid: number, user: readonly bigint[], bytes: number) => void): void {
    const live = this.o.obj.map("alloc_live");
    const zero: Uint8Array[] = [];
    const departed = new Set<number>();
    const rows: { tgid: number; stack: number; bytes: number }[] = [];
    live.lookupBatch(({ keys, values, count }) => {
      const k = new DataView(keys.buffer, keys.byteOffset, keys.byteLength);
      const v = new DataView(values.buffer, values.byteOffset, values.byteLength);
      for (let i = 0; i < count; i++) {
        const tgid = k.getUint32(i * LIVE_KEY, true);
        const bytes = Number(v.getBigInt64(i * 8, true));
        if (!inScope.has(tgid)) departed.add(tgid);
        else if (bytes <= 0) zero.push(keys.slice(i * LIVE_KEY, (i + 1) * LIVE_KEY));
        else rows.push({ tgid, stack: k.getInt32(i * LIVE_KEY + 4, true), bytes });
      }
    }, 4096);
    const kept = new Set(rows.map((r) => r.stack));
    for (const key of zero) {
      live.delete(key);
      const stack = new DataView(key.buffer).getInt32(4, true);
      if (stack >= 0 && !kept.has(stack)) this.stacks.delete(stack);
    }
    for (const tgid of this.seen) if (!inScope.has(tgid)) departed.add(tgid);
    if (departed.size > 0) this.forget(departed, kept);
    this.seen = new Set(rows.map((r) => r.tgid));
    const frames = new Map<number, bigint[]>();
    for (const r of rows) {
      let f = frames.get(r.stack);
      if (!f) frames.set(r.stack, (f = this.stacks.read(r.stack) ?? []));
      visit(r.tgid, f, r.bytes);
    }
  }

  /** Removes the allocations and live bytes of processes no longer in scope. */
  private forget(tgids: ReadonlySet<number>, keptStacks: ReadonlySet<number>): void {
    const deleteWhere = (name: string, keySize: number, tgidAt: number, onDelete?: (key: DataView) => void) => {
      const map = this.o.obj.map(name);
      const doomed: Uint8Array[] = [];
      map.lookupBatch(({ keys, count }) => {
        const k = new DataView(keys.buffer, keys.byteOffset, keys.byteLength);
        for (let i = 0; i < count; i++) if (tgids.has(k.getUint32(i * keySize + tgidAt, true))) doomed.push(keys.slice(i * keySize, (i + 1) * keySize));
      }, 4096);
      for (const key of doomed) {
        map.delete(key);
        onDelete?.(new DataView(key.buffer));
      }
    };
    deleteWhere("alloc_live", LIVE_KEY, 0, (key) => {
      const stack = key.getInt32(4, true);
      if (stack >= 0 && !keptStacks.has(stack)) this.stacks.delete(stack);
    });
    deleteWhere("allocs", ALLOC_KEY, 8);
  }

  [Symbol.dispose](): void {
    for (const s of this.sets) s[Symbol.dispose]();
    this.covered.clear();
  }
}
