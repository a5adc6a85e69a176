// Pure parts of the flamegraph probe: kallsyms parsing, folded stacks, the SVG generator,
// the build-id note parser, file paths and the disk budget.
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ElfDebugError, debugFileCandidates, parseBuildIdNote } from "./elf-debug.ts";
import { FoldedStacks, parseFolded } from "./folded.ts";
import { GoPclntabError, parseGoPclntab } from "../../libbpf/gopclntab.ts";
import { KernelSymbols } from "./kallsyms.ts";
import { enforceBudget, flamePaths } from "./output.ts";
import { flameGraphSvg } from "./svg.ts";

const scratch = mkdtempSync(join(tmpdir(), "gg-flame-render-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("kallsyms", () => {
  test("text symbols sorted by address, names exact, malformed lines counted", () => {
    const { symbols, malformed } = KernelSymbols.parse(
      ["ffffffff81002000 T b_func", "ffffffff81000000 t a_func", "ffffffff81003000 D data_sym", "ffffffffc0000000 t mod_func\t[ext4]", "garbage", "zz T x", ""].join("\n"),
    );
    expect(malformed).toBe(2);
    expect(symbols.size).toBe(3);
    expect(symbols.lookup(0xffffffff80ffffffn)).toBeUndefined();
    expect(symbols.lookup(0xffffffff81000000n)).toBe("a_func");
    expect(symbols.lookup(0xffffffff81002fffn)).toBe("b_func");
    expect(symbols.lookup(0xffffffffc0000010n)).toBe("mod_func");
  });

  test("hidden addresses (kptr_restrict) give an empty table", () => {
    expect(KernelSymbols.parse("0000000000000000 T _stext\n0000000000000000 t foo\n").symbols.size).toBe(0);
  });
});

describe("folded stacks", () => {
  test("values add up per stack and process; separators in names are replaced; the bound drops", () => {
    let dropped = 0;
    const f = new FoldedStacks(2, (n) => (dropped += n));
    f.add(1, ["[1]a", "main", "x;y"], 3);
    f.add(1, ["[1]a", "main", "x;y"], 2);
    f.add(2, ["[2]b", "main"], 1);
    f.add(3, ["[3]c", "main"], 7);
    expect(dropped).toBe(1);
    expect(f.total).toBe(6);
    expect(f.text()).toBe("[1]a;main;x:y 5\n[2]b;main 1\n");
    expect(f.text(2)).toBe("[2]b;main 1\n");
    expect(f.pids()).toEqual([1, 2]);
    expect(parseFolded(f.text())).toEqual([["[1]a;main;x:y", 5], ["[2]b;main", 1]]);
    expect(() => parseFolded("no-count\n")).toThrow(/folded line 1/);
  });
});

describe("SVG", () => {
  test("frame widths are proportional to their values; names escaped; a frame too narrow is left out", () => {
    const svg = flameGraphSvg(
      [
        ["main;hot<T>", 90],
        ["main;cold", 9],
        ["tiny", 0.001],
      ],
      { title: "oncpu", unit: "samples", width: 1020 },
    );
    expect(svg.startsWith("<?xml")).toBe(true);
    const width = (name: string) => Number(new RegExp(`data-n="${name}" data-x="[^"]+" data-w="([^"]+)"`).exec(svg)![1]);
    expect(width("all")).toBe(1000);
    const total = 99.001;
    expect(width("main")).toBeCloseTo((1000 * 99) / total, 1);
    expect(width("hot&lt;T&gt;")).toBeCloseTo((1000 * 90) / total, 1);
    expect(width("cold")).toBeCloseTo((1000 * 9) / total, 1);
    expect(svg).toContain("<title>hot&lt;T&gt; (90 samples, 90.91%)</title>");
    expect(svg).not.toContain('data-n="tiny"');
  });
});

describe("ELF debug lookups", () => {
  test("build-id note parsed; a truncated note is an error naming the file", () => {
    const note = new Uint8Array([4, 0, 0, 0, 4, 0, 0, 0, 3, 0, 0, 0, 0x47, 0x4e, 0x55, 0, 0xde, 0xad, 0xbe, 0xef]);
    expect(parseBuildIdNote("x", note)).toBe("deadbeef");
    expect(() => parseBuildIdNote("/bin/x", note.subarray(0, 18))).toThrow(ElfDebugError);
    expect(parseBuildIdNote("x", new Uint8Array(3))).toBe("");
  });

  test("debug file candidates in gdb's order", () => {
    expect(debugFileCandidates("/usr/bin/app", { hasSymtab: false, buildId: "abcdef", debuglink: "app.debug", textAddr: 0 })).toEqual([
      "/usr/lib/debug/.build-id/ab/cdef.debug",
      "/usr/bin/app.debug",
      "/usr/bin/.debug/app.debug",
      "/usr/lib/debug/usr/bin/app.debug",
    ]);
  });
});

describe(".gopclntab", () => {
  test("garbage and truncated tables are errors naming the file", () => {
    expect(() => parseGoPclntab("/bin/go", new Uint8Array(8))).toThrow(GoPclntabError);
    const h = new Uint8Array(72); // the Go 1.20 header: 8 bytes + 8 words
    const d = new DataView(h.buffer);
    d.setUint32(0, 0xfffffff1, true);
    d.setUint8(6, 1);
    d.setUint8(7, 8);
    d.setBigUint64(8, 5n, true); // 5 functions
    d.setBigUint64(8 + 7 * 8, 40n, true); // their table at offset 40: 6 × 8 bytes run past the 72
    expect(() => parseGoPclntab("/bin/go", h)).toThrow(/function table runs past the section/);
    expect(() => parseGoPclntab("/bin/go", h.subarray(0, 40))).toThrow(/header truncated/);
    d.setUint32(0, 0x12345678, true);
    expect(() => parseGoPclntab("/bin/go", h)).toThrow(/unknown magic 0x12345678/);
  });
});

describe("output files", () => {
  test("paths as upstream lays them out", () => {
    const at = new Date(2026, 11, 5, 7, 8, 9);
    expect(flamePaths({ svgDir: "/s", foldedDir: "/f", type: "oncpu", at })).toEqual({
      svg: "/s/oncpu/20261205/070809.svg",
      folded: "/f/oncpu/20261205-070809.folded",
      pprof: "/f/oncpu/20261205-070809.pb.gz",
    });
    expect(flamePaths({ svgDir: "/s", foldedDir: "/f", type: "offcpu", at }, 42).svg).toBe("/s/offcpu/20261205/070809-42.svg");
  });

  test("the disk budget removes the oldest files first and only flame graph files", async () => {
    const dir = join(scratch, "budget", "oncpu");
    mkdirSync(join(dir, "20261204"), { recursive: true });
    mkdirSync(join(dir, "20261205"), { recursive: true });
    const files = [join(dir, "20261204", "000000.svg"), join(dir, "20261205", "000000.svg"), join(dir, "20261205", "010000.svg")];
    files.forEach((f, i) => {
      writeFileSync(f, Buffer.alloc(1000));
      utimesSync(f, 1000 + i, 1000 + i);
    });
    writeFileSync(join(dir, "notes.txt"), Buffer.alloc(5000));
    expect(await enforceBudget([dir], 2500)).toBe(1);
    expect(files.map(existsSync)).toEqual([false, true, true]);
    expect(existsSync(join(dir, "20261204"))).toBe(false);
    expect(existsSync(join(dir, "notes.txt"))).toBe(true);
    expect(await enforceBudget([dir], 2500)).toBe(0);
  });
});
