import { describe, expect, test } from "bun:test";
import {
  LEGACY_RESET,
  MAX_BODY,
  MSG_BODY_TOO_LARGE,
  MSG_INVALID_JSON,
  MSG_NO_JSON_PREFIX,
  decodePutBody,
  formDecode,
  isResetRequest,
  translateLegacy,
} from "./body.ts";

const enc = new TextEncoder();
const bytes = (s: string): Uint8Array => enc.encode(s);
const dec = (s: string | Uint8Array) => decodePutBody(typeof s === "string" ? bytes(s) : s);

describe("decodePutBody: prefix (§4)", () => {
  test("json= followed by a document", () => {
    expect(dec('json={"state":"running"}')).toEqual({ ok: true, doc: { state: "running" } });
  });

  test.each([[""], ["state=running"], ["JSON={}"], ["json"], [" json={}"], ["[1]"], ["x{}"], ["%7B%7D"]])(
    "missing prefix: %j → put data must start with json=",
    (body) => {
      expect(dec(body)).toEqual({ ok: false, message: MSG_NO_JSON_PREFIX });
    },
  );

  test("leniency: raw JSON whose first non-blank byte is {", () => {
    expect(dec('{"state":"running"}')).toEqual({ ok: true, doc: { state: "running" } });
    expect(dec(' \r\n\t{"state":"stopped"}')).toEqual({ ok: true, doc: { state: "stopped" } });
  });

  test("raw JSON that is malformed → invalid json format", () => {
    expect(dec('{"a":1,}')).toEqual({ ok: false, message: MSG_INVALID_JSON });
  });
});

describe("decodePutBody: size and NUL (§4)", () => {
  test(`exactly ${MAX_BODY} bytes is allowed, one more is not`, () => {
    const head = 'json={"state":"running"}';
    const okBody = new Uint8Array(MAX_BODY).fill(0x20);
    okBody.set(bytes(head));
    expect(dec(okBody)).toEqual({ ok: true, doc: { state: "running" } });
    const big = new Uint8Array(MAX_BODY + 1).fill(0x20);
    big.set(bytes(head));
    expect(dec(big)).toEqual({ ok: false, message: MSG_BODY_TOO_LARGE });
    expect(MSG_BODY_TOO_LARGE).toBe("put data size exceeds 1048576");
  });

  test("bytes after a NUL are ignored", () => {
    const b = bytes('json={"state":"running"}\u0000garbage{{{');
    expect(dec(b)).toEqual({ ok: true, doc: { state: "running" } });
    expect(dec(bytes('json={"state":\u0000"running"}'))).toEqual({ ok: false, message: MSG_INVALID_JSON });
    expect(dec(bytes("\u0000json={}"))).toEqual({ ok: false, message: MSG_NO_JSON_PREFIX });
  });
});

describe("decodePutBody: JSON and URL-encoding", () => {
  test("invalid JSON → invalid json format", () => {
    expect(dec("json=")).toEqual({ ok: false, message: MSG_INVALID_JSON });
    expect(dec("json={")).toEqual({ ok: false, message: MSG_INVALID_JSON });
    expect(dec('json={"a":1,}')).toEqual({ ok: false, message: MSG_INVALID_JSON });
  });

  test("a URL-encoded value (curl --data-urlencode) is decoded when the raw text is not JSON", () => {
    const doc = { cmd: { probe: ["tcp_rtt"] }, state: "running" };
    const body = "json=" + encodeURIComponent(JSON.stringify(doc));
    expect(dec(body)).toEqual({ ok: true, doc });
    expect(dec("json=%7B%22state%22:+%22running%22%7D")).toEqual({ ok: true, doc: { state: "running" } });
  });

  test("multi-byte UTF-8 survives percent-decoding", () => {
    const body = "json=" + encodeURIComponent('{"state":"é中"}');
    expect(dec(body)).toEqual({ ok: true, doc: { state: "é中" } });
  });

  test("text that is already JSON is not form-decoded (+ and %XX inside strings stay)", () => {
    expect(dec('json={"a":"1+1 %41"}')).toEqual({ ok: true, doc: { a: "1+1 %41" } });
  });

  test("trailing text after the document is ignored", () => {
    expect(dec('json={"state":"running"}xyz')).toEqual({ ok: true, doc: { state: "running" } });
  });

  test("root null behaves like {}; other non-object roots are invalid json format", () => {
    expect(dec("json=null")).toEqual({ ok: true, doc: {} });
    for (const root of ["[]", "[1]", "1", '"s"', "true", "false", "-"]) {
      expect(dec("json=" + root)).toEqual({ ok: false, message: MSG_INVALID_JSON });
    }
  });

  test("deep nesting → invalid json format", () => {
    expect(dec("json=" + '{"a":'.repeat(10000) + "1" + "}".repeat(10000))).toEqual({
      ok: false,
      message: MSG_INVALID_JSON,
    });
  });

  test("invalid UTF-8 becomes U+FFFD and a BOM after json= is a syntax error", () => {
    const b = new Uint8Array([...bytes('json={"a":"'), 0xff, 0xfe, ...bytes('"}')]);
    expect(dec(b)).toEqual({ ok: true, doc: { a: "\ufffd\ufffd" } });
    const bom = new Uint8Array([...bytes("json="), 0xef, 0xbb, 0xbf, ...bytes("{}")]);
    expect(dec(bom)).toEqual({ ok: false, message: MSG_INVALID_JSON });
  });
});

