// What the Go crypto/tls uprobes need from a Go executable, stripped or not: the Go version
// (from .go.buildinfo), and the file offsets of the entry and of every RET instruction of
// crypto/tls.(*Conn).Read and .Write (functions from .gopclntab, which stripping keeps; RETs
// from the x86-64 length decoder, since uretprobes crash Go programs: they rewrite the return
// address on a goroutine stack the runtime may move).
//
// Arguments come from Go's register ABI (Go >= 1.17 on amd64): receiver in RAX, the []byte
// in RBX (pointer) and RCX (length); the int result in RAX at RET; the goroutine (g) in R14.
// The socket fd is read through *tls.Conn (see GO_TLS_FD_PATH).
import { ElfFile } from "../../../libbpf/elf.ts";
import { parseGoPclntab } from "../../../libbpf/gopclntab.ts";
import { retOffsets } from "../../../libbpf/x86-insn.ts";

/** A Go executable the TLS uprobes cannot use (and why). */
export class GoTlsError extends Error {
  readonly code = "EGOTLS";
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`Go TLS in ${path}: ${reason}`);
    this.name = "GoTlsError";
  }
}

/** Where to probe one function: file offsets of its entry and of each RET. */
export interface GoFunctionProbes {
  readonly entry: number;
  readonly rets: readonly number[];
}

export interface GoTlsBinary {
  /** As the binary states it, e.g. "go1.26.8". */
  readonly goVersion: string;
  readonly read: GoFunctionProbes;
  readonly write: GoFunctionProbes;
}

/**
 * Field offsets from a *tls.Conn to the socket's fd, the same in every Go release with the
 * register ABI (1.17 and later, checked from DWARF in go-binary.test.ts for the toolchain here):
 *   tls.Conn.conn (net.Conn interface, first field) -> data word at +8 (the *net.TCPConn);
 *   net.TCPConn{conn{fd *netFD}} -> *netFD at +0;
 *   netFD{pfd poll.FD} at +0; poll.FD{fdmu fdMutex (16 bytes); Sysfd int} -> Sysfd at +16.
 * A net.Conn that is not a *net.TCPConn/*net.UnixConn (a user wrapper) yields a wrong fd,
 * which the kernel side rejects when it names no tracked socket of the process.
 */
export const GO_TLS_FD_PATH = { connIfaceData: 8, netFdInConn: 0, sysfdInNetFd: 16 } as const;

const BUILDINFO_MAGIC = "\xff Go buildinf:";
const MAX_FUNCTION_BYTES = 1 << 20;

/** Go's version string from a .go.buildinfo section (inline strings, Go >= 1.18; pointers before). */
export function goVersionOf(elf: ElfFile): string | undefined {
  const b = elf.readSection(".go.buildinfo");
  if (!b || b.length < 32) return undefined;
  if (Buffer.from(b.subarray(0, 14)).toString("latin1") !== BUILDINFO_MAGIC) throw new GoTlsError(elf.path, ".go.buildinfo has no buildinfo magic");
  const ptrSize = b[14]!;
  const flags = b[15]!;
  if (flags & 2) {
    // Inline: uvarint length, then the bytes, at offset 32.
    let len = 0;
    let shift = 0;
    let p = 32;
    for (;;) {
      if (p >= b.length || shift > 28) throw new GoTlsError(elf.path, ".go.buildinfo version length is malformed");
      const c = b[p++]!;
      len |= (c & 0x7f) << shift;
      shift += 7;
      if (!(c & 0x80)) break;
    }
    if (p + len > b.length) throw new GoTlsError(elf.path, ".go.buildinfo version runs past the section");
    return Buffer.from(b.subarray(p, p + len)).toString("utf8");
  }
  if (ptrSize !== 8) throw new GoTlsError(elf.path, `.go.buildinfo pointer size ${ptrSize} (64-bit only)`);
  // Before Go 1.18: a pointer to a Go string header {data, len}.
  const d = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const hdrAddr = Number(d.getBigUint64(16, true));
  const hdr = new DataView(elf.readAt(elf.fileOffset(hdrAddr), 16).buffer);
  const data = Number(hdr.getBigUint64(0, true));
  const len = Number(hdr.getBigUint64(8, true));
  if (len > 256) throw new GoTlsError(elf.path, `.go.buildinfo version of ${len} bytes`);
  return Buffer.from(elf.readAt(elf.fileOffset(data), len)).toString("utf8");
}

/** [major, minor] of "go1.26.8" / "devel go1.27-abcdef", or undefined. */
export function parseGoVersion(v: string): [number, number] | undefined {
  const m = /go(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/**
 * The crypto/tls probe points of the executable at `path`, undefined when it is not a Go
 * program or does not link crypto/tls.
 * @throws GoTlsError (a Go program the probes cannot serve: no register ABI, not x86-64,
 * undecodable code), ElfError, GoPclntabError
 */
export function goTlsBinary(path: string, elf: ElfFile = ElfFile.open(path)): GoTlsBinary | undefined {
  const pclntab = elf.readSection(".gopclntab");
  if (!pclntab) return undefined;
  if (elf.machine !== 62) throw new GoTlsError(path, `machine ${elf.machine} (x86-64 only)`);
  const fns = parseGoPclntab(path, pclntab, elf.section(".text")?.addr ?? 0);
  const read = fns.find((f) => f.name === "crypto/tls.(*Conn).Read");
  const write = fns.find((f) => f.name === "crypto/tls.(*Conn).Write");
  if (!read || !write) return undefined;
  const goVersion = goVersionOf(elf) ?? "";
  const v = parseGoVersion(goVersion);
  if (!v) throw new GoTlsError(path, `no Go version in .go.buildinfo (${JSON.stringify(goVersion)})`);
  if (v[0] === 1 && v[1] < 17) throw new GoTlsError(path, `${goVersion} passes arguments on the stack (the register ABI starts with go1.17)`);
  const probes = (f: { value: number; size: number; name: string }): GoFunctionProbes => {
    if (f.size <= 0 || f.size > MAX_FUNCTION_BYTES) throw new GoTlsError(path, `${f.name} has a size of ${f.size} bytes`);
    const entry = elf.fileOffset(f.value);
    let rets: number[];
    try {
      rets = retOffsets(elf.readAt(entry, f.size)).map((o) => entry + o);
    } catch (e) {
      throw new GoTlsError(path, `${f.name}: ${(e as Error).message}`);
    }
    if (rets.length === 0) throw new GoTlsError(path, `${f.name} has no RET instruction`);
    return { entry, rets };
  };
  return { goVersion, read: probes(read), write: probes(write) };
}
