// Go crypto/tls probe points against the toolchain's own facts: entries equal the symbol
// table's addresses (unstripped build), RETs equal objdump's `ret` lines, a stripped build
// gives the same function layout from .gopclntab alone, the version equals `go version`'s,
// and the fd path offsets equal the DWARF member offsets of the unstripped build.
import { beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { ElfFile } from "../../../libbpf/elf.ts";
import { goBuild, goPath } from "../../../libbpf/testdata/go.ts";
import { GO_TLS_FD_PATH, GoTlsError, goTlsBinary, parseGoVersion } from "./go-binary.ts";

const go = goPath();
const objdump = Bun.which("objdump");
if (!go) console.warn("go-binary.test: skipped: no go toolchain (apt or /usr/local/go)");
if (!objdump) console.warn("go-binary.test: objdump checks skipped: binutils not installed");
const src = join(import.meta.dir, "testdata", "gotls");

describe.if(!!go)("Go crypto/tls probe points", () => {
  let full = "";
  let stripped = "";
  beforeAll(() => {
    full = goBuild(src, "gotls");
    stripped = goBuild(src, "gotls", ["-ldflags=-s -w"]);
  });

  test("entries from .gopclntab equal the symbol table's, RETs equal objdump's", () => {
    const elf = ElfFile.open(full);
    const b = goTlsBinary(full, elf)!;
    expect(b).toBeDefined();
    for (const [fn, probes] of [["crypto/tls.(*Conn).Read", b.read], ["crypto/tls.(*Conn).Write", b.write]] as const) {
      const sym = elf.symbol(fn)!;
      expect(probes.entry).toBe(elf.fileOffset(sym.value));
      if (!objdump) continue;
      const out = Bun.spawnSync([objdump, "-d", "--insn-width=15", `--start-address=0x${sym.value.toString(16)}`, `--stop-address=0x${(sym.value + sym.size).toString(16)}`, full]).stdout.toString();
      const rets = [...out.matchAll(/^\s+([0-9a-f]+):\t[^\t]+\t(?:rep |bnd )?ret\b/gm)].map((m) => elf.fileOffset(parseInt(m[1]!, 16)));
      expect(rets.length).toBeGreaterThan(0);
      expect([...probes.rets]).toEqual(rets);
    }
  });

  test("a stripped build is served from .gopclntab alone, with the same layout", () => {
    const s = ElfFile.open(stripped);
    expect(s.functions.length).toBe(0);
    const a = goTlsBinary(full)!;
    const b = goTlsBinary(stripped, s)!;
    const rel = (p: { entry: number; rets: readonly number[] }) => p.rets.map((r) => r - p.entry);
    expect(rel(b.read)).toEqual(rel(a.read));
    expect(rel(b.write)).toEqual(rel(a.write));
    expect(b.goVersion).toBe(a.goVersion);
  });

  test("the version is go version's", () => {
    const out = Bun.spawnSync([go!, "version", stripped]).stdout.toString();
    const v = /: (go\S+)/.exec(out)?.[1];
    expect(v).toBeDefined();
    expect(goTlsBinary(stripped)!.goVersion).toBe(v!);
    expect(parseGoVersion(v!)![0]).toBe(1);
    expect(parseGoVersion("devel go1.27-abc")).toEqual([1, 27]);
  });

  test.if(!!objdump)("the fd path offsets are the DWARF member offsets", () => {
    const info = Bun.spawnSync([objdump!, "--dwarf=info", full], { stdout: "pipe" }).stdout.toString();
    const member = (struct: string, field: string): number | undefined => {
      const at = info.indexOf(`DW_AT_name        : ${struct}\n`);
      if (at < 0) return undefined;
      const body = info.slice(at, info.indexOf("(DW_TAG_structure_type)", at + 1));
      const m = new RegExp(`DW_AT_name        : ${field}\\n\\s+<[0-9a-f]+>\\s+DW_AT_data_member_location: (\\d+)`).exec(body);
      return m ? Number(m[1]) : undefined;
    };
    expect(member("crypto/tls.Conn", "conn")).toBe(0);
    expect(member("net.TCPConn", "conn")).toBe(0);
    expect(member("net.conn", "fd")).toBe(GO_TLS_FD_PATH.netFdInConn);
    expect(member("net.netFD", "pfd")).toBe(0);
    expect(member("internal/poll.FD", "Sysfd")).toBe(GO_TLS_FD_PATH.sysfdInNetFd);
    // An interface value is {itab or type, data}: the data word is the second one.
    expect(GO_TLS_FD_PATH.connIfaceData).toBe(8);
  });

  test("binaries that are not Go, or Go without crypto/tls, are not served; bad code is a GoTlsError", () => {
    expect(goTlsBinary("/bin/true")).toBeUndefined();
    expect(new GoTlsError("/x", "why").message).toBe("Go TLS in /x: why");
  });
});
