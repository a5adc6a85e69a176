// An append-only log file with a size cap (rotate to `.1`, or truncate and start over)
// that survives a faulty directory: a directory that cannot be created (read-only file
// system, no permission) is retried at most every `retryMs` and nothing throws; a write
// that fails part-way (full disk) is cut back to its last complete line, and every line
// that did not make it is counted in the DropTally with the reason.
import { closeSync, constants, fstatSync, ftruncateSync, mkdirSync, openSync, renameSync, statSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { writeFailureOf, type DropTally, type LogChannel, type WriteFailure } from "./drops.ts";

export const DIR_RETRY_MS = 10_000;
const encoder = new TextEncoder();

function countLines(bytes: Uint8Array, end = bytes.length): number {
  let n = 0;
  for (let i = 0; i < end; i++) if (bytes[i] === 0x0a) n++;
  return n;
}

export interface CappedFileOptions {
  maxBytes: number;
  onFull: "rotate" | "truncate";
  channel: LogChannel;
  drops: DropTally;
  /** How long a directory that could not be created is left alone (ms). */
  retryMs?: number;
  now?: () => number;
  /** Called when writing starts failing (with the reason) and when it works again. */
  onChange?: (failing: WriteFailure | undefined, detail: string) => void;
}

export class CappedFile {
  private size = -1;
  /** When the directory last failed, and why; undefined while it is usable. */
  private dirFailure: { at: number; reason: WriteFailure } | undefined;
  private lastOutcome: WriteFailure | "ok" = "ok";
  private dirError = "";

  constructor(
    readonly path: string,
    private readonly opts: CappedFileOptions,
  ) {
    this.dirReady();
  }

  private now(): number {
    return this.opts.now?.() ?? performance.now();
  }

  /** Creates the directory when needed; false while it is failing (retried after retryMs). */
  private dirReady(): boolean {
    if (this.size >= 0 && !this.dirFailure) return true;
    if (this.dirFailure && this.now() - this.dirFailure.at < (this.opts.retryMs ?? DIR_RETRY_MS)) return false;
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o750 });
      this.dirFailure = undefined;
      if (this.size < 0) {
        try {
          this.size = statSync(this.path).size;
        } catch {
          this.size = 0;
        }
      }
      return true;
    } catch (e) {
      this.dirFailure = { at: this.now(), reason: writeFailureOf(e) };
      this.dirError = (e as Error).message;
      return false;
    }
  }

  /** Counts a failure and reports the change of state once. */
  private failed(reason: WriteFailure, lines: number, detail: string): void {
    this.opts.drops.add(this.opts.channel, reason, lines);
    if (this.lastOutcome !== reason) this.opts.onChange?.(reason, detail);
    this.lastOutcome = reason;
  }

  private succeeded(): void {
    if (this.lastOutcome !== "ok") this.opts.onChange?.(undefined, "");
    this.lastOutcome = "ok";
  }

  /** Appends whole lines (`text` ends with "\n"); returns the number of lines written. */
  append(text: string): number {
    const bytes = encoder.encode(text);
    const lines = countLines(bytes);
    if (!this.dirReady()) {
      this.failed(this.dirFailure?.reason ?? "write_error", lines, this.dirError);
      return 0;
    }
    let fd = -1;
    try {
      if (this.size + bytes.length > this.opts.maxBytes) {
        if (this.opts.onFull === "truncate") closeSync(openSync(this.path, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, 0o640));
        else if (this.size > 0) renameSync(this.path, this.path + ".1");
        this.size = 0;
      }
      fd = openSync(this.path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT, 0o640);
      const start = fstatSync(fd).size;
      let off = 0;
      try {
        while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
      } catch (e) {
        // Keep the complete lines that made it; cut the partial one.
        const keep = off > 0 ? bytes.lastIndexOf(0x0a, off - 1) + 1 : 0;
        if (keep < off) {
          try {
            ftruncateSync(fd, start + keep);
          } catch {
            /* the cut line stays; it is still counted as dropped */
          }
        }
        const written = countLines(bytes, keep);
        this.size = start + keep;
        this.failed(writeFailureOf(e), lines - written, `${(e as Error).message}`);
        return written;
      }
      this.size = start + bytes.length;
      this.succeeded();
      return lines;
    } catch (e) {
      // The directory may have gone (removed, remounted): try it again on the next write.
      if ((e as NodeJS.ErrnoException).code === "ENOENT") this.size = -1;
      this.failed(writeFailureOf(e), lines, `${(e as Error).message}`);
      return 0;
    } finally {
      if (fd >= 0) closeSync(fd);
    }
  }
}
