// PUT/POST body decoding (rest-api.md §4) and the legacy POST document (DECISIONS.md).
import { isJsonObject, parseJsonLenient } from "./json.ts";

export const MAX_BODY = 1048576;

export const MSG_BODY_TOO_LARGE = `put data size exceeds ${MAX_BODY}`;
export const MSG_NO_JSON_PREFIX = "put data must start with json=";
export const MSG_INVALID_JSON = "invalid json format";

export type DecodeResult = { ok: true; doc: unknown } | { ok: false; message: string };

const PREFIX = [0x6a, 0x73, 0x6f, 0x6e, 0x3d]; // "json="

// Invalid UTF-8 becomes U+FFFD; a BOM is kept (so it is a syntax error, as upstream).
const utf8 = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

function isBlank(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** application/x-www-form-urlencoded value decoding: `+` → space, `%XX` → byte; stray `%` kept. */
export function formDecode(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length);
  let o = 0;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b === 0x2b) {
      out[o++] = 0x20;
    } else if (b === 0x25 && i + 2 < bytes.length) {
      const h = hexValue(bytes[i + 1]!);
      const l = hexValue(bytes[i + 2]!);
      if (h >= 0 && l >= 0) {
        out[o++] = h * 16 + l;
        i += 2;
      } else {
        out[o++] = b;
      }
    } else {
      out[o++] = b;
    }
  }
  return out.subarray(0, o);
}

function rootResult(v: unknown): DecodeResult {
  // A null root behaves like {} (which the request engine then rejects with "Bad request").
  if (v === null) return { ok: true, doc: {} };
  if (!isJsonObject(v)) return { ok: false, message: MSG_INVALID_JSON };
  return { ok: true, doc: v };
}

/**
 * Decodes a PUT body into a request document.
 * * more than 1 MiB → `put data size exceeds 1048576`;
 * * bytes from the first NUL on are ignored;
 * * must start with `json=`; leniency: a body whose first non-blank byte is `{` is raw JSON;
 *   otherwise `put data must start with json=`;
 * * after `json=`: the text as is, or — when that is not valid JSON — its form-decoded
 *   (`%XX`, `+`) form;
 * * syntax error, or a root that is neither an object nor null → `invalid json format`.
 */
export function decodePutBody(body: Uint8Array): DecodeResult {
  if (!(body instanceof Uint8Array)) return { ok: false, message: MSG_NO_JSON_PREFIX };
  if (body.length > MAX_BODY) return { ok: false, message: MSG_BODY_TOO_LARGE };
  const nul = body.indexOf(0);
  const bytes = nul >= 0 ? body.subarray(0, nul) : body;

  let hasPrefix = bytes.length >= PREFIX.length;
  for (let k = 0; hasPrefix && k < PREFIX.length; k++) if (bytes[k] !== PREFIX[k]) hasPrefix = false;

  if (!hasPrefix) {
    let k = 0;
    while (k < bytes.length && isBlank(bytes[k]!)) k++;
    if (k < bytes.length && bytes[k] === 0x7b) {
      const raw = parseJsonLenient(utf8.decode(bytes));
      return raw.ok ? rootResult(raw.value) : { ok: false, message: MSG_INVALID_JSON };
    }
    return { ok: false, message: MSG_NO_JSON_PREFIX };
  }

  const rest = bytes.subarray(PREFIX.length);
  const direct = parseJsonLenient(utf8.decode(rest));
  if (direct.ok) return rootResult(direct.value);
  const decoded = parseJsonLenient(utf8.decode(formDecode(rest)));
  if (decoded.ok) return rootResult(decoded.value);
  return { ok: false, message: MSG_INVALID_JSON };
}

// ---- legacy POST form (design doc v0.3) ---------------------------------------------------

/**
 * Marker key of the document translateLegacy() returns for `{"operate":"delete"}`:
 * `{ [LEGACY_RESET]: true, state: "stopped" }`. applyRequest() honours it by starting from
 * the feature's default settings (subitems, scope, labels and params reset; the URL name is
 * kept) and then applying `state: "stopped"`. A symbol cannot come out of any JSON body, so
 * a client cannot forge the reset through PUT.
 */
export const LEGACY_RESET: unique symbol = Symbol.for("gala-gopher.legacy-reset");

export function isResetRequest(doc: unknown): boolean {
  return isJsonObject(doc) && (doc as Record<PropertyKey, unknown>)[LEGACY_RESET] === true;
}

