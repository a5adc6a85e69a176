// support_ssl in a run of the l7 probe: while it is 1, the TLS uprobes of bpf/l7/tls.h (in
// l7.bpf.o) follow the processes in scope (./follow.ts), once per period; tls.h's counters
// are reported as drops. Uprobes missing on this kernel make support_ssl a warning, not a
// failure: the rest of the probe runs as without it.
import type { BpfMap, BpfObject } from "../../../libbpf/object.ts";
import { sumPerCpuU64 } from "../../../libbpf/percpu.ts";
import type { ProbeContext } from "../../../probe/define.ts";
import { TLS_STAT_REASONS, TlsFollower } from "./follow.ts";

export class L7Tls implements Disposable {
  private follower: TlsFollower | undefined;
  private readonly stats: BpfMap;
  private readonly reported = TLS_STAT_REASONS.map(() => 0);
  private warnedUnsupported = false;

  /** `obj`: the loaded l7 object (it holds tls.h's programs and maps). */
  constructor(
    private readonly ctx: ProbeContext,
    private readonly obj: BpfObject,
  ) {
    this.stats = obj.map("tls_stats");
  }

  /** Applies support_ssl (1: follow the processes in scope now; 0: remove every TLS uprobe). */
  configure(supportSsl: boolean): void {
    if (!supportSsl) {
      this.follower?.[Symbol.dispose]();
      this.follower = undefined;
      return;
    }
    if (this.follower) return;
    const uprobe = this.ctx.features.attach.uprobe;
    if (!uprobe.ok) {
      if (!this.warnedUnsupported) this.ctx.log.warn(`support_ssl: uprobes cannot be attached on this kernel (${uprobe.reason}); TLS connections are counted without their content`);
      this.warnedUnsupported = true;
      return;
    }
    const host = this.ctx.host;
    this.follower = new TlsFollower(this.obj, {
      host,
      maxFiles: this.ctx.limit("max_tls_files"),
      warn: (t) => this.ctx.log.warn(t),
      listPids: () => host.list(host.proc()).map(Number).filter((p) => Number.isInteger(p) && p > 0),
    });
    this.follow();
  }

  /** Follows the scope (new processes, leavers, execs) and reports tls.h's counters. */
  collect(): void {
    this.follow();
    for (let i = 0; i < TLS_STAT_REASONS.length; i++) {
      const total = Number(sumPerCpuU64(this.stats, new Uint32Array([i]))[0]);
      if (total > this.reported[i]!) this.ctx.drops(TLS_STAT_REASONS[i]!)(total - this.reported[i]!);
      this.reported[i] = total;
    }
  }

  private follow(): void {
    this.follower?.follow(this.ctx.scope);
  }

  /** TLS files probed and processes followed (undefined while support_ssl is off). */
  get counts(): { openssl: number; go: number; processes: number } | undefined {
    return this.follower?.counts;
  }

  [Symbol.dispose](): void {
    this.follower?.[Symbol.dispose]();
    this.follower = undefined;
  }
}
