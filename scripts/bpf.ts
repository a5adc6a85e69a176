// Builds the eBPF objects and gathers the shared libraries the executable embeds:
//   bpf/<probe>/*.bpf.c, src/libbpf/bpf/*.bpf.c (runtime helpers such as the feature
//   probes) and src/libbpf/testdata/*.bpf.c (test objects) → dist/bpf/<name>.bpf.o
//     (clang -g -O2 -target bpf against the pinned CO-RE vmlinux.h; DWARF stripped with
//      llvm-strip -g, BTF and BTF.ext kept for CO-RE)
//   libbpf.so.1, libelf.so.1, libz.so.1 of the build host → dist/bpf/lib/
// Objects are rebuilt only when a source or header is newer. `bun run scripts/bpf.ts
// [--force]`; tests call ensureBpf() so `bun test` works from a fresh checkout.
import { copyFileSync, existsSync, mkdirSync, readdirSync, realpathSync, renameSync, statSync } from "node:fs";
import { basename, join } from "node:path";

export const ROOT = join(import.meta.dir, "..");
export const OUT = process.env.GOPHER_BPF_OUT || join(ROOT, "dist", "bpf");

const ARCH = process.arch === "arm64" ? { target: "arm64", dir: "arm64" } : { target: "x86", dir: "x86" };

export interface BpfBuildResult {
  objects: string[];
  built: string[];
  libs: string[];
}

function mtime(p: string): number {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return 0;
  }
}

function listFiles(dir: string, pred: (f: string) => boolean): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter(pred)
    .map((f) => join(dir, f));
}

/** Every BPF C source, with the headers it may include. */
export function bpfSources(): { src: string; name: string; deps: string[] }[] {
  const out: { src: string; name: string; deps: string[] }[] = [];
  const common = [join(ROOT, "bpf", "vmlinux", ARCH.dir, "vmlinux.h"), ...listFiles(join(ROOT, "bpf", "include"), (f) => f.endsWith(".h"))];
  const dirs = listFiles(join(ROOT, "bpf"), (f) => !["include", "vmlinux"].includes(f)).filter((d) => statSync(d).isDirectory());
  dirs.push(join(ROOT, "src", "libbpf", "bpf"), join(ROOT, "src", "libbpf", "testdata"), join(ROOT, "src", "probes", "l7", "tls", "testdata"));
  for (const d of dirs) {
    const headers = listFiles(d, (f) => f.endsWith(".h"));
    // The l7 TLS test object includes bpf/l7's headers.
    if (d.endsWith(join("l7", "tls", "testdata"))) headers.push(...listFiles(join(ROOT, "bpf", "l7"), (f) => f.endsWith(".h")));
    for (const src of listFiles(d, (f) => f.endsWith(".bpf.c"))) {
      out.push({ src, name: basename(src, ".bpf.c"), deps: [src, ...headers, ...common] });
    }
  }
  return out;
}

function tool(names: string[]): string {
  for (const n of names) {
    const r = Bun.spawnSync(["sh", "-c", `command -v ${n}`]);
    const p = r.stdout.toString().trim();
    if (r.exitCode === 0 && p) return p;
  }
  throw new Error(`none of ${names.join(", ")} found on PATH (apt-get install clang llvm)`);
}

function run(cmd: string[]): void {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed:\n${r.stderr.toString()}${r.stdout.toString()}`);
}

/** Compiles one source to `out` (stripped of DWARF). */
export function compileBpf(src: string, out: string): void {
  const clang = tool(["clang", "clang-16", "clang-15", "clang-14"]);
  const strip = tool(["llvm-strip", "llvm-strip-16", "llvm-strip-15", "llvm-strip-14"]);
  const tmp = `${out}.tmp-${process.pid}`;
  run([
    clang,
    "-g",
    "-O2",
    "-target",
    "bpf",
    `-D__TARGET_ARCH_${ARCH.target}`,
    "-Wall",
    "-Wno-unused-function",
    "-I",
    join(ROOT, "bpf", "vmlinux", ARCH.dir),
    "-I",
    join(ROOT, "bpf", "include"),
    "-c",
    src,
    "-o",
    tmp,
  ]);
  run([strip, "-g", tmp]);
  renameSync(tmp, out);
}

/** The host's libz, libelf and libbpf files (the ones libbpf.so.1 resolves to). */
export function systemLibraries(): Record<"libz.so.1" | "libelf.so.1" | "libbpf.so.1", string> {
  const found: Record<string, string> = {};
  const ldconfig = Bun.spawnSync(["sh", "-c", "ldconfig -p 2>/dev/null || /sbin/ldconfig -p"]).stdout.toString();
  for (const lib of ["libz.so.1", "libelf.so.1", "libbpf.so.1"]) {
    const m = ldconfig.split("\n").find((l) => l.trim().startsWith(`${lib} `) && /x86-64|AArch64/.test(l));
    const p = m?.split("=>")[1]?.trim();
    if (p && existsSync(p)) found[lib] = realpathSync(p);
  }
  for (const lib of ["libz.so.1", "libelf.so.1", "libbpf.so.1"]) {
    if (!found[lib]) throw new Error(`${lib} not found on this build host (apt-get install libbpf1 libelf1 zlib1g)`);
  }
  return found as Record<"libz.so.1" | "libelf.so.1" | "libbpf.so.1", string>;
}

/** Builds what is missing or stale; copies the shared libraries. */
export function ensureBpf(o: { force?: boolean; quiet?: boolean } = {}): BpfBuildResult {
  mkdirSync(join(OUT, "lib"), { recursive: true });
  const res: BpfBuildResult = { objects: [], built: [], libs: [] };
  for (const s of bpfSources()) {
    const out = join(OUT, `${s.name}.bpf.o`);
    const newest = Math.max(...s.deps.map(mtime));
    if (o.force || mtime(out) < newest) {
      const t0 = performance.now();
      compileBpf(s.src, out);
      res.built.push(out);
      if (!o.quiet) console.log(`bpf: ${s.name}.bpf.o (${statSync(out).size} B) in ${Math.round(performance.now() - t0)} ms`);
    }
    res.objects.push(out);
  }
  for (const [name, path] of Object.entries(systemLibraries())) {
    const dst = join(OUT, "lib", name);
    if (o.force || mtime(dst) < mtime(path) || statSync(dst).size !== statSync(path).size) copyFileSync(path, dst);
    res.libs.push(dst);
  }
  return res;
}

if (import.meta.main) {
  const r = ensureBpf({ force: process.argv.includes("--force") });
  console.log(`bpf: ${r.objects.length} object(s) in ${OUT} (${r.built.length} rebuilt), ${r.libs.length} libraries`);
}
