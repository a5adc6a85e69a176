// The daemon's kernel feature report (the "kernel … hooks: …" log line and the
// gala_gopher_agent_kernel_feature / _kernel_info gauges), taken off the start-up path.
// Detection loads test BPF programs and takes ~200 ms on a 2-core VM; at start it delayed
// the first report of a probe that needs none of it (baseinfo) by as much. It now runs a
// moment after start: in a child process (features-child.ts), so that an agent without
// eBPF probes never holds libbpf or the parsed BTF; or, when an eBPF probe detected in this
// process already (detectFeatures() is once per process), from that detection.
import type { Registry } from "../egress/prom.ts";
import type { Logger } from "../log/logger.ts";
import { detectInChild, selfCommand } from "./features-child.ts";
import type { KernelFeatureFacts } from "./features.ts";

/** How long after start the report is made (the first report of a baseinfo probe comes well before). */
export const KERNEL_FEATURES_REPORT_DELAY_MS = 1000;

export interface FeatureReportOptions {
  delayMs?: number;
  /** The command that runs the detection child (default: this program again). */
  childCommand?: string[];
}

/** Schedules the report; disposing before it ran cancels it. */
export function reportKernelFeaturesLater(registry: Registry, log: Logger, o: FeatureReportOptions = {}): Disposable {
  let cancelled = false;
  const report = async (): Promise<void> => {
    const features = await import("./features.ts");
    let facts: KernelFeatureFacts | undefined = features.detectedFeatures();
    if (facts) features.detectFeatures(log);
    else {
      try {
        facts = await detectInChild(log, o.childCommand ?? selfCommand());
        features.markFeatureSummaryLogged();
      } catch (e) {
        log.warn(`${(e as Error).message}; detecting kernel features in the agent's process`);
        facts = features.detectFeatures(log);
      }
    }
    if (!cancelled) features.registerKernelFeatureMetrics(registry, facts);
  };
  const timer = setTimeout(() => void report().catch((e) => log.error(`kernel feature report failed: ${(e as Error).message}`)), o.delayMs ?? KERNEL_FEATURES_REPORT_DELAY_MS);
  timer.unref?.();
  return {
    [Symbol.dispose]() {
      cancelled = true;
      clearTimeout(timer);
    },
  };
}
