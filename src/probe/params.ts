// The `params` section of a request (rest-api.md §6.3): upstream's common parameters, the
// fixed evaluation order, type coercion, every validation and error text. A probe declares
// its own parameters in its folder (ProbeDefinition.params, built with numberParam /
// stringParam / listParam); the catalog (./catalog.ts) joins them into one ParamTable.
import { existsSync, realpathSync } from "node:fs";
import { isJsonObject } from "./json.ts";
import type { ParamValue, ParamValues } from "./settings.ts";

export const MSG_BAD_REQUEST = "Bad request";

export type ParamKind = "number" | "string" | "array";

export interface ParamDef {
  readonly key: string;
  readonly kind: ParamKind;
  /** Absent for custom_param (never stored for built-in probes). */
  readonly default?: ParamValue;
  readonly min?: number;
  readonly max?: number;
  /** 0 means "back to the default" (svg_period, perf_sample_period). */
  readonly zeroResets?: boolean;
  /** Must be a power of two and may only change while stopped (ringbuf_map_size). */
  readonly ringbuf?: boolean;
  /** Strings: byte length must be below this. */
  readonly maxLenExclusive?: number;
  /** Strings: a path that must exist; stored canonicalised. */
  readonly path?: boolean;
  /** Strings: the only accepted values. */
  readonly oneOf?: readonly string[];
  /** Arrays: a set of these names (case-insensitive), stored in this canonical order. */
  readonly items?: readonly string[];
}

/** A common param: accepted by every feature; GET shows it for all, when ≠ 0, or never. */
export interface CommonParamDef extends ParamDef {
  readonly shown: "all" | "nonzero" | "never";
}

/** Longest canonical path accepted for output_dir / flame_dir / elf_path (upstream buffers). */
export const MAX_PATH_LEN = 511;

/** A number param in [min, max] (declared by a probe's folder). */
export function numberParam(key: string, def: number, min: number, max: number, extra: Partial<ParamDef> = {}): ParamDef {
  return Object.freeze({ key, kind: "number", default: def, min, max, ...extra });
}

/** A string param (declared by a probe's folder). */
export function stringParam(key: string, def: string, extra: Partial<ParamDef> = {}): ParamDef {
  return Object.freeze({ key, kind: "string", default: def, ...extra });
}

/** An array param holding a set of `items` (case-insensitive), default empty. */
export function listParam(key: string, items: readonly string[]): ParamDef {
  return Object.freeze({ key, kind: "array", default: [], items: Object.freeze([...items]) });
}

const common = (key: string, def: number, min: number, max: number, shown: CommonParamDef["shown"]): CommonParamDef =>
  Object.freeze({ key, kind: "number", default: def, min, max, shown });

/** Upstream's params that belong to no probe in particular. */
export const COMMON_PARAMS: readonly CommonParamDef[] = Object.freeze([
  common("report_period", 60, 5, 600, "all"),
  Object.freeze({ key: "custom_param", kind: "array", shown: "never" }) as CommonParamDef,
  common("latency_thr", 0, 10, 100000, "nonzero"),
  common("offline_thr", 0, 10, 100000, "nonzero"),
  common("drops_thr", 0, 10, 100000, "nonzero"),
  common("res_lower_thr", 0, 0, 100, "all"),
  common("res_upper_thr", 0, 0, 100, "all"),
  common("report_event", 0, 0, 1, "all"),
  Object.freeze({ key: "profiling_channel", kind: "string", default: "local", oneOf: Object.freeze(["local", "kafka"]), shown: "never" }) as CommonParamDef,
  common("min_exec_dur", 1, 0, 1000000, "never"),
  common("min_aggr_dur", 100, 10, 10000, "never"),
]);

/**
 * Upstream's evaluation order (its params struct): a request's keys are checked in this
 * order whatever feature declares them; params of new features follow in declaration order.
 */
