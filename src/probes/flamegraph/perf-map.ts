// JIT symbols from /tmp/perf-<pid>.map (Java with -XX:+PreserveFramePointer and
// `jcmd <pid> Compiler.perfmap`, Python 3.12 `-X perf`, Node --perf-basic-prof): lines
// "<start hex> <size hex> <name>". The file is found in the process's root under its own
// pid namespace's pid (NSpid), and re-read only when it changed.
import type { HostFs } from "../../host/fs.ts";
import { floorIndex } from "./sorted-names.ts";

/** A perf map larger than this is not read (a runaway JIT log). */
export const MAX_PERF_MAP_BYTES = 64 * 1024 * 1024;

export class PerfMap {
  private constructor(
    private readonly starts: Float64Array,
    private readonly ends: Float64Array,
    private readonly names: readonly string[],
  ) {}

  get size(): number {
    return this.names.length;
  }

  /** Parses perf map text; malformed lines are counted and skipped. */
  static parse(text: string): { map: PerfMap; malformed: number } {
    const rows: [number, number, string][] = [];
    let malformed = 0;
    for (const line of text.split("\n")) {
      if (!line) continue;
      const m = /^(?:0x)?([0-9a-fA-F]+) (?:0x)?([0-9a-fA-F]+) (.+)$/.exec(line);
      const start = m ? parseInt(m[1]!, 16) : NaN;
      const size = m ? parseInt(m[2]!, 16) : NaN;
      if (!m || !Number.isSafeInteger(start) || !Number.isSafeInteger(size) || size <= 0) {
        malformed++;
        continue;
      }
      rows.push([start, start + size, m[3]!]);
    }
    // Later lines win for the same start (code moved); sort by start.
    rows.sort((a, b) => a[0] - b[0]);
    return { map: new PerfMap(Float64Array.from(rows, (r) => r[0]), Float64Array.from(rows, (r) => r[1]), rows.map((r) => r[2])), malformed };
  }

  lookup(addr: number): string | undefined {
    const best = floorIndex(this.starts, addr);
    return best >= 0 && addr < this.ends[best]! ? this.names[best] : undefined;
  }
}

/** The pid of `pid` inside its own pid namespace (last NSpid field), or `pid`. */
export function namespacePid(host: HostFs, pid: number): number {
  const status = host.readProc(String(pid), "status") ?? "";
  const m = /^NSpid:\s*(.+)$/m.exec(status);
  const last = m?.[1]!.trim().split(/\s+/).pop();
  const n = Number(last);
  return Number.isInteger(n) && n > 0 ? n : pid;
}

/** Perf maps per process, re-read when the file's size or mtime changed. */
export class PerfMaps {
  private readonly cache = new Map<number, { key: string; map: PerfMap | null }>();
  /** Looked up in this period (one stat per process per period). */
  private readonly period = new Map<number, PerfMap | null>();

  constructor(
    private readonly host: HostFs,
    private readonly parseError: (item: string, detail?: string) => void,
  ) {}

  /** The process's perf map, or null when it has none. */
  of(pid: number): PerfMap | null {
    const seen = this.period.get(pid);
    if (seen !== undefined) return seen;
    const map = this.read(pid);
    this.period.set(pid, map);
    return map;
  }

  private read(pid: number): PerfMap | null {
    const path = this.host.proc(String(pid), "root", "tmp", `perf-${namespacePid(this.host, pid)}.map`);
    const st = this.host.stat(path);
    if (!st || !st.isFile()) {
      this.cache.delete(pid);
      return null;
    }
    const key = `${st.size}:${st.mtimeMs}`;
    const hit = this.cache.get(pid);
    if (hit?.key === key) return hit.map;
    let map: PerfMap | null = null;
    if (st.size > MAX_PERF_MAP_BYTES) this.parseError(path, `${st.size} bytes: larger than ${MAX_PERF_MAP_BYTES}, not read`);
    else {
      const parsed = PerfMap.parse(this.host.read(path) ?? "");
      if (parsed.malformed > 0) this.parseError(path, `${parsed.malformed} malformed lines`);
      map = parsed.map;
    }
    this.cache.set(pid, { key, map });
    return map;
  }

  /** Starts a period; forgets processes not in `alive`. */
  retain(alive: ReadonlySet<number>): void {
    this.period.clear();
    for (const pid of this.cache.keys()) if (!alive.has(pid)) this.cache.delete(pid);
  }
}
