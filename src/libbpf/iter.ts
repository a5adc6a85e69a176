// BPF iterators (SEC("iter/tcp"), SEC("iter/udp"), ...): the program is attached as an
// iterator link once; every read creates a fresh iterator fd (bpf_iter_create), reads it to
// EOF and closes it, so each read is one complete walk of the kernel's objects. The output
// is bounded: a walk producing more than `maxBytes` fails with IterOutputTooLarge.
import { ptr } from "bun:ffi";
import { BpfError } from "./errors.ts";
import { asPtr, errno, libbpf, libc, num, strerror } from "./ffi.ts";
import { BpfLink, type BpfProgram } from "./object.ts";

/** Default bound of one walk's output (16 MiB: ~400k 40-byte socket records). */
export const DEFAULT_ITER_MAX_BYTES = 16 << 20;

/** A walk wrote more than the caller allowed; nothing of it is returned. */
export class IterOutputTooLarge extends Error {
  readonly code = "E2BIG";
  constructor(
    readonly program: string,
    readonly maxBytes: number,
  ) {
    super(`iterator ${program}: output exceeds ${maxBytes} bytes (raise maxBytes or filter in the program)`);
    this.name = "IterOutputTooLarge";
  }
}

/** An attached iterator program; `read()` walks once. Dispose to destroy the link. */
export class BpfIterator implements Disposable {
  private link: BpfLink | undefined;
  private buf: Uint8Array;

  /**
   * Attaches `prog` (loaded, section `iter/...`) as an iterator link.
   * @param maxBytes upper bound of one walk's output (IterOutputTooLarge beyond it).
   */
  constructor(
    readonly prog: BpfProgram,
    readonly maxBytes = DEFAULT_ITER_MAX_BYTES,
  ) {
    if (!prog.section.startsWith("iter/") && !prog.section.startsWith("iter.s/")) {
      throw new BpfError(`iterator ${prog.name}`, 22, `section ${prog.section} is not an iter/ program`);
    }
    if (!Number.isInteger(maxBytes) || maxBytes <= 0) throw new RangeError(`iterator ${prog.name}: maxBytes must be a positive integer, got ${maxBytes}`);
    const lib = libbpf();
    const p = asPtr(lib.sym.bpf_program__attach_iter(prog.handle, null));
    if (!p) {
      const e = errno() || 22;
      throw new BpfError(`attach iterator ${prog.name}`, e, lib.strerror(-e));
    }
    this.link = new BpfLink(lib, p, `${prog.section} (${prog.name})`);
    this.buf = new Uint8Array(Math.min(64 << 10, maxBytes));
  }

  /**
   * Walks once and returns the bytes the program wrote. The result is a view of an
   * internal buffer, valid until the next read (copy it to keep it).
   */
  read(): Uint8Array {
    if (!this.link) throw new BpfError(`iterator ${this.prog.name}`, 9, "iterator is closed");
    const lib = libbpf();
    const fd = lib.sym.bpf_iter_create(this.link.fd);
    if (fd < 0) throw new BpfError(`bpf_iter_create ${this.prog.name}`, fd, lib.strerror(fd));
    const c = libc();
    try {
      let len = 0;
      for (;;) {
        if (len === this.buf.length) {
          if (len >= this.maxBytes) {
            // One more byte available means the walk did not end within the bound.
            const probe = new Uint8Array(1);
            if (num(c.read(fd, ptr(probe), 1)) > 0) throw new IterOutputTooLarge(this.prog.name, this.maxBytes);
            return this.buf.subarray(0, len);
          }
          const grown = new Uint8Array(Math.min(this.buf.length * 2, this.maxBytes));
          grown.set(this.buf);
          this.buf = grown;
        }
        const n = num(c.read(fd, ptr(this.buf, len), this.buf.length - len));
        if (n === 0) return this.buf.subarray(0, len);
        if (n < 0) {
          const e = errno();
          if (e === 4 /* EINTR */) continue;
          throw new BpfError(`read iterator ${this.prog.name}`, e, strerror(e));
        }
        len += n;
      }
    } finally {
      c.close(fd);
    }
  }

  [Symbol.dispose](): void {
    this.link?.destroy();
    this.link = undefined;
  }
}

/**
 * One walk of the iterator program `prog`: attaches the iterator link, creates the
 * iterator, reads to EOF, closes everything; returns a copy of the output.
 * @throws IterOutputTooLarge when the output exceeds `maxBytes`; BpfError on attach/read failures.
 */
export function readIter(prog: BpfProgram, maxBytes = DEFAULT_ITER_MAX_BYTES): Uint8Array {
  using it = new BpfIterator(prog, maxBytes);
  return it.read().slice();
}
