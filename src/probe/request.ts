// The pure configuration engine of the REST API / gopher-ctl / probes.init
// (rest-api.md §5–§9, DECISIONS.md): validates a request document against a feature,
// merges it into the current settings, and renders the GET document and reply envelope.
// It never starts or stops anything: it returns the requested state and the caller acts.
import * as v from "valibot";
import { isResetRequest } from "./body.ts";
import { findSubitem } from "./catalog.ts";
import { isJsonObject } from "./json.ts";
import { DERIVED_LABELS, checkExtraLabels } from "./labels.ts";
import {
  MSG_BAD_REQUEST,
  type ParamOptions,
  applyParams,
  byteLength,
  coerceNumber,
  hasUnsafeChars,
} from "./params.ts";
import {
  type FeatureDef,
  type ProbeSettings,
  type ProcNameEntry,
  type ScopeLists,
  cloneSettings,
  emptyScope,
  scopeEntryCount,
} from "./settings.ts";

export type ApplyResult =
  | { ok: true; settings: ProbeSettings; state?: "running" | "stopped"; changed: boolean }
  | { ok: false; message: string; settings: ProbeSettings };

export interface ApplyOptions {
  /** The probe is running now (only ringbuf_map_size cares). */
  running: boolean;
  /** Path checks of output_dir / flame_dir / elf_path (default: the real file system). */
  exists?: (p: string) => boolean;
  realpath?: (p: string) => string;
  /** Hook for user-defined probes: their declared custom_param labels (built-ins: none). */
  customParamLabels?: readonly string[];
  /** Label names the probe already emits (labels.ts reservedLabelNames); default DERIVED_LABELS. */
  reservedLabels?: readonly string[];
}

export const MAX_SCOPE_ENTRIES = 100;
export const MAX_LABELS = 10;
export const MAX_SUBITEM_NAME = 64;
/** container_name is stored up to this many bytes. */
export const MAX_CONTAINER_NAME = 63;

export const MSG_SUCCESS = "New config takes effect";
export const MSG_INVALID_JSON = "invalid json format";
export const MSG_PROBE_NOT_STRING = "Invalid probe range: must be string.";
export const MSG_PROBE_NAME_LEN = "The lengh of probe name must range from 0 to 64.";
export const MSG_NO_SUBITEM = "invalid probe ranges: at least one must be set";
export const MSG_EXCLUSIVE = "snoopers and blacklist are mutually exclusive";
export const MSG_STATE_NOT_STRING = "invalid state: must be string";

export const msgUnsupportedSubitem = (name: string): string => `unsupported probe range: ${name}.`;
export const msgSnooper = (key: string): string => `Error occurs when parsing snooper ${key}`;
export const msgBadState = (s: string): string => `invalid state ${s}: must be running or stopped`;

const TOP_KEYS = ["cmd", "snoopers", "blacklist", "params", "state"] as const;
const LIST_KEYS = ["proc_id", "proc_name", "pod_id", "container_id", "container_name"] as const;
type ListKey = (typeof LIST_KEYS)[number];

// ---- shapes of external input (valibot) ---------------------------------------------------

const JsonObject = v.custom<Record<string, unknown>>(isJsonObject);

/** A proc_name element: `comm` string, optional `cmdline` string, optional `label` object. */
const ProcNameSchema = v.pipe(
  JsonObject,
  v.looseObject({
    comm: v.string(),
    cmdline: v.optional(v.string()),
    label: v.optional(
      v.custom<Record<string, unknown>>(
        (l) => isJsonObject(l) && Object.keys(l).length <= 1 && Object.values(l).every((x) => typeof x === "string"),
      ),
    ),
  }),
);

const PodLabelsSchema = v.pipe(v.array(v.string()), v.maxLength(MAX_LABELS));

const CustomLabelsSchema = v.custom<Record<string, string>>(
  (o) =>
    isJsonObject(o) &&
    Object.keys(o).length <= MAX_LABELS &&
    Object.values(o).every((x) => typeof x === "string"),
);

const POD_ID_RE = /^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/;
const CONTAINER_ID_RE = /^[0-9a-fA-F]{1,64}$/;

// ---- defaults --------------------------------------------------------------------------

/** The configuration a feature gets when a request first touches it. */
export function defaultSettings(f: FeatureDef, urlName: string): ProbeSettings {
  return {
    name: urlName || f.name,
    subitems: [],
    mode: "whitelist",
    scope: emptyScope(),
    customLabels: {},
    podLabels: [],
    params: f.paramTable.defaults(),
    wanted: false,
  };
}

// ---- sections --------------------------------------------------------------------------

class RequestError extends Error {
  readonly code = "EREQUEST";
}

function has(doc: Record<string, unknown>, key: string): boolean {
  return Object.hasOwn(doc, key) && doc[key] !== undefined;
}

