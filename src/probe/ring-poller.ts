// One poller for every probe's ring buffers: a single timer drains them all, every 200 ms
// while idle and every 5 ms while any of them fills (more than 64 records in a pass, or a
// tenth of its bytes waiting), so a burst never waits for a full period. The daemon owns
// one instance; probes reach it through ctx.bpf.ringbuf().
import type { BpfMap } from "../libbpf/object.ts";
import { RingBufferReader, type RecordHandler } from "../libbpf/ringbuf.ts";

export const RING_IDLE_MS = 200;
export const RING_BUSY_MS = 5;
const BUSY_RECORDS = 64;
const BUSY_FILL = 0.1;

export interface RingOptions {
  /** Runs after every pass over this ring (e.g. a spill-map sweep); returns records handled. */
  afterDrain?: () => number;
  /** A drain (or afterDrain) that threw: the poller keeps going. */
  onError?: (e: unknown) => void;
}

/** One ring registered on the poller. */
export interface RingSubscription extends Disposable {
  /** Drains it now (before a collection reads the maps); returns records handled. */
  drain(): number;
}

export interface RingPoller {
  add(map: BpfMap, onRecord: RecordHandler, o?: RingOptions): RingSubscription;
}

interface Entry {
  readonly reader: RingBufferReader;
  readonly onRecord: RecordHandler;
  readonly o: RingOptions;
  readonly size: number;
}

export class TimerRingPoller implements RingPoller, Disposable {
  private readonly entries = new Set<Entry>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private nextMs = RING_IDLE_MS;

  add(map: BpfMap, onRecord: RecordHandler, o: RingOptions = {}): RingSubscription {
    const e: Entry = { reader: new RingBufferReader(map), onRecord, o, size: map.maxEntries };
    this.entries.add(e);
    this.arm(RING_IDLE_MS);
    return {
      drain: () => (this.entries.has(e) ? this.drainOne(e) : 0),
      [Symbol.dispose]: () => {
        if (!this.entries.delete(e)) return;
        e.reader[Symbol.dispose]();
        if (this.entries.size === 0) this.disarm();
      },
    };
  }

  /** Rings currently polled (tests). */
  get size(): number {
    return this.entries.size;
  }

  private drainOne(e: Entry): number {
    try {
      return e.reader.drain(e.onRecord) + (e.o.afterDrain?.() ?? 0);
    } catch (err) {
      e.o.onError?.(err);
      return 0;
    }
  }

  private pass(): void {
    this.timer = undefined;
    let busy = false;
    for (const e of this.entries) {
      const n = this.drainOne(e);
      if (n > BUSY_RECORDS || e.reader.pending() > e.size * BUSY_FILL) busy = true;
    }
    if (this.entries.size > 0) this.arm(busy ? RING_BUSY_MS : RING_IDLE_MS);
  }

  private arm(ms: number): void {
    if (this.timer && ms >= this.nextMs) return;
    clearTimeout(this.timer);
    this.nextMs = ms;
    this.timer = setTimeout(() => this.pass(), ms);
    this.timer.unref?.();
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  [Symbol.dispose](): void {
    for (const e of this.entries) e.reader[Symbol.dispose]();
    this.entries.clear();
    this.disarm();
  }
}
