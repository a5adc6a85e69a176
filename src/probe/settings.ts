// The configuration of one probe as the REST API, probes.init and gopher-ctl see it
// (spec rest-api.md §6, §7, §9). Pure data: the manager owns one per feature.
import type { ParamTable } from "./params.ts";

export type ScopeKind = "NONE" | "PROC" | "CON" | "ALL";

export interface Subitem {
  readonly name: string;
  /** Flag bit of upstream's IPC wire contract. */
  readonly bit: number;
}

export interface FeatureDef {
  /** Lower-case feature name, the REST path. */
  readonly name: string;
  /** native = ran by upstream inside the daemon; extend = upstream ran an executable. */
  readonly kind: "native" | "extend";
  /** Default executable path that GET reports as cmd.bin. */
  readonly bin: string;
  readonly ipcType: number;
  readonly scopeKind: ScopeKind;
  /** Canonical order of rest-api.md §10. Empty for probes without subitems. */
  readonly subitems: readonly Subitem[];
  /** Every param a request may carry (shared by all features of one catalog). */
  readonly paramTable: ParamTable;
  /** The params this feature declares (GET shows them besides the common ones). */
  readonly ownParams: ReadonlySet<string>;
}

export interface ProcNameEntry {
  comm: string;
  /** "" when unset. */
  cmdline: string;
  label?: Record<string, string>;
}

export interface ScopeLists {
  proc_id: number[];
  proc_name: ProcNameEntry[];
  pod_id: string[];
  /** Stored as the first 12 characters, lower case. */
  container_id: string[];
  container_name: string[];
}

export type ParamValue = number | string | string[];
export type ParamValues = Record<string, ParamValue>;

export interface ProbeSettings {
  /** The probe name as spelled in the URL of the first request that touched it. */
  name: string;
  /** Enabled subitems, canonical order. */
  subitems: string[];
  mode: "whitelist" | "blacklist";
  scope: ScopeLists;
  customLabels: Record<string, string>;
  podLabels: string[];
  /** Every parameter with its current value (defaults initially). */
  params: ParamValues;
  /** The operator asked for it to run (state running); kept while it is restarted. */
  wanted: boolean;
}

export function emptyScope(): ScopeLists {
  return { proc_id: [], proc_name: [], pod_id: [], container_id: [], container_name: [] };
}

export function scopeEntryCount(s: ScopeLists): number {
  return s.proc_id.length + s.proc_name.length + s.pod_id.length + s.container_id.length + s.container_name.length;
}

/** No scope (or blacklist mode with no entries) means the whole host (DECISIONS.md). */
export function observesWholeHost(s: ProbeSettings): boolean {
  return s.mode === "blacklist" ? true : scopeEntryCount(s.scope) === 0;
}

export function cloneSettings(s: ProbeSettings): ProbeSettings {
  return structuredClone(s);
}
