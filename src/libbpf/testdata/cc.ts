// Test helper: compiles C fixtures (src/libbpf/testdata's, or another folder's) with the
// host's C compiler into a temporary directory (root tests gate on `ccPath()` and print why
// they skip).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Path of cc/gcc/clang on PATH, or undefined. */
export function ccPath(): string | undefined {
  for (const n of ["cc", "gcc", "clang"]) {
    const r = Bun.spawnSync(["sh", "-c", `command -v ${n}`]);
    const p = r.stdout.toString().trim();
    if (r.exitCode === 0 && p) return p;
  }
  return undefined;
}

/** Compiles <dir>/<name>.c (default: this folder) with `flags` into a fresh temporary directory; returns the executable's path. */
export function compileTestProgram(name: string, flags: string[] = ["-O2"], dir: string = import.meta.dir): string {
  const cc = ccPath();
  if (!cc) throw new Error("no C compiler on PATH (apt-get install gcc)");
  const out = join(mkdtempSync(join(tmpdir(), `gg-${name}-`)), name);
  const r = Bun.spawnSync([cc, ...flags, "-o", out, join(dir, `${name}.c`)], { stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`compiling ${name}.c failed: ${r.stderr.toString()}`);
  return out;
}
