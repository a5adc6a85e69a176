// Test helpers of the l7 probe: a recording context with the probe's params, the root
// preflight, the l7gen traffic generator (compiled with the host's clang) and a wait for
// the kernel scope.
import { join } from "node:path";
import type { Logger } from "../../log/logger.ts";
import type { ScopeView } from "../../probe/define.ts";
import type { ParamValues } from "../../probe/settings.ts";
import { buildTestProgram, probeRootPreflight, recordingContext, type RecordingContext } from "../../probe/test-root.ts";
import { l7Unsupported } from "./bpf.ts";
import l7 from "./index.ts";

export { Proc, TestScope, type Recorded } from "../../probe/test-root.ts";

/** Whether a root test of the l7 probe can run here; prints why not. */
export function rootPreflight(test: string, extra?: () => string | undefined): { can: boolean; bin: string } {
  return probeRootPreflight(test, { build: l7gen, unsupported: l7Unsupported, extra });
}

/** Builds dist/bpf/l7gen from testdata/l7gen.c when missing or stale. */
export function l7gen(): string {
  return buildTestProgram(join(import.meta.dir, "testdata", "l7gen.c"), { compilers: ["clang", "cc", "gcc"], flags: ["-O2", "-Wall"] });
}

export interface TestContext extends RecordingContext {
  /** Resolves once the probe's kernel side observes `pid`; rejects after `timeoutMs`. */
  inKernelScope(pid: number, timeoutMs?: number): Promise<void>;
}

export function testContext(o: { subitems: string[]; params?: ParamValues; scope: ScopeView; log?: Logger; limits?: Record<string, number> }): TestContext {
  const params: ParamValues = { report_period: 5, l7_protocol: [], support_ssl: 0, cluster_ip_backend: 0, ...o.params };
  const ctx = recordingContext({ definition: l7, subitems: o.subitems, scope: o.scope, params, log: o.log, limits: o.limits });
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

/** The "conn ..." lines l7gen printed. */
export interface GenConn {
  l4: "tcp" | "udp";
  role: "client" | "server";
  localPort: number;
  remotePort: number;
  sent: number;
  recv: number;
  sendCalls: number;
  recvCalls: number;
}

export function genConns(output: string): GenConn[] {
  return [...output.matchAll(/^conn (tcp|udp) (client|server) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$/gm)].map((m) => ({
    l4: m[1] as "tcp" | "udp",
    role: m[2] as "client" | "server",
    localPort: Number(m[3]),
    remotePort: Number(m[4]),
    sent: Number(m[5]),
    recv: Number(m[6]),
    sendCalls: Number(m[7]),
    recvCalls: Number(m[8]),
  }));
}
