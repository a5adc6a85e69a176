// HTTP/1.x start lines, the header fields that frame a body and chunk-size lines (RFC 9112
// §3, §4, §6, §7.1), read straight from the bytes into reusable structs: nothing is
// allocated per message. Also what a message start looks like (detection and resync) and
// the API name a request is counted under ("GET /path", interned).
import { Looks, type Transport } from "../protocol.ts";
import { AsciiInterner, CR, HTAB, LF, SP, equalsIgnoreCase, indexOfByte, parseDecimal, trimEnd, trimStart } from "./bytes.ts";

/** What the header fields say about the body. `bad`: framing cannot be trusted. */
export interface HeadInfo {
  status: number;
  /** -1 when absent. */
  contentLength: number;
  /** Transfer-Encoding ends with "chunked". */
  chunked: boolean;
  /** Transfer-Encoding present but not ending with "chunked". */
  otherCoding: boolean;
  bad: boolean;
}

export interface RequestLine {
  methodEnd: number;
  targetEnd: number;
}

/** tchar (RFC 9110 §5.6.2) */
function isTokenChar(c: number): boolean {
  if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122)) return true;
  return c === 33 || (c >= 35 && c <= 39) || c === 42 || c === 43 || c === 45 || c === 46 || c === 94 || c === 95 || c === 96 || c === 124 || c === 126;
}

/** Whether data[at, at+8) is "HTTP/1.<digit>". */
function isVersion(data: Uint8Array, at: number): boolean {
  return (
    data[at] === 72 && data[at + 1] === 84 && data[at + 2] === 84 && data[at + 3] === 80 &&
    data[at + 4] === 47 && data[at + 5] === 49 && data[at + 6] === 46 && data[at + 7]! >= 48 && data[at + 7]! <= 57
  );
}

function lineEndOf(data: Uint8Array, lf: number, from: number): number {
  return lf > from && data[lf - 1] === CR ? lf - 1 : lf;
}

/**
 * A request line "METHOD SP target SP HTTP/1.x" ending in data[off, end): returns the index
 * after its LF (filling `out` when given), or -1 when there is none there.
 */
export function requestLineAt(data: Uint8Array, off: number, end: number, out: RequestLine | null): number {
  const lf = indexOfByte(data, LF, off, end);
  if (lf < 0) return -1;
  const le = lineEndOf(data, lf, off);
  let sp1 = off;
  while (sp1 < le && isTokenChar(data[sp1]!)) sp1++;
  if (sp1 === off || sp1 >= le || data[sp1] !== SP) return -1;
  const sp2 = le - 9;
  if (sp2 <= sp1 + 1 || data[sp2] !== SP || !isVersion(data, sp2 + 1)) return -1;
  for (let i = sp1 + 1; i < sp2; i++) if (data[i]! <= SP || data[i] === 127) return -1;
  if (out) {
    out.methodEnd = sp1;
    out.targetEnd = sp2;
  }
  return lf + 1;
}

/**
 * A status line "HTTP/1.x SP 3DIGIT [SP reason]" ending in data[off, end): returns the index
 * after its LF (setting `h.status` when given), or -1 when there is none there.
 */
export function statusLineAt(data: Uint8Array, off: number, end: number, h: HeadInfo | null): number {
  if (end - off < 13 || !isVersion(data, off) || data[off + 8] !== SP) return -1;
  const status = parseDecimal(data, off + 9, off + 12);
  if (status < 100 || status > 999) return -1;
  const c = data[off + 12];
  if (c !== SP && c !== CR && c !== LF) return -1;
  const lf = indexOfByte(data, LF, off + 12, end);
  if (lf < 0) return -1;
  if (h) h.status = status;
  return lf + 1;
}

