// Uprobes and uretprobes that follow processes: the process's binary is found through
// /proc/<pid>/root/<path> (so containers work), the probe offset comes from the binary's own
// ELF symbols (elf.ts), and attachments are made and dropped as the caller reports processes
// starting and exiting. Two scopes:
//  - "binary": one attachment per distinct file (device:inode) for every process running it,
//    including ones started later; dropped when the last reported process using it leaves.
//  - "process": one attachment per process, filtered by its pid.
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ElfFile } from "./elf.ts";
import type { BpfLink, BpfProgram } from "./object.ts";
import { parseProcMaps } from "./stacks.ts";

/** A uprobe could not be placed (binary or symbol missing, bound reached). */
export class UprobeError extends Error {
  constructor(
    readonly code: "ENOBINARY" | "ENOSYM" | "ELIMIT",
    message: string,
  ) {
    super(message);
    this.name = "UprobeError";
  }
}

export interface UprobeSpec {
  /**
   * The binary as the process sees it: an absolute path ("/usr/bin/redis-server"), or a
   * pattern matched against the files the process has mapped (/\/libssl\.so/) for libraries.
   */
  binary: string | RegExp;
  /** Function symbol to probe (from .symtab or .dynsym). */
  symbol: string;
  /** Attach at function return (uretprobe). */
  retprobe?: boolean;
}

export interface UprobeSetOptions {
  scope: "binary" | "process";
  /** procfs root (default /proc; tests and host-rooted agents pass another). */
  procRoot?: string;
  /** Upper bound on live attachments (default 1024). */
  maxAttachments?: number;
}

/** What addProcess did. */
export type UprobeAdded = "attached" | "shared" | "absent";

interface Attachment {
  link: BpfLink;
  pids: Set<number>;
}

export class UprobeSet implements Disposable {
  private readonly byKey = new Map<string, Attachment>();
  private readonly keyOfPid = new Map<number, string>();
  private readonly offsets = new Map<string, number>();
  private readonly procRoot: string;
  private readonly max: number;

  /** `prog`: a loaded SEC("uprobe")/SEC("uretprobe") program, attached per `spec` and `o.scope`. */
  constructor(
    readonly prog: BpfProgram,
    readonly spec: UprobeSpec,
    readonly o: UprobeSetOptions,
  ) {
    this.procRoot = o.procRoot ?? "/proc";
    this.max = o.maxAttachments ?? 1024;
    if (!spec.symbol) throw new UprobeError("ENOSYM", "uprobe: empty symbol name");
    if (typeof spec.binary === "string" && !spec.binary.startsWith("/")) throw new UprobeError("ENOBINARY", `uprobe: binary path ${JSON.stringify(spec.binary)} is not absolute`);
  }

  /** The binary's path inside process `pid`, or undefined when the process does not use it. */
  private binaryIn(pid: number): string | undefined {
    const b = this.spec.binary;
    if (typeof b === "string") return b;
    let maps: string;
    try {
      maps = readFileSync(join(this.procRoot, String(pid), "maps"), "utf8");
    } catch {
      return undefined;
    }
    return parseProcMaps(maps).find((m) => m.path.startsWith("/") && b.test(m.path))?.path;
  }

  /**
   * A process appeared (or is already running): attaches as the scope requires.
   * "absent": the process does not run the binary (or is gone); "shared": an existing
   * per-binary attachment covers it.
   * @throws UprobeError (symbol missing, bound reached), ElfError, BpfError
   */
  addProcess(pid: number): UprobeAdded {
    if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`uprobe: invalid pid ${pid}`);
    if (this.keyOfPid.has(pid)) return "shared";
    const inProc = this.binaryIn(pid);
    if (!inProc) return "absent";
    const hostPath = join(this.procRoot, String(pid), "root", inProc);
    let st;
    try {
      st = statSync(hostPath);
    } catch {
      return "absent";
    }
    const fileKey = `${st.dev}:${st.ino}`;
    const key = this.o.scope === "binary" ? fileKey : `${fileKey}:${pid}`;
    const existing = this.byKey.get(key);
    if (existing) {
      existing.pids.add(pid);
      this.keyOfPid.set(pid, key);
      return "shared";
    }
    if (this.byKey.size >= this.max) throw new UprobeError("ELIMIT", `uprobe ${this.spec.symbol}: ${this.max} attachments reached`);
    const offset = this.offsetIn(fileKey, hostPath);
    const link = this.prog.attachUprobe({ binary: hostPath, offset, pid: this.o.scope === "process" ? pid : -1, retprobe: this.spec.retprobe });
    this.byKey.set(key, { link, pids: new Set([pid]) });
    this.keyOfPid.set(pid, key);
    return "attached";
  }

  private offsetIn(fileKey: string, hostPath: string): number {
    const known = this.offsets.get(fileKey);
    if (known !== undefined) return known;
    const elf = ElfFile.open(hostPath);
    const sym = elf.symbol(this.spec.symbol);
    if (!sym) throw new UprobeError("ENOSYM", `uprobe: ${hostPath} has no function ${this.spec.symbol}`);
    const off = elf.fileOffset(sym.value);
    if (this.offsets.size >= this.max) this.offsets.clear();
    this.offsets.set(fileKey, off);
    return off;
  }

  /** A process exited: drops its attachment, or the binary's when no reported process uses it any more. */
  removeProcess(pid: number): void {
    const key = this.keyOfPid.get(pid);
    if (key === undefined) return;
    this.keyOfPid.delete(pid);
    const a = this.byKey.get(key)!;
    a.pids.delete(pid);
    if (a.pids.size === 0) {
      a.link.destroy();
      this.byKey.delete(key);
    }
  }

  /** Live attachments (per binary or per process). */
  get attachments(): number {
    return this.byKey.size;
  }

  /** Processes currently reported and covered. */
  get processes(): number {
    return this.keyOfPid.size;
  }

  [Symbol.dispose](): void {
    for (const a of this.byKey.values()) a.link.destroy();
    this.byKey.clear();
    this.keyOfPid.clear();
  }
}
