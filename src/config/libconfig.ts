// A small parser for the libconfig file syntax used by gala-gopher.conf.
//
// Supported: `name = value` / `name: value` with an optional `;` or `,` after it,
// groups `{ }`, lists `( )`, arrays `[ ]` of same-typed scalars, strings with escapes
// (\" \\ \n \t \r \f \xNN) and adjacent-literal concatenation, integers (decimal, 0x hex,
// 0b binary, 0o octal, optional L/LL suffix), floats, case-insensitive booleans,
// comments (#, //, /* */) and `@include "file"` (lexical, like libconfig: the included
// file's tokens are spliced in where the directive stands).

import { readFileSync } from "node:fs";
import { dirname, isAbsolute, join } from "node:path";

export interface Located {
  /** File the item was read from (the included file for items from `@include`). */
  file: string;
  /** 1-based line number. */
  line: number;
}

export type LcScalar =
  | (Located & { type: "int"; value: number; /** written with L/LL or beyond 32 bits */ int64: boolean })
  | (Located & { type: "float"; value: number })
  | (Located & { type: "bool"; value: boolean })
  | (Located & { type: "string"; value: string });

export interface LcGroup extends Located {
  type: "group";
  settings: LcSetting[];
}
export interface LcList extends Located {
  type: "list";
  items: LcValue[];
}
export interface LcArray extends Located {
  type: "array";
  items: LcScalar[];
}
export type LcValue = LcScalar | LcGroup | LcList | LcArray;

export interface LcSetting extends Located {
  name: string;
  value: LcValue;
}

export class LibconfigSyntaxError extends Error {
  readonly code = "ECONFIGSYNTAX";
  readonly file: string;
  readonly line: number;
  /** The message without the `<file>:<line>: syntax error: ` prefix. */
  readonly reason: string;
  constructor(file: string, line: number, reason: string) {
    super(`${file}:${line}: syntax error: ${reason}`);
    this.name = "LibconfigSyntaxError";
    this.file = file;
    this.line = line;
    this.reason = reason;
  }
}

export interface ParseOptions {
  /** Name used in locations and error messages; also the base for relative includes. */
  file?: string;
  /** Reads an included file; null when it cannot be read. Defaults to the file system. */
  readFile?: (path: string) => string | null;
}

const MAX_INCLUDE_DEPTH = 10;
const MAX_NESTING = 100;

type Punct = "=" | ":" | ";" | "," | "{" | "}" | "(" | ")" | "[" | "]";
type Token = Located &
  (
    | { t: "name"; s: string }
    | { t: "punct"; s: Punct }
    | { t: "scalar"; v: LcScalar; raw: string }
    | { t: "eof" }
  );