/** Parses the header fields in data[from, headEnd) into `h`; false when they frame nothing sane. */
export function parseHead(data: Uint8Array, from: number, headEnd: number, h: HeadInfo): boolean {
  h.contentLength = -1;
  h.chunked = false;
  h.otherCoding = false;
  h.bad = false;
  let ls = from;
  while (ls < headEnd) {
    let lf = indexOfByte(data, LF, ls, headEnd);
    if (lf < 0) lf = headEnd;
    const le = lineEndOf(data, lf, ls);
    if (le === ls) break;
    const first = data[ls];
    if (first !== SP && first !== HTAB) {
      const colon = indexOfByte(data, 58 /* : */, ls, le);
      if (colon > ls) {
        const nameLen = colon - ls;
        const vs = trimStart(data, colon + 1, le);
        const ve = trimEnd(data, vs, le);
        if (nameLen === 14 && equalsIgnoreCase(data, ls, colon, "content-length")) {
          if (!contentLength(data, vs, ve, h)) h.bad = true;
        } else if (nameLen === 17 && equalsIgnoreCase(data, ls, colon, "transfer-encoding")) {
          let comma = ve - 1;
          while (comma >= vs && data[comma] !== 44) comma--;
          const ts = trimStart(data, comma + 1, ve);
          h.chunked = equalsIgnoreCase(data, ts, ve, "chunked");
          h.otherCoding = !h.chunked;
        }
      }
    }
    ls = lf + 1;
  }
  if (h.chunked || h.otherCoding) h.contentLength = -1;
  else if (h.bad) return false;
  return true;
}

/** Content-Length: a number, or a list of the same number ("5, 5"); agrees with an earlier one. */
function contentLength(data: Uint8Array, vs: number, ve: number, h: HeadInfo): boolean {
  let at = vs;
  while (at <= ve) {
    let comma = indexOfByte(data, 44, at, ve);
    if (comma < 0) comma = ve;
    const n = parseDecimal(data, trimStart(data, at, comma), trimEnd(data, at, comma));
    if (n < 0 || (h.contentLength >= 0 && h.contentLength !== n)) return false;
    h.contentLength = n;
    at = comma + 1;
  }
  return true;
}


/** End (one past the blank line) of a head starting at `start`, searching from `from`; -1 if not yet. */
export function findHeadEnd(data: Uint8Array, from: number, end: number, start: number): number {
  for (let i = from; i < end; i++) {
    if (data[i] !== LF) continue;
    // The line ending here is empty when the previous line ended right before it.
    const before = i > start && data[i - 1] === CR ? i - 1 : i;
    if (before > start && data[before - 1] === LF) return i + 1;
  }
  return -1;
}

/** Whether a fully captured read ends with the last chunk of a chunked body and no trailer. */
export function endsWithLastChunk(b: Uint8Array): boolean {
  const n = b.length;
  return n >= 7 && b[n - 1] === LF && b[n - 2] === CR && b[n - 3] === LF && b[n - 4] === CR && b[n - 5] === 48 && b[n - 6] === LF && b[n - 7] === CR;
}

/** Whether the first bytes of a head can begin a status line / a request line. */
export function plausibleStart(isResponse: boolean, data: Uint8Array, off: number, end: number): boolean {
  const n = Math.min(end - off, isResponse ? 7 : 32);
  if (isResponse) {
    for (let i = 0; i < n; i++) if (data[off + i] !== STATUS_PREFIX.charCodeAt(i)) return false;
    return true;
  }
  for (let i = 0; i < n; i++) {
    const c = data[off + i]!;
    if (c === SP) return i > 0;
    if (c <= SP || c >= 127 || c === 58 /* : */ || c === 34 /* " */) return false;
  }
  return n < 32;
}

const STATUS_PREFIX = "HTTP/1.";

/** Chunk size from a chunk-size line (hex, optional ";ext"), -1 when malformed. */
export function chunkSize(data: Uint8Array, from: number, to: number): number {
  let end = from;
  while (end < to && data[end] !== 59 /* ; */ && data[end] !== SP && data[end] !== 9) end++;
  let n = 0;
  if (end === from || end - from > 13) return -1;
  for (let i = from; i < end; i++) {
    const c = data[i]!;
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) return -1;
    n = n * 16 + d;
  }
  return n;
}

/** Whether a read at a message boundary begins with this side's start line. `strict`
 *  requires the whole line (used where a wrong guess would cut a body short). */
export function startsMessage(isResponse: boolean, bytes: Uint8Array, strict: boolean): boolean {
  if (isResponse) return statusLineAt(bytes, 0, bytes.length, null) >= 0 || (!strict && looksLikeStatusPrefix(bytes));
  return requestLineAt(bytes, 0, bytes.length, null) >= 0 || (!strict && looksLikeRequestPrefix(bytes));
}

