// USDT (SystemTap SDT) probes of an ELF64 file: the NT_STAPSDT notes of `.note.stapsdt`,
// each a provider, a name, the probe site's address and, when the probe is guarded by one,
// the address of its semaphore (a u16 counter the program tests before it evaluates the
// probe's arguments: the kernel increments it while a uprobe with that reference-counter
// offset is attached). Addresses are turned into file offsets, what a uprobe takes. Only
// the headers, the section names and the note section are read. Malformed input is an
// ElfError naming the file and what is wrong.
import { type ElfReader, type ElfSection, readElf } from "./elf.ts";

export interface UsdtProbe {
  provider: string;
  name: string;
  /** File offset of the probe site (the uprobe's offset). */
  offset: number;
  /** File offset of the semaphore (the uprobe's ref_ctr_offset); 0 when the probe has none. */
  semaphoreOffset: number;
  /** The argument specification, as written by the compiler ("-4@112(%rsp)"). */
  args: string;
}

const SHT_NOTE = 7;
const SHT_NOBITS = 8;
const NT_STAPSDT = 3;
const MAX_NOTES_BYTES = 16 << 20;

/** The USDT probes of the ELF64 little-endian file at `path` (none: an empty list). @throws ElfError */
export function readUsdtProbes(path: string): UsdtProbe[] {
  return readElf(path, parseNotes);
}

function parseNotes({ header: h, fail, readAt, u64 }: ElfReader): UsdtProbe[] {
  const shoff = u64(h, 0x28, "e_shoff");
  const shentsize = h.getUint16(0x3a, true);
  const shnum = h.getUint16(0x3c, true);
  const shstrndx = h.getUint16(0x3e, true);
  if (shnum === 0) return [];
  if (shentsize !== 64) fail(`e_shentsize ${shentsize} (expected 64)`);
  if (shstrndx >= shnum) fail(`e_shstrndx ${shstrndx} out of range (${shnum} sections)`);
  const sh = readAt(shoff, shnum * 64, "section headers");
  const raw = (i: number) => ({ nameOff: sh.getUint32(i * 64, true), type: sh.getUint32(i * 64 + 4, true), addr: u64(sh, i * 64 + 0x10, "sh_addr"), offset: u64(sh, i * 64 + 0x18, "sh_offset"), size: u64(sh, i * 64 + 0x20, "sh_size") });
  const strs = raw(shstrndx);
  const names = new Uint8Array(readAt(strs.offset, strs.size, "section name table").buffer);
  const sections: ElfSection[] = [];
  for (let i = 0; i < shnum; i++) {
    const r = raw(i);
    if (r.nameOff >= names.length) fail(`section ${i} name offset ${r.nameOff} outside the section name table`);
    let end = names.indexOf(0, r.nameOff);
    if (end < 0) end = names.length;
    sections.push({ name: Buffer.from(names.subarray(r.nameOff, end)).toString("latin1"), type: r.type, addr: r.addr, offset: r.offset, size: r.size });
  }
  const notes = sections.find((s) => s.name === ".note.stapsdt" && s.type === SHT_NOTE);
  if (!notes) return [];
  if (notes.size > MAX_NOTES_BYTES) fail(`.note.stapsdt is ${notes.size} bytes (more than ${MAX_NOTES_BYTES})`);
  const base = sections.find((s) => s.name === ".stapsdt.base");
  const fileOffsetOf = (addr: number, what: string): number => {
    const s = sections.find((x) => x.type !== SHT_NOBITS && x.addr !== 0 && addr >= x.addr && addr < x.addr + x.size);
    if (!s) return fail(`${what} 0x${addr.toString(16)} is in no section with file contents`);
    return addr - s.addr + s.offset;
  };
  const d = readAt(notes.offset, notes.size, ".note.stapsdt");
  const bytes = new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
  const cstr = (from: number, limit: number): [string, number] => {
    const end = bytes.indexOf(0, from);
    if (end < 0 || end >= limit) fail("unterminated string in a stapsdt note");
    return [Buffer.from(bytes.subarray(from, end)).toString("latin1"), end + 1];
  };
  const align4 = (n: number) => (n + 3) & ~3;
  const out: UsdtProbe[] = [];
  for (let o = 0; o + 12 <= d.byteLength; ) {
    const namesz = d.getUint32(o, true);
    const descsz = d.getUint32(o + 4, true);
    const type = d.getUint32(o + 8, true);
    const descAt = o + 12 + align4(namesz);
    const next = descAt + align4(descsz);
    if (next > d.byteLength) fail(`a note at offset ${o} of .note.stapsdt runs past its end`);
    const owner = Buffer.from(bytes.subarray(o + 12, o + 12 + Math.max(0, namesz - 1))).toString("latin1");
    if (type === NT_STAPSDT && owner === "stapsdt") {
      if (descsz < 24 + 3) fail(`a stapsdt note at offset ${o} is too short (${descsz} bytes)`);
      let pc = u64(d, descAt, "probe address");
      const noteBase = u64(d, descAt + 8, "probe base");
      const sema = u64(d, descAt + 16, "semaphore address");
      // A prelinked file moved its sections: the base note records where .stapsdt.base was.
      if (base && noteBase) pc += base.addr - noteBase;
      const limit = descAt + descsz;
      const [provider, a] = cstr(descAt + 24, limit);
      const [name, b] = cstr(a, limit);
      const [args] = cstr(b, limit);
      out.push({ provider, name, offset: fileOffsetOf(pc, `probe ${provider}:${name} address`), semaphoreOffset: sema ? fileOffsetOf(sema, `probe ${provider}:${name} semaphore`) : 0, args });
    }
    o = next;
  }
  return out;
}
