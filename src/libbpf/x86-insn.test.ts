// The x86-64 length decoder against objdump on every instruction of real binaries: a Go
// program (crypto/tls inside), libc, libssl and libcrypto (AVX2/AVX-512 code). objdump's own
// bytes per function are decoded from the function's first instruction; every length must
// equal objdump's. Where objdump prints "(bad)" (data in .text) the rest of that function is
// not compared (likewise after a lone REX line). Hand-made cases pin the encodings objdump-checked code may not contain.
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { goBuild, goPath } from "./testdata/go.ts";
import { decodeInsn, instructionOffsets, retOffsets, X86DecodeError } from "./x86-insn.ts";

const objdump = Bun.which("objdump");
const go = goPath();
if (!objdump) console.warn("x86-insn.test: objdump comparisons skipped: objdump (binutils) not installed");
if (!go) console.warn("x86-insn.test: the Go binary comparison is skipped: no go toolchain");

interface Fn {
  name: string;
  lengths: number[];
  bytes: number[];
}

/** Every symbol's instructions as objdump decodes them, cut at its first "(bad)". */
function objdumpFunctions(file: string): Fn[] {
  const r = Bun.spawnSync([objdump!, "-d", "-z", "--insn-width=15", file], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`objdump ${file}: ${r.stderr.toString()}`);
  const fns: Fn[] = [];
  let cur: (Fn & { bad: boolean }) | undefined;
  for (const line of r.stdout.toString().split("\n")) {
    const head = /^[0-9a-f]+ <(.+)>:$/.exec(line);
    if (head) {
      cur = { name: head[1]!, lengths: [], bytes: [], bad: false };
      fns.push(cur);
      continue;
    }
    const insn = /^\s+[0-9a-f]+:\t((?:[0-9a-f]{2} )+)\s*\t?(.*)$/.exec(line);
    if (!insn || !cur || cur.bad) continue;
    // "(bad)" and a lone REX byte shown as its own line ("rex.WRXB") are objdump's marks of
    // bytes that are no instruction (tables and strings in .text).
    if (insn[2]!.includes("(bad)") || /^rex(\.[WRXB]+)?\s*$/.test(insn[2]!)) {
      cur.bad = true;
      continue;
    }
    const bytes = insn[1]!.trim().split(" ").map((h) => parseInt(h, 16));
    cur.lengths.push(bytes.length);
    cur.bytes.push(...bytes);
  }
  return fns;
}

function compare(file: string): { instructions: number; mismatches: string[] } {
  let instructions = 0;
  const mismatches: string[] = [];
  for (const fn of objdumpFunctions(file)) {
    const code = Uint8Array.from(fn.bytes);
    let at = 0;
    for (const want of fn.lengths) {
      let got: number | string;
      try {
        got = decodeInsn(code, at).length;
      } catch (e) {
        got = (e as Error).message;
      }
      instructions++;
      if (got !== want) {
        if (mismatches.length < 10) mismatches.push(`${fn.name}+0x${at.toString(16)}: ${Buffer.from(code.subarray(at, at + want)).toString("hex")} objdump ${want}, decoder ${got}`);
        break;
      }
      at += want;
    }
  }
  return { instructions, mismatches };
}

const libdir = "/usr/lib/x86_64-linux-gnu";

describe("x86-64 instruction lengths equal objdump's", () => {
  for (const lib of ["libc.so.6", "libssl.so.3", "libcrypto.so.3"]) {
    const path = join(libdir, lib);
    test.if(!!objdump && existsSync(path))(`every instruction of ${lib}`, () => {
      const r = compare(path);
      console.log(`${lib}: ${r.instructions} instructions compared`);
      expect(r.mismatches).toEqual([]);
      expect(r.instructions).toBeGreaterThan(50_000);
    }, 60_000);
  }

  test.if(!!objdump && !!go)("every instruction of a Go crypto/tls program", () => {
    const exe = goBuild(join(import.meta.dir, "..", "probes", "l7", "tls", "testdata", "gotls"), "gotls");
    const r = compare(exe);
    console.log(`gotls: ${r.instructions} instructions compared`);
    expect(r.mismatches).toEqual([]);
    expect(r.instructions).toBeGreaterThan(300_000);
  }, 120_000);
});

describe("x86-64 decoder", () => {
  const len = (hex: string) => decodeInsn(Buffer.from(hex.replace(/ /g, ""), "hex"), 0).length;

  test("prefixes, REX.W immediates, moffs, VEX/EVEX/XOP and 3DNow! forms", () => {
    expect(len("48 b8 0102030405060708")).toBe(10); // movabs rax, imm64
    expect(len("66 b8 0102")).toBe(4); // mov ax, imm16
    expect(len("66 48 c7 c0 01020304")).toBe(8); // REX.W wins over 66
    expect(len("48 a1 0102030405060708")).toBe(10); // movabs rax, moffs64
    expect(len("67 a1 01020304")).toBe(6); // 32-bit moffs
    expect(len("f6 c1 07")).toBe(3); // test cl, 7
    expect(len("f6 d1")).toBe(2); // not cl: no immediate
    expect(len("f7 c1 01020304")).toBe(6);
    expect(len("c8 1000 01")).toBe(4); // enter
    expect(len("c5 f8 77")).toBe(3); // vzeroupper
    expect(len("c4 e3 7d 18 c1 01")).toBe(6); // vinsertf128 (map 3 imm8)
    expect(len("62 f1 fd 48 70 c1 05")).toBe(7); // vpshufd zmm (EVEX map 1 imm8)
    expect(len("62 f1 7c 48 28 44 24 01")).toBe(8); // vmovaps zmm, [rsp+disp8*N]
    expect(len("8f e8 78 c2 c1 05")).toBe(6); // XOP map 8 (vprotb imm)
    expect(len("8f 00")).toBe(2); // pop [rax]
    expect(len("0f 0f c1 b4")).toBe(4); // 3DNow! pfmul
    expect(len("66 0f 78 c0 01 02")).toBe(6); // extrq imm8, imm8
    expect(len("0f 78 c0")).toBe(3); // vmread
    expect(len("42 8b 04 25 01020304")).toBe(8); // SIB, no base: disp32
    expect(len("8b 05 01020304")).toBe(6); // RIP-relative
    expect(len("f3 0f 1e fa")).toBe(4); // endbr64
  });

  test("RETs are found at instruction boundaries only", () => {
    // mov eax, 0xc3c3c3c3; ret; rep ret; ret 8; int3 padding
    const code = Buffer.from("b8c3c3c3c3" + "c3" + "f3c3" + "c20800" + "cccc", "hex");
    expect(instructionOffsets(code)).toEqual([0, 5, 6, 8, 11, 12]);
    expect(retOffsets(code)).toEqual([5, 6, 8]);
  });

  test("invalid or truncated bytes are X86DecodeErrors naming the offset", () => {
    expect(() => decodeInsn(Buffer.from("06", "hex"), 0)).toThrow(X86DecodeError);
    expect(() => decodeInsn(Buffer.from("48b80102", "hex"), 0)).toThrow(/runs past the end/);
    expect(() => retOffsets(Buffer.from("900f0a", "hex"))).toThrow(/offset 0x1: opcode 0F 0xa/);
    expect(() => decodeInsn(Buffer.from("66".repeat(15) + "90", "hex"), 0)).toThrow(/longer than 15 bytes/);
  });
});
