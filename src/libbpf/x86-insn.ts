// x86-64 instruction lengths, enough to walk a function body from its entry one instruction
// at a time and find its RET instructions (uprobes at each RET stand in for uretprobes, which
// crash Go programs). Decodes legacy prefixes, REX, VEX (C4/C5), EVEX (62), XOP (8F),
// 3DNow! (0F 0F), the one-, two- and three-byte opcode maps, ModRM/SIB/displacement and
// immediates, in 64-bit mode only. Lengths are checked against objdump in x86-insn.test.ts.
// (No maintained npm package fits: the ones there are multi-megabyte WASM disassemblers,
// and only lengths are needed here.)

/** Bytes that are no x86-64 instruction (or run past the buffer). */
export class X86DecodeError extends Error {
  readonly code = "EX86DECODE";
  constructor(
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`x86-64 decode at offset 0x${offset.toString(16)}: ${reason}`);
    this.name = "X86DecodeError";
  }
}

const MAX_INSN = 15;

/** One bit per opcode: a 256-bit set built from ranges. */
function byteSet(...items: (number | [number, number])[]): Uint8Array {
  const s = new Uint8Array(256);
  for (const it of items) {
    const [a, b] = typeof it === "number" ? [it, it] : it;
    for (let i = a; i <= b; i++) s[i] = 1;
  }
  return s;
}

// One-byte map (64-bit mode).
const ONE_MODRM = byteSet([0x00, 0x03], [0x08, 0x0b], [0x10, 0x13], [0x18, 0x1b], [0x20, 0x23], [0x28, 0x2b], [0x30, 0x33], [0x38, 0x3b], 0x63, 0x69, 0x6b, [0x80, 0x8f], 0xc0, 0xc1, 0xc6, 0xc7, [0xd0, 0xd3], [0xd8, 0xdf], 0xf6, 0xf7, 0xfe, 0xff);
const ONE_IMM8 = byteSet(0x04, 0x0c, 0x14, 0x1c, 0x24, 0x2c, 0x34, 0x3c, 0x6a, 0x6b, [0x70, 0x7f], 0x80, 0x83, 0xa8, [0xb0, 0xb7], 0xc0, 0xc1, 0xc6, 0xcd, [0xe0, 0xe7], 0xeb);
const ONE_IMMZ = byteSet(0x05, 0x0d, 0x15, 0x1d, 0x25, 0x2d, 0x35, 0x3d, 0x68, 0x69, 0x81, 0xa9, 0xc7, 0xe8, 0xe9);
const ONE_INVALID = byteSet(0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37, 0x3f, 0x60, 0x61, 0x82, 0x9a, 0xce, 0xd4, 0xd5, 0xd6, 0xea);

// Two-byte map 0F xx.
const TWO_NO_MODRM = byteSet(0x05, 0x06, 0x07, 0x08, 0x09, 0x0b, 0x0e, [0x30, 0x37], 0x77, [0x80, 0x8f], 0xa0, 0xa1, 0xa2, 0xa8, 0xa9, 0xaa, [0xc8, 0xcf]);
const TWO_IMM8 = byteSet([0x70, 0x73], 0xa4, 0xac, 0xba, 0xc2, 0xc4, 0xc5, 0xc6);
const TWO_INVALID = byteSet(0x04, 0x0a, 0x0c, [0x24, 0x27], 0x36, 0x39, [0x3b, 0x3f]);

// VEX/EVEX map 1 (0F) opcodes with an imm8.
const VEX1_IMM8 = byteSet([0x70, 0x73], 0xc2, 0xc4, 0xc5, 0xc6);

const LEGACY_PREFIX = byteSet(0xf0, 0xf2, 0xf3, 0x2e, 0x36, 0x3e, 0x26, 0x64, 0x65, 0x66, 0x67);

/** What one instruction is made of (enough for lengths and RETs). */
export interface X86Insn {
  /** Total length in bytes, prefixes included. */
  length: number;
  /** Offset of the opcode byte after prefixes / REX / VEX/EVEX/XOP payload (the last escape byte excluded). */
  opcodeAt: number;
  /** 0 one-byte map, 1 0F, 2 0F38, 3 0F3A, other values the VEX/EVEX/XOP map number (+0x100 for XOP). */
  map: number;
  opcode: number;
}

/**
 * Decodes the instruction at `code[at]`.
 * @throws X86DecodeError on an invalid opcode or when the instruction runs past `code`
 */
