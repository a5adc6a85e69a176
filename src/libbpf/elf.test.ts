// The ELF64 reader against a freshly compiled program (symbols checked against nm) and
// against malformed files (each refused with an ElfError naming what is wrong).
import { describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ElfError, ElfFile } from "./elf.ts";
import { ccPath, compileTestProgram } from "./testdata/cc.ts";

const nm = Bun.which("nm");
const can = !!ccPath() && !!nm;
if (!can) console.warn(`elf.test: program tests skipped: ${ccPath() ? "nm (binutils) not installed" : "no C compiler"}`);

describe("ELF64 reader", () => {
  test.if(can)("function symbols, addresses and file offsets agree with nm; offsets and addresses round-trip", () => {
    const exe = compileTestProgram("fpchain", ["-O0", "-fno-omit-frame-pointer"]);
    const elf = ElfFile.open(exe);
    expect(elf.type).toBe(3); // PIE
    const nmOut = Bun.spawnSync([nm!, exe]).stdout.toString();
    for (const fn of ["chain_a", "chain_b", "chain_c", "main"]) {
      const m = new RegExp(`^([0-9a-f]+) T ${fn}$`, "m").exec(nmOut);
      expect(m).not.toBeNull();
      const s = elf.symbol(fn)!;
      expect(s).toMatchObject({ name: fn, type: 2, bind: 1, value: parseInt(m![1]!, 16) });
      expect(s.size).toBeGreaterThan(0);
      const off = elf.fileOffset(s.value);
      expect(elf.vaddrOf(off)).toBe(s.value);
      expect(elf.symbolize(s.value + 1)).toEqual({ name: fn, offset: 1 });
    }
    expect(elf.symbol("no_such_function")).toBeUndefined();
    // Symbols of a shared library come from .dynsym.
    const libc = readFileSync("/proc/self/maps", "utf8").match(/\s(\/\S*libc\.so\.6)$/m)?.[1];
    expect(libc).toBeDefined();
    expect(ElfFile.open(libc!).symbol("getppid")?.type).toBe(2);
  });

  test("malformed files are refused with the reason", () => {
    const dir = mkdtempSync(join(tmpdir(), "gg-elf-"));
    const file = (name: string, bytes: Uint8Array) => {
      const p = join(dir, name);
      writeFileSync(p, bytes);
      return p;
    };
    const header = (edit: (d: DataView) => void) => {
      const b = new Uint8Array(64);
      const d = new DataView(b.buffer);
      d.setUint32(0, 0x7f454c46, false);
      d.setUint8(4, 2);
      d.setUint8(5, 1);
      d.setUint16(16, 3, true);
      edit(d);
      return b;
    };
    const err = (p: string) => {
      try {
        ElfFile.open(p);
      } catch (e) {
        expect(e).toBeInstanceOf(ElfError);
        expect((e as ElfError).code).toBe("EELF");
        return (e as Error).message;
      }
      throw new Error(`${p} was accepted`);
    };
    expect(err(join(dir, "missing"))).toContain("cannot open");
    expect(err(file("short", new Uint8Array(10)))).toContain("too short for an ELF header (10 bytes)");
    expect(err(file("magic", new Uint8Array(64).fill(7)))).toContain("not an ELF file (bad magic)");
    expect(err(file("elf32", header((d) => d.setUint8(4, 1))))).toContain("not a 64-bit ELF (EI_CLASS 1)");
    expect(err(file("be", header((d) => d.setUint8(5, 2))))).toContain("not little-endian");
    expect(err(file("rel", header((d) => d.setUint16(16, 1, true))))).toContain("not an executable or shared object (e_type 1)");
    const outside = header((d) => {
      d.setBigUint64(0x20, 4096n, true);
      d.setUint16(0x36, 56, true);
      d.setUint16(0x38, 2, true);
    });
    expect(err(file("phdrs", outside))).toContain("program headers (offset 4096, 112 bytes) lies outside the file (64 bytes)");
    expect(err(file("nophdr", header(() => {})))).toContain("no PT_LOAD segment");
  });
});
