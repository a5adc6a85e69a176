// Losses inside the eBPF data path (a kernel map that was full, a ring buffer that had no
// room, …) are never silent: probes count them through ctx.drops(reason) and the agent
// exports them as gala_gopher_agent_bpf_dropped_total{probe,reason}. One instance per agent.
import { Counter, type Registry } from "../egress/prom.ts";

export interface DropTotal {
  readonly probe: string;
  readonly reason: string;
  readonly value: number;
}

export class BpfDropCounts {
  private readonly totals = new Map<string, { probe: string; reason: string; value: number }>();

  /** Adds `n` drops of `reason` (e.g. "conn_map_full", "ringbuf_full") for `probe`. */
  add(probe: string, reason: string, n: number): void {
    if (!(n > 0)) return;
    const k = `${probe}\0${reason}`;
    const cur = this.totals.get(k);
    if (cur) cur.value += n;
    else this.totals.set(k, { probe, reason, value: n });
  }

  /** The counting function handed to a probe as ctx.drops(reason). */
  counter(probe: string, reason: string): (n: number) => void {
    return (n) => this.add(probe, reason, n);
  }

  /** Current totals (tests, logs). */
  snapshot(): DropTotal[] {
    return [...this.totals.values()].map((t) => ({ ...t }));
  }

  /** The total of one probe and reason (0 when none was counted). */
  total(probe: string, reason: string): number {
    return this.totals.get(`${probe}\0${reason}`)?.value ?? 0;
  }

  /** Registers gala_gopher_agent_bpf_dropped_total on `registry` (read from the totals at every scrape). */
  register(registry: Registry): Counter<"probe" | "reason"> {
    const seen = new Map<string, number>();
    const totals = this.totals;
    const c: Counter<"probe" | "reason"> = new Counter({
      name: "gala_gopher_agent_bpf_dropped_total",
      help: "records lost inside eBPF probes (kernel map full, ring buffer full), by probe and reason",
      labelNames: ["probe", "reason"],
      registers: [registry],
      collect() {
        for (const [k, t] of totals) {
          const d = t.value - (seen.get(k) ?? 0);
          if (d > 0) c.inc({ probe: t.probe, reason: t.reason }, d);
          else if (!seen.has(k)) c.inc({ probe: t.probe, reason: t.reason }, 0);
          seen.set(k, t.value);
        }
      },
    });
    return c;
  }
}
