// Uprobes and uretprobes that follow processes: the process's binary is found through
// /proc/<pid>/root/<path> (so containers work), the probe offset comes from the binary's own
// ELF symbols (elf.ts) or USDT notes (usdt.ts: the site, and the semaphore the kernel
// increments while the probe is attached), and attachments are made and dropped as the
// caller reports processes starting and exiting. Two scopes:
//  - "binary": one attachment per distinct file (device:inode) for every process running it,
//    including ones started later; dropped when the last reported process using it leaves.
//  - "process": one attachment per process, filtered by its pid.
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { ElfFile } from "./elf.ts";
import type { BpfLink, BpfProgram } from "./object.ts";
import { parseProcMaps } from "./stacks.ts";
import { readUsdtProbes, type UsdtProbe } from "./usdt.ts";

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
  /** Function symbol to probe (from .symtab or .dynsym); with a list, the first the file has. */
  symbol?: string | readonly string[];
  /** Or a USDT probe (every site of it in the file; its semaphore, if any, is enabled). */
  usdt?: { provider: string; name: string };
  /** Attach at function return (uretprobe; not with `usdt`). */
  retprobe?: boolean;
}

/** Parsed ELF files shared by several UprobeSets (one parse of a library for all its probes). */
export class ElfCache {
  private readonly files = new Map<string, { elf?: ElfFile; usdt?: UsdtProbe[] }>();
  constructor(private readonly maxFiles = 2) {}

  private entry(fileKey: string) {
    let e = this.files.get(fileKey);
    if (!e) {
      if (this.files.size >= this.maxFiles) this.files.delete(this.files.keys().next().value!);
      e = {};
      this.files.set(fileKey, e);
    }
    return e;
  }
  /** The symbols and segments of the file (device:inode `fileKey`) at `path`. @throws ElfError */
  elf(fileKey: string, path: string): ElfFile {
    const e = this.entry(fileKey);
    return (e.elf ??= ElfFile.open(path));
  }
  /** The USDT probes of the file. @throws ElfError */
  usdt(fileKey: string, path: string): UsdtProbe[] {
    const e = this.entry(fileKey);
    return (e.usdt ??= readUsdtProbes(path));
  }
  /** Forgets every parsed file (their memory can go). */
  clear(): void {
    this.files.clear();
  }
}

export interface UprobeSetOptions {
  scope: "binary" | "process";
  /** procfs root (default /proc; tests and host-rooted agents pass another). */
  procRoot?: string;
  /** Upper bound on live attachments (default 1024). */
  maxAttachments?: number;
  /** Shares parsed files with other sets (default: a cache of this set's own). */
  elfCache?: ElfCache;
}

/** What addProcess did. */
export type UprobeAdded = "attached" | "shared" | "absent";

interface Attachment {
  links: BpfLink[];
  pids: Set<number>;
}

/** Where a probe goes in one file: uprobe offsets and the semaphore (0: none). */
interface Site {
  offsets: number[];
  refCtrOffset: number;
}

export class UprobeSet implements Disposable {
  private readonly byKey = new Map<string, Attachment>();
  private readonly keyOfPid = new Map<number, string>();
  /** Per file (device:inode): its site, or why it has none (not asked again). */
  private readonly sites = new Map<string, Site | UprobeError>();
  private readonly procRoot: string;
  private readonly max: number;
  private readonly elfCache: ElfCache;
  /** The cache is this set's own: emptied after each addProcess (nothing parsed stays in memory). */
  private readonly ownCache: boolean;

  /** `prog`: a loaded SEC("uprobe")/SEC("uretprobe") program, attached per `spec` and `o.scope`. */
  constructor(
    readonly prog: BpfProgram,
    readonly spec: UprobeSpec,
    readonly o: UprobeSetOptions,
  ) {
    this.procRoot = o.procRoot ?? "/proc";
    this.max = o.maxAttachments ?? 1024;
    this.elfCache = o.elfCache ?? new ElfCache(1);
    this.ownCache = !o.elfCache;
    const symbols = typeof spec.symbol === "string" ? [spec.symbol] : (spec.symbol ?? []);
    if (!spec.usdt === (symbols.length === 0) || symbols.some((x) => !x)) throw new UprobeError("ENOSYM", "uprobe: give either a non-empty symbol (list) or a USDT probe");
    if (spec.usdt && spec.retprobe) throw new UprobeError("ENOSYM", "uprobe: a USDT probe has no return probe");
    if (typeof spec.binary === "string" && !spec.binary.startsWith("/")) throw new UprobeError("ENOBINARY", `uprobe: binary path ${JSON.stringify(spec.binary)} is not absolute`);
  }