const LEGACY_KEYS = ["probes", "operate", "switch"] as const;

/** Legacy scope list key → current snoopers key. */
const LEGACY_SCOPE: ReadonlyArray<readonly [string, string]> = [
  ["proc_id", "proc_id"],
  ["proc_name", "proc_name"],
  ["pod", "pod_id"],
  ["pod_id", "pod_id"],
  ["container_id", "container_id"],
  ["container_name", "container_name"],
];

/** start/on → running, stop/off → stopped; anything else is handed on as the state value. */
function stateOf(op: unknown): unknown {
  if (typeof op !== "string") return op; // → "invalid state: must be string"
  const l = op.toLowerCase();
  if (l === "start" || l === "on") return "running";
  if (l === "stop" || l === "off") return "stopped";
  return op; // → "invalid state <op>: must be running or stopped"
}

/**
 * Translates the legacy POST document of DECISIONS.md into the current form:
 * * `probes.probe` → `cmd.probe` (a legacy `cmd` holding only `bin`/`check_cmd` is dropped:
 *   both are ignored today and a `cmd` without `probe` would be a `Bad request`);
 * * `probes.{proc_id, proc_name, pod (or pod_id), container_id, container_name}` →
 *   `snoopers` (only when at least one list is given); `probes` may also be the array of
 *   such objects of the oldest design, whose lists are concatenated;
 * * `operate: start|stop` → `state: running|stopped`; `switch: on|off` likewise;
 * * `operate: delete` → `{ [LEGACY_RESET]: true, state: "stopped" }` (stop and reset to
 *   defaults; any other key of that document is ignored);
 * * other operate/switch values become the `state` value, so the usual state errors apply;
 * * `params`, and any current-form key, pass through unchanged.
 * A document without `probes`, `operate` or `switch` is returned unchanged.
 */
export function translateLegacy(doc: unknown): unknown {
  if (!isJsonObject(doc)) return doc;
  if (!LEGACY_KEYS.some((k) => Object.hasOwn(doc, k))) return doc;

  const op = doc.operate;
  if (typeof op === "string" && op.toLowerCase() === "delete") {
    return { [LEGACY_RESET]: true, state: "stopped" };
  }

  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (k === "probes" || k === "operate" || k === "switch" || k === "cmd") continue;
    out[k] = v;
  }
  // A current-form cmd (with probe) is kept; a legacy one (bin/check_cmd only) is dropped.
  if (isJsonObject(doc.cmd) && Object.hasOwn(doc.cmd, "probe")) out.cmd = doc.cmd;
  else if (Object.hasOwn(doc, "cmd") && !isJsonObject(doc.cmd)) out.cmd = doc.cmd;

  if (Object.hasOwn(doc, "probes")) {
    const probes = doc.probes;
    const parts: unknown[] = Array.isArray(probes) ? probes : [probes];
    if (!parts.every(isJsonObject)) {
      // Not the legacy shape: hand it on so that it is rejected as a malformed scope.
      if (!Object.hasOwn(out, "snoopers")) out.snoopers = probes;
    } else {
      const objs = parts as Record<string, unknown>[];
      let probeList: unknown;
      const lists: Record<string, unknown> = {};
      let anyList = false;
      for (const o of objs) {
        if (Object.hasOwn(o, "probe")) {
          const p = o.probe;
          if (objs.length === 1 || !Array.isArray(p)) probeList = p;
          else probeList = (Array.isArray(probeList) ? probeList : []).concat(p);
        }
        for (const [from, to] of LEGACY_SCOPE) {
          if (!Object.hasOwn(o, from)) continue;
          anyList = true;
          const val = o[from];
          const prev = lists[to];
          if (Array.isArray(prev) && Array.isArray(val)) lists[to] = prev.concat(val);
          else lists[to] = val;
        }
      }
      if (probeList !== undefined && !Object.hasOwn(out, "cmd")) out.cmd = { probe: probeList };
      if (anyList && !Object.hasOwn(out, "snoopers")) out.snoopers = lists;
    }
  }

  if (!Object.hasOwn(out, "state")) {
    if (Object.hasOwn(doc, "operate")) out.state = stateOf(doc.operate);
    else if (Object.hasOwn(doc, "switch")) out.state = stateOf(doc.switch);
  }
  return out;
}
