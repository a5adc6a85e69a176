// One collector per baseinfo subitem. index.ts keeps a table name → factory; a collector
// owns its previous sample (delta baseline) and forgets it on reset() (start and every
// reconfiguration), so the first report after either never carries deltas.
import type { ProbeContext } from "../../probe/define.ts";
import type { QdiscDump } from "../../host/netlink.ts";

/** What statfs(2) gives fs, in the shape of node's fs.statfsSync (numbers). */
export interface StatfsResult {
  readonly type?: number;
  readonly bsize: number;
  readonly blocks: number;
  readonly bfree: number;
  readonly bavail: number;
  readonly files: number;
  readonly ffree: number;
}

export interface CollectorDeps {
  /**
   * statfs of an absolute path (already rooted by --path.rootfs); undefined on failure.
   * May answer asynchronously: a hung NFS server must not block the agent's event loop.
   */
  statfs(path: string): StatfsResult | undefined | Promise<StatfsResult | undefined>;
  /**
   * Every qdisc of the observed network namespace (rtnetlink dump), an error text, or
   * undefined when the probe reads a host other than its own (fixture roots): then the
   * tc_* fields of nic are not reported.
   */
  qdiscs(): QdiscDump | { error: string } | undefined;
  /** Monotonic seconds: the time base of rates when /proc/uptime cannot be read. */
  monotonicSeconds(): number;
}

export interface Collector {
  collect(): void | Promise<void>;
  /** Forget the delta baseline (start, reconfiguration). */
  reset(): void;
  /** Release resources (the subitem was turned off or the probe stops). */
  dispose?(): void | Promise<void>;
}

export type CollectorFactory = (ctx: ProbeContext, deps: CollectorDeps) => Collector;

export function reportErrors(ctx: ProbeContext, item: string, errors: readonly string[]): void {
  if (errors.length) ctx.parseError(item, errors.slice(0, 3).join("; "));
}

/** The `dev_name` param, trimmed; "" when unset. */
export function devNameParam(ctx: ProbeContext): string {
  const v = ctx.params.dev_name;
  return typeof v === "string" ? v.trim() : "";
}

/**
 * Seconds between two samples: the /proc/uptime difference when both samples have it,
 * else the monotonic clock difference. Undefined when not positive.
 */
export function intervalSeconds(
  prev: { uptime?: number; mono: number } | undefined,
  cur: { uptime?: number; mono: number },
): number | undefined {
  if (prev === undefined) return undefined;
  const s = prev.uptime !== undefined && cur.uptime !== undefined ? cur.uptime - prev.uptime : cur.mono - prev.mono;
  return Number.isFinite(s) && s > 0 ? s : undefined;
}
