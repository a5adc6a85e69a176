// Go function names from a binary's .gopclntab, which survives stripping (`-ldflags=-s -w`
// and strip(1) remove .symtab, not the runtime's own table). Formats of Go 1.16-1.17
// (magic 0xfffffffa), 1.18-1.19 (0xfffffff0) and 1.20+ (0xfffffff1), little-endian,
// 64-bit. Every offset is checked against the table; anything else is a GoPclntabError.

export class GoPclntabError extends Error {
  readonly code = "EGOPCLNTAB";
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`.gopclntab of ${path}: ${reason}`);
    this.name = "GoPclntabError";
  }
}

export interface GoFunction {
  /** Link-time virtual address of the function's entry. */
  readonly value: number;
  /** Up to the next function's entry (the table is sorted). */
  readonly size: number;
  readonly name: string;
}

const MAX_FUNCS = 4_000_000;

/**
 * Parses a .gopclntab section's bytes. Go 1.18+ counts entries from the header's textStart;
 * where the linker left it 0 (recent Go), from `textAddr` (the .text section's address,
 * which is what the runtime puts there). @throws GoPclntabError
 */
export function parseGoPclntab(path: string, b: Uint8Array, textAddr = 0): GoFunction[] {
  const fail = (reason: string): never => {
    throw new GoPclntabError(path, reason);
  };
  const d = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (b.length < 16) fail(`${b.length} bytes: too short for a header`);
  const magic = d.getUint32(0, true);
  const go116 = magic === 0xfffffffa;
  const go118 = magic === 0xfffffff0 || magic === 0xfffffff1;
  if (!go116 && !go118) fail(`unknown magic 0x${magic.toString(16)} (Go 1.16 or later expected)`);
  if (d.getUint8(4) !== 0 || d.getUint8(5) !== 0) fail("bad header padding");
  const ptr = d.getUint8(7);
  if (ptr !== 8) fail(`pointer size ${ptr} (64-bit binaries only)`);
  const word = (i: number): number => {
    const o = 8 + i * 8;
    if (o + 8 > b.length) fail("header truncated");
    const v = d.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`header word ${i} too large`);
    return Number(v);
  };
  const nfunc = word(0);
  if (nfunc > MAX_FUNCS) fail(`${nfunc} functions (more than ${MAX_FUNCS})`);
  // Go 1.18+: nfunc, nfiles, textStart, funcnametab, cutab, filetab, pctab, pclntab;
  // Go 1.16: nfunc, nfiles, funcnametab, cutab, filetab, pctab, pclntab.
  const textStart = go118 ? word(2) || textAddr : 0;
  const funcnameOff = word(go118 ? 3 : 2);
  const pclnOff = word(go118 ? 7 : 6);
  const entrySize = go118 ? 8 : 16;
  if (pclnOff + (nfunc + 1) * entrySize > b.length) fail("function table runs past the section");
  const entry = (i: number): { pc: number; funcoff: number } => {
    const o = pclnOff + i * entrySize;
    if (go118) return { pc: textStart + d.getUint32(o, true), funcoff: d.getUint32(o + 4, true) };
    return { pc: Number(d.getBigUint64(o, true)), funcoff: Number(d.getBigUint64(o + 8, true)) };
  };
  const out: GoFunction[] = [];
  let next = entry(0);
  for (let i = 0; i < nfunc; i++) {
    const cur = next;
    next = entry(i + 1);
    const f = pclnOff + cur.funcoff;
    const nameAt = f + (go118 ? 4 : 8);
    if (nameAt + 4 > b.length) fail(`function ${i}: record outside the section`);
    const nameoff = d.getInt32(nameAt, true);
    const start = funcnameOff + nameoff;
    if (nameoff < 0 || start >= b.length) fail(`function ${i}: name offset ${nameoff} outside the section`);
    let end = b.indexOf(0, start);
    if (end < 0) end = b.length;
    if (next.pc < cur.pc) fail(`function ${i}: table not sorted by address`);
    out.push({ value: cur.pc, size: next.pc - cur.pc, name: Buffer.from(b.subarray(start, end)).toString("utf8") });
  }
  return out;
}