describe("formDecode", () => {
  test("+ → space, %XX → byte, stray % kept", () => {
    const d = new TextDecoder().decode(formDecode(bytes("a+b%20c%zz%4")));
    expect(d).toBe("a b c%zz%4");
  });
});

describe("translateLegacy (DECISIONS.md POST legacy form)", () => {
  test("documents without probes/operate/switch are returned unchanged", () => {
    const doc = { cmd: { probe: ["tcp_rtt"] }, state: "running" };
    expect(translateLegacy(doc)).toBe(doc);
    expect(translateLegacy(null)).toBe(null);
    expect(translateLegacy([1])).toEqual([1]);
  });

  test("probes.probe → cmd.probe, scope lists → snoopers (pod → pod_id), bin/check_cmd dropped", () => {
    const legacy = {
      cmd: { bin: "/opt/gala-gopher/extend_probes/tcpprobe", check_cmd: "" },
      probes: {
        probe: ["tcp_rtt", "tcp_abnormal"],
        proc_id: [1, 2],
        proc_name: [{ comm: "java" }],
        pod: ["0123456789abcdef0123456789abcdef"],
        container_id: ["abcdef012345"],
      },
      params: { report_period: 10 },
    };
    expect(translateLegacy(legacy)).toEqual({
      cmd: { probe: ["tcp_rtt", "tcp_abnormal"] },
      snoopers: {
        proc_id: [1, 2],
        proc_name: [{ comm: "java" }],
        pod_id: ["0123456789abcdef0123456789abcdef"],
        container_id: ["abcdef012345"],
      },
      params: { report_period: 10 },
    });
  });

  test("probes without scope lists produce no snoopers", () => {
    expect(translateLegacy({ probes: { probe: ["cpu"] } })).toEqual({ cmd: { probe: ["cpu"] } });
  });

  test("the oldest array form of probes is concatenated", () => {
    expect(translateLegacy({ probes: [{ probe: ["a"], proc_id: [1] }, { probe: ["b"], proc_id: [2] }] })).toEqual({
      cmd: { probe: ["a", "b"] },
      snoopers: { proc_id: [1, 2] },
    });
  });

  test("a non-object probes is handed on as snoopers (then rejected as Bad request)", () => {
    expect(translateLegacy({ probes: "x" })).toEqual({ snoopers: "x" });
  });

  test.each([
    ["start", "running"],
    ["START", "running"],
    ["stop", "stopped"],
  ])("operate %s → state %s", (op, state) => {
    expect(translateLegacy({ operate: op })).toEqual({ state });
  });

  test("switch on/off → state", () => {
    expect(translateLegacy({ switch: "off" })).toEqual({ state: "stopped" });
    expect(translateLegacy({ switch: "on" })).toEqual({ state: "running" });
  });

  test("unknown operate values are handed on as state (so the state errors apply)", () => {
    expect(translateLegacy({ operate: "pause" })).toEqual({ state: "pause" });
    expect(translateLegacy({ operate: 1 })).toEqual({ state: 1 });
  });

  test("operate delete → reset marker + state stopped", () => {
    const t = translateLegacy({ operate: "delete", probes: { probe: ["x"] } });
    expect(isResetRequest(t)).toBe(true);
    expect((t as Record<PropertyKey, unknown>)[LEGACY_RESET]).toBe(true);
    expect(t).toEqual({ [LEGACY_RESET]: true, state: "stopped" });
  });

  test("a JSON body cannot forge the reset marker", () => {
    const d = dec('json={"__reset":true,"state":"stopped"}');
    expect(d.ok && isResetRequest(d.doc)).toBe(false);
  });
});
