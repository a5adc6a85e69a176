// A JSON reader that accepts exactly what upstream's parser (jsoncpp's old `Json::Reader`
// with its default features) accepts — rest-api.md §5 — plus two safety limits of our own:
// nesting deeper than MAX_DEPTH is refused, and nothing ever throws.
//
// Reproduced behaviour (including jsoncpp's corner cases, since they decide which requests
// succeed):
// * whitespace is space, TAB, CR, LF; `//…` and `/*…*/` comments wherever a value or a
//   separator may appear (not between a member name and its `:`);
// * trailing commas are rejected — except jsoncpp's own slip: after a member whose name is
//   `""`, `{"":1,}` is accepted;
// * after a member value, a comment followed by any token other than `}` is taken as the
//   separator (`{"a":1 /*x*/ 2 "b":3}` parses);
// * only the first complete value is read; whatever follows is ignored;
// * duplicate keys: the last one wins;
// * numbers are scanned as `-?\d*(\.\d*)?([eE][+-]?\d*)?`; digit-only tokens are integers
//   (`-` alone is 0, leading zeros allowed), others must form a valid decimal float; values
//   that overflow a double are errors;
// * string escapes `\" \\ \/ \b \f \n \r \t \uXXXX`; a high surrogate must be followed by
//   another `\u` escape, which is combined with it whatever its value; raw control
//   characters inside strings are allowed.
//
// Values are plain JS data: null, boolean, number, string, unknown[], Record<string, unknown>.

export const MAX_DEPTH = 64;

export type JsonParseResult = { ok: true; value: unknown } | { ok: false };

const TK_OBJ_BEGIN = 1;
const TK_OBJ_END = 2;
const TK_ARR_BEGIN = 3;
const TK_ARR_END = 4;
const TK_STRING = 5;
const TK_NUMBER = 6;
const TK_TRUE = 7;
const TK_FALSE = 8;
const TK_NULL = 9;
const TK_COMMA = 10;
const TK_COLON = 11;
const TK_COMMENT = 12;
const TK_EOS = 13;
const TK_ERROR = 14;

/** Returned by the internal readers on a syntax error; parsing stops at the first one. */
const FAIL: unique symbol = Symbol("json-fail");
type Parsed = unknown | typeof FAIL;

const FLOAT_RE = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  return -1;
}

