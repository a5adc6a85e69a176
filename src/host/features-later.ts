// The daemon's kernel feature report (the "kernel … hooks: …" log line and the
// gala_gopher_agent_kernel_feature / _kernel_info gauges), taken off the start-up path.
// Detection loads test BPF programs and takes ~200 ms on a 2-core VM; at start it delayed
// the first report of a probe that needs none of it (baseinfo) by as much. It now runs a
// moment after start, unless an eBPF probe asked for it first (detectFeatures() is done
// once per process: the report then reuses that detection).
import type { Registry } from "../egress/prom.ts";
import type { Logger } from "../log/logger.ts";

/** How long after start the report is made (the first report of a baseinfo probe comes well before). */
export const KERNEL_FEATURES_REPORT_DELAY_MS = 1000;

/** Schedules the report; disposing before it ran cancels it. */
export function reportKernelFeaturesLater(registry: Registry, log: Logger, delayMs = KERNEL_FEATURES_REPORT_DELAY_MS): Disposable {
  let cancelled = false;
  const timer = setTimeout(async () => {
    const { detectFeatures, registerKernelFeatureMetrics } = await import("./features.ts");
    if (cancelled) return;
    registerKernelFeatureMetrics(registry, detectFeatures(log));
  }, delayMs);
  timer.unref?.();
  return {
    [Symbol.dispose]() {
      cancelled = true;
      clearTimeout(timer);
    },
  };
}
