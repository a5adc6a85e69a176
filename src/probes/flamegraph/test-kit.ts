// Test helpers of the flamegraph probe: a hand-built ProbeContext over a scope the test
// controls, the C fixtures of ./testdata compiled with the host's compiler, and the root
// tests' preflight (prints why they skip).
import { join } from "node:path";
import { detectFeatures } from "../../host/features.ts";
import { DEFAULT_HOST_PATHS, HostFs } from "../../host/fs.ts";
import type { Logger } from "../../log/logger.ts";
import type { BpfDropCounts } from "../../probe/bpf-drops.ts";
import type { ContainerInfo, ProbeContext, ScopeView } from "../../probe/define.ts";
import type { PageRoutes } from "../../probe/pages.ts";
import type { ParamValues, ProbeSettings } from "../../probe/settings.ts";
import { bpfRootPreflight } from "../../probe/test-root.ts";
import { testKit, type TestKit } from "../../probe/test-kit.ts";
import { ccPath, compileTestProgram } from "../../libbpf/testdata/cc.ts";
import flamegraph from "./index.ts";
import { flameUnsupported } from "./kernel.ts";

/** Compiles testdata/<name>.c into a fresh temporary directory. */
export function compileFixture(name: string, flags: string[]): string {
  return compileTestProgram(name, flags, join(import.meta.dir, "testdata"));
}

/** Whether the root tests can run here; prints the reason when not. */
export function rootPreflight(test: string, extra?: (f: ReturnType<typeof detectFeatures>) => string | undefined): boolean {
  return bpfRootPreflight(test, () => {
    const f = detectFeatures();
    return flameUnsupported(f) ?? extra?.(f) ?? (ccPath() ? undefined : "no C compiler for the fixtures");
  });
}

/** A whitelist scope of the given pids. */
export class ListScope implements ScopeView {
  readonly wholeHost = false;
  constructor(private readonly listed: Set<number>) {}
  pids(): ReadonlySet<number> {
    return this.listed;
  }
  excluded(): ReadonlySet<number> {
    return new Set();
  }
  containers(): ReadonlyMap<string, ContainerInfo> {
    return new Map();
  }
  includes(pid: number): boolean {
    return this.listed.has(pid);
  }
  labelFor(): undefined {
    return undefined;
  }
  onChange(): () => void {
    return () => undefined;
  }
  [Symbol.dispose](): void {}
}

export interface FlameTestContext extends ProbeContext {
  readonly kit: TestKit;
  readonly parseErrors: string[];
  readonly logs: string[];
}

export function flameContext(o: {
  subitems: string[];
  params: ParamValues;
  scope: ScopeView;
  limits?: Record<string, number>;
  dropCounts?: BpfDropCounts;
  /** Where ctx.servePage registers (absent: no servePage, as without a metrics port). */
  pages?: PageRoutes;
}): FlameTestContext {
  const params: ParamValues = { report_period: 60, svg_period: 180, perf_sample_period: 10, multi_instance: 0, output_dir: "", flame_dir: "", ...o.params };
  const logs: string[] = [];
  const log: Logger = {
    debug: (m) => void logs.push(`debug ${m}`),
    info: (m) => void logs.push(`info ${m}`),
    warn: (m) => void logs.push(`warn ${m}`),
    error: (m) => void logs.push(`error ${m}`),
    child: () => log,
  };
  const parseErrors: string[] = [];
  const kit = testKit({ feature: "flamegraph", log, scope: () => o.scope, definition: flamegraph, limits: o.limits, dropCounts: o.dropCounts });
  const settings = { name: "flamegraph", subitems: o.subitems, params } as unknown as ProbeSettings;
  return {
    ...kit,
    kit,
    feature: "flamegraph",
    settings,
    subitems: new Set(o.subitems),
    params,
    host: new HostFs(DEFAULT_HOST_PATHS),
    log,
    logs,
    parseErrors,
    signal: new AbortController().signal,
    scope: o.scope,
    emit: () => {
      throw new Error("flamegraph has no tables");
    },
    event: () => undefined,
    parseError: (item, detail) => void parseErrors.push(`${item}: ${detail ?? ""}`),
    num: (k) => (typeof params[k] === "number" ? (params[k] as number) : 0),
    servePage: o.pages ? (h) => o.pages!.serve("flamegraph", h) : undefined,
  };
}