/** `cmd`: `probe` (required) replaces the subitem set; `bin`/`check_cmd` are ignored. */
function applyCmd(f: FeatureDef, next: ProbeSettings, cmd: unknown): void {
  if (!isJsonObject(cmd)) throw new RequestError(MSG_BAD_REQUEST);
  if (!has(cmd, "probe") || cmd.probe === null) throw new RequestError(MSG_BAD_REQUEST);
  const probe = cmd.probe;
  if (isJsonObject(probe)) throw new RequestError(MSG_BAD_REQUEST);
  const items: unknown[] = Array.isArray(probe) ? probe : []; // other scalars: an empty array
  const chosen = new Set<string>();
  for (const item of items) {
    if (typeof item !== "string") throw new RequestError(MSG_PROBE_NOT_STRING);
    const len = byteLength(item);
    if (len === 0 || len > MAX_SUBITEM_NAME) throw new RequestError(MSG_PROBE_NAME_LEN);
    const sub = findSubitem(f, item);
    if (!sub) throw new RequestError(msgUnsupportedSubitem(item));
    chosen.add(sub.name);
  }
  if (f.subitems.length > 0 && chosen.size === 0) throw new RequestError(MSG_NO_SUBITEM);
  next.subitems = f.subitems.filter((s) => chosen.has(s.name)).map((s) => s.name);
}

/** First `max` bytes of `s` in UTF-8, never splitting a character. */
function truncateBytes(s: string, max: number): string {
  if (byteLength(s) <= max) return s;
  let out = "";
  let used = 0;
  for (const ch of s) {
    const b = byteLength(ch);
    if (used + b > max) break;
    out += ch;
    used += b;
  }
  return out;
}

function parseProcId(x: unknown): number | undefined {
  if (typeof x !== "number") return undefined; // booleans, strings, objects…
  const t = coerceNumber(x);
  // int32 plus the unsigned range that negative pids wrap to (so GET output round-trips).
  if (!Number.isFinite(t) || t < -2147483648 || t > 4294967295) return undefined;
  return t >>> 0;
}

function parseProcName(x: unknown): ProcNameEntry | null | undefined {
  if (!v.is(ProcNameSchema, x)) return undefined;
  const o = x as { comm: string; cmdline?: string; label?: Record<string, string> };
  if (o.comm === "") return null; // accepted but discarded
  const entry: ProcNameEntry = { comm: o.comm, cmdline: o.cmdline ?? "" };
  if (o.label) {
    const k = Object.keys(o.label)[0];
    if (k !== undefined) entry.label = { [k]: o.label[k] as string };
  }
  return entry;
}

/**
 * Parses the five scope lists of a `snoopers`/`blacklist` object into fresh lists.
 * An absent (or null) list is empty; an empty string id/name is skipped; at most
 * MAX_SCOPE_ENTRIES entries in total.
 */
function parseScope(obj: Record<string, unknown>): ScopeLists {
  const scope = emptyScope();
  let total = 0;
  const add = <K extends ListKey>(key: K, value: ScopeLists[K][number]): void => {
    if (++total > MAX_SCOPE_ENTRIES) throw new RequestError(msgSnooper(key));
    (scope[key] as unknown[]).push(value);
  };
  for (const key of LIST_KEYS) {
    if (!has(obj, key) || obj[key] === null) continue;
    const list = obj[key];
    if (!Array.isArray(list)) throw new RequestError(msgSnooper(key));
    for (const item of list) {
      switch (key) {
        case "proc_id": {
          const pid = parseProcId(item);
          if (pid === undefined) throw new RequestError(msgSnooper(key));
          add(key, pid);
          break;
        }
        case "proc_name": {
          const entry = parseProcName(item);
          if (entry === undefined) throw new RequestError(msgSnooper(key));
          if (entry) add(key, entry);
          break;
        }
        case "pod_id": {
          if (typeof item !== "string") throw new RequestError(msgSnooper(key));
          if (item === "") break;
          if (!POD_ID_RE.test(item)) throw new RequestError(msgSnooper(key));
          add(key, item);
          break;
        }
        case "container_id": {
          if (typeof item !== "string") throw new RequestError(msgSnooper(key));
          if (item === "") break;
          if (!CONTAINER_ID_RE.test(item)) throw new RequestError(msgSnooper(key));
          // Kept as given (upstream GET echoes it); matching is case-insensitive (snooper/match.ts).
          add(key, item.slice(0, 12));
          break;
        }
        case "container_name": {
          if (typeof item !== "string") throw new RequestError(msgSnooper(key));
          if (item === "") break;
          if (hasUnsafeChars(item)) throw new RequestError(msgSnooper(key));
          add(key, truncateBytes(item, MAX_CONTAINER_NAME));
          break;
        }
      }
    }
  }
  return scope;
}

