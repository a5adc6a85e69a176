// Helpers shared by the RPM and qemu tests: build a package with scripts/rpm.sh, query
// packages, run commands.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DIST_BIN, ROOT, which } from "../harness.ts";

export const RPM_SH = join(ROOT, "scripts", "rpm.sh");

export function packageVersion(): string {
  return (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs a command to completion (argv, no shell). */
export async function run(cmd: string[], opts: { cwd?: string; env?: Record<string, string | undefined>; timeoutMs?: number } = {}): Promise<RunResult> {
  const t0 = performance.now();
  const p = Bun.spawn(cmd, { cwd: opts.cwd, env: (opts.env ?? process.env) as Record<string, string>, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const timer = opts.timeoutMs ? setTimeout(() => p.kill("SIGKILL"), opts.timeoutMs) : undefined;
  const [stdout, stderr, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  if (timer) clearTimeout(timer);
  return { code, stdout, stderr, ms: performance.now() - t0 };
}

/** Why the package cannot be built here, or undefined when it can. */
export function rpmSkipReason(): string | undefined {
  if (!which("rpmbuild") || !which("rpm")) return "rpm/rpmbuild are not installed (Debian: apt-get install rpm)";
  if (!existsSync(DIST_BIN)) return `${DIST_BIN} is missing (run \`bun run build\` first)`;
  if (process.getuid?.() !== 0) return "not root (rpm --root installs need root)";
  return undefined;
}

export interface BuiltRpm {
  path: string;
  ms: number;
}

/** Builds the package from the current tree and dist/gala-gopher (no rebuild of the executable). */
export async function buildRpm(o: { out: string; topdir: string; release?: string; version?: string }): Promise<BuiltRpm> {
  const env: Record<string, string | undefined> = {
    ...process.env,
    GG_RPM_NO_BUILD: "1",
    GG_RPM_OUT: o.out,
    GG_RPM_TOPDIR: o.topdir,
    GG_RPM_RELEASE: o.release ?? "1",
    GG_RPM_VERSION: o.version,
  };
  const r = await run(["bash", RPM_SH], { env, timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`scripts/rpm.sh failed (${r.code}):\n${r.stderr}`);
  const path = r.stdout.trim().split("\n").pop() ?? "";
  if (!existsSync(path)) throw new Error(`scripts/rpm.sh printed '${path}', which does not exist`);
  return { path, ms: r.ms };
}

/** `rpm <args>` that must succeed; returns stdout. Drops Debian's "use Alien" warning. */
export async function rpm(args: string[]): Promise<string> {
  const r = await run(["rpm", ...args]);
  if (r.code !== 0) throw new Error(`rpm ${args.join(" ")} failed (${r.code}):\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** stderr of rpm without Debian's two-line warning about Alien. */
export function rpmNoise(stderr: string): string {
  return stderr
    .split("\n")
    .filter((l) => l && !l.includes("use Alien instead") && !l.includes("assuming you know what you are doing"))
    .join("\n");
}
