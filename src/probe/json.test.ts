import { describe, expect, test } from "bun:test";
import { MAX_DEPTH, parseJsonLenient } from "./json.ts";

const ok = (text: string): unknown => {
  const r = parseJsonLenient(text);
  if (!r.ok) throw new Error(`expected ${JSON.stringify(text)} to parse`);
  return r.value;
};
const bad = (text: string): void => {
  expect(parseJsonLenient(text)).toEqual({ ok: false });
};

describe("parseJsonLenient: plain JSON", () => {
  test.each([
    ["{}", {}],
    ["[]", []],
    ["null", null],
    ["true", true],
    ["false", false],
    ["0", 0],
    ['"x"', "x"],
    [' \t\r\n{ "a" : [ 1 , 2.5 , -3 , true , null , "s" ] } ', { a: [1, 2.5, -3, true, null, "s"] }],
    ['{"a":{"b":{"c":[]}}}', { a: { b: { c: [] } } }],
  ])("%s", (text, value) => {
    expect(ok(text)).toEqual(value);
  });
});

describe("parseJsonLenient: comments (§5)", () => {
  test.each([
    ['// leading\n{"a":1}', { a: 1 }],
    ['/* leading */{"a":1}', { a: 1 }],
    ['{/*c*/"a":1}', { a: 1 }],
    ['{"a":/*c*/1}', { a: 1 }],
    ['{"a":1/*c*/}', { a: 1 }],
    ['{"a":1 // end\n}', { a: 1 }],
    ['{"a":1 // CR only\r}', { a: 1 }],
    ['[1 /*c*/, 2 //c\n]', [1, 2]],
    ['{"a":"/* not a comment */"}', { a: "/* not a comment */" }],
  ])("%s", (text, value) => {
    expect(ok(text)).toEqual(value);
  });

  test.each([
    ['/* unterminated {"a":1}'],
    ['{"a" /*c*/ : 1}'], // not between a member name and its colon (jsoncpp)
    ["[ /*c*/ ]"], // the empty-array check only skips whitespace (jsoncpp)
  ])("rejected: %s", (text) => {
    bad(text);
  });

  test("a single slash that is not a comment is an error where a value is expected", () => {
    bad("/ 1");
    bad('{"a":/1}');
  });
});

describe("parseJsonLenient: trailing commas rejected (§5)", () => {
  test.each([['{"a":1,}'], ["[1,]"], ['{"a":[1,2,],"b":1}'], ["{,}"], ["[,]"], ['{"a":1,,"b":2}']])("%s", (text) => {
    bad(text);
  });

  test("jsoncpp slip: after a member named \"\" a trailing comma passes", () => {
    expect(ok('{"":1,}')).toEqual({ "": 1 });
  });
});

describe("parseJsonLenient: text after the first value is ignored (§5)", () => {
  test.each([
    ['{"state":"running"}xyz', { state: "running" }],
    ['{"a":1}}}}', { a: 1 }],
    ['{"a":1} {"b":2}', { a: 1 }],
    ["nullx", null],
    ["truex", true],
    ['{"a":1}/* unterminated', { a: 1 }],
    ['{"a":1}"unterminated', { a: 1 }],
  ])("%s", (text, value) => {
    expect(ok(text)).toEqual(value);
  });
});

