// The function symbols of one binary, compact (addresses and sizes in typed arrays, names
// in one byte buffer), with the binary's PT_LOAD segments to turn a file offset from
// /proc/<pid>/maps into the address the symbols use. Built from src/libbpf/elf.ts's
// reader; the symbols may come from a separate debug file of the same build.
import type { ElfFile, ElfSegment } from "../../libbpf/elf.ts";
import { demangle } from "./demangle.ts";
import { floorIndex, packedName } from "./sorted-names.ts";

export class BinarySymbols {
  private constructor(
    readonly segments: readonly ElfSegment[],
    private readonly addrs: Float64Array,
    private readonly sizes: Float64Array,
    private readonly nameStart: Uint32Array,
    private readonly names: Uint8Array,
  ) {}

  /** `binary` gives the segments; `symbolsFrom` (the binary itself or its debug file) the functions. */
  static of(binary: ElfFile, symbolsFrom: ElfFile = binary): BinarySymbols {
    return BinarySymbols.table(binary.segments, symbolsFrom.functions);
  }

  /** From functions sorted by address (e.g. a Go binary's .gopclntab). */
  static table(segments: readonly ElfSegment[], fns: readonly { value: number; size: number; name: string }[]): BinarySymbols {
    const enc = new TextEncoder();
    // Symbol versions ("clock_nanosleep@@GLIBC_2.17") are not part of the function's name;
    // C++ and Rust names are shown demangled.
    const encoded = fns.map((f) => enc.encode(demangle(f.name.replace(/@.*$/, ""))));
    const buf = new Uint8Array(encoded.reduce((s, e) => s + e.length, 0));
    const starts = new Uint32Array(fns.length + 1);
    const addrs = new Float64Array(fns.length);
    const sizes = new Float64Array(fns.length);
    let off = 0;
    for (let i = 0; i < fns.length; i++) {
      addrs[i] = fns[i]!.value;
      sizes[i] = fns[i]!.size;
      starts[i] = off;
      buf.set(encoded[i]!, off);
      off += encoded[i]!.length;
    }
    starts[fns.length] = off;
    return new BinarySymbols(segments.map((s) => ({ ...s })), addrs, sizes, starts, buf);
  }

  get count(): number {
    return this.addrs.length;
  }

  /** Virtual address of a file offset, or undefined when no loadable segment holds it. */
  vaddrOf(fileOffset: number): number | undefined {
    for (const s of this.segments) if (fileOffset >= s.offset && fileOffset < s.offset + s.filesz) return fileOffset - s.offset + s.vaddr;
    return undefined;
  }

  /** The function holding `vaddr`, or undefined. */
  lookup(vaddr: number): string | undefined {
    const best = floorIndex(this.addrs, vaddr);
    if (best < 0) return undefined;
    const size = this.sizes[best]!;
    if (size > 0 && vaddr >= this.addrs[best]! + size) return undefined;
    return packedName(this.names, this.nameStart, best);
  }
}
