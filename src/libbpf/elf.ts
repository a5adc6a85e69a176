// A small validated ELF64 reader for uprobes and user-stack symbolization: function symbols
// from .symtab and .dynsym, and the mapping between virtual addresses and file offsets
// through the PT_LOAD program headers. Only the headers and symbol tables are read (not the
// whole file). Anything malformed is an ElfError naming the file and what is wrong.
import { closeSync, fstatSync, openSync, readSync } from "node:fs";

/** A file that is not a usable ELF64 little-endian object. */
export class ElfError extends Error {
  readonly code = "EELF";
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`ELF ${path}: ${reason}`);
    this.name = "ElfError";
  }
}

export interface ElfSymbol {
  name: string;
  /** st_value: virtual address. */
  value: number;
  size: number;
  /** STT_*: 1 object, 2 function, 10 ifunc. */
  type: number;
  /** STB_*: 0 local, 1 global, 2 weak. */
  bind: number;
}

export interface ElfSection {
  name: string;
  /** SHT_*: 8 is NOBITS (no bytes in the file). */
  type: number;
  addr: number;
  offset: number;
  size: number;
}

export interface ElfSegment {
  offset: number;
  vaddr: number;
  filesz: number;
  memsz: number;
  flags: number;
}

const PT_LOAD = 1;
const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;
const SHT_NOBITS = 8;
const STT_FUNC = 2;
const STT_GNU_IFUNC = 10;
const MAX_SYMBOLS = 4_000_000;

export class ElfFile {
  /** ET_EXEC (2) or ET_DYN (3, PIE executables and shared libraries). */
  readonly type: number;
  readonly machine: number;
  readonly segments: readonly ElfSegment[];
  /** Function symbols (FUNC and IFUNC with an address), sorted by address. */
  readonly functions: readonly ElfSymbol[];
  /** Section headers with their names (empty when the file has none). */
  readonly sections: readonly ElfSection[];
  private readonly byName = new Map<string, ElfSymbol>();

  /** Use ElfFile.open. */
  constructor(
    readonly path: string,
    type: number,
    machine: number,
    segments: ElfSegment[],
    functions: ElfSymbol[],
    sections: ElfSection[] = [],
  ) {
    this.sections = sections;
    this.type = type;
    this.machine = machine;
    this.segments = segments;
    this.functions = functions.sort((a, b) => a.value - b.value);
    // Global definitions win over local ones of the same name.
    for (const s of this.functions) {
      const prev = this.byName.get(s.name);
      if (!prev || (prev.bind === 0 && s.bind !== 0)) this.byName.set(s.name, s);
    }
  }

  /** Reads and validates `path`. @throws ElfError */
  static open(path: string): ElfFile {
    return readElf(path, parse);
  }

  /** The function named `name` (a global definition if there is one). */
  symbol(name: string): ElfSymbol | undefined {
    return this.byName.get(name);
  }

  /** The section named `name` (e.g. ".gopclntab"), if the file has it. */
  section(name: string): ElfSection | undefined {
    return this.sections.find((s) => s.name === name);
  }

  /**
   * `len` bytes of the file at `offset` (re-reads the file; sizes are the caller's bound).
   * @throws ElfError when the range lies outside the file
   */
  readAt(offset: number, len: number): Uint8Array {
    const fd = openSync(this.path, "r");
    try {
      const size = fstatSync(fd).size;
      if (offset < 0 || len < 0 || offset + len > size) throw new ElfError(this.path, `${len} bytes at offset ${offset} lie outside the file (${size} bytes)`);
      const b = new Uint8Array(len);
      if (len > 0 && readSync(fd, b, 0, len, offset) !== len) throw new ElfError(this.path, `short read of ${len} bytes at offset ${offset}`);
      return b;
    } finally {
      closeSync(fd);
    }
  }

  /** The bytes of section `name` (undefined when absent or NOBITS). @throws ElfError */
  readSection(name: string): Uint8Array | undefined {
    const s = this.section(name);
    if (!s || s.type === SHT_NOBITS) return undefined;
    return this.readAt(s.offset, s.size);
  }

