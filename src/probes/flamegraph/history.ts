// The last periods of every type, kept for the flame graph page (GET /flamegraph/data):
// at most `maxPeriods` periods and `maxStacks` stacks in all, oldest out first.

export interface PeriodStacks {
  readonly type: string;
  /** Period end, ms since the epoch. */
  readonly at: number;
  readonly unit: string;
  /** [folded stack, value in `unit`, pid]. */
  readonly stacks: readonly (readonly [string, number, number])[];
}

export class FlameHistory {
  private readonly periods: PeriodStacks[] = [];
  private stacks = 0;

  constructor(
    private readonly maxPeriods: number,
    private readonly maxStacks: number,
  ) {}

  add(p: PeriodStacks): void {
    if (p.stacks.length === 0) return;
    this.periods.push(p);
    this.stacks += p.stacks.length;
    while (this.periods.length > 1 && (this.periods.length > this.maxPeriods || this.stacks > this.maxStacks)) this.stacks -= this.periods.shift()!.stacks.length;
  }

  /** Every kept period, oldest first. */
  all(): readonly PeriodStacks[] {
    return this.periods;
  }
}
