// Replacing a file so that a crash, a full disk or any other failure leaves either the old
// file or the new one, never a cut one: write a temporary file in the same directory, fsync
// it, rename it over the target, fsync the directory. Used for every file the agent
// rewrites (probes.init with --save-probes, /opt/gala-gopher/machine_id).
import { closeSync, constants, fsyncSync, lstatSync, openSync, renameSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export class AtomicWriteError extends Error {
  readonly code = "EATOMICWRITE";
  constructor(
    readonly path: string,
    readonly step: "create" | "write" | "fsync" | "rename" | "fsync-dir",
    override readonly cause: unknown,
  ) {
    const c = cause as NodeJS.ErrnoException;
    const outcome = step === "fsync-dir" ? "the new file is in place but may not survive a power loss" : "the previous file is kept";
    super(`${path}: ${step} failed: ${c?.message ?? String(cause)}; ${outcome}`);
  }
}

/** The mode to give the new file: the old regular file's, else `mode`. */
function modeFor(path: string, mode: number): number {
  try {
    const st = lstatSync(path);
    return st.isFile() ? st.mode & 0o7777 : mode;
  } catch {
    return mode;
  }
}

/**
 * Writes `data` to `path` atomically. A symlink at `path` is replaced, never followed. On
 * failure the temporary file is removed, `path` is untouched and AtomicWriteError says
 * which step failed and why. After a successful rename a failing directory fsync still
 * throws (the new content is in place but may not survive a power loss).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, opts: { mode?: number } = {}): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`);
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  let fd: number;
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, modeFor(path, opts.mode ?? 0o644));
  } catch (e) {
    throw new AtomicWriteError(path, "create", e);
  }
  let step: "write" | "fsync" | "rename" = "write";
  try {
    for (let off = 0; off < bytes.length; ) off += writeSync(fd, bytes, off, bytes.length - off);
    step = "fsync";
    fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    step = "rename";
    renameSync(tmp, path);
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw new AtomicWriteError(path, step, e);
  }
  try {
    const dfd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  } catch (e) {
    throw new AtomicWriteError(path, "fsync-dir", e);
  }
}
