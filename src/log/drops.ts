// Counts of log lines that could not be written, by channel and reason. The log sinks exist
// before the agent's metrics do, so the tally keeps what it counted until attach() hands
// it to gala_gopher_agent_dropped_total and from then on forwards every drop.
export type LogChannel = "metric_log" | "event_log" | "meta_log" | "debug_log";
export type WriteFailure = "no_space" | "read_only" | "no_permission" | "write_error";

export interface DropCounter {
  inc(labels: { channel: string; reason: string }, n: number): void;
}

/** The reason label for a failed write or mkdir (a small fixed set: bounded series). */
export function writeFailureOf(e: unknown): WriteFailure {
  switch ((e as NodeJS.ErrnoException)?.code) {
    case "ENOSPC":
    case "EDQUOT":
      return "no_space";
    case "EROFS":
      return "read_only";
    case "EACCES":
    case "EPERM":
      return "no_permission";
    default:
      return "write_error";
  }
}

export class DropTally {
  private readonly pending = new Map<`${LogChannel} ${WriteFailure}`, number>();
  private readonly totals = new Map<LogChannel, number>();
  private target: DropCounter | undefined;

  add(channel: LogChannel, reason: WriteFailure, lines: number): void {
    if (lines <= 0) return;
    this.totals.set(channel, (this.totals.get(channel) ?? 0) + lines);
    if (this.target) this.target.inc({ channel, reason }, lines);
    else this.pending.set(`${channel} ${reason}`, (this.pending.get(`${channel} ${reason}`) ?? 0) + lines);
  }

  /** From now on drops go to `counter`; what was counted before is added at once. */
  attach(counter: DropCounter): void {
    this.target = counter;
    for (const [key, n] of this.pending) {
      const [channel, reason] = key.split(" ") as [LogChannel, WriteFailure];
      counter.inc({ channel, reason }, n);
    }
    this.pending.clear();
  }

  /** Lines dropped on `channel` since start. */
  total(channel: LogChannel): number {
    return this.totals.get(channel) ?? 0;
  }
}
