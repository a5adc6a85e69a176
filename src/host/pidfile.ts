// Single-instance lock: an exclusive flock on the pid file (config.md §1), kept for the
// life of the process; the file is removed on clean exit.
import { dlopen, FFIType } from "bun:ffi";
import { closeSync, ftruncateSync, mkdirSync, openSync, rmSync, writeSync, constants } from "node:fs";
import { dirname } from "node:path";

const LOCK_EX = 2;
const LOCK_NB = 4;

export class AlreadyRunningError extends Error {
  readonly code = "EALREADYRUNNING";
}

let flock: ((fd: number, op: number) => number) | undefined;
function loadFlock(): (fd: number, op: number) => number {
  if (!flock) {
    const lib = dlopen("libc.so.6", { flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } });
    flock = (fd, op) => lib.symbols.flock(fd, op);
  }
  return flock;
}

export interface PidLock extends Disposable {
  readonly path: string;
}

export function acquirePidLock(path: string): PidLock {
  mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
  const fd = openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o640);
  if (loadFlock()(fd, LOCK_EX | LOCK_NB) !== 0) {
    closeSync(fd);
    throw new AlreadyRunningError(`another gala-gopher holds ${path}; stop it first (systemctl stop gala-gopher)`);
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  return {
    path,
    [Symbol.dispose]() {
      rmSync(path, { force: true });
      closeSync(fd);
    },
  };
}
