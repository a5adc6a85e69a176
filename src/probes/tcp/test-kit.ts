// Test helpers of the tcp probe: a ProbeContext that records rows and events, a
// controllable scope, and the tcpgen traffic generator (compiled with the host's clang).
import { join } from "node:path";
import type { Logger } from "../../log/logger.ts";
import type { BpfDropCounts } from "../../probe/bpf-drops.ts";
import type { ProbeContext, ScopeView } from "../../probe/define.ts";
import type { ParamValues } from "../../probe/settings.ts";
import { buildTestProgram, probeRootPreflight, recordingContext, type RecordingContext } from "../../probe/test-root.ts";
import { tcpUnsupported } from "./bpf.ts";
import tcp from "./index.ts";

export { Proc, TestScope, type Recorded } from "../../probe/test-root.ts";

/**
 * Whether a root test of the tcp probe can run here: root, the BPF objects built, tcpgen
 * built, a kernel that runs the probe, and `extra` (another requirement: undefined when
 * met, else the reason). When it cannot, the reason is printed under the test's name.
 */
export function rootPreflight(test: string, extra?: () => string | undefined): { can: boolean; bin: string } {
  return probeRootPreflight(test, { build: tcpgen, unsupported: tcpUnsupported, extra });
}

/** Builds dist/bpf/tcpgen from testdata/tcpgen.c when missing or stale. */
export function tcpgen(): string {
  return buildTestProgram(join(import.meta.dir, "testdata", "tcpgen.c"), { compilers: ["clang"], flags: ["-O2"] });
}

export interface TestContext extends RecordingContext {
  /**
   * Resolves once the probe's kernel side observes `pid` (scope.h's map and mode word, read
   * back from the kernel); rejects after `timeoutMs`. A test lets a process start its
   * traffic only after this, so no connection slips through before the kernel knows it.
   */
  inKernelScope(pid: number, timeoutMs?: number): Promise<void>;
}

export function testContext(o: {
  subitems: string[];
  params?: ParamValues;
  scope: ScopeView;
  log?: Logger;
  limits?: Record<string, number>;
  dropCounts?: BpfDropCounts;
}): TestContext {
  const params: ParamValues = {
    report_period: 60,
    sample_period: 100,
    latency_thr: 0,
    drops_thr: 0,
    res_upper_thr: 0,
    report_event: 1,
    ringbuf_map_size: 1,
    report_cport: 0,
    cluster_ip_backend: 0,
    dev_name: "",
    ...o.params,
  };
  const ctx = recordingContext({ definition: tcp, subitems: o.subitems, scope: o.scope, params, log: o.log, limits: o.limits, dropCounts: o.dropCounts });
  return Object.assign(ctx, {
    async inKernelScope(pid: number, timeoutMs = 20_000): Promise<void> {
      const end = Date.now() + timeoutMs;
      while (!ctx.kit.bpf.observes(pid)) {
        if (Date.now() > end) throw new Error(`pid ${pid} not in the probe's kernel scope after ${timeoutMs} ms`);
        await Bun.sleep(10);
      }
    },
  });
}

/**
 * The per-connection retransmission counts tcpgen printed ("retrans <client_port> <n>":
 * the kernel's tcpi_total_retrans since connect()/accept()), by client port. Throws on a
 * port seen twice (the counts would be ambiguous).
 */
export function retransByClientPort(output: string): Map<string, number> {
  const byPort = new Map<string, number>();
  for (const m of output.matchAll(/^retrans (\d+) (\d+)$/gm)) {
    if (byPort.has(m[1]!)) throw new Error(`tcpgen reported client port ${m[1]} twice: ${output}`);
    byPort.set(m[1]!, Number(m[2]));
  }
  return byPort;
}