export function decodeInsn(code: Uint8Array, at: number): X86Insn {
  const end = Math.min(code.length, at + MAX_INSN);
  let p = at;
  const byte = (): number => {
    if (p >= end) throw new X86DecodeError(at, p >= code.length ? "instruction runs past the end of the code" : "longer than 15 bytes");
    return code[p++]!;
  };
  let opsize16 = false;
  let addr32 = false;
  let rep = 0; // last of F2/F3
  let b = byte();
  while (LEGACY_PREFIX[b]) {
    if (b === 0x66) opsize16 = true;
    else if (b === 0x67) addr32 = true;
    else if (b === 0xf2 || b === 0xf3) rep = b;
    b = byte();
  }
  let rexW = false;
  if ((b & 0xf0) === 0x40) {
    rexW = (b & 8) !== 0;
    b = byte();
  }
  const modrmLength = (): void => {
    const modrm = byte();
    const mod = modrm >> 6;
    const rm = modrm & 7;
    if (mod === 3) return;
    if (rm === 4) {
      const sib = byte();
      if (mod === 0 && (sib & 7) === 5) p += 4;
    } else if (mod === 0 && rm === 5) p += 4; // RIP-relative (or disp32 with 67)
    if (mod === 1) p += 1;
    else if (mod === 2) p += 4;
  };
  const immz = (): number => (opsize16 && !rexW ? 2 : 4);
  const finish = (opcodeAt: number, map: number, opcode: number): X86Insn => {
    if (p > end) throw new X86DecodeError(at, p > code.length ? "instruction runs past the end of the code" : "longer than 15 bytes");
    return { length: p - at, opcodeAt, map, opcode };
  };

  // VEX (C4 3-byte, C5 2-byte) and EVEX (62): always so in 64-bit mode.
  if (b === 0xc4 || b === 0xc5 || b === 0x62) {
    let map: number;
    if (b === 0xc5) {
      byte();
      map = 1;
    } else if (b === 0xc4) {
      map = byte() & 0x1f;
      byte();
    } else {
      map = byte() & 0x07;
      byte();
      byte();
    }
    const opAt = p;
    const op = byte();
    if (map === 0 || map > 7 || (b !== 0x62 && map > 3)) throw new X86DecodeError(at, `${b === 0x62 ? "EVEX" : "VEX"} map ${map} is not defined`);
    if (!(map === 1 && op === 0x77 && b !== 0x62)) modrmLength(); // vzeroupper/vzeroall have no ModRM
    if (map === 3 || (map === 1 && VEX1_IMM8[op])) p += 1;
    return finish(opAt, map, op);
  }
  // XOP (AMD): 8F with a map field >= 8; 8F /0 with a ModRM is POP.
  if (b === 0x8f && p < end && (code[p]! & 0x1f) >= 8) {
    const map = byte() & 0x1f;
    byte();
    const opAt = p;
    const op = byte();
    if (map < 8 || map > 10) throw new X86DecodeError(at, `XOP map ${map} is not defined`);
    modrmLength();
    if (map === 8) p += 1;
    else if (map === 10) p += 4;
    return finish(opAt, 0x100 + map, op);
  }

  if (b !== 0x0f) {
    const opAt = p - 1;
    if (ONE_INVALID[b]) throw new X86DecodeError(at, `opcode 0x${b.toString(16)} is invalid in 64-bit mode`);
    let modrmAt = -1;
    if (ONE_MODRM[b]) {
      modrmAt = p;
      modrmLength();
    }
    if (ONE_IMM8[b]) p += 1;
    if (ONE_IMMZ[b]) p += immz();
    if (b >= 0xb8 && b <= 0xbf) p += rexW ? 8 : immz();
    else if (b >= 0xa0 && b <= 0xa3) p += addr32 ? 4 : 8; // moffs
    else if (b === 0xc2 || b === 0xca) p += 2;
    else if (b === 0xc8) p += 3; // enter iw, ib
    else if ((b === 0xf6 || b === 0xf7) && ((code[modrmAt]! >> 3) & 7) < 2) p += b === 0xf6 ? 1 : immz(); // test r/m, imm
    return finish(opAt, 0, b);
  }

  const op2At = p;
  const op2 = byte();
  if (op2 === 0x38 || op2 === 0x3a) {
    const opAt = p;
    const op = byte();
    modrmLength();
    if (op2 === 0x3a) p += 1;
    return finish(opAt, op2 === 0x38 ? 2 : 3, op);
  }
  if (op2 === 0x0f) {
    // 3DNow!: 0F 0F ModRM imm8 (the imm8 is the real opcode).
    modrmLength();
    p += 1;
    return finish(op2At, 1, op2);
  }
  if (TWO_INVALID[op2]) throw new X86DecodeError(at, `opcode 0F 0x${op2.toString(16)} is not defined`);
  if (!TWO_NO_MODRM[op2]) modrmLength();
  if (TWO_IMM8[op2]) p += 1;
  if (op2 >= 0x80 && op2 <= 0x8f) p += 4; // jcc rel32 (66 does not shorten it in 64-bit mode)
  if (op2 === 0x78 && (opsize16 || rep === 0xf2)) p += 2; // EXTRQ/INSERTQ imm8, imm8 (VMREAD otherwise)
  return finish(op2At, 1, op2);
}

/** Offsets of every instruction in `code` (a function body starting at an instruction). @throws X86DecodeError */
export function instructionOffsets(code: Uint8Array): number[] {
  const out: number[] = [];
  for (let at = 0; at < code.length; ) {
    out.push(at);
    at += decodeInsn(code, at).length;
  }
  return out;
}

/**
 * Offsets of every near RET (C3, C2 iw, with any prefixes: `rep ret`, `bnd ret`) at an
 * instruction boundary of a function body that starts at `code[0]`. Decoding stops at the
 * end of `code`; an undecodable byte is an error (the caller must not guess where RETs are).
 * @throws X86DecodeError
 */
export function retOffsets(code: Uint8Array): number[] {
  const out: number[] = [];
  for (let at = 0; at < code.length; ) {
    const insn = decodeInsn(code, at);
    if (insn.map === 0 && (insn.opcode === 0xc3 || insn.opcode === 0xc2)) out.push(at);
    at += insn.length;
  }
  return out;
}
