// BPF_MAP_TYPE_STACK_TRACE reader: a stack id (from bpf_get_stackid) maps to an array of
// instruction pointers, innermost first, ended by 0 or the map's depth. Kernel addresses
// exceed 2^53, so every address stays a bigint. Also user-address resolution through
// /proc/<pid>/maps (text given by the caller, so container roots and fixtures work).
import { BpfError, errnoName } from "./errors.ts";
import { MapType, type BpfMap } from "./object.ts";

export class StackTraceMap {
  /** Frames per stack (value_size / 8). */
  readonly depth: number;
  private readonly buf: BigUint64Array;

  /** Wraps a loaded BPF_MAP_TYPE_STACK_TRACE map. */
  constructor(readonly map: BpfMap) {
    if (map.type !== MapType.STACK_TRACE) throw new BpfError(`stack map ${map.name}`, 22, `map type ${map.type} is not BPF_MAP_TYPE_STACK_TRACE`);
    if (map.keySize !== 4 || map.valueSize % 8 !== 0 || map.valueSize === 0) throw new BpfError(`stack map ${map.name}`, 22, `key size ${map.keySize} / value size ${map.valueSize} (expected 4 / a multiple of 8)`);
    this.depth = map.valueSize / 8;
    this.buf = new BigUint64Array(this.depth);
  }

  /**
   * The instruction pointers of stack `id`, innermost first; undefined when the id is absent
   * or negative (bpf_get_stackid failed: see stackIdError).
   */
  read(id: number): bigint[] | undefined {
    if (id < 0) return undefined;
    if (!this.map.lookup(new Uint32Array([id]), this.buf)) return undefined;
    const out: bigint[] = [];
    for (let i = 0; i < this.depth && this.buf[i] !== 0n; i++) out.push(this.buf[i]!);
    return out;
  }

  /** Every stack id present. */
  ids(): number[] {
    return this.map.keys().map((k) => new DataView(k.buffer, k.byteOffset, 4).getUint32(0, true));
  }

  /** Removes stack `id`; false when absent. */
  delete(id: number): boolean {
    return this.map.delete(new Uint32Array([id]));
  }

  /** Removes every stack (between profiling periods). Returns how many were removed. */
  clear(): number {
    let n = 0;
    for (const id of this.ids()) if (this.delete(id)) n++;
    return n;
  }
}

/** Why bpf_get_stackid returned the negative `id` (e.g. "EFAULT": a user-mode sample has no kernel stack). */
export function stackIdError(id: number): string | undefined {
  return id < 0 ? errnoName(-id) : undefined;
}

export interface MapsEntry {
  start: bigint;
  end: bigint;
  perms: string;
  /** File offset of `start`. */
  offset: bigint;
  inode: number;
  /** Path inside the process's mount namespace ("" for anonymous mappings). */
  path: string;
}

/** Parses /proc/<pid>/maps text. @throws Error naming the malformed line */
export function parseProcMaps(text: string): MapsEntry[] {
  const out: MapsEntry[] = [];
  for (const line of text.split("\n")) {
    if (!line) continue;
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ (\d+)\s*(.*)$/.exec(line);
    if (!m) throw new Error(`malformed /proc/<pid>/maps line: ${JSON.stringify(line)}`);
    out.push({ start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[2]}`), perms: m[3]!, offset: BigInt(`0x${m[4]}`), inode: Number(m[5]), path: m[6]!.trim() });
  }
  return out;
}

/** The file and file offset behind user address `ip`, or undefined (anonymous or unmapped). */
export function resolveUserAddress(maps: readonly MapsEntry[], ip: bigint): { path: string; fileOffset: number } | undefined {
  for (const e of maps) {
    if (ip >= e.start && ip < e.end) {
      if (!e.path.startsWith("/") || e.inode === 0) return undefined;
      return { path: e.path, fileOffset: Number(ip - e.start + e.offset) };
    }
  }
  return undefined;
}
