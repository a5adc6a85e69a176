import { describe, expect, test } from "bun:test";
import { LibconfigSyntaxError, lookup, parseLibconfig, toPlain, type LcGroup } from "./libconfig.ts";

const plain = (text: string) => toPlain(parseLibconfig(text, { file: "t.conf" }));

function syntaxError(text: string, files: Record<string, string> = {}): LibconfigSyntaxError {
  try {
    parseLibconfig(text, { file: "t.conf", readFile: (p) => files[p] ?? null });
  } catch (e) {
    expect(e).toBeInstanceOf(LibconfigSyntaxError);
    return e as LibconfigSyntaxError;
  }
  throw new Error(`expected a syntax error for: ${text}`);
}

describe("settings", () => {
  test("= and : assignments, optional ; or , terminators", () => {
    expect(plain("a = 1; b: 2, c = 3\nd = 4")).toEqual({ a: 1, b: 2, c: 3, d: 4 });
  });
  test("empty input and comment-only input", () => {
    expect(plain("")).toEqual({});
    expect(plain("# x\n// y\n/* z\n w */\n")).toEqual({});
  });
  test("names may contain - _ * and digits", () => {
    expect(plain("a-b_c*1 = 1; *x = 2;")).toEqual({ "a-b_c*1": 1, "*x": 2 });
  });
  test("groups, nested groups, empty groups", () => {
    expect(plain("g = { a = 1; h: { b = \"x\"; }; e = {}; };")).toEqual({ g: { a: 1, h: { b: "x" }, e: {} } });
  });
  test("lists hold any values, trailing comma allowed", () => {
    expect(plain('l = ( 1, "a", { x = 1; }, (2, 3), [4], );  e = ();')).toEqual({
      l: [1, "a", { x: 1 }, [2, 3], [4]],
      e: [],
    });
  });
  test("arrays hold same-typed scalars", () => {
    expect(plain('a = [1, 2, 0x3]; b = ["x", "y"]; c = [true, FALSE]; d = [];')).toEqual({
      a: [1, 2, 3],
      b: ["x", "y"],
      c: [true, false],
      d: [],
    });
  });
  test("line numbers on settings and values", () => {
    const root = parseLibconfig('\n\na = 1;\ng =\n{\n  b = "x";\n};\n', { file: "f" });
    expect(lookup(root, "a")?.line).toBe(3);
    const g = lookup(root, "g");
    expect(g?.line).toBe(4);
    expect(g?.value.line).toBe(5);
    const b = lookup(g?.value as LcGroup, "b");
    expect(b).toMatchObject({ name: "b", line: 6, file: "f", value: { type: "string", value: "x", line: 6 } });
  });
});

describe("scalars", () => {
  test("integers: decimal, signed, hex, binary, octal, L/LL suffix", () => {
    const root = parseLibconfig("a = 42; b = -7; c = +3; d = 0x1F; e = 0XffL; f = 5LL; g = 0b101; h = 0o17; i = 3000000000;");
    expect(toPlain(root)).toEqual({ a: 42, b: -7, c: 3, d: 31, e: 255, f: 5, g: 5, h: 15, i: 3000000000 });
    const int64 = Object.fromEntries(root.settings.map((s) => [s.name, s.value.type === "int" && s.value.int64]));
    expect(int64).toEqual({ a: false, b: false, c: false, d: false, e: true, f: true, g: false, h: false, i: true });
  });
  test("floats", () => {
    const root = parseLibconfig("a = 1.5; b = -0.25; c = .5; d = 5.; e = 1e3; f = 2.5E-2; g = 3.0;");
    expect(toPlain(root)).toEqual({ a: 1.5, b: -0.25, c: 0.5, d: 5, e: 1000, f: 0.025, g: 3 });
    expect(root.settings.every((s) => s.value.type === "float")).toBe(true);
  });
  test("booleans are case-insensitive", () => {
    expect(plain("a = true; b = FALSE; c = True; d = fAlSe;")).toEqual({ a: true, b: false, c: true, d: false });
  });
  test("string escapes", () => {
    expect(plain(String.raw`s = "q\" b\\ n\n t\t r\r f\f x\x41\x7a";`)).toEqual({ s: 'q" b\\ n\n t\t r\r f\f xAz' });
  });
  test("unknown escapes keep the backslash", () => {
    expect(plain(String.raw`s = "a\qb\x4";`)).toEqual({ s: String.raw`a\qb\x4` });
  });
  test("adjacent strings concatenate, across lines and comments", () => {
    expect(plain('s = "a" "b"\n  /* c */ "c" # d\n "d";')).toEqual({ s: "abcd" });
  });
  test("strings may span lines; line numbers stay right", () => {
    const root = parseLibconfig('s = "a\nb";\nt = 1;');
    expect(toPlain(root)).toEqual({ s: "a\nb", t: 1 });
    expect(lookup(root, "t")?.line).toBe(3);
  });
  test("comment markers inside strings are text", () => {
    expect(plain('s = "# not // a /* comment */";')).toEqual({ s: "# not // a /* comment */" });
  });
});

