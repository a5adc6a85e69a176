// Symbolization without a kernel: a /proc fixture whose process maps a stripped build of
// testdata/hotpath.c, found through the process's root directory; its names come from the
// separate debug file, by build-id under <root>/usr/lib/debug/.build-id and by
// .gnu_debuglink beside the binary. Kernel names from a kallsyms fixture.
import { afterAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HostFs } from "../../host/fs.ts";
import { ElfFile } from "../../libbpf/elf.ts";
import type { Logger } from "../../log/logger.ts";
import { readElfDebugInfo } from "./elf-debug.ts";
import { Symbolizer } from "./symbolize.ts";
import { compileFixture } from "./test-kit.ts";

const tools = ["cc", "objcopy", "strip"].every((t) => Bun.spawnSync(["sh", "-c", `command -v ${t}`]).exitCode === 0);
if (!tools) console.warn("symbolize.test: skipped: needs cc, objcopy and strip (apt-get install gcc binutils)");

const go = Bun.spawnSync(["sh", "-c", "command -v go"]).stdout.toString().trim();
if (!go) console.warn("symbolize.test: the Go test is skipped: no `go` on PATH");

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
const scratch = mkdtempSync(join(tmpdir(), "gg-flame-sym-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function sh(cmd: string[]): void {
  const r = Bun.spawnSync(cmd, { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString()}`);
}

/** A procfs fixture with process 4242 mapping `/app/hotpath` (inside its root) at 0x555500000000. */
function fixture(name: string, place: (root: string, exe: string, debug: string, buildId: string) => void) {
  const exe = compileFixture("hotpath", ["-O0", "-fno-omit-frame-pointer", "-Wl,--build-id"]);
  const debug = `${exe}.debug`;
  sh(["objcopy", "--only-keep-debug", exe, debug]);
  const full = ElfFile.open(exe);
  sh(["strip", "-s", exe]);
  const procfs = join(scratch, name, "proc");
  const root = join(procfs, "4242", "root");
  mkdirSync(join(root, "app"), { recursive: true });
  const text = full.segments.find((s) => s.flags & 1)!;
  const base = 0x555500000000n;
  const mapStart = base + BigInt(text.vaddr - (text.vaddr % 4096));
  const mapOff = text.offset - (text.vaddr % 4096) + (text.vaddr % 4096) - (text.offset % 4096);
  writeFileSync(
    join(procfs, "4242", "maps"),
    `${mapStart.toString(16)}-${(mapStart + 0x10000n).toString(16)} r-xp ${mapOff.toString(16).padStart(8, "0")} 08:01 1234 /app/hotpath\n`,
  );
  return { procfs, root, exe, debug, full, base, place };
}

async function symbolizeHotLeaf(name: string, place: (root: string, exe: string, debug: string, buildId: string) => void): Promise<{ frames: string[]; errors: string[] }> {
  const f = fixture(name, place);
  const info = await readElfDebugInfo(f.exe);
  expect(info.hasSymtab).toBe(false);
  expect(info.buildId).toMatch(/^[0-9a-f]{40}$/);
  f.place(f.root, f.exe, f.debug, info.buildId);
  const errors: string[] = [];
  const s = new Symbolizer({ host: new HostFs({ procfs: f.procfs, sysfs: "/nonexistent", rootfs: "/nonexistent" }), log: quiet, maxSymbols: 10_000, parseError: (i, d) => void errors.push(`${i}: ${d}`) });
  // PIE: the load bias is `base`; a frame in hot_leaf (+4), its caller's return address in hot_caller (+8).
  const leaf = f.base + BigInt(f.full.symbol("hot_leaf")!.value + 4);
  const ret = f.base + BigInt(f.full.symbol("hot_caller")!.value + 8);
  const outside = 0x7fff00000000n;
  return { frames: await s.userFrames(4242, [leaf, ret, outside]), errors };
}

describe("user-space symbolization", () => {
  test.if(tools)("a stripped binary is named from its debug file found by build-id under the process's root", async () => {
    const r = await symbolizeHotLeaf("buildid", (root, exe, debug, id) => {
      copyFileSync(exe, join(root, "app", "hotpath"));
      mkdirSync(join(root, "usr/lib/debug/.build-id", id.slice(0, 2)), { recursive: true });
      copyFileSync(debug, join(root, "usr/lib/debug/.build-id", id.slice(0, 2), `${id.slice(2)}.debug`));
    });
    expect(r.frames).toEqual(["[unknown]", "hot_caller", "hot_leaf"]);
    expect(r.errors).toEqual([]);
  });

  test.if(tools)("… and by .gnu_debuglink beside the binary", async () => {
    const r = await symbolizeHotLeaf("debuglink", (root, exe, debug) => {
      sh(["objcopy", `--add-gnu-debuglink=${debug}`, exe]);
      copyFileSync(exe, join(root, "app", "hotpath"));
      copyFileSync(debug, join(root, "app", "hotpath.debug"));
    });
    expect(r.frames).toEqual(["[unknown]", "hot_caller", "hot_leaf"]);
  });

  test.if(tools)("without a debug file the frames are module+offset", async () => {
    const r = await symbolizeHotLeaf("nodebug", (root, exe) => copyFileSync(exe, join(root, "app", "hotpath")));
    expect(r.frames[0]).toBe("[unknown]");
    expect(r.frames[1]).toMatch(/^hotpath\+0x[0-9a-f]+$/);
    expect(r.frames[2]).toMatch(/^hotpath\+0x[0-9a-f]+$/);
  });

  test.if(!!go)("a stripped Go binary is named from its .gopclntab", async () => {
    const dir = join(scratch, "go");
    mkdirSync(dir, { recursive: true });
    const env = { ...process.env, GOTOOLCHAIN: "local", GO111MODULE: "off", GOCACHE: join(dir, "cache"), GOFLAGS: "" };
    const src = join(import.meta.dir, "testdata", "gohot", "main.go");
    const build = (out: string, flags: string[]) => {
      const r = Bun.spawnSync([go, "build", ...flags, "-o", out, src], { env, stderr: "pipe" });
      if (r.exitCode !== 0) throw new Error(`go build: ${r.stderr.toString()}`);
    };
    build(join(dir, "full"), []);
    build(join(dir, "stripped"), ["-ldflags=-s -w"]);
    const full = ElfFile.open(join(dir, "full"));
    expect(ElfFile.open(join(dir, "stripped")).functions.length).toBe(0);
    const procfs = join(dir, "proc");
    mkdirSync(join(procfs, "4244", "root", "app"), { recursive: true });
    copyFileSync(join(dir, "stripped"), join(procfs, "4244", "root", "app", "gohot"));
    const stripped = ElfFile.open(join(dir, "stripped"));
    const text = stripped.segments.find((seg) => seg.flags & 1)!;
    writeFileSync(join(procfs, "4244", "maps"), `${text.vaddr.toString(16)}-${(text.vaddr + text.filesz).toString(16)} r-xp ${text.offset.toString(16).padStart(8, "0")} 08:01 99 /app/gohot\n`);
    const s = new Symbolizer({ host: new HostFs({ procfs, sysfs: "/x", rootfs: "/x" }), log: quiet, maxSymbols: 100_000, parseError: (i, d) => void console.error(i, d) });
    const at = (name: string, off: number) => BigInt(full.symbol(name)!.value + off);
    expect(await s.userFrames(4244, [at("main.hotLoop", 5), at("main.main", 40), at("runtime.main", 60)])).toEqual(["runtime.main", "main.main", "main.hotLoop"]);
  }, 120_000);

  test("JIT code named from /tmp/perf-<pid>.map in the process's root, under its namespace pid", async () => {
    const procfs = join(scratch, "jit", "proc");
    mkdirSync(join(procfs, "4243", "root", "tmp"), { recursive: true });
    writeFileSync(join(procfs, "4243", "maps"), "7f0000000000-7f0000100000 rwxp 00000000 00:00 0 \n");
    writeFileSync(join(procfs, "4243", "status"), "Name:\tjava\nNSpid:\t4243\t7\n");
    writeFileSync(join(procfs, "4243", "root", "tmp", "perf-7.map"), "7f0000001000 100 LFoo;::hot\n7f0000002000 80 Interpreter\nnot a line\n");
    const errors: string[] = [];
    const s = new Symbolizer({ host: new HostFs({ procfs, sysfs: "/x", rootfs: "/x" }), log: quiet, maxSymbols: 10, parseError: (i, d) => void errors.push(`${i}: ${d}`) });
    expect(await s.userFrames(4243, [0x7f0000001010n, 0x7f0000002050n, 0x7f0000003000n])).toEqual(["[unknown]", "Interpreter", "LFoo;::hot"]);
    expect(errors).toEqual([`${join(procfs, "4243", "root", "tmp", "perf-7.map")}: 1 malformed lines`]);
  });

  test("a stack-pointer hint goes after the leaf only when it is code of a mapped file and not already the next frame", () => {
    const procfs = join(scratch, "hint", "proc");
    mkdirSync(join(procfs, "4245"), { recursive: true });
    writeFileSync(
      join(procfs, "4245", "maps"),
      ["555500000000-555500010000 r-xp 00001000 08:01 77 /app/prog", "555500010000-555500020000 rw-p 00011000 08:01 77 /app/prog", "7f0000000000-7f0000100000 rwxp 00000000 00:00 0 ", ""].join("\n"),
    );
    const s = new Symbolizer({ host: new HostFs({ procfs, sysfs: "/x", rootfs: "/x" }), log: quiet, maxSymbols: 10, parseError: () => undefined });
    const ips = [0x7f1000000010n, 0x555500000200n];
    expect(s.withHint(4245, ips, 0x555500000100n)).toEqual([0x7f1000000010n, 0x555500000100n, 0x555500000200n]);
    expect(s.withHint(4245, ips, 0x555500000200n)).toEqual(ips); // the walk found it already
    expect(s.withHint(4245, ips, 0x555500010100n)).toEqual(ips); // data, not code
    expect(s.withHint(4245, ips, 0x7f0000000100n)).toEqual(ips); // anonymous (JIT) memory
    expect(s.withHint(4245, ips, 0x7ffc00000000n)).toEqual(ips); // a stack address: nothing mapped in the fixture
    expect(s.withHint(4245, [], 0x555500000100n)).toEqual([]);
  });

  test("kernel frames from kallsyms, outermost first, without the probe's own tracepoint frames", () => {
    const procfs = join(scratch, "kallsyms");
    mkdirSync(procfs, { recursive: true });
    writeFileSync(
      join(procfs, "kallsyms"),
      [
        "ffffffff81000000 T _stext",
        "ffffffff81001000 t do_nanosleep",
        "ffffffff81002000 T schedule",
        "ffffffff81003000 T __traceiter_sched_switch",
        "ffffffff81004000 t bpf_trace_run4",
        "ffffffffc0001000 t bpf_prog_219ff705db2a0d1d_flame_offcpu_btf\t[bpf]",
        "0000000000000000 A fixed_percpu_data",
        "",
      ].join("\n"),
    );
    const s = new Symbolizer({ host: new HostFs({ procfs, sysfs: "/x", rootfs: "/x" }), log: quiet, maxSymbols: 10, parseError: () => undefined });
    const ips = [0xffffffffc0001010n, 0xffffffff81004010n, 0xffffffff81003010n, 0xffffffff81002010n, 0xffffffff81001010n];
    expect(s.kernelFrames(ips)).toEqual(["do_nanosleep_[k]", "schedule_[k]"]);
  });
});