export const UPSTREAM_PARAM_ORDER: readonly string[] = Object.freeze([
  "sample_period", "report_period", "custom_param", "latency_thr", "offline_thr", "drops_thr", "res_lower_thr",
  "res_upper_thr", "report_event", "ringbuf_map_size", "report_cport", "l7_protocol", "support_ssl", "pyroscope_server",
  "svg_period", "perf_sample_period", "multi_instance", "native_stack", "output_dir", "flame_dir", "cluster_ip_backend",
  "dev_name", "continuous_sampling", "elf_path", "kafka_port", "cadvisor_port", "profiling_channel", "min_exec_dur",
  "min_aggr_dur",
]);

/** What GET shows for a user-defined probe besides the "all" params (upstream's rule). */
export const CUSTOM_PROBE_PARAMS: readonly string[] = Object.freeze(["sample_period", "custom_param", "dev_name", "cadvisor_port"]);

// ---- helpers shared with the scope parser ---------------------------------------------

/** ASCII-only lower-casing, like strcasecmp (so e.g. the Kelvin sign never folds to "k"). */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** Character sequences that make a path or container name unsafe (§6.2). */
export const UNSAFE_SEQUENCES: readonly string[] = [
  "|", ";", "&", "$", ">", "<", "(", ")", "./", "/.", "?", "*", "'", "`", "[", "]", "\\", "!", "\n",
];

export function hasUnsafeChars(s: string): boolean {
  return UNSAFE_SEQUENCES.some((u) => s.includes(u));
}

const encoder = new TextEncoder();

/** Length in UTF-8 bytes (what upstream's strlen sees). */
export function byteLength(s: string): number {
  // Fast path for ASCII.
  if (/^[\x00-\x7f]*$/.test(s)) return s.length;
  return encoder.encode(s).length;
}

const INT32_MIN = -2147483648;
const INT32_MAX = 2147483647;

/** Prints a number the way a range message shows it: the integer after truncation. */
export function formatInteger(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const t = Math.trunc(v);
  if (t === 0) return "0";
  // Exact decimal digits of the double below 1e21 (covers every 64-bit integer input);
  // exponent form beyond, as JS prints it (e.g. 1e+308).
  if (Math.abs(t) < 1e21) return BigInt(t).toString();
  return String(t);
}

/** JSON number/boolean → integer (reals truncated toward zero, true=1, false=0). */
export function coerceNumber(v: number | boolean): number {
  if (typeof v === "boolean") return v ? 1 : 0;
  const t = Math.trunc(v);
  return t === 0 ? 0 : t; // no -0
}

export function isInt32(v: number): boolean {
  return Number.isFinite(v) && v >= INT32_MIN && v <= INT32_MAX;
}

// ---- evaluation ---------------------------------------------------------------------------

export interface ParamOptions {
  /** The probe is running now (ringbuf_map_size may not change). */
  running: boolean;
  /** Path existence (defaults to the real file system). */
  exists?: (path: string) => boolean;
  /** Path canonicalisation; may throw (defaults to realpathSync). */
  realpath?: (path: string) => string;
  /**
   * Hook for user-defined probes: the labels declared for custom_param. Built-in probes have
   * none, so for them only an empty custom_param array is accepted.
   */
  customParamLabels?: readonly string[];
}

export type ParamsResult = { ok: true; params: ParamValues } | { ok: false; message: string };

type One = { ok: true; value: ParamValue | undefined } | { ok: false; message: string };

function fail(message: string): { ok: false; message: string } {
  return { ok: false, message };
}

function rangeMessage(def: ParamDef, printed: string): string {
  return `params.${def.key} invalid value ${printed}, must be in [${def.min}, ${def.max}]`;
}

function jsonKindMatches(def: ParamDef, raw: unknown): boolean {
  switch (def.kind) {
    case "number":
      return (typeof raw === "number" && !Number.isNaN(raw)) || typeof raw === "boolean";
    case "string":
      return typeof raw === "string";
    case "array":
      return Array.isArray(raw);
  }
}

