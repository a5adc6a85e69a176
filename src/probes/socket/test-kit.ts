// Test helpers of the socket probe: a ProbeContext that records rows and events, a scope
// the test controls, the sockgen activity generator (compiled with the host's clang) and
// child processes with line-oriented output (shared with the other BPF probes:
// src/probe/test-bpf-kit.ts).
import { join } from "node:path";
import { detectFeatures } from "../../host/features.ts";
import type { ScopeView } from "../../probe/define.ts";
import type { ParamValues } from "../../probe/settings.ts";
import { bpfRootPreflight, buildTestProgram, LineProcess, recordingContext, type RecordingContext } from "../../probe/test-bpf-kit.ts";
import { socketUnsupported } from "./bpf.ts";
import socket from "./index.ts";

export { TestScope, type Recorded } from "../../probe/test-bpf-kit.ts";

/** Whether the root tests can run here (root, objects built, sockgen built, kernel support); prints why not. */
export function rootPreflight(test: string): { can: boolean; bin: string } {
  let bin = "";
  const can = bpfRootPreflight(test, () => {
    bin = sockgen();
    return socketUnsupported(detectFeatures());
  });
  return { can, bin };
}

/** Builds dist/bpf/sockgen from testdata/sockgen.c when missing or stale. */
export function sockgen(): string {
  return buildTestProgram(join(import.meta.dir, "testdata", "sockgen.c"), ["-O2", "-Wall"]);
}

/** A context as the agent builds it (ctx.bpf, drops, limits from the definition); `close()` releases what the run left open. */
export function testContext(o: { subitems: string[]; scope: ScopeView; params?: ParamValues }): RecordingContext {
  const params: ParamValues = { report_period: 60, report_event: 1, ringbuf_map_size: 1, cluster_ip_backend: 0, ...o.params };
  return recordingContext({ feature: "socket", definition: socket, subitems: o.subitems, scope: o.scope, params });
}

/** A child process with line-oriented stdout. */
export class Proc extends LineProcess {
  /** Waits for the `nth` (1-based) match of `re` in the output. */
  override waitFor(re: RegExp, nth = 1, timeoutMs = 20_000): Promise<RegExpExecArray> {
    return this.waitForNth(re, nth, timeoutMs);
  }
}