function fsRead(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

const NAME_START = /[A-Za-z*]/;
const NAME_RE = /[A-Za-z*][-A-Za-z0-9_*]*/y;
const HEX_RE = /0[xX]([0-9A-Fa-f]+)(LL|L)?/y;
const BIN_RE = /0[bB]([01]+)(LL|L)?/y;
const OCT_RE = /0[oO]([0-7]+)(LL|L)?/y;
const FLOAT_RE = /[-+]?(?:[0-9]+\.[0-9]*(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+)/y;
const INT_RE = /([-+]?[0-9]+)(LL|L)?/y;
const AFTER_NUMBER = /[A-Za-z0-9_.*]/;
const PUNCT = "=:;,{}()[]";
const INT32_MIN = -(2n ** 31n);
const INT32_MAX = 2n ** 31n - 1n;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const UINT64_MAX = 2n ** 64n - 1n;

function showChar(c: string): string {
  const code = c.codePointAt(0) ?? 0;
  return code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, "0")}` : c;
}

interface LexContext {
  read: (path: string) => string | null;
  /** Files currently being lexed, outermost first (include cycle detection). */
  stack: string[];
  out: Token[];
}

function lex(text: string, file: string, ctx: LexContext): void {
  let i = 0;
  let line = 1;
  const fail = (reason: string, at = line): never => {
    throw new LibconfigSyntaxError(file, at, reason);
  };
  const push = (tok: Token): void => {
    ctx.out.push(tok);
  };
  const readString = (): string => {
    // text[i] is the opening quote.
    const startLine = line;
    let s = "";
    i++;
    for (;;) {
      if (i >= text.length) fail("unterminated string", startLine);
      const c = text[i] as string;
      if (c === '"') {
        i++;
        return s;
      }
      if (c === "\n") line++;
      if (c !== "\\") {
        s += c;
        i++;
        continue;
      }
      const e = text[i + 1];
      const simple: Record<string, string> = { '"': '"', "\\": "\\", n: "\n", t: "\t", r: "\r", f: "\f" };
      if (e !== undefined && simple[e] !== undefined) {
        s += simple[e];
        i += 2;
      } else if ((e === "x" || e === "X") && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 2, i + 4))) {
        s += String.fromCharCode(parseInt(text.slice(i + 2, i + 4), 16));
        i += 4;
      } else {
        // libconfig keeps a backslash that starts no known escape.
        s += "\\";
        i++;
      }
    }
  };

  while (i < text.length) {
    const c = text[i] as string;
    if (c === "\n") {
      line++;
      i++;
    } else if (c === " " || c === "\t" || c === "\r" || c === "\f" || c === "\v") {
      i++;
    } else if (c === "#" || (c === "/" && text[i + 1] === "/")) {
      while (i < text.length && text[i] !== "\n") i++;
    } else if (c === "/" && text[i + 1] === "*") {
      const end = text.indexOf("*/", i + 2);
      if (end < 0) fail("unterminated comment");
      for (let k = i; k < end; k++) if (text[k] === "\n") line++;
      i = end + 2;
    } else if (c === '"') {
      const at = line;
      const value = readString();
      push({ t: "scalar", v: { type: "string", value, file, line: at }, raw: JSON.stringify(value), file, line: at });
    } else if (PUNCT.includes(c)) {
      push({ t: "punct", s: c as Punct, file, line });
      i++;
    } else if (c === "@") {
      if (!text.startsWith("@include", i) || /[A-Za-z0-9_]/.test(text[i + 8] ?? "")) fail("unknown directive");
      i += 8;
      while (text[i] === " " || text[i] === "\t") i++;
      if (text[i] !== '"') fail("expected a quoted file name after @include");
      const at = line;
      const name = readString();
      include(name, at);
    } else if (NAME_START.test(c)) {
      NAME_RE.lastIndex = i;
      const m = NAME_RE.exec(text);
      const s = m ? m[0] : c;
      i += s.length;
      const lower = s.toLowerCase();
      if (lower === "true" || lower === "false") {
        push({ t: "scalar", v: { type: "bool", value: lower === "true", file, line }, raw: s, file, line });
      } else {
        push({ t: "name", s, file, line });
      }
    } else if (c === "-" || c === "+" || c === "." || (c >= "0" && c <= "9")) {
      push(number());
    } else {
      fail(`unexpected character '${showChar(String.fromCodePoint(text.codePointAt(i) ?? 0))}'`);
    }
  }

  function number(): Token {
    const tryRe = (re: RegExp): RegExpExecArray | null => {
      re.lastIndex = i;
      return re.exec(text);
    };
    let tok: Token | null = null;
    let m: RegExpExecArray | null;
    const intToken = (raw: string, big: bigint, suffix: string | undefined, max: bigint): Token => {
      if (big < INT64_MIN || big > max) fail(`integer out of range: ${raw}`);
      const int64 = suffix !== undefined || big < INT32_MIN || big > INT32_MAX;
      return { t: "scalar", v: { type: "int", value: Number(big), int64, file, line }, raw, file, line };
    };
    if ((m = tryRe(HEX_RE) ?? tryRe(BIN_RE) ?? tryRe(OCT_RE))) {
      const radix = m[0][1]?.toLowerCase() ?? "x";
      tok = intToken(m[0], BigInt(`0${radix}${m[1] ?? "0"}`), m[2], UINT64_MAX);
    } else if ((m = tryRe(FLOAT_RE))) {
      tok = { t: "scalar", v: { type: "float", value: Number(m[0]), file, line }, raw: m[0], file, line };
    } else if ((m = tryRe(INT_RE))) {
      tok = intToken(m[0], BigInt(m[1] ?? "0"), m[2], INT64_MAX);
    }
    if (m === null || tok === null) return fail(`invalid number starting with '${showChar(text[i] as string)}'`);
    i += m[0].length;
    const next = text[i];
    if (next !== undefined && AFTER_NUMBER.test(next)) fail(`invalid number '${m[0]}${next}'`);
    return tok;
  }

  function include(name: string, at: number): void {
    const path = isAbsolute(name) ? name : join(dirname(file), name);
    if (ctx.stack.length >= MAX_INCLUDE_DEPTH) fail(`@include nested more than ${MAX_INCLUDE_DEPTH} levels deep`, at);
    if (ctx.stack.includes(path)) fail(`recursive @include of '${path}'`, at);
    const body = ctx.read(path);
    if (body === null) fail(`cannot read @include file '${path}'`, at);
    ctx.stack.push(path);
    lex(body as string, path, ctx);
    ctx.stack.pop();
  }
}

function describe(tok: Token): string {
  switch (tok.t) {
    case "eof":
      return "end of file";
    case "name":
    case "punct":
      return `'${tok.s}'`;
    case "scalar":
      return tok.v.type === "string" ? `string ${tok.raw.length > 40 ? tok.raw.slice(0, 37) + "..." : tok.raw}` : `'${tok.raw}'`;
  }
}

class Parser {
  private pos = 0;
  private readonly toks: Token[];
  constructor(toks: Token[]) {
    this.toks = toks;
  }

  private peek(): Token {
    return this.toks[this.pos] ?? (this.toks[this.toks.length - 1] as Token);
  }
  private next(): Token {
    const tok = this.peek();
    if (this.pos < this.toks.length - 1) this.pos++;
    return tok;
  }
  private isPunct(tok: Token, s: Punct): boolean {
    return tok.t === "punct" && tok.s === s;
  }
  private fail(tok: Token, reason: string): never {
    throw new LibconfigSyntaxError(tok.file, tok.line, reason);
  }

  /** Settings up to `}` (consumed) or, at top level, end of file. */
  settings(inGroup: boolean, depth: number): LcSetting[] {
    const out: LcSetting[] = [];
    for (;;) {
      const tok = this.next();
      if (tok.t === "eof") {
        if (inGroup) this.fail(tok, "unexpected end of file, expected '}'");
        return out;
      }
      if (inGroup && this.isPunct(tok, "}")) return out;
      if (tok.t !== "name") this.fail(tok, `expected a setting name, got ${describe(tok)}`);
      const name = tok.s;
      const assign = this.next();
      if (!this.isPunct(assign, "=") && !this.isPunct(assign, ":")) {
        this.fail(assign, `expected '=' or ':' after '${name}', got ${describe(assign)}`);
      }
      const value = this.value(`'${name}'`, depth);
      const after = this.peek();
      if (this.isPunct(after, ";") || this.isPunct(after, ",")) this.next();
      else if (!(after.t === "name" || after.t === "eof" || (inGroup && this.isPunct(after, "}")))) {
        this.fail(after, `expected ';' after value of '${name}', got ${describe(after)}`);
      }
      if (out.some((s) => s.name === name)) this.fail(tok, `duplicate setting '${name}'`);
      out.push({ name, value, file: tok.file, line: tok.line });
    }
  }

  private value(what: string, depth: number): LcValue {
    const tok = this.next();
    if (depth >= MAX_NESTING) this.fail(tok, `nesting deeper than ${MAX_NESTING} levels`);
    if (tok.t === "scalar") {
      if (tok.v.type !== "string") return tok.v;
      let s = tok.v.value;
      for (let nx = this.peek(); nx.t === "scalar" && nx.v.type === "string"; nx = this.peek()) {
        s += nx.v.value;
        this.next();
      }
      return { ...tok.v, value: s };
    }
    const at = { file: tok.file, line: tok.line };
    if (this.isPunct(tok, "{")) return { type: "group", settings: this.settings(true, depth + 1), ...at };
    if (this.isPunct(tok, "(")) return { type: "list", items: this.items(")", `list ${what}`, depth + 1), ...at };
    if (this.isPunct(tok, "[")) {
      const items = this.items("]", `array ${what}`, depth + 1);
      const first = items[0];
      for (const item of items) {
        if (item.type === "group" || item.type === "list" || item.type === "array") {
          this.fail(tok, `array ${what} may hold only scalar values (use a list for groups)`);
        }
        if (first && item.type !== first.type) this.fail(tok, `array ${what} mixes ${first.type} and ${item.type} elements`);
      }
      return { type: "array", items: items as LcScalar[], ...at };
    }
    return this.fail(tok, `expected a value for ${what}, got ${describe(tok)}`);
  }

  private items(close: ")" | "]", what: string, depth: number): LcValue[] {
    const items: LcValue[] = [];
    for (;;) {
      if (this.isPunct(this.peek(), close)) {
        this.next();
        return items;
      }
      items.push(this.value(what, depth));
      const sep = this.next();
      if (this.isPunct(sep, close)) return items;
      if (!this.isPunct(sep, ",")) this.fail(sep, `expected ',' or '${close}' in ${what}, got ${describe(sep)}`);
    }
  }
}

/** Parses libconfig text into a root group. Throws LibconfigSyntaxError. */
export function parseLibconfig(text: string, opts: ParseOptions = {}): LcGroup {
  const file = opts.file ?? "<string>";
  const ctx: LexContext = { read: opts.readFile ?? fsRead, stack: [file], out: [] };
  lex(text, file, ctx);
  const lines = text.split("\n").length;
  ctx.out.push({ t: "eof", file, line: text.endsWith("\n") && lines > 1 ? lines - 1 : lines });
  const settings = new Parser(ctx.out).settings(false, 0);
  return { type: "group", settings, file, line: 1 };
}

/** The setting called `name` directly inside `group`, if any. */
export function lookup(group: LcGroup, name: string): LcSetting | undefined {
  return group.settings.find((s) => s.name === name);
}

export type Plain = number | boolean | string | Plain[] | { [name: string]: Plain };

/** The value without locations: groups become objects, lists and arrays become arrays. */
export function toPlain(value: LcValue): Plain {
  switch (value.type) {
    case "group":
      return Object.fromEntries(value.settings.map((s) => [s.name, toPlain(s.value)]));
    case "list":
    case "array":
      return value.items.map(toPlain);
    default:
      return value.value;
  }
}
