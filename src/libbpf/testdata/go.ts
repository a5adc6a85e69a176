// Test helper: builds Go test programs with the host's Go toolchain (go on PATH or
// /usr/local/go/bin/go) into a temporary directory, offline (GOTOOLCHAIN=local, no proxy
// needed: the programs use the standard library only). Tests gate on `goPath()` and print why
// they skip.
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Path of the go command, or undefined. */
export function goPath(): string | undefined {
  return Bun.which("go") ?? (existsSync("/usr/local/go/bin/go") ? "/usr/local/go/bin/go" : undefined);
}

/** `go build` of the module in `dir` (a go.mod folder) with `flags`; returns the executable's path. */
export function goBuild(dir: string, name: string, flags: string[] = []): string {
  const go = goPath();
  if (!go) throw new Error("no go toolchain on PATH or in /usr/local/go/bin");
  const out = join(mkdtempSync(join(tmpdir(), `gg-go-${name}-`)), name);
  const env = { ...process.env, GOTOOLCHAIN: "local", GOFLAGS: "-mod=mod", GOPROXY: "off", CGO_ENABLED: "0" };
  const r = Bun.spawnSync([go, "build", ...flags, "-o", out, "."], { cwd: dir, env, stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`go build in ${dir} failed: ${r.stderr.toString()}`);
  return out;
}
