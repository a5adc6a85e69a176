// Finding TLS code through a procfs tree (a fixture laid out like /proc/<pid>/{maps,exe,root}):
// a process's libssl and its Go executable are found with the same offsets the ELF symbols
// give, a second process with the same files is served from the cache, a file that is no ELF
// is reported with its path, and a process without TLS code yields nothing.
import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HostFs } from "../../../host/fs.ts";
import { ElfFile } from "../../../libbpf/elf.ts";
import { goBuild, goPath } from "../../../libbpf/testdata/go.ts";
import { TlsCodeFinder } from "./targets.ts";

const libssl = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
const haveLibssl = Bun.file(libssl).size > 0;
if (!haveLibssl) console.warn(`targets.test: skipped: ${libssl} not installed (apt-get install libssl3)`);
if (!goPath()) console.warn("targets.test: the Go part is skipped: no go toolchain");

function mapsLine(path: string, inode: number): string {
  return `7f0000000000-7f0000100000 r-xp 00000000 08:01 ${inode} ${path}\n`;
}

describe.if(haveLibssl)("TLS code of a process", () => {
  test("libssl and a Go executable found through /proc/<pid>/root, once per file", () => {
    const proc = mkdtempSync(join(tmpdir(), "gg-tls-proc-"));
    const rootfs = join(proc, "rootfs");
    mkdirSync(join(rootfs, "usr/lib/x86_64-linux-gnu"), { recursive: true });
    mkdirSync(join(rootfs, "app"), { recursive: true });
    copyFileSync(libssl, join(rootfs, "usr/lib/x86_64-linux-gnu/libssl.so.3"));
    const go = goPath() ? goBuild(join(import.meta.dir, "testdata", "gotls"), "gotls", ["-ldflags=-s -w"]) : "/bin/true";
    copyFileSync(go, join(rootfs, "app", "server"));
    for (const pid of [100, 101]) {
      mkdirSync(join(proc, String(pid)));
      symlinkSync(rootfs, join(proc, String(pid), "root"));
      symlinkSync("/app/server", join(proc, String(pid), "exe"));
      writeFileSync(join(proc, String(pid), "maps"), mapsLine("/app/server", 5) + mapsLine("/usr/lib/x86_64-linux-gnu/libssl.so.3", 6) + "7f0000200000-7f0000300000 rw-p 00000000 00:00 0 \n");
    }
    const finder = new TlsCodeFinder(new HostFs({ procfs: proc, sysfs: "/nonexistent", rootfs: "/nonexistent" }), 8);
    const a = finder.find(100);
    expect(a.errors).toEqual([]);
    const ssl = a.found.find((c) => c.kind === "openssl")!;
    const elf = ElfFile.open(libssl);
    expect(ssl.kind === "openssl" && ssl.offsets).toEqual({
      SSL_read: elf.fileOffset(elf.symbol("SSL_read")!.value),
      SSL_write: elf.fileOffset(elf.symbol("SSL_write")!.value),
      SSL_read_ex: elf.fileOffset(elf.symbol("SSL_read_ex")!.value),
      SSL_write_ex: elf.fileOffset(elf.symbol("SSL_write_ex")!.value),
    });
    expect(ssl.hostPath).toBe(join(proc, "100", "root", "usr/lib/x86_64-linux-gnu/libssl.so.3"));
    expect(a.found.map((c) => c.kind).sort()).toEqual(goPath() ? ["go", "openssl"] : ["openssl"]);
    expect(finder.cached).toBe(2);
    const b = finder.find(101);
    expect(b.found.map((c) => c.key).sort()).toEqual(a.found.map((c) => c.key).sort());
    expect(b.found.every((c) => c.hostPath.startsWith(join(proc, "101", "root")))).toBe(true);
    expect(finder.cached).toBe(2);
  });

  test("a libssl that is no ELF is reported with its path; a gone process yields nothing", () => {
    const proc = mkdtempSync(join(tmpdir(), "gg-tls-proc-"));
    mkdirSync(join(proc, "7", "root", "lib"), { recursive: true });
    writeFileSync(join(proc, "7", "root", "lib", "libssl.so.1.1"), "not an elf file at all, just text padding it past sixty-four bytes of header.......");
    symlinkSync("/bin/none", join(proc, "7", "exe"));
    writeFileSync(join(proc, "7", "maps"), mapsLine("/lib/libssl.so.1.1", 9));
    const finder = new TlsCodeFinder(new HostFs({ procfs: proc, sysfs: "/nonexistent", rootfs: "/nonexistent" }), 8);
    const r = finder.find(7);
    expect(r.found).toEqual([]);
    expect(r.errors.map((e) => e.message)).toEqual([expect.stringMatching(/^\/lib\/libssl\.so\.1\.1 of process 7: ELF .*not an ELF file/)]);
    expect(finder.find(8)).toEqual({ found: [], errors: [] });
    expect(() => new TlsCodeFinder(new HostFs({ procfs: proc, sysfs: "/nonexistent", rootfs: "/nonexistent" }), 0)).toThrow(RangeError);
  });
});