describe("@include", () => {
  const files: Record<string, string> = {
    "/etc/g/main.conf": 'a = 1;\n@include "sub/part.conf"\nz = 9;',
    "/etc/g/sub/part.conf": '\nb = 2;\n@include "/abs/inner.conf"',
    "/abs/inner.conf": "g = { c = 3; };",
    "/etc/g/grp.conf": 'g = {\n  @include "keys.conf"\n  y = 2;\n};',
    "/etc/g/keys.conf": "x = 1;",
    "/etc/g/loop.conf": '@include "loop.conf"',
    "/etc/g/bad.conf": "q = ;",
  };
  const read = (p: string) => files[p] ?? null;
  test("splices included settings in place; relative to the including file", () => {
    const root = parseLibconfig(files["/etc/g/main.conf"] as string, { file: "/etc/g/main.conf", readFile: read });
    expect(toPlain(root)).toEqual({ a: 1, b: 2, g: { c: 3 }, z: 9 });
    expect(lookup(root, "b")).toMatchObject({ file: "/etc/g/sub/part.conf", line: 2 });
    expect(lookup(root, "z")).toMatchObject({ file: "/etc/g/main.conf", line: 3 });
  });
  test("inside a group", () => {
    const root = parseLibconfig(files["/etc/g/grp.conf"] as string, { file: "/etc/g/grp.conf", readFile: read });
    expect(toPlain(root)).toEqual({ g: { x: 1, y: 2 } });
  });
  test("missing, recursive and broken includes", () => {
    expect(syntaxError('@include "nope.conf"').message).toBe("t.conf:1: syntax error: cannot read @include file 'nope.conf'");
    const loop = (() => {
      try {
        parseLibconfig(files["/etc/g/loop.conf"] as string, { file: "/etc/g/loop.conf", readFile: read });
      } catch (e) {
        return e as LibconfigSyntaxError;
      }
    })();
    expect(loop?.message).toBe("/etc/g/loop.conf:1: syntax error: recursive @include of '/etc/g/loop.conf'");
    const bad = (() => {
      try {
        parseLibconfig('\n@include "bad.conf"', { file: "/etc/g/x.conf", readFile: read });
      } catch (e) {
        return e as LibconfigSyntaxError;
      }
    })();
    expect(bad).toMatchObject({ code: "ECONFIGSYNTAX", file: "/etc/g/bad.conf", line: 1 });
    expect(syntaxError("@include nope").message).toBe("t.conf:1: syntax error: expected a quoted file name after @include");
    expect(syntaxError("@foo").message).toBe("t.conf:1: syntax error: unknown directive");
  });
  test("depth limit", () => {
    const chain: Record<string, string> = {};
    for (let i = 0; i < 20; i++) chain[`f${i}`] = `@include "f${i + 1}"`;
    expect(syntaxError('@include "f0"', chain).reason).toBe("@include nested more than 10 levels deep");
  });
});

describe("syntax errors", () => {
  const cases: Array<[string, string]> = [
    ["port = 8888 80;", "t.conf:1: syntax error: expected ';' after value of 'port', got '80'"],
    ["a = 1;\nport = 8888 \"x\";", "t.conf:2: syntax error: expected ';' after value of 'port', got string \"x\""],
    ["a 1;", "t.conf:1: syntax error: expected '=' or ':' after 'a', got '1'"],
    ["a = ;", "t.conf:1: syntax error: expected a value for 'a', got ';'"],
    ["a =", "t.conf:1: syntax error: expected a value for 'a', got end of file"],
    ["= 1;", "t.conf:1: syntax error: expected a setting name, got '='"],
    ["1 = 1;", "t.conf:1: syntax error: expected a setting name, got '1'"],
    ["true = 1;", "t.conf:1: syntax error: expected a setting name, got 'true'"],
    ["a = 1; }", "t.conf:1: syntax error: expected a setting name, got '}'"],
    ["g = {\n a = 1;\n", "t.conf:2: syntax error: unexpected end of file, expected '}'"],
    ["g = { a = 1 ", "t.conf:1: syntax error: unexpected end of file, expected '}'"],
    ['s = "abc;\n\n', "t.conf:1: syntax error: unterminated string"],
    ["a = 1; /* x\n", "t.conf:1: syntax error: unterminated comment"],
    ["a = 1;\n\n  % = 2;", "t.conf:3: syntax error: unexpected character '%'"],
    ["a = \u0001;", "t.conf:1: syntax error: unexpected character '\\x01'"],
    ["a = 12ab;", "t.conf:1: syntax error: invalid number '12a'"],
    ["a = 1.2.3;", "t.conf:1: syntax error: invalid number '1.2.'"],
    ["a = -x;", "t.conf:1: syntax error: invalid number starting with '-'"],
    ["a = 9223372036854775808;", "t.conf:1: syntax error: integer out of range: 9223372036854775808"],
    ["a = 0x10000000000000000;", "t.conf:1: syntax error: integer out of range: 0x10000000000000000"],
    ["a = 1;\na = 2;", "t.conf:2: syntax error: duplicate setting 'a'"],
    ["l = (1 2);", "t.conf:1: syntax error: expected ',' or ')' in list 'l', got '2'"],
    ["l = (1,", "t.conf:1: syntax error: expected a value for list 'l', got end of file"],
    ["a = [1, \"x\"];", "t.conf:1: syntax error: array 'a' mixes int and string elements"],
    ["a = [1, 2.5];", "t.conf:1: syntax error: array 'a' mixes int and float elements"],
    ["a = [{ x = 1; }];", "t.conf:1: syntax error: array 'a' may hold only scalar values (use a list for groups)"],
    ["a = [1; 2];", "t.conf:1: syntax error: expected ',' or ']' in array 'a', got ';'"],
  ];
  for (const [text, message] of cases) {
    test(JSON.stringify(text), () => {
      const e = syntaxError(text);
      expect(e.message).toBe(message);
      expect(e.code).toBe("ECONFIGSYNTAX");
      expect(e.name).toBe("LibconfigSyntaxError");
      expect(`${e.file}:${e.line}: syntax error: ${e.reason}`).toBe(message);
    });
  }
  test("deep nesting is refused, not a stack overflow", () => {
    expect(syntaxError("a = " + "(".repeat(100000)).reason).toBe("nesting deeper than 100 levels");
    expect(syntaxError("a = " + "{ b = ".repeat(5000)).reason).toBe("nesting deeper than 100 levels");
  });
});
