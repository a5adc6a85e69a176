// What `kill -USR1 <agent pid>` writes to the log (docs/compatibility.md): one line per
// configured probe with its state, the live series per table, memory use and the running
// configuration in probes.init form. SIGUSR1 never stops the agent.
import type { ProbeManager } from "../probe/manager.ts";
import type { MetricStore } from "../store/store.ts";

export function stateDumpLines(d: { manager: ProbeManager; store: MetricStore; features: readonly string[] }): string[] {
  const lines: string[] = [];
  const probes = d.features
    .map((f) => {
      const s = d.manager.stateOf(f);
      return s ? `${f}=${s.state}${s.error ? ` (${s.error})` : ""}` : undefined;
    })
    .filter((x) => x !== undefined);
  lines.push(`state dump: probes: ${probes.length ? probes.join(", ") : "none configured"}`);
  const series = [...d.store.seriesCount()].filter(([, n]) => n > 0).map(([t, n]) => `${t}=${n}`);
  lines.push(`state dump: series: ${series.length ? series.join(", ") : "none"}`);
  const m = process.memoryUsage();
  const mib = (n: number) => (n / 1048576).toFixed(1);
  lines.push(`state dump: memory: rss ${mib(m.rss)} MiB, heap ${mib(m.heapUsed)}/${mib(m.heapTotal)} MiB`);
  for (const l of d.manager.savedConfiguration().split("\n")) if (l.trim()) lines.push(`state dump: config: ${l}`);
  return lines;
}