function evalNumber(def: ParamDef, raw: number | boolean, current: ParamValue | undefined, opts: ParamOptions): One {
  let value = coerceNumber(raw);
  if (!isInt32(value)) return fail(rangeMessage(def, formatInteger(typeof raw === "boolean" ? value : raw)));
  const min = def.min ?? INT32_MIN;
  const max = def.max ?? INT32_MAX;
  if (def.zeroResets && value === 0) {
    value = def.default as number;
  } else if (value < min || value > max) {
    return fail(rangeMessage(def, String(value)));
  }
  if (def.ringbuf) {
    if ((value & (value - 1)) !== 0) return fail(`params.${def.key} invalid value ${value}, must be power of 2`);
    if (opts.running && value !== current) return fail(`params.${def.key} invalid can only be changed when probe is stopped`);
  }
  return { ok: true, value };
}

function evalPath(def: ParamDef, raw: string, current: ParamValue | undefined, opts: ParamOptions): One {
  // Re-sending the stored value (e.g. a GET document) is always accepted.
  if (raw === current) return { ok: true, value: raw };
  // "" means unset (recommended fix of rest-api.md §9): back to the default.
  if (raw === "") return { ok: true, value: def.default };
  if (hasUnsafeChars(raw)) return fail(`params.${def.key} contains unsafe characters`);
  const exists = opts.exists ?? existsSync;
  const realpath = opts.realpath ?? realpathSync;
  let canonical: string;
  try {
    if (!exists(raw)) return fail(MSG_BAD_REQUEST);
    canonical = realpath(raw);
  } catch {
    return fail(MSG_BAD_REQUEST);
  }
  if (typeof canonical !== "string" || canonical.length === 0 || byteLength(canonical) > MAX_PATH_LEN) {
    return fail(MSG_BAD_REQUEST);
  }
  return { ok: true, value: canonical };
}

function evalString(def: ParamDef, raw: string, current: ParamValue | undefined, opts: ParamOptions): One {
  if (def.path) return evalPath(def, raw, current, opts);
  if (def.oneOf) return def.oneOf.includes(raw) ? { ok: true, value: raw } : fail(MSG_BAD_REQUEST);
  if (def.maxLenExclusive !== undefined && byteLength(raw) >= def.maxLenExclusive) {
    return fail(`params.${def.key} value is too long, len must be less than ${def.maxLenExclusive}`);
  }
  return { ok: true, value: raw };
}

function evalItems(def: ParamDef, items: readonly string[], raw: unknown[]): One {
  const set = new Set<string>();
  for (const item of raw) {
    if (typeof item !== "string") return fail(MSG_BAD_REQUEST);
    const lower = asciiLower(item);
    if (!items.includes(lower)) return fail(`params.${def.key} invalid value: ${item}`);
    set.add(lower);
  }
  return { ok: true, value: items.filter((p) => set.has(p)) };
}

const MAX_CUSTOM_VALUE = 64;

/**
 * custom_param: an array of single-key objects `{label: value}`. Only user-defined probes
 * declare labels (opts.customParamLabels); for built-ins any element is rejected. Values are
 * not stored for built-ins (the hook returns undefined = nothing stored).
 */
function evalCustomParam(raw: unknown[], opts: ParamOptions): One {
  const labels = opts.customParamLabels ?? [];
  const values: string[] = [];
  for (const item of raw) {
    if (!isJsonObject(item)) return fail("custom_param param value must be an object.");
    const keys = Object.keys(item);
    const label = keys[0];
    if (label === undefined) return fail("custom_param param value must be an object.");
    if (!labels.includes(label)) return fail(`custom_param param value has unregistered param : ${label}.`);
    const value = item[label];
    if (typeof value !== "string" || value.length === 0 || byteLength(value) > MAX_CUSTOM_VALUE) {
      return fail(`custom_param param value of ${label} is invalid.`);
    }
    values.push(`${label}=${value}`);
  }
  return { ok: true, value: labels.length > 0 ? values : undefined };
}