/**
 * custom_labels / pod_labels of `snoopers`: replaced only when present and non-empty, and
 * applied to `next` at once — the caller keeps them even if the request fails later.
 */
function applyLabels(next: ProbeSettings, obj: Record<string, unknown>, scope: ScopeLists, reserved: readonly string[]): void {
  let custom = next.customLabels;
  let pod = next.podLabels;
  if (has(obj, "custom_labels") && obj.custom_labels !== null) {
    const labels = obj.custom_labels;
    if (!v.is(CustomLabelsSchema, labels)) throw new RequestError(msgSnooper("custom_labels"));
    const keys = Object.keys(labels);
    if (keys.length > 0) {
      custom = {};
      for (const k of keys.sort(compareBytes)) custom[k] = labels[k] as string;
    }
  }
  if (has(obj, "pod_labels") && obj.pod_labels !== null) {
    const labels = obj.pod_labels;
    if (!v.is(PodLabelsSchema, labels)) throw new RequestError(msgSnooper("pod_labels"));
    if (labels.length > 0) pod = [...labels];
  }
  // These keys become label names of every series: refused before anything is kept.
  // (pod_labels names are Kubernetes label keys, accepted as upstream; the store leaves out
  // any that is not a Prometheus label name, counted in gala_gopher_agent_dropped_total.)
  const bad = checkExtraLabels(
    [
      { where: "snoopers.custom_labels", names: Object.keys(custom) },
      { where: "snoopers.proc_name", names: scope.proc_name.flatMap((p) => Object.keys(p.label ?? {})), repeatable: true },
    ],
    reserved,
  );
  if (bad) throw new RequestError(bad);
  next.customLabels = custom;
  next.podLabels = pod;
}

function parseState(raw: unknown): "running" | "stopped" {
  if (!v.is(v.string(), raw)) throw new RequestError(MSG_STATE_NOT_STRING);
  const l = raw.toLowerCase();
  if (l === "running" || l === "stopped") return l;
  throw new RequestError(msgBadState(raw));
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

// ---- the engine ------------------------------------------------------------------------

/**
 * Applies one request document to `current` (never mutated), in the order
 * cmd → snoopers → blacklist → params → state. On the first error nothing is kept except
 * custom_labels/pod_labels already replaced by this request (upstream quirk).
 * A document produced by translateLegacy() for `operate: delete` first resets to defaults.
 */
export function applyRequest(f: FeatureDef, current: ProbeSettings, doc: unknown, opts: ApplyOptions): ApplyResult {
  const reset = isResetRequest(doc);
  const next = reset ? defaultSettings(f, current.name) : cloneSettings(current);
  const failWith = (message: string): ApplyResult => {
    const kept = cloneSettings(current);
    kept.customLabels = { ...next.customLabels };
    kept.podLabels = [...next.podLabels];
    return { ok: false, message, settings: kept };
  };
  try {
    if (doc === null) doc = {};
    if (!isJsonObject(doc)) return failWith(MSG_INVALID_JSON);
    if (!reset && !TOP_KEYS.some((k) => has(doc as Record<string, unknown>, k))) return failWith(MSG_BAD_REQUEST);
    const scoped = f.scopeKind !== "NONE";

    if (has(doc, "cmd")) applyCmd(f, next, doc.cmd);

    let whitelistEntries = 0;
    if (has(doc, "snoopers") && scoped) {
      const snoopers = doc.snoopers;
      if (!isJsonObject(snoopers)) throw new RequestError(MSG_BAD_REQUEST);
      const scope = parseScope(snoopers);
      applyLabels(next, snoopers, scope, opts.reservedLabels ?? DERIVED_LABELS);
      next.mode = "whitelist";
      next.scope = scope;
      whitelistEntries = scopeEntryCount(scope);
    }

    if (has(doc, "blacklist") && scoped) {
      if (whitelistEntries > 0) throw new RequestError(MSG_EXCLUSIVE);
      const blacklist = doc.blacklist;
      if (!isJsonObject(blacklist)) throw new RequestError(MSG_BAD_REQUEST);
      next.scope = parseScope(blacklist);
      next.mode = "blacklist";
    }

    // No scope-required rule: an empty scope means the whole host (DECISIONS.md).

    if (has(doc, "params")) {
      const paramOpts: ParamOptions = {
        running: opts.running,
        exists: opts.exists,
        realpath: opts.realpath,
        customParamLabels: opts.customParamLabels,
      };
      const r = applyParams(f.paramTable, next.params, doc.params, paramOpts);
      if (!r.ok) throw new RequestError(r.message);
      next.params = r.params;
    }

    let state: "running" | "stopped" | undefined;
    if (has(doc, "state")) {
      state = parseState(doc.state);
      if (state === "running" && f.subitems.length > 0 && next.subitems.length === 0) {
        throw new RequestError(MSG_NO_SUBITEM);
      }
      next.wanted = state === "running";
    }

    const changed =
      !sameJson(current.subitems, next.subitems) ||
      !sameJson(current.params, next.params) ||
      current.mode !== next.mode ||
      !sameJson(current.scope, next.scope) ||
      !sameJson(current.customLabels, next.customLabels) ||
      !sameJson(current.podLabels, next.podLabels);
    return state === undefined ? { ok: true, settings: next, changed } : { ok: true, settings: next, state, changed };
  } catch (e) {
    if (e instanceof RequestError) return failWith(e.message);
    return failWith(MSG_BAD_REQUEST); // defensive: malformed input must never escape as an exception
  }
}

// ---- rendering -----------------------------------------------------------------------------

/** Byte-wise (UTF-8) string order = code point order. */
export function compareBytes(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca < cb ? -1 : 1;
    if (ca > 0xffff) i++;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/**
 * A JSON string literal as jsoncpp writes it: `"` and `\` escaped, \b \f \n \r \t, other
 * control characters and everything outside ASCII as \uXXXX (lower-case hex; UTF-16 pairs).
 */
export function quoteAscii(s: string): string {
  let out = '"';
  let chunk = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f && c !== 0x22 && c !== 0x5c) continue;
    if (c === 0x7f) continue;
    out += s.slice(chunk, i) + escapeUnit(c);
    chunk = i + 1;
  }
  return out + s.slice(chunk) + '"';
}

