// Keeps the TLS uprobes on the processes in scope (support_ssl=1): called once per period,
// it drops processes that left, probes new ones, re-examines a process whose executable
// changed (exec) and, every `rescanMs`, a process where no TLS code was found yet (a libssl
// loaded later with dlopen). Failures are logged once per text, never thrown: one odd
// binary must not stop the probe. The kernel counters of tls.h are read as deltas.
import type { HostFs } from "../../../host/fs.ts";
import type { ScopeView } from "../../../probe/define.ts";
import { type TlsProgramSource, TlsUprobes } from "./attach.ts";

/** tls.h's enum tls_stat, as drop reasons. */
export const TLS_STAT_REASONS = ["tls_no_fd", "tls_go_no_fd", "tls_go_unpaired", "tls_ssl_unpaired"] as const;

export interface TlsFollowerOptions {
  /** Host reads (its procfs root holds /proc/<pid>/...). */
  host: HostFs;
  /** Distinct TLS files (libssl copies, static OpenSSL or Go executables) probed at once. */
  maxFiles: number;
  warn(text: string): void;
  rescanMs?: number;
  now?: () => number;
  /** Lists the pids of the host (whole-host scope). */
  listPids(): number[];
}

interface Known {
  exe: string;
  hasTls: boolean;
  checkedMs: number;
}

const MAX_WARNINGS = 256;

export class TlsFollower implements Disposable {
  private readonly uprobes: TlsUprobes;
  private readonly known = new Map<number, Known>();
  private readonly warned = new Set<string>();
  private readonly rescanMs: number;
  private readonly now: () => number;

  constructor(
    obj: TlsProgramSource,
    private readonly o: TlsFollowerOptions,
  ) {
    this.uprobes = new TlsUprobes(obj, o.host, o.maxFiles);
    this.rescanMs = o.rescanMs ?? 30_000;
    this.now = o.now ?? Date.now;
  }

  /** Brings the uprobes in step with `scope`. */
  follow(scope: Pick<ScopeView, "wholeHost" | "includes" | "pids">): void {
    let pids: ReadonlySet<number>;
    if (scope.wholeHost) pids = new Set(this.o.listPids().filter((p) => scope.includes(p)));
    else pids = scope.pids();
    for (const pid of [...this.known.keys()]) {
      if (!pids.has(pid)) {
        this.known.delete(pid);
        this.uprobes.removeProcess(pid);
      }
    }
    const now = this.now();
    for (const pid of pids) {
      const exe = this.exeId(pid);
      if (exe === undefined) continue; // gone, or a kernel thread
      const k = this.known.get(pid);
      if (k && k.exe === exe && (k.hasTls || now - k.checkedMs < this.rescanMs)) continue;
      if (k) this.uprobes.removeProcess(pid);
      const r = this.uprobes.addProcess(pid);
      for (const e of r.errors) this.warnOnce(`TLS uprobes: ${e.message}`);
      this.known.set(pid, { exe, hasTls: this.uprobes.filesOf(pid) > 0, checkedMs: now });
    }
  }

  /** device:inode of the process's executable, or undefined. */
  private exeId(pid: number): string | undefined {
    const st = this.o.host.stat(this.o.host.proc(String(pid), "exe"));
    return st ? `${st.dev}:${st.ino}` : undefined;
  }

  private warnOnce(text: string): void {
    if (this.warned.has(text) || this.warned.size >= MAX_WARNINGS) return;
    this.warned.add(text);
    this.o.warn(text);
  }

  /** Files probed (by kind) and processes followed. */
  get counts(): { openssl: number; go: number; processes: number } {
    return { ...this.uprobes.probed, processes: this.known.size };
  }

  [Symbol.dispose](): void {
    this.uprobes[Symbol.dispose]();
    this.known.clear();
  }
}