/** Sets `obj[key] = value` as an own data property, even for `__proto__`. */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === "__proto__") {
    Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

class Reader {
  private readonly s: string;
  private readonly n: number;
  private i = 0;
  private depth = 0;
  /** The last token read: type, start, end. */
  private tt: number = TK_EOS;
  private ts = 0;
  private te = 0;

  constructor(s: string) {
    this.s = s;
    this.n = s.length;
  }

  parse(): JsonParseResult {
    const v = this.readValue();
    return v === FAIL ? { ok: false } : { ok: true, value: v };
  }

  /** The type of the last token (a call, so that narrowing does not survive readToken()). */
  private type(): number {
    return this.tt;
  }

  private skipSpaces(): void {
    const s = this.s;
    while (this.i < this.n) {
      const c = s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a) this.i++;
      else break;
    }
  }

  /** Reads one token; false means a malformed token (type TK_ERROR). */
  private readToken(): boolean {
    this.skipSpaces();
    this.ts = this.i;
    let c = 0;
    if (this.i < this.n) c = this.s.charCodeAt(this.i++);
    let ok = true;
    switch (c) {
      case 0x7b: this.tt = TK_OBJ_BEGIN; break; // {
      case 0x7d: this.tt = TK_OBJ_END; break; // }
      case 0x5b: this.tt = TK_ARR_BEGIN; break; // [
      case 0x5d: this.tt = TK_ARR_END; break; // ]
      case 0x22: this.tt = TK_STRING; ok = this.readString(); break; // "
      case 0x2f: this.tt = TK_COMMENT; ok = this.readComment(); break; // /
      case 0x2d: // -
      case 0x30: case 0x31: case 0x32: case 0x33: case 0x34:
      case 0x35: case 0x36: case 0x37: case 0x38: case 0x39:
        this.tt = TK_NUMBER;
        this.readNumber();
        break;
      case 0x74: this.tt = TK_TRUE; ok = this.match("rue"); break; // t
      case 0x66: this.tt = TK_FALSE; ok = this.match("alse"); break; // f
      case 0x6e: this.tt = TK_NULL; ok = this.match("ull"); break; // n
      case 0x2c: this.tt = TK_COMMA; break; // ,
      case 0x3a: this.tt = TK_COLON; break; // :
      case 0: this.tt = TK_EOS; break;
      default: ok = false; break;
    }
    if (!ok) this.tt = TK_ERROR;
    this.te = this.i;
    return ok;
  }

  private match(rest: string): boolean {
    if (this.n - this.i < rest.length) return false;
    if (this.s.startsWith(rest, this.i)) {
      this.i += rest.length;
      return true;
    }
    return false;
  }

  private readString(): boolean {
    const s = this.s;
    let c = 0;
    while (this.i < this.n) {
      c = s.charCodeAt(this.i++);
      if (c === 0x5c) {
        if (this.i < this.n) this.i++;
      } else if (c === 0x22) {
        break;
      }
    }
    return c === 0x22;
  }

  private readComment(): boolean {
    const c = this.i < this.n ? this.s.charCodeAt(this.i++) : 0;
    if (c === 0x2a) {
      // C comment: up to and including the first "*/".
      const close = this.s.indexOf("*/", this.i);
      if (close < 0) {
        this.i = this.n;
        return false;
      }
      this.i = close + 2;
      return true;
    }
    if (c === 0x2f) {
      // C++ comment: up to and including the end of line (LF, CR or CRLF) or the end.
      const s = this.s;
      while (this.i < this.n) {
        const d = s.charCodeAt(this.i++);
        if (d === 0x0a) break;
        if (d === 0x0d) {
          if (this.i < this.n && s.charCodeAt(this.i) === 0x0a) this.i++;
          break;
        }
      }
      return true;
    }
    return false;
  }

  private readNumber(): void {
    const s = this.s;
    let p = this.i;
    while (p < this.n && isDigit(s.charCodeAt(p))) p++;
    if (p < this.n && s.charCodeAt(p) === 0x2e) {
      p++;
      while (p < this.n && isDigit(s.charCodeAt(p))) p++;
    }
    if (p < this.n && (s.charCodeAt(p) === 0x65 || s.charCodeAt(p) === 0x45)) {
      p++;
      if (p < this.n && (s.charCodeAt(p) === 0x2b || s.charCodeAt(p) === 0x2d)) p++;
      while (p < this.n && isDigit(s.charCodeAt(p))) p++;
    }
    this.i = p;
  }

  private skipCommentTokens(): void {
    do {
      this.readToken();
    } while (this.type() === TK_COMMENT);
  }

  private readValue(): Parsed {
    this.skipCommentTokens();
    switch (this.type()) {
      case TK_OBJ_BEGIN:
        return this.nested(true);
      case TK_ARR_BEGIN:
        return this.nested(false);
      case TK_NUMBER:
        return this.decodeNumber();
      case TK_STRING:
        return this.decodeString();
      case TK_TRUE:
        return true;
      case TK_FALSE:
        return false;
      case TK_NULL:
        return null;
      default:
        return FAIL;
    }
  }

  private nested(object: boolean): Parsed {
    if (this.depth >= MAX_DEPTH) return FAIL;
    this.depth++;
    const v = object ? this.readObject() : this.readArray();
    this.depth--;
    return v;
  }

  private readObject(): Parsed {
    const obj: Record<string, unknown> = {};
    // Like jsoncpp, the member name survives loop iterations: that is what lets `{"":1,}` pass.
    let name = "";
    while (this.readToken()) {
      let initialOk = true;
      while (this.type() === TK_COMMENT && initialOk) initialOk = this.readToken();
      if (!initialOk) break;
      if (this.type() === TK_OBJ_END && name === "") return obj;
      name = "";
      if (this.type() !== TK_STRING) break;
      const key = this.decodeString();
      if (key === FAIL) return FAIL;
      name = key as string;
      if (!this.readToken() || this.type() !== TK_COLON) return FAIL;
      const value = this.readValue();
      if (value === FAIL) return FAIL;
      setOwn(obj, name, value);
      const sep = this.readToken() ? this.type() : TK_ERROR;
      if (sep !== TK_OBJ_END && sep !== TK_COMMA && sep !== TK_COMMENT) {
        return FAIL;
      }
      let finalizeOk = true;
      while (this.type() === TK_COMMENT && finalizeOk) finalizeOk = this.readToken();
      if (this.type() === TK_OBJ_END) return obj;
    }
    return FAIL;
  }

  private readArray(): Parsed {
    const arr: unknown[] = [];
    this.skipSpaces();
    if (this.i < this.n && this.s.charCodeAt(this.i) === 0x5d) {
      this.readToken();
      return arr;
    }
    for (;;) {
      const value = this.readValue();
      if (value === FAIL) return FAIL;
      arr.push(value);
      let ok = this.readToken();
      while (this.type() === TK_COMMENT && ok) ok = this.readToken();
      if (!ok || (this.type() !== TK_COMMA && this.type() !== TK_ARR_END)) return FAIL;
      if (this.type() === TK_ARR_END) return arr;
    }
  }

  private decodeNumber(): Parsed {
    const tok = this.s.slice(this.ts, this.te);
    if (/^-?\d*$/.test(tok)) {
      const neg = tok.charCodeAt(0) === 0x2d;
      const digits = neg ? tok.slice(1) : tok;
      if (digits.length === 0) return 0;
      if (digits.length <= 15) {
        const v = Number(digits);
        return neg && v !== 0 ? -v : v;
      }
      // jsoncpp keeps integers up to 2^64-1 (and down to -2^63) exact, larger ones as doubles;
      // a JS number is a double either way, so only the "too large for a double" case matters.
    }
    if (!FLOAT_RE.test(tok)) return FAIL;
    const v = Number(tok);
    if (!Number.isFinite(v)) return FAIL;
    return v;
  }

  /** Decodes the string token [ts, te) (quotes included). */
  private decodeString(): Parsed {
    const s = this.s;
    const end = this.te - 1;
    let cur = this.ts + 1;
    let out = "";
    let chunk = cur;
    while (cur < end) {
      const c = s.charCodeAt(cur);
      if (c !== 0x5c) {
        cur++;
        continue;
      }
      out += s.slice(chunk, cur);
      cur++;
      if (cur === end) return FAIL;
      const esc = s.charCodeAt(cur++);
      switch (esc) {
        case 0x22: out += '"'; break;
        case 0x2f: out += "/"; break;
        case 0x5c: out += "\\"; break;
        case 0x62: out += "\b"; break;
        case 0x66: out += "\f"; break;
        case 0x6e: out += "\n"; break;
        case 0x72: out += "\r"; break;
        case 0x74: out += "\t"; break;
        case 0x75: { // u
          if (end - cur < 4) return FAIL;
          let unicode = hex4(s, cur);
          if (unicode < 0) return FAIL;
          cur += 4;
          if (unicode >= 0xd800 && unicode <= 0xdbff) {
            if (end - cur < 6) return FAIL;
            if (s.charCodeAt(cur) !== 0x5c || s.charCodeAt(cur + 1) !== 0x75) return FAIL;
            const second = hex4(s, cur + 2);
            if (second < 0) return FAIL;
            cur += 6;
            unicode = 0x10000 + ((unicode & 0x3ff) << 10) + (second & 0x3ff);
            out += String.fromCodePoint(unicode);
          } else {
            out += String.fromCharCode(unicode);
          }
          break;
        }
        default:
          return FAIL;
      }
      chunk = cur;
    }
    return out + s.slice(chunk, end);
  }
}

function hex4(s: string, at: number): number {
  let v = 0;
  for (let k = 0; k < 4; k++) {
    const h = hexValue(s.charCodeAt(at + k));
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

/**
 * Parses `text` as upstream's jsoncpp reader would (see the header comment).
 * Never throws; linear in the length of the text; nesting deeper than MAX_DEPTH fails.
 */
export function parseJsonLenient(text: string): JsonParseResult {
  if (typeof text !== "string") return { ok: false };
  try {
    return new Reader(text).parse();
  } catch {
    // Defensive only: the reader has no throwing paths (depth is bounded).
    return { ok: false };
  }
}

/** True for a JSON object value (not null, not an array). */
export function isJsonObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
