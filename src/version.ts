// Version and commit, fixed at build time by scripts/build.ts (--define).
declare const GALA_GOPHER_COMMIT: string | undefined;
import pkg from "../package.json" with { type: "json" };

export const VERSION: string = pkg.version;

export function commit(): string {
  if (typeof GALA_GOPHER_COMMIT === "string") return GALA_GOPHER_COMMIT;
  try {
    const r = Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: import.meta.dir, stderr: "ignore" });
    const s = r.stdout.toString().trim();
    return s || "unknown";
  } catch {
    return "unknown";
  }
}
