// What symbolization needs from an ELF file beyond its symbols (src/libbpf/elf.ts): whether
// it still has a .symtab, its GNU build-id and its .gnu_debuglink, and where its separate
// debug file is (/usr/lib/debug/.build-id/xx/yyyy.debug, then the debuglink beside the
// binary, in its .debug/ and under /usr/lib/debug). Only headers and these small sections
// are read. Malformed input is an ElfDebugError naming the file and what is wrong.

export class ElfDebugError extends Error {
  readonly code = "EELFDEBUG";
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`ELF ${path}: ${reason}`);
    this.name = "ElfDebugError";
  }
}

export interface ElfDebugInfo {
  readonly hasSymtab: boolean;
  /** Lower-case hex, or "" when the file has no NT_GNU_BUILD_ID note. */
  readonly buildId: string;
  /** The file name in .gnu_debuglink, or "". */
  readonly debuglink: string;
  /** Where .gopclntab is in the file (a Go binary), if it has one. */
  readonly gopclntab?: { readonly offset: number; readonly size: number };
  /** sh_addr of .text (0 when there is none): Go's function offsets count from it. */
  readonly textAddr: number;
}

const SHT_SYMTAB = 2;
const SHT_NOTE = 7;
const NT_GNU_BUILD_ID = 3;
const MAX_SECTIONS = 4096;
const MAX_SMALL_SECTION = 1 << 16;

type ReadAt = (off: number, len: number) => Promise<Uint8Array>;

/** Reads the debug facts of the ELF64 little-endian file at `path`. @throws ElfDebugError */
export async function readElfDebugInfo(path: string): Promise<ElfDebugInfo> {
  const file = Bun.file(path);
  const size = file.size;
  const readAt: ReadAt = async (off, len) => {
    if (off < 0 || len < 0 || off + len > size) throw new ElfDebugError(path, `${len} bytes at offset ${off} lie outside the file (${size} bytes)`);
    return new Uint8Array(await file.slice(off, off + len).arrayBuffer());
  };
  if (size < 64) throw new ElfDebugError(path, `too short for an ELF header (${size} bytes)`);
  const h = new DataView((await readAt(0, 64)).buffer);
  if (h.getUint32(0, false) !== 0x7f454c46) throw new ElfDebugError(path, "not an ELF file (bad magic)");
  if (h.getUint8(4) !== 2 || h.getUint8(5) !== 1) throw new ElfDebugError(path, "not a 64-bit little-endian ELF");
  const shoff = Number(h.getBigUint64(0x28, true));
  const shentsize = h.getUint16(0x3a, true);
  const shnum = h.getUint16(0x3c, true);
  const shstrndx = h.getUint16(0x3e, true);
  if (shnum === 0) return { hasSymtab: false, buildId: "", debuglink: "", textAddr: 0 };
  if (shentsize !== 64 || shnum > MAX_SECTIONS) throw new ElfDebugError(path, `section header table: ${shnum} entries of ${shentsize} bytes`);
  if (shstrndx >= shnum) throw new ElfDebugError(path, `e_shstrndx ${shstrndx} out of range (${shnum} sections)`);
  const sh = new DataView((await readAt(shoff, shnum * 64)).buffer);
  const sec = (i: number) => ({
    name: sh.getUint32(i * 64, true),
    type: sh.getUint32(i * 64 + 4, true),
    offset: Number(sh.getBigUint64(i * 64 + 0x18, true)),
    size: Number(sh.getBigUint64(i * 64 + 0x20, true)),
    addr: Number(sh.getBigUint64(i * 64 + 0x10, true)),
  });
  const strtab = sec(shstrndx);
  if (strtab.size > 1 << 20) throw new ElfDebugError(path, `section name table of ${strtab.size} bytes`);
  const names = await readAt(strtab.offset, strtab.size);
  const nameOf = (off: number) => {
    if (off >= names.length) throw new ElfDebugError(path, `section name offset ${off} outside the name table`);
    const end = names.indexOf(0, off);
    return Buffer.from(names.subarray(off, end < 0 ? names.length : end)).toString("latin1");
  };
  let hasSymtab = false;
  let buildId = "";
  let debuglink = "";
  let gopclntab: { offset: number; size: number } | undefined;
  let textAddr = 0;
  for (let i = 0; i < shnum; i++) {
    const s = sec(i);
    if (s.type === SHT_SYMTAB && s.size > 0) hasSymtab = true;
    const name = nameOf(s.name);
    if (s.type === SHT_NOTE && name === ".note.gnu.build-id" && s.size <= MAX_SMALL_SECTION) buildId = parseBuildIdNote(path, await readAt(s.offset, s.size));
    if (name === ".text") textAddr = s.addr;
    if (name === ".gopclntab" && s.type !== 8 /* SHT_NOBITS */ && s.size > 0) {
      if (s.offset + s.size > size) throw new ElfDebugError(path, `.gopclntab (${s.size} bytes at ${s.offset}) lies outside the file`);
      gopclntab = { offset: s.offset, size: s.size };
    }
    if (name === ".gnu_debuglink" && s.size <= MAX_SMALL_SECTION) {
      const b = await readAt(s.offset, s.size);
      const end = b.indexOf(0);
      debuglink = Buffer.from(b.subarray(0, end < 0 ? b.length : end)).toString("latin1");
      if (debuglink.includes("/")) throw new ElfDebugError(path, `.gnu_debuglink names a path (${JSON.stringify(debuglink)}), not a file name`);
    }
  }
  return { hasSymtab, buildId, debuglink, gopclntab, textAddr };
}

/** The bytes of a section found by readElfDebugInfo. */
export async function readSection(path: string, at: { offset: number; size: number }): Promise<Uint8Array> {
  return new Uint8Array(await Bun.file(path).slice(at.offset, at.offset + at.size).arrayBuffer());
}

/** The build-id of a .note.gnu.build-id section's bytes (hex), or "" when there is none. @throws ElfDebugError */
export function parseBuildIdNote(path: string, b: Uint8Array): string {
  const d = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let o = 0;
  while (o + 12 <= b.length) {
    const namesz = d.getUint32(o, true);
    const descsz = d.getUint32(o + 4, true);
    const type = d.getUint32(o + 8, true);
    const nameEnd = o + 12 + ((namesz + 3) & ~3);
    const descEnd = nameEnd + ((descsz + 3) & ~3);
    if (descEnd > b.length) throw new ElfDebugError(path, `note at offset ${o} runs past its section`);
    const name = Buffer.from(b.subarray(o + 12, o + 12 + Math.max(0, namesz - 1))).toString("latin1");
    if (type === NT_GNU_BUILD_ID && name === "GNU") return Buffer.from(b.subarray(nameEnd, nameEnd + descsz)).toString("hex");
    o = descEnd;
  }
  return "";
}

/** Where the separate debug file of a binary may be, in the order they are tried (paths inside its root). */
export function debugFileCandidates(binaryPath: string, info: ElfDebugInfo, debugDir = "/usr/lib/debug"): string[] {
  const out: string[] = [];
  if (info.buildId.length > 2) out.push(`${debugDir}/.build-id/${info.buildId.slice(0, 2)}/${info.buildId.slice(2)}.debug`);
  if (info.debuglink) {
    const dir = binaryPath.slice(0, binaryPath.lastIndexOf("/")) || "";
    out.push(`${dir}/${info.debuglink}`, `${dir}/.debug/${info.debuglink}`, `${debugDir}${dir}/${info.debuglink}`);
  }
  return out.filter((p) => p !== binaryPath);
}
