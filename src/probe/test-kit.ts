// Test helper: the agent-provided members of a ProbeContext (features, bpf, drops, limits)
// for tests that build a context by hand instead of through the manager.
import { detectFeatures, type KernelFeatures } from "../host/features.ts";
import type { Logger } from "../log/logger.ts";
import { BpfDropCounts } from "./bpf-drops.ts";
import type { ProbeContext, ProbeDefinition, ScopeView } from "./define.ts";
import { agentRingPoller, probeLimit } from "./context.ts";
import { ProbeBpfSet } from "./probe-bpf.ts";

export interface TestKit extends Pick<ProbeContext, "features" | "drops" | "limit"> {
  readonly bpf: ProbeBpfSet;
  /** Every drop the probe counted (ctx.drops). */
  readonly dropCounts: BpfDropCounts;
  /** Closes what the probe opened through ctx.bpf and stops the poller. */
  close(): void;
}

export function testKit(o: {
  feature: string;
  log: Logger;
  scope: () => ScopeView;
  definition?: ProbeDefinition;
  limits?: Readonly<Record<string, number>>;
  features?: () => KernelFeatures;
  /** Shared across contexts (a test that sums drops over several runs). */
  dropCounts?: BpfDropCounts;
}): TestKit {
  const dropCounts = o.dropCounts ?? new BpfDropCounts();
  const poller = agentRingPoller(o.log);
  let detected: KernelFeatures | undefined;
  const features = () => (detected ??= (o.features ?? (() => detectFeatures()))());
  const drops = (reason: string) => dropCounts.counter(o.feature, reason);
  const bpf = new ProbeBpfSet({ feature: o.feature, log: o.log, features, poller, scope: o.scope, drops });
  return {
    get features() {
      return features();
    },
    bpf,
    drops,
    limit: (name) => {
      if (!o.definition) throw new Error(`test context of ${o.feature} has no definition to take limits from`);
      return probeLimit(o.definition, name, o.limits?.[name]);
    },
    dropCounts,
    close() {
      bpf[Symbol.dispose]();
      poller[Symbol.dispose]();
    },
  };
}
