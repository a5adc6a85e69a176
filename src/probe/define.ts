// What a built-in probe is: its feature name, its tables, what it needs from the kernel,
// and one `open(ctx)` that returns a disposable run whose `collect()` the manager calls
// every report_period.
import type { HostFs } from "../host/fs.ts";
import type { Logger } from "../log/logger.ts";
import type { Row, TableDef } from "../store/table.ts";
import type { ParamValues, ProbeSettings } from "./settings.ts";

export interface ProbeEvent {
  /** Entity name, e.g. "cpu", "fs", "tcp_link". */
  entity: string;
  /** Entity key as the probe builds it (events-and-metadata.md §1.4). */
  key: string;
  /** Metric field name the event is about. */
  metric: string;
  /** The message after `Entity(<key>) `. */
  message: string;
  pid?: string;
  comm?: string;
  ip?: string;
  containerId?: string;
  podId?: string;
  device?: string;
  severity?: "INFO" | "WARN" | "ERROR" | "FATAL";
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
  readonly host: HostFs;
  readonly log: Logger;
  /** Aborted when the run is being stopped. */
  readonly signal: AbortSignal;
  /** The live scope of this probe; kept current by the snooper. */
  readonly scope: ScopeView;
  /** Records a row of `table` for this collection cycle. */
  emit(table: TableDef, row: Row): void;
  /** Raises an abnormal event (gated by report_event and de-duplicated by the agent). */
  event(e: ProbeEvent): void;
  /** Counts an item the probe could not read or parse and skipped. */
  parseError(item: string, detail?: string): void;
  /** Number param helper. */
  num(key: string): number;
}

export interface ProbeRun extends AsyncDisposable {
  /** Called at start and then every report_period; throwing marks the probe failed. */
  collect(): void | Promise<void>;
  /** Settings changed while running (ctx.settings is already the new one). Absent: the run is reopened. */
  reconfigure?(): void | Promise<void>;
}

export interface ProbeDefinition {
  /** The feature name of rest-api.md §10. */
  readonly feature: string;
  readonly tables: readonly TableDef[];
  /** Returns a reason when this host cannot run the probe ("unsupported: <reason>"). */
  unsupported?(host: HostFs): string | undefined;
  open(ctx: ProbeContext): ProbeRun | Promise<ProbeRun>;
}

export function defineProbe(d: ProbeDefinition): ProbeDefinition {
  return d;
}
