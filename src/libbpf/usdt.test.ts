// USDT notes: against readelf -n on an interpreter that has them (Debian's python3.x), and
// malformed files refused with the reason.
import { describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ElfError } from "./elf.ts";
import { readUsdtProbes } from "./usdt.ts";

const PY = ["/usr/bin/python3.11", "/usr/bin/python3.12", "/usr/bin/python3.13"].find((p) => Bun.spawnSync(["test", "-f", p]).exitCode === 0);
const readelf = Bun.which("readelf");
if (!PY || !readelf) console.warn(`usdt.test: readelf comparison skipped: ${!PY ? "no /usr/bin/python3.1x" : "no readelf (binutils)"}`);

/** readelf -n's stapsdt entries: provider, name, location, semaphore (addresses). */
function readelfNotes(path: string): { provider: string; name: string; location: number; semaphore: number }[] {
  const out = Bun.spawnSync([readelf!, "-n", path], { stdout: "pipe" }).stdout.toString();
  const re = /Provider: (\S+)\s+Name: (\S+)\s+Location: 0x([0-9a-f]+), Base: 0x[0-9a-f]+, Semaphore: 0x([0-9a-f]+)/g;
  return [...out.matchAll(re)].map((m) => ({ provider: m[1]!, name: m[2]!, location: parseInt(m[3]!, 16), semaphore: parseInt(m[4]!, 16) }));
}

/** Section address → file offset, from readelf -S. */
function sectionsOf(path: string): { addr: number; off: number; size: number }[] {
  const out = Bun.spawnSync([readelf!, "-SW", path], { stdout: "pipe" }).stdout.toString();
  return [...out.matchAll(/\]\s+\S+\s+(?!NOBITS)\S+\s+([0-9a-f]{16})\s+([0-9a-f]{6,})\s+([0-9a-f]{6,})/g)].map((m) => ({ addr: parseInt(m[1]!, 16), off: parseInt(m[2]!, 16), size: parseInt(m[3]!, 16) }));
}

describe("USDT notes", () => {
  test.if(!!PY && !!readelf)("the probes, their file offsets and semaphores agree with readelf", () => {
    const ours = readUsdtProbes(PY!);
    const theirs = readelfNotes(PY!);
    expect(theirs.length).toBeGreaterThan(0);
    const secs = sectionsOf(PY!).filter((s) => s.addr !== 0);
    const toOff = (a: number) => {
      const s = secs.find((x) => a >= x.addr && a < x.addr + x.size)!;
      return a - s.addr + s.off;
    };
    expect(ours.map((p) => [p.provider, p.name, p.offset, p.semaphoreOffset])).toEqual(theirs.map((t) => [t.provider, t.name, toOff(t.location), t.semaphore ? toOff(t.semaphore) : 0]));
    expect(ours.find((p) => p.name === "gc__start")?.args).toMatch(/@/);
  });

  test("a file without notes has none; malformed files are refused with the reason", () => {
    const dir = mkdtempSync(join(tmpdir(), "gopher-usdt-"));
    try {
      expect(readUsdtProbes(process.execPath).filter((p) => p.provider === "nonexistent")).toEqual([]);
      const bad = join(dir, "bad");
      writeFileSync(bad, "not an ELF file at all, but long enough to have a header of sixty-four bytes....");
      expect(() => readUsdtProbes(bad)).toThrow(ElfError);
      expect(() => readUsdtProbes(bad)).toThrow(/bad magic/);
      expect(() => readUsdtProbes(join(dir, "missing"))).toThrow(/cannot open/);
      // A valid header whose section table lies past the end of the file.
      const h = Buffer.alloc(64);
      h.writeUInt32BE(0x7f454c46, 0);
      h[4] = 2;
      h[5] = 1;
      h.writeBigUInt64LE(1n << 20n, 0x28);
      h.writeUInt16LE(64, 0x3a);
      h.writeUInt16LE(3, 0x3c);
      h.writeUInt16LE(1, 0x3e);
      writeFileSync(bad, h);
      expect(() => readUsdtProbes(bad)).toThrow(/section headers .* outside the file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