function escapeUnit(c: number): string {
  switch (c) {
    case 0x22: return '\\"';
    case 0x5c: return "\\\\";
    case 0x08: return "\\b";
    case 0x0c: return "\\f";
    case 0x0a: return "\\n";
    case 0x0d: return "\\r";
    case 0x09: return "\\t";
    default: return "\\u" + c.toString(16).padStart(4, "0");
  }
}

/** Compact JSON with object keys sorted byte-wise at every level. */
export function stringifySorted(value: unknown): string {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") return quoteAscii(value);
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "null";
  if (typeof value === "boolean") return value ? "true" : "false";
  if (Array.isArray(value)) return "[" + value.map(stringifySorted).join(",") + "]";
  if (typeof value === "object") {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o).filter((k) => o[k] !== undefined).sort(compareBytes);
    return "{" + keys.map((k) => quoteAscii(k) + ":" + stringifySorted(o[k])).join(",") + "}";
  }
  return "null";
}

function scopeDoc(s: ScopeLists): Record<string, unknown> {
  if (scopeEntryCount(s) === 0) return {};
  return {
    container_id: [...s.container_id],
    container_name: [...s.container_name],
    pod_id: [...s.pod_id],
    proc_id: [...s.proc_id],
    proc_name: s.proc_name.map((p) => {
      const o: Record<string, unknown> = { cmdline: p.cmdline ?? "", comm: p.comm };
      if (p.label && Object.keys(p.label).length > 0) o.label = { ...p.label };
      return o;
    }),
  };
}

/**
 * The GET document of rest-api.md §9 for a configured probe (the never-configured `{}` is
 * the caller's): compact, keys sorted byte-wise, trailing newline.
 */
export function renderGet(f: FeatureDef, s: ProbeSettings, running: boolean): string {
  const enabled = new Set(s.subitems);
  const doc: Record<string, unknown> = {
    cmd: { bin: f.bin, probe: f.subitems.filter((x) => enabled.has(x.name)).map((x) => x.name) },
    params: f.paramTable.shown(f.ownParams, s.params),
    state: running ? "running" : "stopped",
  };
  if (f.scopeKind === "NONE") doc.snoopers = {};
  else if (s.mode === "blacklist") doc.blacklist = scopeDoc(s.scope);
  else doc.snoopers = scopeDoc(s.scope);
  return stringifySorted(doc) + "\n";
}

/** Escapes a message for the envelope: `"`, `\`, control characters and lone surrogates. */
function escapeMessage(s: string): string {
  let out = "";
  let chunk = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let bad = c < 0x20 || c === 0x22 || c === 0x5c;
    if (!bad && c >= 0xd800 && c <= 0xdfff) {
      const pair = c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
      if (pair) {
        i++;
        continue;
      }
      bad = true;
    }
    if (!bad) continue;
    out += s.slice(chunk, i) + escapeUnit(c);
    chunk = i + 1;
  }
  return out + s.slice(chunk);
}

/** The reply envelope of rest-api.md §3, byte for byte (message JSON-escaped, never truncated). */
export function envelope(ok: boolean, message: string): string {
  return `{ "result": "${ok ? "success" : "failed"}", "message":"${escapeMessage(String(message))}" }\n`;
}
