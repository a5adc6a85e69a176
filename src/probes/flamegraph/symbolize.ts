// Symbolization of a period's stacks, in user space: the kernel from /proc/kallsyms (parsed
// once per run), user frames through /proc/<pid>/maps to a binary found through
// /proc/<pid>/root (so containers' binaries are read), its .symtab/.dynsym, its separate
// debug file (build-id, .gnu_debuglink) or, for a stripped Go binary, its .gopclntab.
// Binaries are cached by device and inode within a symbol budget, least recently used
// first out. Code outside any file (JIT) is named from /tmp/perf-<pid>.map in the
// process's root (./perf-map.ts). A frame that cannot be named shows as
// `<module>+0x<file offset>`, an address outside any file as [unknown].
import { basename } from "node:path";
import type { HostFs } from "../../host/fs.ts";
import { ElfFile } from "../../libbpf/elf.ts";
import { parseProcMaps, resolveUserAddress, type MapsEntry } from "../../libbpf/stacks.ts";
import type { Logger } from "../../log/logger.ts";
import { BinarySymbols } from "./binary-symbols.ts";
import { debugFileCandidates, readElfDebugInfo, readSection } from "./elf-debug.ts";
import { parseGoPclntab } from "../../libbpf/gopclntab.ts";
import { KernelSymbols } from "./kallsyms.ts";
import { PerfMaps } from "./perf-map.ts";

export interface SymbolizerOptions {
  readonly host: HostFs;
  readonly log: Logger;
  /** Symbols kept across cached binaries. */
  readonly maxSymbols: number;
  /** An input that could not be read or parsed (ctx.parseError). */
  readonly parseError: (item: string, detail?: string) => void;
}

/** Kernel frames of the probe itself, innermost in a stack taken from a tracepoint program. */
const PROBE_FRAMES = /^(bpf_prog_[0-9a-f]+_\w+|bpf_trace_run\d+|__bpf_trace_\w+|__traceiter_\w+|bpf_get_stackid\w*)$/;

/** A .gopclntab larger than this is not read. */
const MAX_GOPCLNTAB = 128 * 1024 * 1024;

/** A binary that has no usable symbols is cached too (as null), so it is not re-read every period. */
type CachedBinary = BinarySymbols | null;

export class Symbolizer {
  private kernelSyms: KernelSymbols | undefined;
  private readonly binaries = new Map<string, CachedBinary>();
  /** Per period: a process's maps, and the cache key of each (root, path). */
  private readonly maps = new Map<number, MapsEntry[] | null>();
  private readonly keys = new Map<string, string>();
  private cachedSymbols = 0;
  private readonly perfMaps: PerfMaps;

  constructor(private readonly o: SymbolizerOptions) {
    this.perfMaps = new PerfMaps(o.host, o.parseError);
  }

  /** Forgets per-process state (maps change); binaries stay cached, perf maps while their process is seen. */
  beginPeriod(): void {
    this.perfMaps.retain(new Set(this.maps.keys()));
    this.maps.clear();
    this.keys.clear();
  }

  get cachedBinaries(): number {
    return this.binaries.size;
  }

  /**
   * Kernel frames, outermost first (the input is innermost first). The probe's own frames
   * at the top of a tracepoint stack (the BPF program and the tracepoint's trampolines)
   * are not the profiled code and are left out.
   */
  kernelFrames(ips: readonly bigint[]): string[] {
    if (ips.length === 0) return [];
    const k = this.kernel();
    const names = ips.map((ip) => k.lookup(ip) ?? "[unknown]");
    let first = 0;
    while (first < names.length && PROBE_FRAMES.test(names[first]!)) first++;
    const out: string[] = [];
    for (let i = names.length - 1; i >= first; i--) out.push(`${names[i]}_[k]`);
    return out;
  }

  private kernel(): KernelSymbols {
    if (this.kernelSyms) return this.kernelSyms;
    const text = this.o.host.readProc("kallsyms") ?? "";
    const { symbols, malformed } = KernelSymbols.parse(text);
    if (malformed > 0) this.o.parseError("/proc/kallsyms", `${malformed} malformed lines`);
    if (symbols.size === 0) this.o.log.warn("/proc/kallsyms gives no addresses (kptr_restrict?): kernel frames show as [unknown]");
    this.kernelSyms = symbols;
    return symbols;
  }

