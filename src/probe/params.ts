// The `params` section of a request (rest-api.md §6.3): the parameter table, the fixed
// evaluation order, type coercion, every validation and error text, and which features
// GET reports each key for.
import { existsSync, realpathSync } from "node:fs";
import { asciiLower } from "./features.ts";
import { isJsonObject } from "./json.ts";
import type { ParamValue, ParamValues } from "./settings.ts";

export const MSG_BAD_REQUEST = "Bad request";

export type ParamKind = "number" | "string" | "array";

/** Features GET reports a key for: every feature, every feature when ≠ 0, none, or a list. */
export type ParamShownFor = "all" | "nonzero" | "never" | readonly string[];

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
  /** "custom" in the list stands for user-defined probes. */
  readonly shownFor: ParamShownFor;
}

/** l7_protocol values in their canonical (GET) order. */
export const L7_PROTOCOLS: readonly string[] = ["http", "dns", "redis", "mysql", "pgsql", "kafka", "mongo", "crpc"];

/** Longest canonical path accepted for output_dir / flame_dir / elf_path (upstream buffers). */
export const MAX_PATH_LEN = 511;

const n = (
  key: string,
  def: number,
  min: number,
  max: number,
  shownFor: ParamShownFor,
  extra: Partial<ParamDef> = {},
): ParamDef => ({ key, kind: "number", default: def, min, max, shownFor, ...extra });

const str = (key: string, def: string, shownFor: ParamShownFor, extra: Partial<ParamDef> = {}): ParamDef => ({
  key,
  kind: "string",
  default: def,
  shownFor,
  ...extra,
});

/** Every parameter, in upstream's fixed evaluation order. */
export const PARAMS: readonly ParamDef[] = Object.freeze([
  n("sample_period", 5000, 100, 10000, ["tcp", "io", "custom"]),
  n("report_period", 60, 5, 600, "all"),
  { key: "custom_param", kind: "array", shownFor: ["custom"] },
  n("latency_thr", 0, 10, 100000, "nonzero"),
  n("offline_thr", 0, 10, 100000, "nonzero"),
  n("drops_thr", 0, 10, 100000, "nonzero"),
  n("res_lower_thr", 0, 0, 100, "all"),
  n("res_upper_thr", 0, 0, 100, "all"),
  n("report_event", 0, 0, 1, "all"),
  n("ringbuf_map_size", 1, 1, 32, ["tcp", "socket"], { ringbuf: true }),
  n("report_cport", 0, 0, 1, ["tcp"]),
  { key: "l7_protocol", kind: "array", default: [], shownFor: ["l7"] },
  n("support_ssl", 0, 0, 1, ["l7"]),
  str("pyroscope_server", "localhost:4040", ["flamegraph"], { maxLenExclusive: 64 }),
  n("svg_period", 180, 30, 600, ["flamegraph"], { zeroResets: true }),
  n("perf_sample_period", 10, 10, 1000, ["flamegraph"], { zeroResets: true }),
  n("multi_instance", 0, 0, 1, ["flamegraph"]),
  n("native_stack", 0, 0, 1, ["flamegraph"]),
  str("output_dir", "", ["flamegraph"], { path: true }),
  str("flame_dir", "/var/log/gala-gopher/flamegraph", ["flamegraph"], { path: true }),
  n("cluster_ip_backend", 0, 0, 2, ["tcp", "l7"]),
  str("dev_name", "", ["io", "kafka", "ksli", "postgre_sli", "baseinfo", "tcp", "custom"], { maxLenExclusive: 32 }),
  n("continuous_sampling", 0, 0, 1, ["ksli"]),
  str("elf_path", "", ["baseinfo", "nginx"], { path: true }),
  n("kafka_port", 9092, 1, 65535, ["kafka"]),
  n("cadvisor_port", 8083, 1, 65535, ["container", "custom"]),
  str("profiling_channel", "local", "never", { oneOf: ["local", "kafka"] }),
  n("min_exec_dur", 1, 0, 1000000, "never"),
  n("min_aggr_dur", 100, 10, 10000, "never"),
] satisfies ParamDef[]);

/** The evaluation order (= PARAMS order). */
export const PARAM_ORDER: readonly string[] = PARAMS.map((p) => p.key);

const PARAM_BY_KEY: ReadonlyMap<string, ParamDef> = new Map(PARAMS.map((p) => [p.key, p]));

export function findParam(key: string): ParamDef | undefined {
  return PARAM_BY_KEY.get(key);
}

/** Every stored parameter with its default value (custom_param is not stored). */
export function defaultParams(): ParamValues {
  const out: ParamValues = {};
  for (const p of PARAMS) {
    if (p.default === undefined) continue;
    out[p.key] = Array.isArray(p.default) ? [...p.default] : p.default;
  }
  return out;
}

// ---- helpers shared with the scope parser ---------------------------------------------

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

function evalL7(def: ParamDef, raw: unknown[]): One {
  const set = new Set<string>();
  for (const item of raw) {
    if (typeof item !== "string") return fail(MSG_BAD_REQUEST);
    const lower = asciiLower(item);
    if (!L7_PROTOCOLS.includes(lower)) return fail(`params.${def.key} invalid value: ${item}`);
    set.add(lower);
  }
  return { ok: true, value: L7_PROTOCOLS.filter((p) => set.has(p)) };
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
      return def.key === "l7_protocol" ? evalL7(def, raw as unknown[]) : evalCustomParam(raw as unknown[], opts);
  }
}

/**
 * Merges a `params` object into `current` key by key, in the fixed evaluation order.
 * Non-object `params`, or one without any known key → `Bad request`; the first failing key
 * decides the message. Never mutates `current`.
 */
export function applyParams(current: ParamValues, params: unknown, opts: ParamOptions): ParamsResult {
  if (!isJsonObject(params)) return fail(MSG_BAD_REQUEST);
  if (!PARAMS.some((p) => Object.hasOwn(params, p.key))) return fail(MSG_BAD_REQUEST);
  const next: ParamValues = { ...current };
  for (const def of PARAMS) {
    if (!Object.hasOwn(params, def.key)) continue;
    const r = evalOne(def, params[def.key], current[def.key], opts);
    if (!r.ok) return r;
    if (r.value !== undefined) next[def.key] = r.value;
  }
  return { ok: true, params: next };
}

/** Whether GET shows `def` for the feature `featureName` (custom: a user-defined probe). */
export function paramShown(def: ParamDef, featureName: string, value: ParamValue | undefined, custom = false): boolean {
  const s = def.shownFor;
  if (s === "all") return true;
  if (s === "never") return false;
  if (s === "nonzero") return value !== undefined && value !== 0;
  return s.includes(custom ? "custom" : featureName);
}

/** The params GET reports for a feature, with their values (defaults filling gaps). */
export function shownParams(featureName: string, values: ParamValues, custom = false): ParamValues {
  const out: ParamValues = {};
  for (const def of PARAMS) {
    const value = Object.hasOwn(values, def.key) ? values[def.key] : def.default;
    if (value === undefined) continue;
    if (paramShown(def, featureName, value, custom)) out[def.key] = Array.isArray(value) ? [...value] : value;
  }
  return out;
}
