// The declared struct layouts against the C headers: a C program generated from the
// declarations prints sizeof and offsetof of every named field from libbpf's and the kernel's
// headers (gated on a C compiler and libbpf-dev), which must equal the computed layout.
import { describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StructLayout } from "./struct.ts";
import { BpfObjectOpenOpts, BpfTcHook, BpfTcOpts, BpfTestRunOpts, BpfUprobeOpts, PerfEventAttr } from "./structs.ts";
import { ccPath } from "./testdata/cc.ts";

const cc = ccPath();
const headers = existsSync("/usr/include/bpf/libbpf.h") && existsSync("/usr/include/linux/perf_event.h");
const can = !!cc && headers;
if (!can) console.warn(`struct.test: header comparison skipped: ${cc ? "libbpf-dev / linux-libc-dev headers not installed" : "no C compiler"}`);

const LAYOUTS: StructLayout<string>[] = [BpfObjectOpenOpts, BpfUprobeOpts, BpfTestRunOpts, BpfTcHook, BpfTcOpts, PerfEventAttr];
/** Bit-field members: offsetof() does not apply (their neighbours' offsets pin them). */
const BITFIELDS = new Set(["perf_event_attr.flags"]);

describe("struct layouts", () => {
  test("natural alignment, trailing padding, sz filled, pointers kept", () => {
    const s = new StructLayout("t", [
      ["sz", "size_t"],
      ["a", "u8"],
      ["b", "u32"],
      ["c", "u16"],
      ["p", "ptr"],
      ["d", "bool"],
    ] as const);
    expect(s.offsets).toEqual({ sz: 0, a: 8, b: 12, c: 16, p: 24, d: 32 });
    expect(s.size).toBe(40);
    const v = s.make({ a: 7, b: 0xffffffff, p: "name", d: true });
    expect(v.get("sz")).toBe(40n);
    expect([v.get("a"), v.get("b"), v.get("d")]).toEqual([7, 0xffffffff, 1]);
    expect(v.get("p")).not.toBe(0n);
    expect(() => v.set("p" as never, 5)).toThrow(/pointer field takes a buffer/);
    expect(() => v.set("a", "x")).toThrow(/u8 field takes a number/);
    expect(() => new StructLayout("dup", [["x", "u8"], ["x", "u8"]] as const)).toThrow(/declared twice/);
  });

  test.if(can)("every layout equals sizeof/offsetof from the C headers", () => {
    const lines = ["#include <stddef.h>", "#include <stdio.h>", "#include <bpf/libbpf.h>", "#include <bpf/bpf.h>", "#include <linux/perf_event.h>", "int main(void) {"];
    for (const l of LAYOUTS) {
      lines.push(`printf("${l.name} %zu\\n", sizeof(struct ${l.name}));`);
      for (const f of Object.keys(l.offsets)) {
        if (f.startsWith("_") || BITFIELDS.has(`${l.name}.${f}`)) continue;
        lines.push(`printf("${l.name}.${f} %zu\\n", offsetof(struct ${l.name}, ${f}));`);
      }
    }
    lines.push("return 0; }");
    const dir = mkdtempSync(join(tmpdir(), "gg-struct-"));
    writeFileSync(join(dir, "layouts.c"), lines.join("\n"));
    const build = Bun.spawnSync([cc!, "-o", join(dir, "layouts"), join(dir, "layouts.c")], { stderr: "pipe" });
    expect(build.stderr.toString()).toBe("");
    const out = Bun.spawnSync([join(dir, "layouts")]).stdout.toString();
    const c = new Map(out.trim().split("\n").map((l) => l.split(" ") as [string, string]).map(([k, v]) => [k, Number(v)]));
    expect(c.size).toBeGreaterThan(60);
    for (const l of LAYOUTS) {
      const mine: Record<string, number> = {};
      const theirs: Record<string, number> = {};
      for (const [f, off] of Object.entries(l.offsets)) {
        const k = `${l.name}.${f}`;
        if (!c.has(k)) continue;
        mine[k] = off as number;
        theirs[k] = c.get(k)!;
      }
      expect(mine).toEqual(theirs);
      // perf_event_attr is declared up to PERF_ATTR_SIZE_VER7; newer headers only append.
      if (l.name === "perf_event_attr") expect(c.get(l.name)!).toBeGreaterThanOrEqual(l.size);
      else expect(`${l.name} ${l.size}`).toBe(`${l.name} ${c.get(l.name)}`);
    }
    expect(PerfEventAttr.size).toBe(128);
  });
});