  /** User frames of process `pid`, outermost first (the input is innermost first). */
  async userFrames(pid: number, ips: readonly bigint[]): Promise<string[]> {
    const maps = this.processMaps(pid);
    const out: string[] = [];
    for (let i = ips.length - 1; i >= 0; i--) {
      // A return address points after its call: look up the call itself (not for the leaf).
      const ip = i === 0 ? ips[i]! : ips[i]! - 1n;
      out.push(maps ? await this.userFrame(pid, maps, ip) : "[unknown]");
    }
    return out;
  }

  private processMaps(pid: number): MapsEntry[] | null {
    let m = this.maps.get(pid);
    if (m !== undefined) return m;
    const text = this.o.host.readProc(String(pid), "maps");
    try {
      m = text === undefined ? null : parseProcMaps(text);
    } catch (e) {
      this.o.parseError(`/proc/${pid}/maps`, (e as Error).message);
      m = null;
    }
    this.maps.set(pid, m);
    return m;
  }

  private async userFrame(pid: number, maps: MapsEntry[], ip: bigint): Promise<string> {
    const r = resolveUserAddress(maps, ip);
    if (!r) return (ip <= BigInt(Number.MAX_SAFE_INTEGER) && this.perfMaps.of(pid)?.lookup(Number(ip))) || "[unknown]"; // JIT code
    const syms = await this.binary(pid, r.path);
    const vaddr = syms?.vaddrOf(r.fileOffset);
    const name = vaddr === undefined ? undefined : syms!.lookup(vaddr);
    return name ?? `${basename(r.path)}+0x${r.fileOffset.toString(16)}`;
  }

  private async binary(pid: number, path: string): Promise<CachedBinary> {
    const file = this.o.host.proc(String(pid), "root", path);
    let key = this.keys.get(file);
    if (key === undefined) {
      const st = this.o.host.stat(file);
      if (!st) return null;
      key = `${st.dev}:${st.ino}`;
      this.keys.set(file, key);
    }
    const hit = this.binaries.get(key);
    if (hit !== undefined) {
      this.binaries.delete(key); // most recently used last
      this.binaries.set(key, hit);
      return hit;
    }
    const syms = await this.load(pid, path, file);
    this.binaries.set(key, syms);
    this.cachedSymbols += syms?.count ?? 0;
    for (const [k, v] of this.binaries) {
      if (this.cachedSymbols <= this.o.maxSymbols || k === key) break;
      this.binaries.delete(k);
      this.cachedSymbols -= v?.count ?? 0;
    }
    return syms;
  }

  /** Reads a binary's symbols, from its debug file when it has no .symtab of its own. */
  private async load(pid: number, path: string, file: string): Promise<CachedBinary> {
    let elf: ElfFile;
    try {
      elf = ElfFile.open(file);
    } catch (e) {
      this.o.parseError(file, (e as Error).message);
      return null;
    }
    let from = elf;
    try {
      const info = await readElfDebugInfo(file);
      if (elf.functions.length === 0 && info.gopclntab && info.gopclntab.size <= MAX_GOPCLNTAB) {
        // A stripped Go binary: the runtime's own table still names every function.
        return BinarySymbols.table(elf.segments, parseGoPclntab(file, await readSection(file, info.gopclntab), info.textAddr));
      }
      if (!info.hasSymtab) {
        for (const cand of debugFileCandidates(path, info)) {
          const debugPath = this.o.host.proc(String(pid), "root", cand);
          if (!this.o.host.exists(debugPath)) continue;
          try {
            const dbg = ElfFile.open(debugPath);
            if (dbg.functions.length > 0) {
              from = dbg;
              break;
            }
          } catch (e) {
            this.o.parseError(debugPath, (e as Error).message);
          }
        }
      }
    } catch (e) {
      this.o.parseError(file, (e as Error).message);
    }
    return from.functions.length > 0 || elf.segments.length > 0 ? BinarySymbols.of(elf, from) : null;
  }
}
