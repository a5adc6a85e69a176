// One poller for every BPF ring buffer of the process: one timer drains all registered rings
// (never a timer per probe, never a blocking poll on the JS thread, see docs/ebpf.md). While
// records arrive it ticks every `intervalMs`; after a tick that found nothing, every
// `idleIntervalMs` (an idle agent wakes up 5 times a second, a busy ring is drained at once). Each
// ring is read by the direct mmap reader where its memory ordering is correct (x86-64) and by
// libbpf's ring_buffer__consume elsewhere (ringbuf.ts explains why). Per tick a ring yields
// at most `maxPerRing` records so one busy ring cannot starve the others or the event loop.
import type { BpfMap } from "./object.ts";
import { LibbpfRingReader } from "./ring-libbpf.ts";
import { MMAP_READ_IS_ORDERED, RingBufferReader, type RecordHandler } from "./ringbuf.ts";

export type { RecordHandler };

/** How ring records are read: "mmap" (JS over the mapping) or "libbpf" (ring_buffer__consume). */
export type RingReadMode = "mmap" | "libbpf";

/** The read mode this CPU allows: mmap only where plain loads are acquire loads. */
export function defaultRingReadMode(): RingReadMode {
  return MMAP_READ_IS_ORDERED ? "mmap" : "libbpf";
}

export interface RingPollerOptions {
  /** Milliseconds between drains while records arrive (default 10). */
  intervalMs?: number;
  /** Milliseconds between drains after a tick that found no record (default: intervalMs). */
  idleIntervalMs?: number;
  /** Records taken from one ring per tick (default 65536). */
  maxPerRing?: number;
  /** Default read mode of added rings (default: defaultRingReadMode()). */
  mode?: RingReadMode;
  /** Told about a handler that threw or a ring that failed (the ring stays registered). */
  onError?: (ring: string, error: unknown) => void;
}

export interface RingOptions {
  /** Name in stats and errors (default: the map's name). */
  name?: string;
  /** Overrides the poller's read mode for this ring. */
  mode?: RingReadMode;
  /**
   * Drop accounting: `read()` returns the cumulative count of records the BPF side could
   * not reserve (typically a per-CPU counter, see percpu.ts); each tick reports the increase.
   */
  drops?: { read: () => number | bigint; report: (n: number) => void };
}

export interface RingStats {
  name: string;
  mode: RingReadMode;
  records: number;
  handlerErrors: number;
  dropped: number;
}

/** A registered ring: disposing unregisters it (after a last drain) and unmaps it. */
export interface RingHandle extends Disposable {
  /** Drains this ring now (e.g. before a collection reads the maps); returns the records delivered. */
  drain(): number;
}

interface Ring {
  stats: RingStats;
  reader: RingBufferReader | LibbpfRingReader;
  handler: RecordHandler;
  drops?: RingOptions["drops"];
  lastDrops: number;
}

export class RingPoller implements Disposable {
  private readonly rings = new Set<Ring>();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private readonly intervalMs: number;
  private readonly idleIntervalMs: number;
  private readonly maxPerRing: number;
  private readonly mode: RingReadMode;

  /** A poller with no rings; its timer runs only while at least one ring is registered. */
  constructor(private readonly o: RingPollerOptions = {}) {
    this.intervalMs = o.intervalMs ?? 10;
    this.idleIntervalMs = o.idleIntervalMs ?? this.intervalMs;
    this.maxPerRing = o.maxPerRing ?? 65536;
    if (!(this.intervalMs > 0)) throw new RangeError(`RingPoller: intervalMs must be > 0, got ${o.intervalMs}`);
    if (!(this.idleIntervalMs >= this.intervalMs)) throw new RangeError(`RingPoller: idleIntervalMs must be >= intervalMs, got ${o.idleIntervalMs}`);
    if (!Number.isInteger(this.maxPerRing) || this.maxPerRing <= 0) throw new RangeError(`RingPoller: maxPerRing must be a positive integer, got ${o.maxPerRing}`);
    this.mode = o.mode ?? defaultRingReadMode();
  }

  /**
   * Registers `map` (a loaded BPF_MAP_TYPE_RINGBUF); `handler` gets each record's payload view
   * (valid only during the call). Disposing the result unregisters and unmaps the ring.
   */
  add(map: BpfMap, handler: RecordHandler, o: RingOptions = {}): RingHandle {
    const mode = o.mode ?? this.mode;
    const reader = mode === "mmap" ? new RingBufferReader(map) : new LibbpfRingReader(map);
    const ring: Ring = { stats: { name: o.name ?? map.name, mode, records: 0, handlerErrors: 0, dropped: 0 }, reader, handler, drops: o.drops, lastDrops: 0 };
    if (ring.drops) ring.lastDrops = Number(ring.drops.read());
    this.rings.add(ring);
    if (!this.timer) this.schedule(this.intervalMs);
    return {
      drain: () => (this.rings.has(ring) ? this.drainRing(ring, Number.POSITIVE_INFINITY) : 0),
      [Symbol.dispose]: () => {
        if (!this.rings.delete(ring)) return;
        this.drainRing(ring, Number.POSITIVE_INFINITY);
        ring.reader[Symbol.dispose]();
        if (this.rings.size === 0) this.stopTimer();
      },
    };
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      const n = this.poll();
      if (this.rings.size > 0) this.schedule(n > 0 ? this.intervalMs : this.idleIntervalMs);
      else this.timer = undefined;
    }, ms);
    this.timer.unref?.(); // the poller alone does not keep the process alive
  }

  /** Drains every ring once (the timer calls this); returns the records delivered. */
  poll(): number {
    let n = 0;
    for (const r of this.rings) n += this.drainRing(r, this.maxPerRing);
    return n;
  }

  private drainRing(r: Ring, max: number): number {
    const before = r.reader.records;
    // A throwing handler stops a drain after its record (consumed); go on with the budget left.
    while (r.reader.records - before < max) {
      try {
        r.reader.drain(r.handler, max - (r.reader.records - before));
        break;
      } catch (e) {
        r.stats.handlerErrors++;
        this.o.onError?.(r.stats.name, e);
      }
    }
    const n = r.reader.records - before;
    r.stats.records += n;
    if (r.drops) {
      try {
        const now = Number(r.drops.read());
        if (now > r.lastDrops) {
          r.stats.dropped += now - r.lastDrops;
          r.drops.report(now - r.lastDrops);
        }
        r.lastDrops = now;
      } catch (e) {
        this.o.onError?.(r.stats.name, e);
      }
    }
    return n;
  }

  /** Whether the shared timer is running (exactly while rings are registered). */
  get running(): boolean {
    return this.timer !== undefined;
  }

  /** Per-ring counters. */
  stats(): RingStats[] {
    return [...this.rings].map((r) => ({ ...r.stats }));
  }

  private stopTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Stops the timer and releases every ring (after a last drain). */
  [Symbol.dispose](): void {
    this.stopTimer();
    for (const r of this.rings) {
      this.drainRing(r, Number.POSITIVE_INFINITY);
      r.reader[Symbol.dispose]();
    }
    this.rings.clear();
  }
}
