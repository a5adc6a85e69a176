// Errors of the libbpf layer: one class, a symbolic code (EPERM, ENOENT, ...), the errno
// and libbpf's own text, plus what was being done.

const ERRNO_NAMES: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  7: "E2BIG",
  9: "EBADF",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  16: "EBUSY",
  17: "EEXIST",
  19: "ENODEV",
  22: "EINVAL",
  24: "EMFILE",
  28: "ENOSPC",
  38: "ENOSYS",
  95: "EOPNOTSUPP",
  524: "ENOTSUPP",
  4001: "LIBBPF_ERRNO__LIBELF",
  4002: "LIBBPF_ERRNO__FORMAT",
  4003: "LIBBPF_ERRNO__KVERSION",
  4004: "LIBBPF_ERRNO__ENDIAN",
  4005: "LIBBPF_ERRNO__INTERNAL",
  4006: "LIBBPF_ERRNO__RELOC",
  4007: "LIBBPF_ERRNO__LOAD",
  4008: "LIBBPF_ERRNO__VERIFY",
  4009: "LIBBPF_ERRNO__PROG2BIG",
  4010: "LIBBPF_ERRNO__KVER",
  4011: "LIBBPF_ERRNO__PROGTYPE",
  4012: "LIBBPF_ERRNO__WRNGPID",
  4013: "LIBBPF_ERRNO__INVSEQ",
  4014: "LIBBPF_ERRNO__NLPARSE",
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[Math.abs(errno)] ?? `E${Math.abs(errno)}`;
}

/** A failed libbpf or bpf() call. `errno` is positive; `code` its symbolic name. */
export class BpfError extends Error {
  readonly code: string;
  constructor(
    /** What was attempted, e.g. `load tcp.bpf.o` or `attach raw_tp/tcp_probe`. */
    readonly op: string,
    readonly errno: number,
    /** libbpf_strerror() text (or strerror for plain errnos). */
    readonly detail: string,
  ) {
    super(`${op}: ${detail} (${errnoName(errno)}, errno ${Math.abs(errno)})`);
    this.name = "BpfError";
    this.errno = Math.abs(errno);
    this.code = errnoName(errno);
  }
}

/** The shared libraries could not be loaded (neither embedded nor system copies). */
export class LibbpfUnavailableError extends Error {
  readonly code = "ELIBBPF";
  constructor(message: string) {
    super(message);
    this.name = "LibbpfUnavailableError";
  }
}
