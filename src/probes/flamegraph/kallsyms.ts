// Kernel symbols from /proc/kallsyms, compact: the text symbols' addresses in one sorted
// BigUint64Array and their names in one byte buffer (about 3 MiB for 120k symbols, where
// an array of strings costs tens of MiB). Lookups are a binary search.
import { floorIndex, packedName } from "./sorted-names.ts";

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
  static parse(text: string): { symbols: KernelSymbols; malformed: number } {
    const addrs: bigint[] = [];
    const names: string[] = [];
    let malformed = 0;
    let pos = 0;
    while (pos < text.length) {
      let end = text.indexOf("\n", pos);
      if (end < 0) end = text.length;
      const line = text.slice(pos, end);
      pos = end + 1;
      if (!line) continue;
      const a = line.indexOf(" ");
      const b = line.indexOf(" ", a + 1);
      if (a <= 0 || b !== a + 2 || !/^[0-9a-fA-F]+$/.test(line.slice(0, a))) {
        malformed++;
        continue;
      }
      const type = line[a + 1]!;
      if (type !== "t" && type !== "T" && type !== "w" && type !== "W") continue;
      const tab = line.indexOf("\t", b + 1); // module symbols end with "\t[module]"
      const name = tab < 0 ? line.slice(b + 1) : line.slice(b + 1, tab);
      const addr = BigInt(`0x${line.slice(0, a)}`);
      if (addr === 0n || !name) continue;
      addrs.push(addr);
      names.push(name);
    }
    const order = addrs.map((_, i) => i).sort((x, y) => (addrs[x]! < addrs[y]! ? -1 : addrs[x]! > addrs[y]! ? 1 : 0));
    const enc = new TextEncoder();
    const encoded = order.map((i) => enc.encode(names[i]!));
    const total = encoded.reduce((s, e) => s + e.length, 0);
    const buf = new Uint8Array(total);
    const starts = new Uint32Array(order.length + 1);
    const sorted = new BigUint64Array(order.length);
    let off = 0;
    for (let j = 0; j < order.length; j++) {
      sorted[j] = addrs[order[j]!]!;
      starts[j] = off;
      buf.set(encoded[j]!, off);
      off += encoded[j]!.length;
    }
    starts[order.length] = off;
    return { symbols: new KernelSymbols(sorted, starts, buf), malformed };
  }

  /** The name of the function holding `addr`, or undefined below the first symbol. */
  lookup(addr: bigint): string | undefined {
    const best = floorIndex(this.addrs, addr);
    if (best < 0) return undefined;
    return packedName(this.names, this.nameStart, best);
  }
}
