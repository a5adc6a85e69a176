// What a built-in probe is. Its folder declares everything about it (docs/adding-a-probe.md):
// the REST feature it answers to (subitems, scope kind, its own params), its tables, the
// events it raises, the kernel features it needs, and one `open(ctx)` returning a
// disposable run whose `collect()` the manager calls every report_period. Everything the
// run needs from the agent comes through the ProbeContext: no process-wide state.
import type { HostFs } from "../host/fs.ts";
import type { KernelFeatures } from "../host/features.ts";
import type { Logger } from "../log/logger.ts";
import type { ProbeEvent, Row, TableDef } from "../store/table.ts";
import type { PageHandler } from "./pages.ts";
import type { ProbeBpf } from "./probe-bpf.ts";
import type { ParamDef } from "./params.ts";
import type { ParamValues, ProbeSettings, ScopeKind, Subitem } from "./settings.ts";

export type { ProbeBpf } from "./probe-bpf.ts";

/**
 * Thrown from `open()` (or anything it calls) when this host cannot run the probe: the
 * probe shows "unsupported: <reason>" in GET and in gala_gopher_agent_probe_unsupported,
 * and is not restarted.
 */
export class NotSupported extends Error {
  readonly code = "ENOTSUP";
  constructor(readonly reason: string) {
    super(`unsupported: ${reason}`);
    this.name = "NotSupported";
  }
}

/** A container as the snooper resolves it (outputs.md §2.3 container labels). */
export interface ContainerInfo {
  /** 12-hex-char short id. */
  readonly id: string;
  readonly name: string;
  readonly image: string;
  readonly podId: string;
  /** `<namespace>/<pod name>` or "". */
  readonly pod: string;
  readonly podNamespace: string;
  /** cgroup v2 path or v1 path of the container ("" when unknown). */
  readonly cgroupPath: string;
}

/** The resolved observation scope of one probe (rest-api.md §6.2, DECISIONS.md). */
export interface ScopeView extends Disposable {
  /** No scope, or a blacklist: every process is observed except `excluded`. */
  readonly wholeHost: boolean;
  /** Processes in scope (whitelist mode); empty when wholeHost. */
  pids(): ReadonlySet<number>;
  /** Processes excluded (blacklist mode). */
  excluded(): ReadonlySet<number>;
  /** Containers in scope (whitelist mode: those named; wholeHost: every known one). */
  containers(): ReadonlyMap<string, ContainerInfo>;
  includes(pid: number): boolean;
  /** The proc_name `label` configured for the entry matching this pid, if any. */
  labelFor(pid: number): Readonly<Record<string, string>> | undefined;
  /** Called after the resolved set changed; returns an unsubscribe function. */
  onChange(cb: (added: readonly number[], removed: readonly number[]) => void): () => void;
}

export interface ProbeContext {
  readonly feature: string;
  /** Live view: replaced before reconfigure() is called. */
  readonly settings: ProbeSettings;
  readonly subitems: ReadonlySet<string>;
  readonly params: ParamValues;
  /** Every host read (procfs, sysfs, the host's root): never read /proc directly. */
  readonly host: HostFs;
  readonly log: Logger;
  /** Aborted when the run is being stopped. */
  readonly signal: AbortSignal;
  /** The live scope of this probe; kept current by the snooper (replaced before reconfigure()). */
  readonly scope: ScopeView;
  /** The running kernel's features, detected once by the agent on first use. */
  readonly features: KernelFeatures;
  /** BPF objects, links, ring buffers and the kernel scope, all closed when the run ends. */
  readonly bpf: ProbeBpf;
  /** Records a row of `table` for this collection cycle. */
  emit(table: TableDef, row: Row): void;
  /** Raises an abnormal event (gated by report_event and de-duplicated by the agent). */
  event(e: ProbeEvent): void;
  /** Counts an item the probe could not read or parse and skipped. */
  parseError(item: string, detail?: string): void;
  /**
   * A counter of records lost for `reason` (a full kernel map, a full ring buffer):
   * gala_gopher_agent_bpf_dropped_total{probe,reason}. Call the returned function with each
   * increment.
   */
  drops(reason: string): (n: number) => void;
  /** Number param helper. */
  num(key: string): number;
  /** The value of one of the definition's `limits` (its default unless the agent overrides it). */
  limit(name: string): number;
  /**
   * Serves GET /<feature> and /<feature>/<rest> on the metrics port while the returned
   * handle lives (dispose it when the run ends). Absent when the agent serves no metrics port.
   */
  readonly servePage?: (handler: PageHandler) => Disposable;
}

export interface ProbeRun extends AsyncDisposable {
  /** Called at start and then every report_period; throwing marks the probe failed. */
  collect(): void | Promise<void>;
  /** Settings changed while running (ctx.settings is already the new one). Absent: the run is reopened. */
  reconfigure?(): void | Promise<void>;
}

/** The REST side of a probe: what rest-api.md §6–§10 says about its feature. */
export interface FeatureDeclaration {
  /** The REST name (rest-api.md §10, or a new one): lower case. */
  readonly feature: string;
  /** Subitems in canonical order with upstream's flag bits; none: the feature has none. */
  readonly subitems?: readonly Subitem[];
  /** Which snoopers the feature takes (NONE: snoopers/blacklist are ignored). */
  readonly scope: ScopeKind;
  /** Params of this feature beyond upstream's common ones (src/probe/params.ts). */
  readonly params?: readonly ParamDef[];
  /** What GET reports as cmd.bin; default: the feature name. */
  readonly bin?: string;
  /** native: ran inside upstream's daemon; extend (default): an executable of its own. */
  readonly kind?: "native" | "extend";
  /** Upstream's IPC type (the §10 order); new features have none and sort after. */
  readonly ipcType?: number;
}

/** The events one entity of a probe may raise (any other event is refused as a bug). */
export interface EventDecl {
  readonly entity: string;
  readonly metrics: readonly string[];
}

/** A tuning knob that is not a REST param (map sizes): GOPHER_<FEATURE>_<NAME> overrides it. */
export interface LimitDecl {
  readonly default: number;
  readonly min: number;
  readonly max: number;
  readonly help: string;
}

export interface ProbeDefinition extends FeatureDeclaration {
  readonly tables: readonly TableDef[];
  readonly events?: readonly EventDecl[];
  readonly limits?: Readonly<Record<string, LimitDecl>>;
  /** Returns a reason when this kernel cannot run the probe (checked before open). */
  requires?(f: KernelFeatures): string | undefined;
  open(ctx: ProbeContext): ProbeRun | Promise<ProbeRun>;
}

export function defineProbe<const D extends ProbeDefinition>(d: D): D {
  return d;
}