function evalOne(def: ParamDef, raw: unknown, current: ParamValue | undefined, opts: ParamOptions): One {
  if (!jsonKindMatches(def, raw)) return fail(`params.${def.key} invalid data type`);
  switch (def.kind) {
    case "number":
      return evalNumber(def, raw as number | boolean, current, opts);
    case "string":
      return evalString(def, raw as string, current, opts);
    case "array":
      return def.items ? evalItems(def, def.items, raw as unknown[]) : evalCustomParam(raw as unknown[], opts);
  }
}

/**
 * Merges a `params` object into `current` key by key, in the fixed evaluation order.
 * Non-object `params`, or one without any known key → `Bad request`; the first failing key
 * decides the message. Never mutates `current`.
 */
export function applyParams(table: ParamTable, current: ParamValues, params: unknown, opts: ParamOptions): ParamsResult {
  if (!isJsonObject(params)) return fail(MSG_BAD_REQUEST);
  if (!table.all.some((p) => Object.hasOwn(params, p.key))) return fail(MSG_BAD_REQUEST);
  const next: ParamValues = { ...current };
  for (const def of table.all) {
    if (!Object.hasOwn(params, def.key)) continue;
    const r = evalOne(def, params[def.key], current[def.key], opts);
    if (!r.ok) return r;
    if (r.value !== undefined) next[def.key] = r.value;
  }
  return { ok: true, params: next };
}

/** Two declarations of one key must agree on everything (one params struct upstream). */
function sameDef(a: ParamDef, b: ParamDef): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/**
 * Every param any feature accepts (upstream has one params struct: a key is accepted for
 * every feature), in evaluation order, and which features GET shows each for.
 */
export class ParamTable {
  readonly all: readonly ParamDef[];
  private readonly common = new Map<string, CommonParamDef>();

  constructor(declared: readonly (readonly ParamDef[])[]) {
    const byKey = new Map<string, ParamDef>();
    for (const c of COMMON_PARAMS) {
      byKey.set(c.key, c);
      this.common.set(c.key, c);
    }
    for (const list of declared) {
      for (const d of list) {
        const seen = byKey.get(d.key);
        if (seen && (this.common.has(d.key) || !sameDef(seen, d))) throw new Error(`param ${d.key} is declared twice with different definitions`);
        byKey.set(d.key, d);
      }
    }
    const rank = (k: string) => {
      const i = UPSTREAM_PARAM_ORDER.indexOf(k);
      return i < 0 ? UPSTREAM_PARAM_ORDER.length : i;
    };
    this.all = Object.freeze([...byKey.values()].sort((a, b) => rank(a.key) - rank(b.key)));
  }

  find(key: string): ParamDef | undefined {
    return this.all.find((p) => p.key === key);
  }

  /** Every stored parameter with its default value (custom_param is not stored). */
  defaults(): ParamValues {
    const out: ParamValues = {};
    for (const p of this.all) {
      if (p.default === undefined) continue;
      out[p.key] = Array.isArray(p.default) ? [...p.default] : p.default;
    }
    return out;
  }

  /** Whether GET shows `def` for a feature declaring `own` (custom: a user-defined probe). */
  isShown(def: ParamDef, own: ReadonlySet<string>, value: ParamValue | undefined, custom = false): boolean {
    const c = this.common.get(def.key);
    if (custom && CUSTOM_PROBE_PARAMS.includes(def.key)) return true;
    if (!c) return !custom && own.has(def.key);
    if (c.shown === "all") return true;
    if (c.shown === "never") return false;
    return value !== undefined && value !== 0;
  }

  /** The params GET reports for a feature declaring `own`, with their values (defaults filling gaps). */
  shown(own: ReadonlySet<string>, values: ParamValues, custom = false): ParamValues {
    const out: ParamValues = {};
    for (const def of this.all) {
      const value = Object.hasOwn(values, def.key) ? values[def.key] : def.default;
      if (value === undefined) continue;
      if (this.isShown(def, own, value, custom)) out[def.key] = Array.isArray(value) ? [...value] : value;
    }
    return out;
  }
}
