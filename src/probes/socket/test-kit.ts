// Test helpers of the socket probe: a ProbeContext that records rows and events, a scope
// the test controls, the sockgen activity generator (compiled with the host's clang) and
// child processes with line-oriented output.
import { join } from "node:path";
import type { ProbeContext, ScopeView } from "../../probe/define.ts";
import type { ParamValues } from "../../probe/settings.ts";
import { buildTestProgram, probeRootPreflight, recordingContext, type RecordingContext } from "../../probe/test-root.ts";
import { socketUnsupported } from "./bpf.ts";
import socket from "./index.ts";

export { Proc, TestScope, type Recorded } from "../../probe/test-root.ts";

/** Whether the root tests can run here (root, objects built, sockgen built, kernel support); prints why not. */
export function rootPreflight(test: string): { can: boolean; bin: string } {
  return probeRootPreflight(test, { build: sockgen, unsupported: socketUnsupported });
}

/** Builds dist/bpf/sockgen from testdata/sockgen.c when missing or stale. */
export function sockgen(): string {
  return buildTestProgram(join(import.meta.dir, "testdata", "sockgen.c"), { compilers: ["clang"], flags: ["-O2", "-Wall"] });
}

/** A context as the agent builds it (ctx.bpf, drops, limits from the definition); `close()` releases what the run left open. */
export function testContext(o: { subitems: string[]; scope: ScopeView; params?: ParamValues }): RecordingContext {
  const params: ParamValues = { report_period: 60, report_event: 1, ringbuf_map_size: 1, cluster_ip_backend: 0, ...o.params };
  return recordingContext({ definition: socket, subitems: o.subitems, scope: o.scope, params });
}
