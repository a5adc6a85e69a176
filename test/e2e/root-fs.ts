// Real file-system faults for root tests: small tmpfs mounts (full disks) and read-only
// mounts. Every mount is undone by its disposer.
import { mkdirSync } from "node:fs";
import { which } from "../harness.ts";

/** Why root file-system tests cannot run here, or undefined when they can. */
export function rootGate(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (mounts a tmpfs)";
  if (!which("mount") || !which("umount")) return "mount/umount not installed";
  return undefined;
}

function run(cmd: string[]): void {
  const p = Bun.spawnSync(cmd, { stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${cmd.join(" ")}: exit ${p.exitCode}: ${p.stderr.toString().trim()}`);
}

export interface Mount extends Disposable {
  readonly dir: string;
}

/** Mounts a tmpfs with `options` (e.g. "size=64k" or "ro") at `dir`. */
export function mountTmpfs(dir: string, options: string): Mount {
  mkdirSync(dir, { recursive: true });
  run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", dir]);
  return {
    dir,
    [Symbol.dispose]() {
      Bun.spawnSync(["umount", "-l", dir]);
    },
  };
}

/** Remounts a mount read-only or read-write. */
export function remount(dir: string, mode: "ro" | "rw"): void {
  run(["mount", "-o", `remount,${mode}`, dir]);
}
