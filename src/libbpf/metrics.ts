// Losses inside the eBPF data path (a kernel map that was full, a ring buffer that had no
// room, …) are never silent: probes add them here and the agent exports them as
// gala_gopher_agent_bpf_dropped_total{probe,reason}.
import { Counter, type Registry } from "../egress/prom.ts";

const totals = new Map<string, { probe: string; reason: string; value: number }>();

/** Adds `n` drops of `reason` (e.g. "conn_map_full", "ringbuf_full") for `probe`. */
export function addBpfDrops(probe: string, reason: string, n: number): void {
  if (!(n > 0)) return;
  const k = `${probe}\0${reason}`;
  const cur = totals.get(k);
  if (cur) cur.value += n;
  else totals.set(k, { probe, reason, value: n });
}

/** Current totals (tests, logs). */
export function bpfDrops(): { probe: string; reason: string; value: number }[] {
  return [...totals.values()].map((t) => ({ ...t }));
}

/** Registers gala_gopher_agent_bpf_dropped_total on `registry` (read from the totals at every scrape). */
export function registerBpfMetrics(registry: Registry): Counter<"probe" | "reason"> {
  const seen = new Map<string, number>();
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