  /** File offset of virtual address `vaddr` (what a uprobe takes). @throws ElfError when no PT_LOAD segment holds it */
  fileOffset(vaddr: number): number {
    for (const s of this.segments) {
      if (vaddr >= s.vaddr && vaddr < s.vaddr + s.filesz) return vaddr - s.vaddr + s.offset;
    }
    throw new ElfError(this.path, `address 0x${vaddr.toString(16)} is in no loadable segment`);
  }

  /** Virtual address of file offset `off` (from /proc/<pid>/maps), or undefined. */
  vaddrOf(off: number): number | undefined {
    for (const s of this.segments) {
      if (off >= s.offset && off < s.offset + s.filesz) return off - s.offset + s.vaddr;
    }
    return undefined;
  }

  /** The function containing `vaddr` and the offset into it, or undefined. */
  symbolize(vaddr: number): { name: string; offset: number } | undefined {
    const f = this.functions;
    let lo = 0;
    let hi = f.length - 1;
    let best = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (f[mid]!.value <= vaddr) {
        best = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (best < 0) return undefined;
    const s = f[best]!;
    if (s.size > 0 && vaddr >= s.value + s.size) return undefined;
    return { name: s.name, offset: vaddr - s.value };
  }
}

/** Bounds-checked reads of one open ELF64 little-endian file; every failure is an ElfError naming it. */
export interface ElfReader {
  readonly path: string;
  readonly fileSize: number;
  /** The validated 64-byte ELF header. */
  readonly header: DataView;
  fail(reason: string): never;
  /** `len` bytes at file offset `off`; `what` names them in the error when they lie outside the file. */
  readAt(off: number, len: number, what: string): DataView;
  /** The little-endian u64 at `o` of `d`, refused above Number.MAX_SAFE_INTEGER. */
  u64(d: DataView, o: number, what: string): number;
}

/** Opens `path`, checks its ELF64 little-endian header, hands `parse` a reader over it, closes it. @throws ElfError */
export function readElf<T>(path: string, parse: (r: ElfReader) => T): T {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (e) {
    throw new ElfError(path, `cannot open: ${(e as Error).message}`);
  }
  try {
    const fileSize = fstatSync(fd).size;
    const fail = (reason: string): never => {
      throw new ElfError(path, reason);
    };
    const readAt = (off: number, len: number, what: string): DataView => {
      if (off < 0 || len < 0 || off + len > fileSize) fail(`${what} (offset ${off}, ${len} bytes) lies outside the file (${fileSize} bytes)`);
      const b = Buffer.alloc(len);
      if (len > 0 && readSync(fd, b, 0, len, off) !== len) fail(`short read of ${what}`);
      return new DataView(b.buffer, b.byteOffset, len);
    };
    const u64 = (d: DataView, o: number, what: string): number => {
      const v = d.getBigUint64(o, true);
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} 0x${v.toString(16)} is too large`);
      return Number(v);
    };
    if (fileSize < 64) fail(`too short for an ELF header (${fileSize} bytes)`);
    const header = readAt(0, 64, "ELF header");
    if (header.getUint32(0, false) !== 0x7f454c46) fail("not an ELF file (bad magic)");
    if (header.getUint8(4) !== 2) fail(`not a 64-bit ELF (EI_CLASS ${header.getUint8(4)})`);
    if (header.getUint8(5) !== 1) fail(`not little-endian (EI_DATA ${header.getUint8(5)})`);
    return parse({ path, fileSize, header, fail, readAt, u64 });
  } finally {
    closeSync(fd);
  }
}

function parse({ path, fileSize, header: h, fail, readAt, u64 }: ElfReader): ElfFile {
  const type = h.getUint16(16, true);
  if (type !== 2 && type !== 3) fail(`not an executable or shared object (e_type ${type})`);
  const machine = h.getUint16(18, true);
  const phoff = u64(h, 0x20, "e_phoff");
  const shoff = u64(h, 0x28, "e_shoff");
  const phentsize = h.getUint16(0x36, true);
  const phnum = h.getUint16(0x38, true);
  const shentsize = h.getUint16(0x3a, true);
  const shnum = h.getUint16(0x3c, true);
  if (phnum > 0 && phentsize !== 56) fail(`e_phentsize ${phentsize} (expected 56)`);
  if (shnum > 0 && shentsize !== 64) fail(`e_shentsize ${shentsize} (expected 64)`);

  const segments: ElfSegment[] = [];
  const ph = readAt(phoff, phnum * 56, "program headers");
  for (let i = 0; i < phnum; i++) {
    const o = i * 56;
    if (ph.getUint32(o, true) !== PT_LOAD) continue;
    const seg = { flags: ph.getUint32(o + 4, true), offset: u64(ph, o + 8, "p_offset"), vaddr: u64(ph, o + 0x10, "p_vaddr"), filesz: u64(ph, o + 0x20, "p_filesz"), memsz: u64(ph, o + 0x28, "p_memsz") };
    if (seg.offset + seg.filesz > fileSize) fail(`PT_LOAD segment ${i} extends past the end of the file`);
    segments.push(seg);
  }
  if (segments.length === 0) fail("no PT_LOAD segment");

  const sh = readAt(shoff, shnum * 64, "section headers");
  const section = (i: number) => {
    if (i >= shnum) fail(`section index ${i} out of range (${shnum} sections)`);
    const o = i * 64;
    return { name: sh.getUint32(o, true), type: sh.getUint32(o + 4, true), addr: u64(sh, o + 0x10, "sh_addr"), offset: u64(sh, o + 0x18, "sh_offset"), size: u64(sh, o + 0x20, "sh_size"), link: sh.getUint32(o + 0x28, true), entsize: u64(sh, o + 0x38, "sh_entsize") };
  };
  const functions: ElfSymbol[] = [];
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    if (s.type !== SHT_SYMTAB && s.type !== SHT_DYNSYM) continue;
    if (s.entsize !== 24) fail(`symbol table section ${i} has entry size ${s.entsize} (expected 24)`);
    if (s.size / 24 > MAX_SYMBOLS) fail(`symbol table section ${i} has more than ${MAX_SYMBOLS} symbols`);
    const strs = section(s.link);
    const st = readAt(s.offset, s.size - (s.size % 24), `symbol table section ${i}`);
    const names = new Uint8Array(readAt(strs.offset, strs.size, `string table section ${s.link}`).buffer);
    for (let o = 24; o + 24 <= st.byteLength; o += 24) {
      const info = st.getUint8(o + 4);
      const t = info & 0xf;
      const value = u64(st, o + 8, "st_value");
      if ((t !== STT_FUNC && t !== STT_GNU_IFUNC) || value === 0 || st.getUint16(o + 6, true) === 0) continue;
      const nameOff = st.getUint32(o, true);
      if (nameOff >= names.length) fail(`symbol name offset ${nameOff} outside string table section ${s.link}`);
      let end = names.indexOf(0, nameOff);
      if (end < 0) end = names.length;
      functions.push({ name: Buffer.from(names.subarray(nameOff, end)).toString("latin1"), value, size: u64(st, o + 16, "st_size"), type: t, bind: info >> 4 });
    }
  }
  const sections: ElfSection[] = [];
  const shstrndx = h.getUint16(0x3e, true);
  if (shnum > 0 && shstrndx !== 0 && shstrndx < shnum) {
    const strs = section(shstrndx);
    if (strs.size > 1 << 20) fail(`section name table of ${strs.size} bytes`);
    const names = new Uint8Array(readAt(strs.offset, strs.size, "section name table").buffer);
    for (let i = 0; i < shnum; i++) {
      const s = section(i);
      if (s.name >= names.length) fail(`section ${i} name offset ${s.name} outside the section name table`);
      let end = names.indexOf(0, s.name);
      if (end < 0) end = names.length;
      if (s.type !== SHT_NOBITS && s.offset + s.size > fileSize) fail(`section ${i} extends past the end of the file`);
      sections.push({ name: Buffer.from(names.subarray(s.name, end)).toString("latin1"), type: s.type, addr: s.addr, offset: s.offset, size: s.size });
    }
  }
  return new ElfFile(path, type, machine, segments, functions, sections);
}
