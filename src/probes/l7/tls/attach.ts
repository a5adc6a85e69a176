// The TLS uprobes of bpf/l7/tls.h placed on the TLS code of the processes in scope: once per
// file (device, inode), shared by every process that runs it (processes started later
// included, since a uprobe is on the file), dropped when the last reported process using it
// leaves. OpenSSL gets entry uprobes and uretprobes; Go gets an entry uprobe and one uprobe
// per RET instruction (never a uretprobe).
import type { HostFs } from "../../../host/fs.ts";
import type { BpfLink, BpfProgram } from "../../../libbpf/object.ts";
import { type OpenSslFunction, type TlsCode, TlsCodeFinder } from "./targets.ts";

/** The loaded object holding tls.h's programs (l7.bpf.o, or a test object). */
export interface TlsProgramSource {
  program(name: string): BpfProgram;
}

/** Program names in bpf/l7/tls.h. */
const OPENSSL_PROGRAMS: Record<OpenSslFunction, { enter: string; exit: string }> = {
  SSL_read: { enter: "tls_ssl_read_enter", exit: "tls_ssl_read_exit" },
  SSL_write: { enter: "tls_ssl_write_enter", exit: "tls_ssl_write_exit" },
  SSL_read_ex: { enter: "tls_ssl_read_ex_enter", exit: "tls_ssl_read_ex_exit" },
  SSL_write_ex: { enter: "tls_ssl_write_ex_enter", exit: "tls_ssl_write_ex_exit" },
};
const GO_PROGRAMS = {
  read: { enter: "tls_go_read_enter", ret: "tls_go_read_ret" },
  write: { enter: "tls_go_write_enter", ret: "tls_go_write_ret" },
} as const;

/** The TLS uprobe programs, for the object's loader to keep (autoload) when TLS is on. */
export const TLS_PROGRAM_NAMES: readonly string[] = [
  ...Object.values(OPENSSL_PROGRAMS).flatMap((p) => [p.enter, p.exit]),
  ...Object.values(GO_PROGRAMS).flatMap((p) => [p.enter, p.ret]),
];

interface FileAttachment {
  code: TlsCode;
  links: BpfLink[];
  pids: Set<number>;
}

export interface TlsAddResult {
  /** Files newly probed for this process. */
  attached: TlsCode[];
  /** Files that could not be examined or probed (with the reason). */
  errors: Error[];
}

export class TlsUprobes implements Disposable {
  private readonly files = new Map<string, FileAttachment>();
  private readonly keysOfPid = new Map<number, string[]>();
  private readonly finder: TlsCodeFinder;

  constructor(
    private readonly obj: TlsProgramSource,
    host: HostFs,
    private readonly maxFiles: number,
  ) {
    this.finder = new TlsCodeFinder(host, maxFiles * 4);
  }

  /** Probes the TLS code process `pid` runs (already probed files are shared). */
  addProcess(pid: number): TlsAddResult {
    if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`tls: invalid pid ${pid}`);
    const res: TlsAddResult = { attached: [], errors: [] };
    if (this.keysOfPid.has(pid)) return res;
    const { found, errors } = this.finder.find(pid);
    res.errors.push(...errors);
    const keys: string[] = [];
    for (const code of found) {
      let f = this.files.get(code.key);
      if (!f) {
        if (this.files.size >= this.maxFiles) {
          res.errors.push(new Error(`${code.path} of process ${pid}: ${this.maxFiles} TLS files probed already (max_tls_files)`));
          continue;
        }
        try {
          f = { code, links: this.attach(code), pids: new Set() };
        } catch (e) {
          res.errors.push(new Error(`${code.path} of process ${pid}: ${(e as Error).message}`));
          continue;
        }
        this.files.set(code.key, f);
        res.attached.push(code);
      }
      f.pids.add(pid);
      keys.push(code.key);
    }
    this.keysOfPid.set(pid, keys);
    return res;
  }

  private attach(code: TlsCode): BpfLink[] {
    const links: BpfLink[] = [];
    const at = (program: string, offset: number, retprobe = false) => links.push(this.obj.program(program).attachUprobe({ binary: code.hostPath, offset, pid: -1, retprobe }));
    try {
      if (code.kind === "openssl") {
        for (const [fn, offset] of Object.entries(code.offsets) as [OpenSslFunction, number][]) {
          at(OPENSSL_PROGRAMS[fn].enter, offset);
          at(OPENSSL_PROGRAMS[fn].exit, offset, true);
        }
      } else {
        for (const dir of ["read", "write"] as const) {
          at(GO_PROGRAMS[dir].enter, code.go[dir].entry);
          for (const r of code.go[dir].rets) at(GO_PROGRAMS[dir].ret, r);
        }
      }
    } catch (e) {
      for (const l of links) l.destroy();
      throw e;
    }
    return links;
  }

  has(pid: number): boolean {
    return this.keysOfPid.has(pid);
  }

  /** TLS files probed for process `pid` (0 when it has none or is not reported). */
  filesOf(pid: number): number {
    return this.keysOfPid.get(pid)?.length ?? 0;
  }

  /** A process left the scope (or exited): files no reported process uses lose their probes. */
  removeProcess(pid: number): void {
    const keys = this.keysOfPid.get(pid);
    if (!keys) return;
    this.keysOfPid.delete(pid);
    for (const k of keys) {
      const f = this.files.get(k)!;
      f.pids.delete(pid);
      if (f.pids.size === 0) {
        for (const l of f.links) l.destroy();
        this.files.delete(k);
      }
    }
  }

  /** Drops every process not in `alive`. */
  prune(alive: ReadonlySet<number>): void {
    for (const pid of [...this.keysOfPid.keys()]) if (!alive.has(pid)) this.removeProcess(pid);
  }

  /** Files probed now, by kind. */
  get probed(): { openssl: number; go: number } {
    let openssl = 0;
    let go = 0;
    for (const f of this.files.values()) f.code.kind === "openssl" ? openssl++ : go++;
    return { openssl, go };
  }

  [Symbol.dispose](): void {
    for (const f of this.files.values()) for (const l of f.links) l.destroy();
    this.files.clear();
    this.keysOfPid.clear();
  }
}
