// Which files of a process hold TLS code the l7 probe can read plaintext from: every libssl it
// maps (OpenSSL 1.1 or 3, found through /proc/<pid>/maps and opened through /proc/<pid>/root,
// so containers work), and its executable when OpenSSL is linked in statically (SSL_read and
// SSL_write among its symbols) or it is a Go program with crypto/tls. Each file is examined
// once per (device, inode); the results are kept for at most `maxFiles` files.
import type { HostFs } from "../../../host/fs.ts";
import { ElfFile } from "../../../libbpf/elf.ts";
import { parseProcMaps } from "../../../libbpf/stacks.ts";
import { type GoTlsBinary, goTlsBinary } from "./go-binary.ts";

/** OpenSSL entry points probed; the _ex forms exist from 1.1.1 on. */
export const OPENSSL_FUNCTIONS = ["SSL_read", "SSL_write", "SSL_read_ex", "SSL_write_ex"] as const;
export type OpenSslFunction = (typeof OPENSSL_FUNCTIONS)[number];

interface FileId {
  /** "device:inode": one attachment per distinct file. */
  readonly key: string;
  /** The path as the process sees it. */
  readonly path: string;
  /** The same file through /proc/<pid>/root. */
  readonly hostPath: string;
}

export type TlsCode =
  | (FileId & { readonly kind: "openssl"; readonly offsets: Partial<Record<OpenSslFunction, number>> })
  | (FileId & { readonly kind: "go"; readonly go: GoTlsBinary });

const LIBSSL = /\/libssl[^/]*\.so[^/]*$/;

/** OpenSSL's probe offsets in `elf`, or undefined when it lacks SSL_read/SSL_write. */
export function openSslOffsets(elf: ElfFile): Partial<Record<OpenSslFunction, number>> | undefined {
  const offsets: Partial<Record<OpenSslFunction, number>> = {};
  for (const fn of OPENSSL_FUNCTIONS) {
    const s = elf.symbol(fn);
    if (s) offsets[fn] = elf.fileOffset(s.value);
  }
  return offsets.SSL_read !== undefined && offsets.SSL_write !== undefined ? offsets : undefined;
}

export class TlsCodeFinder {
  private readonly byKey = new Map<string, TlsCode | null>();

  /** `host`: its procfs root is where /proc/<pid>/{maps,exe,root} are read. */
  constructor(
    private readonly host: HostFs,
    private readonly maxFiles: number,
  ) {
    if (!Number.isInteger(maxFiles) || maxFiles < 1) throw new RangeError(`tls: maxFiles ${maxFiles} must be a positive integer`);
  }

  /**
   * The TLS code files of process `pid` (empty when it has none or is gone). A file that
   * cannot be read or is malformed lands in `errors` (with its path) and is not retried
   * until it leaves the cache.
   */
  find(pid: number): { found: TlsCode[]; errors: Error[] } {
    const found: TlsCode[] = [];
    const errors: Error[] = [];
    const maps = this.host.readProc(String(pid), "maps");
    const exe = this.host.readlink(this.host.proc(String(pid), "exe"));
    if (maps === undefined || exe === undefined) return { found, errors };
    const paths = new Set<string>();
    for (const m of parseProcMaps(maps)) {
      if (!m.path.startsWith("/") || m.inode === 0) continue;
      if (m.path === exe || LIBSSL.test(m.path)) paths.add(m.path);
    }
    for (const path of paths) {
      const hostPath = this.host.proc(String(pid), "root", path);
      const st = this.host.stat(hostPath);
      if (!st) continue; // unmapped meanwhile, or the process left
      const key = `${st.dev}:${st.ino}`;
      let code = this.byKey.get(key);
      if (code === undefined) {
        try {
          code = examine({ key, path, hostPath }, path === exe);
        } catch (e) {
          errors.push(new Error(`${path} of process ${pid}: ${(e as Error).message}`));
          code = null;
        }
        if (this.byKey.size >= this.maxFiles) this.byKey.delete(this.byKey.keys().next().value!);
        this.byKey.set(key, code);
      }
      if (code) found.push({ ...code, path, hostPath });
    }
    return { found, errors };
  }

  /** Files examined and remembered. */
  get cached(): number {
    return this.byKey.size;
  }
}

function examine(id: FileId, isExecutable: boolean): TlsCode | null {
  const elf = ElfFile.open(id.hostPath);
  const offsets = openSslOffsets(elf);
  if (offsets) return { ...id, kind: "openssl", offsets };
  if (!isExecutable) return null;
  const go = goTlsBinary(id.hostPath, elf);
  return go ? { ...id, kind: "go", go } : null;
}