describe("parseJsonLenient: duplicates, keys", () => {
  test("duplicate keys: last one wins", () => {
    expect(ok('{"a":1,"a":2}')).toEqual({ a: 2 });
    expect(ok('{"a":{"x":1},"b":0,"a":[3]}')).toEqual({ a: [3], b: 0 });
  });

  test("__proto__ is an ordinary own key", () => {
    const v = ok('{"__proto__":{"polluted":1}}') as Record<string, unknown>;
    expect(Object.keys(v)).toEqual(["__proto__"]);
    expect(Object.getPrototypeOf(v)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test("object keys must be strings", () => {
    bad("{a:1}");
    bad("{1:1}");
    bad("{'a':1}");
  });

  test("after a member, a comment followed by any token but } counts as the separator (jsoncpp)", () => {
    expect(ok('{"a":1 /*x*/ 2 "b":3}')).toEqual({ a: 1, b: 3 });
  });
});

describe("parseJsonLenient: numbers", () => {
  test.each([
    ["-", 0],
    ["-0", 0],
    ["007", 7],
    ["1.", 1],
    ["-.5", -0.5],
    ["1.5e3", 1500],
    ["1E+2", 100],
    ["1e-400", 0],
    ["2.9", 2.9],
    ["18446744073709551615", 18446744073709551615],
    ["-9223372036854775808", -9223372036854775808],
    ["1e308", 1e308],
    ["123456789012345678901234567890", 1.2345678901234568e29],
    ["0x10", 0], // the number ends at "x"; the rest is trailing text
  ])("%s", (text, value) => {
    expect(ok(text)).toBe(value);
  });

  test.each([["1e400"], ["-1e400"], ["1e"], ["1e+"], ["-e5"], ["-."], ["+1"], [".5"], ["NaN"], ["Infinity"]])(
    "rejected: %s",
    (text) => {
      bad(text);
    },
  );

  test("a number stops at the first character that cannot continue it", () => {
    expect(ok("1.5x")).toBe(1.5);
    bad("[1.5.3]");
  });

  test("400 digits overflow a double and are rejected", () => {
    bad("9".repeat(400));
    expect(ok("9".repeat(300))).toBe(Number("9".repeat(300)));
  });
});

describe("parseJsonLenient: strings", () => {
  test.each([
    ['"a\\"b"', 'a"b'],
    ['"\\\\"', "\\"],
    ['"\\/"', "/"],
    ['"\\b\\f\\n\\r\\t"', "\b\f\n\r\t"],
    ['"\\u0041\\u00e9\\u4e2d"', "Aé中"],
    ['"\\ud83d\\ude00"', "😀"],
    ['"raw\tcontrol\u0001"', "raw\tcontrol\u0001"],
    ['"\\u0000x"', "\u0000x"],
    ['"\\udc00"', "\udc00"],
  ])("%s", (text, value) => {
    expect(ok(text)).toBe(value);
  });

  test("a high surrogate is combined with whatever \\u escape follows (jsoncpp)", () => {
    expect(ok('"\\ud800\\u0041"')).toBe(String.fromCodePoint(0x10041));
  });

  test.each([
    ['"unterminated'],
    ['"\\x"'],
    ['"\\u12"'],
    ['"\\u12g4"'],
    ['"\\ud800"'],
    ['"\\ud800abcdef"'],
    ['"\\ud800\\u12"'],
    ['"ends with backslash\\'],
    ["'single'"],
  ])("rejected: %s", (text) => {
    bad(text);
  });
});

describe("parseJsonLenient: literals and junk", () => {
  test.each([["tru"], ["nul"], ["True"], ["undefined"], [""], ["   "], ["// only a comment"], ["}"], ["]"], [":"], [","], ["\u0000"]])(
    "rejected: %j",
    (text) => {
      bad(text);
    },
  );
});

describe("parseJsonLenient: safety", () => {
  test(`nesting up to ${MAX_DEPTH} levels is accepted, deeper is not`, () => {
    expect(parseJsonLenient("[".repeat(MAX_DEPTH) + "]".repeat(MAX_DEPTH)).ok).toBe(true);
    expect(parseJsonLenient("[".repeat(MAX_DEPTH + 1) + "]".repeat(MAX_DEPTH + 1)).ok).toBe(false);
    let deepObj = "1";
    for (let i = 0; i < MAX_DEPTH + 1; i++) deepObj = `{"a":${deepObj}}`;
    expect(parseJsonLenient(deepObj).ok).toBe(false);
  });

  test("10,000 levels fail fast without a stack overflow", () => {
    expect(parseJsonLenient("[".repeat(10000)).ok).toBe(false);
    expect(parseJsonLenient('{"a":'.repeat(10000)).ok).toBe(false);
  });

  test("large inputs parse in linear time", () => {
    const big = "[" + Array.from({ length: 200000 }, (_, i) => i).join(",") + "]";
    const t0 = performance.now();
    const r = parseJsonLenient(big);
    expect(r.ok).toBe(true);
    const long = '{"a":"' + "x\\n".repeat(700000) + '"}';
    expect(parseJsonLenient(long).ok).toBe(true);
    const comments = "/*" + "*".repeat(2_000_000);
    expect(parseJsonLenient(comments).ok).toBe(false);
    expect(performance.now() - t0).toBeLessThan(5000);
  });

  test("non-string input is not ok", () => {
    expect(parseJsonLenient(undefined as unknown as string)).toEqual({ ok: false });
  });
});