  /** The binary's paths inside process `pid` (for a pattern: every mapped file matching it, in map order). */
  private binariesIn(pid: number): string[] {
    const b = this.spec.binary;
    if (typeof b === "string") return [b];
    let maps: string;
    try {
      maps = readFileSync(join(this.procRoot, String(pid), "maps"), "utf8");
    } catch {
      return [];
    }
    return [...new Set(parseProcMaps(maps).map((m) => m.path))].filter((p) => p.startsWith("/") && b.test(p));
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
    try {
      return this.place(pid);
    } finally {
      if (this.ownCache) this.elfCache.clear();
    }
  }

  private place(pid: number): UprobeAdded {
    const paths = this.binariesIn(pid);
    let missing: UprobeError | undefined;
    for (const inProc of paths) {
      const hostPath = join(this.procRoot, String(pid), "root", inProc);
      let st;
      try {
        st = statSync(hostPath);
      } catch {
        continue;
      }
      const fileKey = `${st.dev}:${st.ino}`;
      const key = this.o.scope === "binary" ? fileKey : `${fileKey}:${pid}`;
      const existing = this.byKey.get(key);
      if (existing) {
        existing.pids.add(pid);
        this.keyOfPid.set(pid, key);
        return "shared";
      }
      const site = this.siteIn(fileKey, hostPath);
      if (site instanceof UprobeError) {
        // With a pattern, another mapped file matching it may have the probe.
        missing ??= site;
        continue;
      }
      if (this.byKey.size >= this.max) throw new UprobeError("ELIMIT", `uprobe ${this.what}: ${this.max} attachments reached`);
      const links: BpfLink[] = [];
      try {
        for (const offset of site.offsets) {
          links.push(this.prog.attachUprobe({ binary: hostPath, offset, pid: this.o.scope === "process" ? pid : -1, retprobe: this.spec.retprobe, refCtrOffset: site.refCtrOffset }));
        }
      } catch (e) {
        for (const l of links) l.destroy();
        throw e;
      }
      this.byKey.set(key, { links, pids: new Set([pid]) });
      this.keyOfPid.set(pid, key);
      return "attached";
    }
    if (missing) throw missing;
    return "absent";
  }

  /** What is probed, for messages. */
  private get what(): string {
    const u = this.spec.usdt;
    return u ? `${u.provider}:${u.name}` : [this.spec.symbol].flat().join("|");
  }

  /** The probe's site in one file, or the ENOSYM error saying it has none. @throws ElfError */
  private siteIn(fileKey: string, hostPath: string): Site | UprobeError {
    const known = this.sites.get(fileKey);
    if (known) return known;
    let site: Site | UprobeError;
    const u = this.spec.usdt;
    if (u) {
      const found = this.elfCache.usdt(fileKey, hostPath).filter((p) => p.provider === u.provider && p.name === u.name);
      const semaphores = new Set(found.map((p) => p.semaphoreOffset));
      if (found.length === 0) site = new UprobeError("ENOSYM", `uprobe: ${hostPath} has no USDT probe ${u.provider}:${u.name}`);
      else if (semaphores.size > 1) site = new UprobeError("ENOSYM", `uprobe: ${hostPath}: the sites of USDT probe ${u.provider}:${u.name} have different semaphores`);
      else site = { offsets: found.map((p) => p.offset), refCtrOffset: found[0]!.semaphoreOffset };
    } else {
      const elf = this.elfCache.elf(fileKey, hostPath);
      const sym = [this.spec.symbol ?? []].flat().map((n) => elf.symbol(n)).find((x) => x !== undefined);
      site = sym ? { offsets: [elf.fileOffset(sym.value)], refCtrOffset: 0 } : new UprobeError("ENOSYM", `uprobe: ${hostPath} has no function ${this.what}`);
    }
    if (this.sites.size >= this.max) this.sites.clear();
    this.sites.set(fileKey, site);
    return site;
  }

  /** A process exited: drops its attachment, or the binary's when no reported process uses it any more. */
  removeProcess(pid: number): void {
    const key = this.keyOfPid.get(pid);
    if (key === undefined) return;
    this.keyOfPid.delete(pid);
    const a = this.byKey.get(key)!;
    a.pids.delete(pid);
    if (a.pids.size === 0) {
      for (const l of a.links) l.destroy();
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
    for (const a of this.byKey.values()) for (const l of a.links) l.destroy();
    this.byKey.clear();
    this.keyOfPid.clear();
  }
}
