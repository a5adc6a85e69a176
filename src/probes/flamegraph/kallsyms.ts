// Kernel symbols from /proc/kallsyms, compact: the text symbols' addresses in one sorted
// BigUint64Array and their names in one byte buffer (about 3 MiB for 120k symbols, where
// an array of strings costs tens of MiB). Lookups are a binary search.
import { floorIndex, packedName } from "./sorted-names.ts";

/** The value of an ASCII hex digit, or -1. */
function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** The kernel's text symbols, sorted by address. */
export class KernelSymbols {
  private constructor(
    private readonly addrs: BigUint64Array,
    private readonly nameStart: Uint32Array,
    private readonly names: Uint8Array,
  ) {}

  get size(): number {
    return this.addrs.length;
  }

  /** Bytes held (for the memory budget). */
  get bytes(): number {
    return this.addrs.byteLength + this.nameStart.byteLength + this.names.byteLength;
  }

  /**
   * Parses kallsyms text; only text symbols (t/T/w/W) are kept. All-zero addresses
   * (kptr_restrict hides them) give an empty table. Malformed lines are counted, not fatal.
   */
  static parse(text: string | Uint8Array): { symbols: KernelSymbols; malformed: number } {
    // Works on the bytes, without a string per line or per name: the file has 100k+ lines
    // and their garbage would outweigh the table itself in the agent's RSS.
    const src = typeof text === "string" ? Buffer.from(text, "latin1") : text;
    let lines = 1;
    for (let i = 0; i < src.length; i++) if (src[i] === 10) lines++;
    const hi = new Uint32Array(lines);
    const lo = new Uint32Array(lines);
    const nameFrom = new Uint32Array(lines);
    const nameTo = new Uint32Array(lines);
    let n = 0;
    let malformed = 0;
    let pos = 0;
    while (pos < src.length) {
      let end = src.indexOf(10, pos);
      if (end < 0) end = src.length;
      const line = pos;
      pos = end + 1;
      if (end === line) continue;
      // "<hex address> <type> <name>[\t[module]]"
      let i = line;
      let h = 0;
      let l = 0;
      let digits = 0;
      for (; i < end && src[i] !== 32; i++, digits++) {
        const d = hexDigit(src[i]!);
        if (d < 0 || digits >= 16) break;
        h = ((h << 4) | (l >>> 28)) >>> 0;
        l = ((l << 4) | d) >>> 0;
      }
      if (digits === 0 || i >= end || src[i] !== 32 || i + 2 >= end || src[i + 2] !== 32) {
        malformed++;
        continue;
      }
      const type = src[i + 1]!;
      if (type !== 116 && type !== 84 && type !== 119 && type !== 87) continue; // t T w W
      const from = i + 3;
      let to = from;
      while (to < end && src[to] !== 9) to++; // module symbols end with "\t[module]"
      if ((h === 0 && l === 0) || to === from) continue;
      hi[n] = h;
      lo[n] = l;
      nameFrom[n] = from;
      nameTo[n] = to;
      n++;
    }
    const order = new Uint32Array(n);
    for (let j = 0; j < n; j++) order[j] = j;
    order.sort((x, y) => hi[x]! - hi[y]! || lo[x]! - lo[y]!);
    let total = 0;
    for (let j = 0; j < n; j++) total += nameTo[j]! - nameFrom[j]!;
    const buf = new Uint8Array(total);
    const starts = new Uint32Array(n + 1);
    const sorted = new BigUint64Array(n);
    const word = new DataView(sorted.buffer);
    let off = 0;
    for (let j = 0; j < n; j++) {
      const k = order[j]!;
      word.setUint32(j * 8, lo[k]!, true);
      word.setUint32(j * 8 + 4, hi[k]!, true);
      starts[j] = off;
      buf.set(src.subarray(nameFrom[k]!, nameTo[k]!), off);
      off += nameTo[k]! - nameFrom[k]!;
    }
    starts[n] = off;
    return { symbols: new KernelSymbols(sorted, starts, buf), malformed };
  }

  /** The name of the function holding `addr`, or undefined below the first symbol. */
  lookup(addr: bigint): string | undefined {
    const best = floorIndex(this.addrs, addr);
    if (best < 0) return undefined;
    return packedName(this.names, this.nameStart, best);
  }
}
