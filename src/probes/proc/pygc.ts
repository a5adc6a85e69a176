// proc_pygc: Python garbage-collection runs of the processes in scope. The interpreter (the
// python binary, or the libpython it maps) is found through /proc/<pid>/root, and a run is
// timed between two probes on it, by the first hook the file has:
//  1. its USDT probes python:gc__start and python:gc__done (CPython built --with-dtrace, as
//     Debian's python3.x): they are guarded by semaphores, which the kernel increments while
//     the uprobes are attached (ref_ctr_offset), so the interpreter fires them;
//  2. the entry and return of its collection function (gc_collect_main in 3.11+, upstream's
//     collect_with_callback before), from the file's symbol table (not in stripped files).
// One attachment per interpreter file serves every process running it (the kernel program
// asks the scope first).
import type { BpfObject } from "../../libbpf/object.ts";
import { ElfCache, UprobeError, UprobeSet } from "../../libbpf/uprobe.ts";

/** The interpreter files a process may map: python3.11, python3.11d, libpython3.11.so.1.0, … */
const PYTHON = /\/(lib)?python[23](\.\d+)?[dmu]*(\.so[.\d]*)?$/;
const COLLECT_FUNCTIONS = ["gc_collect_main", "collect_with_callback"] as const;

type Hook = "usdt" | "function";

/** The GC probes on every in-scope process's Python interpreter. */
export class PygcUprobes implements Disposable {
  private readonly elf = new ElfCache(2);
  private readonly hooks: Record<Hook, readonly [UprobeSet, UprobeSet]>;
  /** Process → the hook that covers it. */
  private readonly covered = new Map<number, Hook>();
  /** Processes without Python (or without a usable hook): not asked again while they run. */
  private readonly absent = new Set<number>();
  private newAttachments = 0;

  constructor(obj: BpfObject, procRoot: string, maxFiles: number) {
    const o = { scope: "binary" as const, procRoot, maxAttachments: maxFiles, elfCache: this.elf };
    const enter = obj.program("pygc_enter");
    const exit = obj.program("pygc_exit");
    this.hooks = {
      usdt: [new UprobeSet(enter, { binary: PYTHON, usdt: { provider: "python", name: "gc__start" } }, o), new UprobeSet(exit, { binary: PYTHON, usdt: { provider: "python", name: "gc__done" } }, o)],
      function: [new UprobeSet(enter, { binary: PYTHON, symbol: COLLECT_FUNCTIONS }, o), new UprobeSet(exit, { binary: PYTHON, symbol: COLLECT_FUNCTIONS, retprobe: true }, o)],
    };
  }

  /**
   * A process is in scope: its interpreter gets the probes (the USDT pair, else the function
   * pair). Throws UprobeError when it runs Python without either hook, for the caller to log.
   */
  add(pid: number): void {
    if (this.has(pid)) return;
    let firstError: unknown;
    try {
      for (const hook of ["usdt", "function"] as const) {
        try {
          const pair = this.hooks[hook].map((s) => s.addProcess(pid));
          if (pair.every((r) => r !== "absent")) {
            this.covered.set(pid, hook);
            this.newAttachments += pair.filter((r) => r === "attached").length;
            return;
          }
          for (const s of this.hooks[hook]) s.removeProcess(pid);
          if (pair.every((r) => r === "absent")) break; // no interpreter mapped
        } catch (e) {
          for (const s of this.hooks[hook]) s.removeProcess(pid);
          firstError ??= e;
        }
      }
    } finally {
      this.elf.clear();
    }
    this.absent.add(pid);
    if (firstError) throw firstError instanceof UprobeError ? new UprobeError(firstError.code, `no Python GC hook in process ${pid}: ${firstError.message}`) : firstError;
  }

  remove(pid: number): void {
    this.absent.delete(pid);
    const hook = this.covered.get(pid);
    if (!hook) return;
    this.covered.delete(pid);
    for (const s of this.hooks[hook]) s.removeProcess(pid);
  }

  /** Forgets every process not in `alive` (exited, or out of scope). */
  prune(alive: ReadonlySet<number>): void {
    for (const p of this.absent) if (!alive.has(p)) this.absent.delete(p);
    for (const p of [...this.covered.keys()]) if (!alive.has(p)) this.remove(p);
  }

  /** Whether `pid` was already looked at. */
  has(pid: number): boolean {
    return this.covered.has(pid) || this.absent.has(pid);
  }

  /** Attachments made since the last call (each parsed an interpreter's ELF file). */
  takeNewAttachments(): number {
    const n = this.newAttachments;
    this.newAttachments = 0;
    return n;
  }

  /** Which hook covers `pid`, if any. */
  hookOf(pid: number): Hook | undefined {
    return this.covered.get(pid);
  }

  [Symbol.dispose](): void {
    for (const pair of Object.values(this.hooks)) for (const s of pair) s[Symbol.dispose]();
  }
}
