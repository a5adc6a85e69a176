// Per-period gauges from the guest's /metrics for test/qemu/qemu.test.ts, one value per
// collection of the probe that writes them: a probe's gauge holds its last report period's
// value, and the probe's collect-duration gauge changes at every collection, so each
// scrape is filed under the collection it shows. Summing a series over the collections
// seen is then exact however the activity splits over periods (equal halves included).
export type Scrape = () => Promise<string | undefined>;

export class WatchTimeoutError extends Error {
  readonly code = "WATCH_TIMEOUT";
}

export class PeriodWatch {
  /** series key → collection number → the value the series showed in it */
  private readonly values = new Map<string, Map<number, number>>();
  private collection = -1;
  private lastMark: string | undefined;
  private stopped = false;
  private readonly loop: Promise<void>;
  private readonly mark: RegExp;

  /** `line` has the named groups `key` (the series) and `value`. */
  constructor(
    private readonly scrape: Scrape,
    probe: string,
    private readonly line: RegExp,
  ) {
    this.mark = new RegExp(`^gala_gopher_agent_probe_collect_duration_seconds\\{probe="${probe}"\\} (\\S+)$`, "m");
    this.loop = this.poll();
  }

  /** Collections seen so far (the one current when the watch started counts as the first). */
  get collections(): number {
    return this.collection + 1;
  }

  private ingest(body: string): void {
    const mark = this.mark.exec(body)?.[1];
    if (mark === undefined) return;
    if (mark !== this.lastMark) {
      this.lastMark = mark;
      this.collection++;
    }
    for (const m of body.matchAll(this.line)) {
      const key = m.groups!.key!;
      const byCollection = this.values.get(key) ?? new Map<number, number>();
      byCollection.set(this.collection, Number(m.groups!.value));
      this.values.set(key, byCollection);
    }
  }

  private async poll(): Promise<void> {
    while (!this.stopped) {
      const body = await this.scrape().catch(() => undefined);
      if (body !== undefined) this.ingest(body);
      await Bun.sleep(200);
    }
  }

  /** Waits until `n` more collections than now have been seen (than the first, before any scrape). */
  async waitCollections(n: number, timeoutMs: number): Promise<void> {
    const from = Math.max(this.collection, 0);
    const end = Date.now() + timeoutMs;
    while (this.collection < from + n) {
      if (Date.now() > end) throw new WatchTimeoutError(`saw ${Math.max(this.collection - from, 0)} of ${n} more collections within ${timeoutMs} ms`);
      await Bun.sleep(100);
    }
  }

  /** Stops watching; per series, its value in each collection it was seen in, in order. */
  async stop(): Promise<Map<string, number[]>> {
    this.stopped = true;
    await this.loop;
    const out = new Map<string, number[]>();
    for (const [key, byCollection] of this.values) out.set(key, [...byCollection.entries()].sort((a, b) => a[0] - b[0]).map((e) => e[1]));
    return out;
  }
}