function looksLikeStatusPrefix(b: Uint8Array): boolean {
  return b.length >= 12 && b[0] === 72 && b[1] === 84 && b[2] === 84 && b[3] === 80 && b[4] === 47 && b[5] === 49 && b[6] === 46;
}

/** A known method, a space and an origin-form target: a request line whose end was not captured. */
function looksLikeRequestPrefix(b: Uint8Array): boolean {
  const sp = b.indexOf(SP);
  return sp > 0 && sp < 16 && KNOWN_METHODS.has(asciiKey(b, sp)) && b[sp + 1] === 47;
}

function asciiKey(b: Uint8Array, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += String.fromCharCode(b[i]!);
  return s;
}

const KNOWN_METHODS = new Set([
  "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
  "PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "REPORT", "SEARCH",
  "MKCALENDAR", "MKACTIVITY", "CHECKOUT", "MERGE", "PURGE", "LINK", "UNLINK", "BIND", "REBIND", "UNBIND", "ACL",
]);

/** HTTP/1.x detection. A request is a known method, a space, a target and " HTTP/1.x": the
 *  version is required when the line end was captured, and the target must at least start
 *  like one otherwise, so Redis inline commands ("GET key\r\n") are never claimed. */
export function detectHttp(first: Uint8Array, transport: Transport): Looks {
  if (transport !== "tcp") return Looks.No;
  if (statusLineAt(first, 0, first.length, null) >= 0 || looksLikeStatusPrefix(first)) return Looks.Response;
  const sp = first.indexOf(SP);
  if (sp <= 0 || sp > 16 || !KNOWN_METHODS.has(asciiKey(first, sp))) return Looks.No;
  if (first.indexOf(LF) >= 0) return requestLineAt(first, 0, first.length, null) >= 0 ? Looks.Request : Looks.No;
  // No line end yet: the target must be followed by the start of " HTTP/1.".
  const sp2 = first.indexOf(SP, sp + 1);
  if (sp2 < 0 || sp2 === sp + 1) return Looks.No;
  const version = "HTTP/1.";
  const seen = Math.min(first.length - sp2 - 1, version.length);
  if (seen < 1) return Looks.No;
  for (let i = 0; i < seen; i++) if (first[sp2 + 1 + i] !== version.charCodeAt(i)) return Looks.No;
  return Looks.Request;
}

/** The API names of requests ("GET /path"), built in a reused buffer and interned. */
export class RequestApiNames {
  private readonly interner = new AsciiInterner(64);
  private scratch = new Uint8Array(256);

  /** "METHOD /path" with the query string and fragment cut, the origin of an absolute URL dropped. */
  of(data: Uint8Array, off: number, methodEnd: number, targetEnd: number): string {
    let from = methodEnd + 1;
    let to = targetEnd;
    const isConnect = methodEnd - off === 7 && data[off] === 67 && data[off + 1] === 79 && data[off + 2] === 78;
    if (!isConnect && data[from] !== 47 /* / */ && data[from] !== 42 /* * */) {
      // absolute-form: scheme "://" authority path
      let i = from;
      while (i + 2 < to && !(data[i] === 58 && data[i + 1] === 47 && data[i + 2] === 47)) i++;
      i = i + 2 < to ? i + 3 : from;
      while (i < to && data[i] !== 47) i++;
      from = i;
    }
    if (!isConnect)
      for (let i = from; i < to; i++)
        if (data[i] === 63 /* ? */ || data[i] === 35 /* # */) {
          to = i;
          break;
        }
    const pathLen = to - from;
    const n = methodEnd - off + 1 + (pathLen > 0 ? pathLen : 1);
    if (this.scratch.length < n) this.scratch = new Uint8Array(n * 2);
    const k = this.scratch;
    let at = 0;
    for (let i = off; i < methodEnd; i++) k[at++] = data[i]!;
    k[at++] = SP;
    if (pathLen > 0) for (let i = from; i < to; i++) k[at++] = data[i]!;
    else k[at] = 47; // an absolute URL without a path means "/"
    return this.interner.intern(k, 0, n);
  }
}
