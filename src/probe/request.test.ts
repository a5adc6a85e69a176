import { describe, expect, test } from "bun:test";
import { LEGACY_RESET, MAX_BODY, decodePutBody, translateLegacy } from "./body.ts";
import { parseJsonLenient } from "./json.ts";
import { FEATURES, L7_PROTOCOLS, PARAMS, PARAM_ORDER, defaultParams, findFeature } from "../probes/catalog.ts";
import { formatInteger, hasUnsafeChars } from "./params.ts";
import {
  type ApplyOptions,
  type ApplyResult,
  applyRequest,
  compareBytes,
  defaultSettings,
  envelope,
  renderGet,
  stringifySorted,
} from "./request.ts";
import type { FeatureDef, ProbeSettings } from "./settings.ts";

// ---- helpers -------------------------------------------------------------------------------

const F = (name: string): FeatureDef => {
  const f = findFeature(name);
  if (!f) throw new Error(`no feature ${name}`);
  return f;
};
const fresh = (name: string): ProbeSettings => defaultSettings(F(name), name);

/** A fake file system for path params: these paths exist; realpath strips trailing slashes. */
const EXISTING = new Set(["/tmp", "/tmp/", "/var/log/gala-gopher/flamegraph", "/usr/sbin/nginx", "/srv/link"]);
const fakeFs = {
  exists: (p: string) => EXISTING.has(p),
  realpath: (p: string) => (p === "/srv/link" ? "/srv/real" : p.replace(/\/+$/, "") || "/"),
};

function put(name: string, doc: unknown, opts: Partial<ApplyOptions> = {}, current?: ProbeSettings): ApplyResult {
  return applyRequest(F(name), current ?? fresh(name), doc, { running: false, ...fakeFs, ...opts });
}
function ok(name: string, doc: unknown, opts: Partial<ApplyOptions> = {}, current?: ProbeSettings): ProbeSettings {
  const r = put(name, doc, opts, current);
  if (!r.ok) throw new Error(`expected success, got: ${r.message}`);
  return r.settings;
}
function err(name: string, doc: unknown, opts: Partial<ApplyOptions> = {}, current?: ProbeSettings): string {
  const r = put(name, doc, opts, current);
  if (r.ok) throw new Error(`expected failure for ${JSON.stringify(doc)}`);
  return r.message;
}
/** GET document of `name` after the PUT, as a JS value. */
function got(name: string, s: ProbeSettings, running = false): Record<string, unknown> {
  return JSON.parse(renderGet(F(name), s, running)) as Record<string, unknown>;
}
const json = (text: string): unknown => {
  const r = parseJsonLenient(text);
  if (!r.ok) throw new Error("bad test json");
  return r.value;
};

const TCP_SCOPE = { snoopers: { proc_id: [1] } };

// ---- §7 document level ---------------------------------------------------------------------

describe("document level (§5, §7)", () => {
  test.each([[{}], [{ foo: 1 }], [{ bin: "x", probe: [] }], [null]])(
    "no cmd/snoopers/blacklist/params/state → Bad request: %j",
    (doc) => {
      expect(err("tcp", doc)).toBe("Bad request");
      expect(err("virt", doc)).toBe("Bad request");
    },
  );

  test.each([[[]], [1], ["s"], [true]])("non-object root → invalid json format: %j", (doc) => {
    expect(err("tcp", doc)).toBe("invalid json format");
  });

  test("unknown top-level keys are ignored next to a known one", () => {
    expect(ok("tcp", { foo: 1, state: "stopped" }).wanted).toBe(false);
  });

  test("the current settings object is never mutated", () => {
    const cur = fresh("tcp");
    const snapshot = structuredClone(cur);
    ok("tcp", { cmd: { probe: ["tcp_rtt"] }, snoopers: { proc_id: [1] }, params: { report_period: 10 } }, {}, cur);
    err("tcp", { cmd: { probe: ["tcp_rtt"] }, params: { report_period: 1 } }, {}, cur);
    expect(cur).toEqual(snapshot);
  });
});

// ---- §6.1 cmd ------------------------------------------------------------------------------

describe("cmd (§6.1)", () => {
  test("probe replaces the subitem set, stored in canonical order, case-insensitive, duplicates harmless", () => {
    const s = ok("tcp", { cmd: { probe: ["TCP_DELAY", "tcp_rtt", "tcp_abnormal", "tcp_rtt"] } });
    expect(s.subitems).toEqual(["tcp_abnormal", "tcp_rtt", "tcp_delay"]);
    const s2 = ok("tcp", { cmd: { probe: ["tcp_stats"] } }, {}, s);
    expect(s2.subitems).toEqual(["tcp_stats"]);
  });

  test.each([[{ cmd: {} }], [{ cmd: { bin: "/opt/gala-gopher/extend_probes/tcpprobe" } }], [{ cmd: { probe: null } }], [{ cmd: [] }], [{ cmd: "x" }], [{ cmd: null }], [{ cmd: { probe: { a: 1 } } }]])(
    "Bad request: %j",
    (doc) => {
      expect(err("tcp", doc)).toBe("Bad request");
    },
  );

  test.each([[1], [true], [null], [["x"]], [{}]])("non-string element %j → Invalid probe range: must be string.", (el) => {
    expect(err("tcp", { cmd: { probe: ["tcp_rtt", el] } })).toBe("Invalid probe range: must be string.");
  });

  test("empty or >64-byte element → length message (sic)", () => {
    expect(err("tcp", { cmd: { probe: [""] } })).toBe("The lengh of probe name must range from 0 to 64.");
    expect(err("tcp", { cmd: { probe: ["x".repeat(65)] } })).toBe("The lengh of probe name must range from 0 to 64.");
    expect(err("tcp", { cmd: { probe: ["é".repeat(33)] } })).toBe("The lengh of probe name must range from 0 to 64.");
    expect(err("tcp", { cmd: { probe: ["x".repeat(64)] } })).toBe(`unsupported probe range: ${"x".repeat(64)}.`);
  });

  test("unknown subitem → unsupported probe range: <name>. (as spelled)", () => {
    expect(err("tcp", { cmd: { probe: ["tcp_rtt", "Bogus"] } })).toBe("unsupported probe range: Bogus.");
    expect(err("baseinfo", { cmd: { probe: ["tcp_rtt"] } })).toBe("unsupported probe range: tcp_rtt.");
  });

  test("the first failing element decides", () => {
    expect(err("tcp", { cmd: { probe: ["nope", 1] } })).toBe("unsupported probe range: nope.");
    expect(err("tcp", { cmd: { probe: [1, "nope"] } })).toBe("Invalid probe range: must be string.");
  });

  test("empty set on a probe with subitems → invalid probe ranges: at least one must be set", () => {
    expect(err("tcp", { cmd: { probe: [] } })).toBe("invalid probe ranges: at least one must be set");
  });

  test.each([["tcp_rtt"], [5], [true]])("non-array probe %j is an empty array", (probe) => {
    expect(err("tcp", { cmd: { probe } })).toBe("invalid probe ranges: at least one must be set");
    expect(ok("jvm", { cmd: { probe } }).subitems).toEqual([]);
  });

  test("probes without subitems need [] and reject any name", () => {
    expect(ok("jvm", { cmd: { probe: [] } }).subitems).toEqual([]);
    expect(err("jvm", { cmd: { probe: ["x"] } })).toBe("unsupported probe range: x.");
  });

  test("bin and check_cmd are ignored for built-ins", () => {
    const s = ok("tcp", { cmd: { bin: "/nonexistent", check_cmd: "rm -rf /", probe: ["tcp_rtt"] } });
    expect((got("tcp", s).cmd as Record<string, unknown>).bin).toBe("/opt/gala-gopher/extend_probes/tcpprobe");
  });
});

// ---- §6.2 snoopers -------------------------------------------------------------------------

describe("snoopers (§6.2)", () => {
  const snoop = (list: Record<string, unknown>, name = "tcp") => ok(name, { snoopers: list }).scope;
  const snoopErr = (list: Record<string, unknown>, name = "tcp") => err(name, { snoopers: list });

  test("replaces the whole scope; absent lists become empty", () => {
    const s1 = ok("proc", { snoopers: { proc_id: [1, 2], container_id: ["abcdef0123456789"] } });
    const s2 = ok("proc", { snoopers: { pod_id: ["0123456789abcdef0123456789ABCDEF"] } }, {}, s1);
    expect(s2.scope).toEqual({
      proc_id: [],
      proc_name: [],
      pod_id: ["0123456789abcdef0123456789ABCDEF"],
      container_id: [],
      container_name: [],
    });
  });

  test("proc_id: integers and reals (truncated) accepted; negatives wrap to u32", () => {
    expect(snoop({ proc_id: [1, 2.9, -2.9, 0, -1, 2147483647, -2147483648, 4294967295] }).proc_id).toEqual([
      1, 2, 4294967294, 0, 4294967295, 2147483647, 2147483648, 4294967295,
    ]);
  });

  test.each([[true], [false], ["1"], [null], [[1]], [{}], [4294967296], [1e308], [-(2 ** 63)], [-2147483649]])(
    "proc_id element %j → Error occurs when parsing snooper proc_id",
    (el) => {
      expect(snoopErr({ proc_id: [el] })).toBe("Error occurs when parsing snooper proc_id");
    },
  );

  test("proc_name: comm + optional cmdline + optional single label; debugging_dir dropped", () => {
    const s = snoop({
      proc_name: [
        { comm: "^java$" },
        { comm: "nginx", cmdline: "-c /etc", label: { app: "web" }, debugging_dir: "/x" },
        { comm: "py", label: {} },
        { comm: "" }, // discarded
        { comm: "", cmdline: "x", label: { a: "b" } }, // discarded
      ],
    });
    expect(s.proc_name).toEqual([
      { comm: "^java$", cmdline: "" },
      { comm: "nginx", cmdline: "-c /etc", label: { app: "web" } },
      { comm: "py", cmdline: "" },
    ]);
  });

  test.each([
    ["not an object", "java"],
    ["array", ["java"]],
    ["null", null],
    ["comm missing", { cmdline: "x" }],
    ["comm not a string", { comm: 1 }],
    ["cmdline not a string", { comm: "a", cmdline: 1 }],
    ["cmdline null", { comm: "a", cmdline: null }],
    ["label with 2 keys", { comm: "a", label: { a: "1", b: "2" } }],
    ["label value not a string", { comm: "a", label: { a: 1 } }],
    ["label array", { comm: "a", label: ["x"] }],
    ["label string", { comm: "a", label: "x" }],
    ["empty comm still validated", { comm: "", cmdline: 5 }],
  ])("proc_name %s → Error occurs when parsing snooper proc_name", (_, el) => {
    expect(snoopErr({ proc_name: [el] })).toBe("Error occurs when parsing snooper proc_name");
  });

  test("pod_id: 32 hex or 8-4-4-4-12; empty skipped", () => {
    const ids = ["0123456789abcdef0123456789abcdef", "01234567-89ab-cdef-0123-456789ABCDEF", ""];
    expect(snoop({ pod_id: ids }).pod_id).toEqual(ids.slice(0, 2));
  });

  test.each([
    ["pod1"],
    ["0123456789abcdef0123456789abcde"],
    ["0123456789abcdef0123456789abcdef0"],
    ["0123456789abcdef0123456789abcdeg"],
    ["0123456789-abcdef-0123-456789abcde"],
    ["01234567_89ab_cdef_0123_456789abcdef"],
    ["01234567-89ab-cdef-0123-456789abcdeg"],
    [1],
    [null],
  ])("pod_id %j → Error occurs when parsing snooper pod_id", (el) => {
    expect(snoopErr({ pod_id: [el] })).toBe("Error occurs when parsing snooper pod_id");
  });

  test("container_id: 1–64 hex, stored as its first 12 characters, case kept; empty skipped", () => {
    expect(snoop({ container_id: ["ABCDEF0123456789" + "0".repeat(48), "abc", "", "F", "aBcDeF012345ffff"] }).container_id).toEqual([
      "ABCDEF012345",
      "abc",
      "F",
      "aBcDeF012345",
    ]);
  });

  test("container_id: GET echoes the first 12 characters as the user gave them (upstream byte-compatibility)", () => {
    const s = ok("proc", { snoopers: { container_id: ["4B5E57F6eb2fABCDEF", "0123456789ab"] } });
    expect(got("proc", s).snoopers).toEqual({ container_id: ["4B5E57F6eb2f", "0123456789ab"], container_name: [], pod_id: [], proc_id: [], proc_name: [] });
    expect(renderGet(F("proc"), s, false)).toContain('"container_id":["4B5E57F6eb2f","0123456789ab"]');
  });

  test.each([["container1"], ["a".repeat(65)], ["abc "], [12], [null]])(
    "container_id %j → Error occurs when parsing snooper container_id",
    (el) => {
      expect(snoopErr({ container_id: [el] })).toBe("Error occurs when parsing snooper container_id");
    },
  );

  test("container_name: stored up to 63 bytes; empty skipped", () => {
    expect(snoop({ container_name: ["web-1", "x".repeat(100), ""] }).container_name).toEqual(["web-1", "x".repeat(63)]);
    expect(snoop({ container_name: ["é".repeat(40)] }).container_name).toEqual(["é".repeat(31)]);
  });

  test.each(["|", ";", "&", "$", ">", "<", "(", ")", "./", "/.", "?", "*", "'", "`", "[", "]", "\\", "!", "\n"])(
    "container_name containing %j → Error occurs when parsing snooper container_name",
    (bad) => {
      expect(snoopErr({ container_name: [`a${bad}b`] })).toBe("Error occurs when parsing snooper container_name");
    },
  );

  test("container_name non-string → error", () => {
    expect(snoopErr({ container_name: [1] })).toBe("Error occurs when parsing snooper container_name");
  });

  test.each(["proc_id", "proc_name", "pod_id", "container_id", "container_name"])("%s not an array → error", (key) => {
    expect(snoopErr({ [key]: "x" })).toBe(`Error occurs when parsing snooper ${key}`);
    expect(snoopErr({ [key]: {} })).toBe(`Error occurs when parsing snooper ${key}`);
    expect(snoop({ [key]: null })[key as "proc_id"]).toEqual([]);
  });

  test("the first failing list in order proc_id, proc_name, pod_id, container_id, container_name decides", () => {
    expect(snoopErr({ container_name: ["|"], pod_id: ["pod1"] })).toBe("Error occurs when parsing snooper pod_id");
  });

  test("at most 100 scope entries in total", () => {
    expect(scopeCount(snoop({ proc_id: range(60), container_id: range(40).map((i) => i.toString(16)) }))).toBe(100);
    expect(snoopErr({ proc_id: range(60), container_id: range(41).map((i) => i.toString(16)) })).toBe(
      "Error occurs when parsing snooper container_id",
    );
    expect(snoopErr({ proc_id: range(101) })).toBe("Error occurs when parsing snooper proc_id");
    // skipped and discarded entries do not count
    expect(scopeCount(snoop({ proc_id: range(100), pod_id: ["", ""], proc_name: [{ comm: "" }] }))).toBe(100);
  });

  test.each([[[]], ["x"], [1], [null]])("snoopers %j (not an object) → Bad request", (v) => {
    expect(err("tcp", { snoopers: v })).toBe("Bad request");
  });

  test("NONE-scope features accept and ignore snoopers and blacklist, even malformed ones", () => {
    for (const name of ["virt", "io", "postgre_sli", "opengauss_sli", "nginx", "lvs", "kafka", "hw", "ksli", "flowtracer"]) {
      expect(F(name).scopeKind).toBe("NONE");
      const s = ok(name, { snoopers: { proc_id: [1], custom_labels: { a: "b" }, pod_labels: ["x"] }, blacklist: { pod_id: ["pod1"] } });
      expect(s.scope).toEqual(fresh(name).scope);
      expect(s.mode).toBe("whitelist");
      expect(s.customLabels).toEqual({});
      expect(s.podLabels).toEqual([]);
      expect(ok(name, { snoopers: "garbage" }).scope).toEqual(fresh(name).scope);
      expect(got(name, s).snoopers).toEqual({});
    }
  });

  test("an empty scope means the whole host: no scope-required rule (DECISIONS.md)", () => {
    expect(ok("baseinfo", json('{"cmd":{"probe":["cpu","fs","host"]},"state":"running"}')).wanted).toBe(true);
    expect(ok("tcp", { snoopers: {} }).scope).toEqual(fresh("tcp").scope);
    expect(ok("tcp", { snoopers: { proc_id: [], pod_id: [""] } }).mode).toBe("whitelist");
    expect(ok("jvm", { state: "running" }).wanted).toBe(true);
  });
});

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);
const scopeCount = (s: ProbeSettings["scope"]): number =>
  s.proc_id.length + s.proc_name.length + s.pod_id.length + s.container_id.length + s.container_name.length;

describe("custom_labels / pod_labels (§6.2)", () => {
  test("replaced when present and non-empty; {} / [] / absence keep the previous ones", () => {
    const s1 = ok("tcp", { snoopers: { custom_labels: { team: "a", env: "prod" }, pod_labels: ["app"] } });
    expect(s1.customLabels).toEqual({ env: "prod", team: "a" });
    expect(s1.podLabels).toEqual(["app"]);
    const s2 = ok("tcp", { snoopers: { custom_labels: {}, pod_labels: [] } }, {}, s1);
    expect(s2.customLabels).toEqual({ env: "prod", team: "a" });
    expect(s2.podLabels).toEqual(["app"]);
    const s3 = ok("tcp", { snoopers: { proc_id: [3] } }, {}, s2);
    expect(s3.customLabels).toEqual({ env: "prod", team: "a" });
    const s4 = ok("tcp", { snoopers: { custom_labels: { x: "1" }, pod_labels: ["b", "c"] } }, {}, s3);
    expect(s4.customLabels).toEqual({ x: "1" });
    expect(s4.podLabels).toEqual(["b", "c"]);
  });

  test("never returned by GET", () => {
    const s = ok("tcp", { snoopers: { proc_id: [1], custom_labels: { a: "b" }, pod_labels: ["x"] } });
    expect(renderGet(F("tcp"), s, false)).not.toContain("custom_labels");
    expect(renderGet(F("tcp"), s, false)).not.toContain("pod_labels");
  });

  test.each([
    [{ custom_labels: [] }, "custom_labels"],
    [{ custom_labels: "a" }, "custom_labels"],
    [{ custom_labels: { a: 1 } }, "custom_labels"],
    [{ custom_labels: Object.fromEntries(range(11).map((i) => [`k${i}`, "v"])) }, "custom_labels"],
    [{ pod_labels: {} }, "pod_labels"],
    [{ pod_labels: "app" }, "pod_labels"],
    [{ pod_labels: [1] }, "pod_labels"],
    [{ pod_labels: range(11).map(String) }, "pod_labels"],
  ])("%j → Error occurs when parsing snooper %s", (snoopers, key) => {
    expect(err("tcp", { snoopers })).toBe(`Error occurs when parsing snooper ${key}`);
  });

  test("10 labels are fine", () => {
    const labels = Object.fromEntries(range(10).map((i) => [`k${i}`, "v"]));
    expect(Object.keys(ok("tcp", { snoopers: { custom_labels: labels } }).customLabels)).toHaveLength(10);
    expect(ok("tcp", { snoopers: { pod_labels: range(10).map(String) } }).podLabels).toHaveLength(10);
  });

  test("quirk: not rolled back when the request fails later", () => {
    const cur = ok("tcp", { snoopers: { proc_id: [1], custom_labels: { old: "1" } }, cmd: { probe: ["tcp_rtt"] } });
    const r = put("tcp", { snoopers: { proc_id: [2], custom_labels: { new: "2" }, pod_labels: ["p"] }, params: { report_period: 1 } }, {}, cur);
    expect(r.ok).toBe(false);
    expect(r.settings.customLabels).toEqual({ new: "2" });
    expect(r.settings.podLabels).toEqual(["p"]);
    // everything else is rolled back
    expect(r.settings.scope.proc_id).toEqual([1]);
    expect(r.settings.subitems).toEqual(["tcp_rtt"]);
  });
});

// ---- blacklist -----------------------------------------------------------------------------

describe("blacklist (§6.2)", () => {
  test("switches to blacklist mode with its own lists; GET shows blacklist instead of snoopers", () => {
    const s = ok("tcp", { blacklist: { proc_id: [7], container_id: ["ABCDEF0123456"] } });
    expect(s.mode).toBe("blacklist");
    expect(s.scope.proc_id).toEqual([7]);
    const g = got("tcp", s);
    expect(g.snoopers).toBeUndefined();
    expect(g.blacklist).toEqual({ container_id: ["ABCDEF012345"], container_name: [], pod_id: [], proc_id: [7], proc_name: [] });
    expect(renderGet(F("tcp"), s, false).startsWith('{"blacklist":')).toBe(true);
  });

  test('"blacklist":{} is accepted and means observe everything', () => {
    const s = ok("tcp", { blacklist: {} });
    expect(s.mode).toBe("blacklist");
    expect(scopeCount(s.scope)).toBe(0);
    expect(got("tcp", s).blacklist).toEqual({});
  });

  test("snoopers with ≥1 entry plus blacklist → mutually exclusive", () => {
    expect(err("tcp", { snoopers: { proc_id: [1] }, blacklist: {} })).toBe("snoopers and blacklist are mutually exclusive");
    expect(err("tcp", { snoopers: { proc_id: [1] }, blacklist: { proc_id: [2] } })).toBe(
      "snoopers and blacklist are mutually exclusive",
    );
  });

  test("snoopers without entries plus blacklist → blacklist mode", () => {
    const s = ok("tcp", { snoopers: { pod_id: [""] }, blacklist: { proc_id: [2] } });
    expect(s.mode).toBe("blacklist");
    expect(s.scope.proc_id).toEqual([2]);
  });

  test("sending snoopers later switches back to whitelist mode", () => {
    const b = ok("tcp", { blacklist: { proc_id: [2] } });
    const w = ok("tcp", { snoopers: { proc_id: [3] } }, {}, b);
    expect(w.mode).toBe("whitelist");
    expect(w.scope.proc_id).toEqual([3]);
  });

  test("entries are validated with the snooper messages; labels are ignored in blacklist", () => {
    expect(err("tcp", { blacklist: { pod_id: ["pod1"] } })).toBe("Error occurs when parsing snooper pod_id");
    expect(err("tcp", { blacklist: "x" })).toBe("Bad request");
    const s = ok("tcp", { blacklist: { custom_labels: { a: "b" }, pod_labels: 5 } });
    expect(s.customLabels).toEqual({});
  });
});

// ---- §6.3 params ---------------------------------------------------------------------------

describe("params (§6.3)", () => {
  const p = (params: Record<string, unknown>, opts: Partial<ApplyOptions> = {}, name = "tcp", cur?: ProbeSettings) =>
    ok(name, { params }, opts, cur).params;
  const pErr = (params: unknown, opts: Partial<ApplyOptions> = {}, name = "tcp", cur?: ProbeSettings) =>
    err(name, { params }, opts, cur);

  test("defaults", () => {
    expect(defaultParams()).toEqual({
      sample_period: 5000,
      report_period: 60,
      latency_thr: 0,
      offline_thr: 0,
      drops_thr: 0,
      res_lower_thr: 0,
      res_upper_thr: 0,
      report_event: 0,
      ringbuf_map_size: 1,
      report_cport: 0,
      l7_protocol: [],
      support_ssl: 0,
      pyroscope_server: "localhost:4040",
      svg_period: 180,
      perf_sample_period: 10,
      multi_instance: 0,
      native_stack: 0,
      output_dir: "",
      flame_dir: "/var/log/gala-gopher/flamegraph",
      cluster_ip_backend: 0,
      dev_name: "",
      continuous_sampling: 0,
      elf_path: "",
      kafka_port: 9092,
      cadvisor_port: 8083,
      profiling_channel: "local",
      min_exec_dur: 1,
      min_aggr_dur: 100,
    });
  });

  test("evaluation order", () => {
    expect(PARAM_ORDER).toEqual(
      "sample_period, report_period, custom_param, latency_thr, offline_thr, drops_thr, res_lower_thr, res_upper_thr, report_event, ringbuf_map_size, report_cport, l7_protocol, support_ssl, pyroscope_server, svg_period, perf_sample_period, multi_instance, native_stack, output_dir, flame_dir, cluster_ip_backend, dev_name, continuous_sampling, elf_path, kafka_port, cadvisor_port, profiling_channel, min_exec_dur, min_aggr_dur".split(
        ", ",
      ),
    );
  });

  const RANGES: Array<[string, number, number]> = [
    ["report_period", 5, 600],
    ["sample_period", 100, 10000],
    ["latency_thr", 10, 100000],
    ["offline_thr", 10, 100000],
    ["drops_thr", 10, 100000],
    ["res_lower_thr", 0, 100],
    ["res_upper_thr", 0, 100],
    ["report_event", 0, 1],
    ["report_cport", 0, 1],
    ["support_ssl", 0, 1],
    ["cluster_ip_backend", 0, 2],
    ["svg_period", 30, 600],
    ["perf_sample_period", 10, 1000],
    ["multi_instance", 0, 1],
    ["native_stack", 0, 1],
    ["continuous_sampling", 0, 1],
    ["kafka_port", 1, 65535],
    ["cadvisor_port", 1, 65535],
    ["min_exec_dur", 0, 1000000],
    ["min_aggr_dur", 10, 10000],
  ];

  test.each(RANGES)("%s accepts [%d, %d] and rejects just outside", (key, min, max) => {
    expect(p({ [key]: min })[key]).toBe(min);
    expect(p({ [key]: max })[key]).toBe(max);
    if (min - 1 !== 0 || (key !== "svg_period" && key !== "perf_sample_period")) {
      expect(pErr({ [key]: min - 1 })).toBe(`params.${key} invalid value ${min - 1}, must be in [${min}, ${max}]`);
    }
    expect(pErr({ [key]: max + 1 })).toBe(`params.${key} invalid value ${max + 1}, must be in [${min}, ${max}]`);
  });

  test("ringbuf_map_size: 1–32, power of two, only changeable while stopped", () => {
    for (const n of [1, 2, 4, 8, 16, 32]) expect(p({ ringbuf_map_size: n }).ringbuf_map_size).toBe(n);
    expect(pErr({ ringbuf_map_size: 0 })).toBe("params.ringbuf_map_size invalid value 0, must be in [1, 32]");
    expect(pErr({ ringbuf_map_size: 64 })).toBe("params.ringbuf_map_size invalid value 64, must be in [1, 32]");
    expect(pErr({ ringbuf_map_size: 3 })).toBe("params.ringbuf_map_size invalid value 3, must be power of 2");
    expect(pErr({ ringbuf_map_size: 24 })).toBe("params.ringbuf_map_size invalid value 24, must be power of 2");
    expect(pErr({ ringbuf_map_size: 4 }, { running: true })).toBe(
      "params.ringbuf_map_size invalid can only be changed when probe is stopped",
    );
    // re-sending the current value while running is no change
    expect(p({ ringbuf_map_size: 1 }, { running: true }).ringbuf_map_size).toBe(1);
  });

  test("latency_thr/offline_thr/drops_thr: 0 (off) cannot be set back", () => {
    const s = p({ latency_thr: 50 });
    expect(s.latency_thr).toBe(50);
    for (const k of ["latency_thr", "offline_thr", "drops_thr"]) {
      expect(pErr({ [k]: 0 })).toBe(`params.${k} invalid value 0, must be in [10, 100000]`);
    }
  });

  test("svg_period / perf_sample_period: 0 resets to the default", () => {
    const s = ok("flamegraph", { params: { svg_period: 300, perf_sample_period: 500 } });
    const r = ok("flamegraph", { params: { svg_period: 0, perf_sample_period: 0 } }, {}, s).params;
    expect(r.svg_period).toBe(180);
    expect(r.perf_sample_period).toBe(10);
    expect(pErr({ svg_period: 29 })).toBe("params.svg_period invalid value 29, must be in [30, 600]");
    expect(pErr({ svg_period: -1 })).toBe("params.svg_period invalid value -1, must be in [30, 600]");
  });

  test("numbers: reals truncate toward zero, booleans are 1/0", () => {
    expect(p({ report_period: 10.9 }).report_period).toBe(10);
    expect(p({ report_event: true }).report_event).toBe(1);
    expect(p({ report_event: false }).report_event).toBe(0);
    expect(p({ res_lower_thr: -0.5 }).res_lower_thr).toBe(0);
    expect(pErr({ report_period: true })).toBe("params.report_period invalid value 1, must be in [5, 600]");
    expect(pErr({ report_period: 4.99 })).toBe("params.report_period invalid value 4, must be in [5, 600]");
  });

  test("values outside int32 → range message with the truncated integer", () => {
    expect(pErr({ report_period: 2147483648 })).toBe("params.report_period invalid value 2147483648, must be in [5, 600]");
    expect(pErr({ report_period: -(2 ** 63) })).toBe(
      "params.report_period invalid value -9223372036854775808, must be in [5, 600]",
    );
    expect(pErr({ report_period: 1e308 })).toBe("params.report_period invalid value 1e+308, must be in [5, 600]");
    expect(pErr({ ringbuf_map_size: 4294967296 })).toBe(
      "params.ringbuf_map_size invalid value 4294967296, must be in [1, 32]",
    );
    expect(pErr(json('{"report_period":18446744073709551615}'))).toBe(
      "params.report_period invalid value 18446744073709551616, must be in [5, 600]",
    );
    expect(formatInteger(-1.5)).toBe("-1");
  });

  test.each(PARAMS.filter((d) => d.key !== "custom_param").map((d) => [d.key, d.kind] as const))(
    "%s (%s) rejects the wrong JSON type with invalid data type",
    (key, kind) => {
      const wrong: unknown[] = kind === "number" ? ["1", [], {}, null] : kind === "string" ? [1, true, [], {}, null] : ["http", 1, {}, null, true];
      for (const w of wrong) expect(pErr({ [key]: w })).toBe(`params.${key} invalid data type`);
    },
  );

  test("custom_param: must be an array; built-ins have no registered labels", () => {
    expect(pErr({ custom_param: "a" })).toBe("params.custom_param invalid data type");
    expect(pErr({ custom_param: [{ a: "b" }] })).toBe("custom_param param value has unregistered param : a.");
    expect(pErr({ custom_param: ["a"] })).toBe("custom_param param value must be an object.");
    expect(p({ custom_param: [] })).toEqual(defaultParams());
  });

  test("l7_protocol: case-insensitive set, canonical order, replaces", () => {
    expect(p({ l7_protocol: ["MySQL", "http", "crpc", "http"] }, {}, "l7").l7_protocol).toEqual(["http", "mysql", "crpc"]);
    const s = ok("l7", { params: { l7_protocol: ["http"] } });
    expect(p({ l7_protocol: [] }, {}, "l7", s).l7_protocol).toEqual([]);
    expect(p({ l7_protocol: [...L7_PROTOCOLS].reverse() }, {}, "l7").l7_protocol).toEqual([...L7_PROTOCOLS]);
    expect(pErr({ l7_protocol: ["http", "grpc"] })).toBe("params.l7_protocol invalid value: grpc");
    expect(pErr({ l7_protocol: ["http", 1] })).toBe("Bad request");
  });

  test("pyroscope_server < 64 bytes, dev_name < 32 bytes", () => {
    expect(p({ pyroscope_server: "x".repeat(63) }).pyroscope_server).toBe("x".repeat(63));
    expect(pErr({ pyroscope_server: "x".repeat(64) })).toBe(
      "params.pyroscope_server value is too long, len must be less than 64",
    );
    expect(p({ dev_name: "eth0" }).dev_name).toBe("eth0");
    expect(p({ dev_name: "x".repeat(31) }).dev_name).toBe("x".repeat(31));
    expect(pErr({ dev_name: "x".repeat(32) })).toBe("params.dev_name value is too long, len must be less than 32");
    expect(pErr({ dev_name: "é".repeat(16) })).toBe("params.dev_name value is too long, len must be less than 32");
  });

  test("path params: unsafe characters, must exist, stored canonicalised, \"\" = unset", () => {
    for (const key of ["output_dir", "flame_dir", "elf_path"]) {
      expect(p({ [key]: "/tmp/" })[key]).toBe("/tmp");
      expect(p({ [key]: "/srv/link" })[key]).toBe("/srv/real");
      expect(pErr({ [key]: "/does/not/exist" })).toBe("Bad request");
      expect(pErr({ [key]: "relative" })).toBe("Bad request");
      for (const bad of ["|", ";", "&", "$", ">", "<", "(", ")", "./", "/.", "?", "*", "'", "`", "[", "]", "\\", "!", "\n"]) {
        expect(pErr({ [key]: `/tmp/a${bad}b` })).toBe(`params.${key} contains unsafe characters`);
      }
    }
    const s = ok("flamegraph", { params: { output_dir: "/tmp", flame_dir: "/tmp", elf_path: "/tmp" } });
    const r = ok("flamegraph", { params: { output_dir: "", flame_dir: "", elf_path: "" } }, {}, s).params;
    expect(r.output_dir).toBe("");
    expect(r.flame_dir).toBe("/var/log/gala-gopher/flamegraph");
    expect(r.elf_path).toBe("");
  });

  test("path params: re-sending the stored value needs no file system check", () => {
    const never = { exists: () => false, realpath: () => { throw new Error("no"); } };
    expect(p({ flame_dir: "/var/log/gala-gopher/flamegraph" }, never, "flamegraph").flame_dir).toBe(
      "/var/log/gala-gopher/flamegraph",
    );
    expect(pErr({ flame_dir: "/tmp" }, never)).toBe("Bad request");
  });

  test("path params: realpath failures and over-long results are Bad request", () => {
    expect(pErr({ elf_path: "/x" }, { exists: () => true, realpath: () => { throw new Error("EACCES"); } })).toBe("Bad request");
    expect(pErr({ elf_path: "/x" }, { exists: () => true, realpath: () => "/" + "a".repeat(511) })).toBe("Bad request");
    expect(p({ elf_path: "/x" }, { exists: () => true, realpath: () => "/" + "a".repeat(510) }).elf_path).toHaveLength(511);
  });

  test("profiling_channel: exactly local or kafka", () => {
    expect(p({ profiling_channel: "kafka" }).profiling_channel).toBe("kafka");
    expect(p({ profiling_channel: "local" }).profiling_channel).toBe("local");
    expect(pErr({ profiling_channel: "Kafka" })).toBe("Bad request");
    expect(pErr({ profiling_channel: "" })).toBe("Bad request");
  });

  test("params without any known key → Bad request; unknown keys ignored otherwise", () => {
    expect(pErr({})).toBe("Bad request");
    expect(pErr({ metrics_type: ["raw"], env: ["node"] })).toBe("Bad request");
    expect(pErr({ REPORT_PERIOD: 10 })).toBe("Bad request");
    expect(p({ metrics_type: "junk", report_period: 10 }).report_period).toBe(10);
  });

  test.each([[[]], ["x"], [1], [null]])("params %j (not an object) → Bad request", (v) => {
    expect(pErr(v)).toBe("Bad request");
  });

  test("merged key by key: only present keys change", () => {
    const s = p({ report_period: 10, sample_period: 200 });
    const cur = { ...fresh("tcp"), params: s };
    const r = p({ report_period: 20 }, {}, "tcp", cur);
    expect(r.report_period).toBe(20);
    expect(r.sample_period).toBe(200);
  });

  test("the first failing key in evaluation order decides, whatever the JSON order", () => {
    expect(pErr(json('{"min_aggr_dur":1,"report_period":1,"sample_period":1}'))).toBe(
      "params.sample_period invalid value 1, must be in [100, 10000]",
    );
    expect(pErr(json('{"dev_name":1,"ringbuf_map_size":3}'))).toBe("params.ringbuf_map_size invalid value 3, must be power of 2");
  });

  test("parameters are accepted for every probe", () => {
    for (const f of FEATURES) expect(ok(f.name, { params: { kafka_port: 1234, l7_protocol: ["dns"] } }).params.kafka_port).toBe(1234);
  });
});

// ---- §6.4 state ----------------------------------------------------------------------------

describe("state (§6.4)", () => {
  test.each([[1], [true], [null], [[]], [{}]])("non-string %j → invalid state: must be string", (v) => {
    expect(err("jvm", { state: v })).toBe("invalid state: must be string");
  });

  test.each([["run"], ["start"], [""], ["running "], ["stop"]])("%j → invalid state <s>: must be running or stopped", (v) => {
    expect(err("jvm", { state: v })).toBe(`invalid state ${v}: must be running or stopped`);
  });

  test("case-insensitive; returns the state and sets wanted; the engine starts nothing", () => {
    const r = put("jvm", { state: "RUNNING" });
    expect(r.ok && r.state).toBe("running");
    expect(r.settings.wanted).toBe(true);
    const r2 = put("jvm", { state: "Stopped" }, {}, r.settings);
    expect(r2.ok && r2.state).toBe("stopped");
    expect(r2.settings.wanted).toBe(false);
    const r3 = put("jvm", { params: { report_period: 10 } }, {}, r.settings);
    expect(r3.ok && r3.state).toBeUndefined();
    expect(r3.settings.wanted).toBe(true);
  });

  test("running re-checks the subitem rule", () => {
    expect(err("tcp", { state: "running" })).toBe("invalid probe ranges: at least one must be set");
    expect(err("tcp", { snoopers: { proc_id: [1] }, state: "running" })).toBe("invalid probe ranges: at least one must be set");
    expect(ok("tcp", { cmd: { probe: ["tcp_rtt"] }, state: "running" }).wanted).toBe(true);
    expect(ok("tcp", { state: "stopped" }).wanted).toBe(false);
  });
});

// ---- §7 merge, rollback, changed ---------------------------------------------------------

describe("merge semantics (§7)", () => {
  const base = (): ProbeSettings =>
    ok("tcp", {
      cmd: { probe: ["tcp_rtt", "tcp_abnormal"] },
      snoopers: { proc_id: [1], proc_name: [{ comm: "java" }] },
      params: { report_period: 30, sample_period: 300 },
      state: "running",
    });

  test.each([
    ["cmd absent → unchanged", { state: "running" }, (s: ProbeSettings) => expect(s.subitems).toEqual(["tcp_abnormal", "tcp_rtt"])],
    ["cmd.probe present → replaced", { cmd: { probe: ["tcp_delay"] } }, (s: ProbeSettings) => expect(s.subitems).toEqual(["tcp_delay"])],
    ["snoopers absent → unchanged", { params: { report_period: 40 } }, (s: ProbeSettings) => expect(s.scope.proc_id).toEqual([1])],
    [
      "snoopers present → whole scope replaced",
      { snoopers: { container_id: ["abc"] } },
      (s: ProbeSettings) => {
        expect(s.scope.proc_id).toEqual([]);
        expect(s.scope.proc_name).toEqual([]);
        expect(s.scope.container_id).toEqual(["abc"]);
      },
    ],
    ["blacklist present → whole scope replaced, blacklist mode", { blacklist: { pod_id: [] } }, (s: ProbeSettings) => {
      expect(s.mode).toBe("blacklist");
      expect(scopeCount(s.scope)).toBe(0);
    }],
    ["params absent → unchanged", { state: "stopped" }, (s: ProbeSettings) => expect(s.params.report_period).toBe(30)],
    ["params present → merged key by key", { params: { report_period: 40 } }, (s: ProbeSettings) => {
      expect(s.params.report_period).toBe(40);
      expect(s.params.sample_period).toBe(300);
    }],
    ["state absent → unchanged", { params: { report_period: 40 } }, (s: ProbeSettings) => expect(s.wanted).toBe(true)],
    ["state present → applied", { state: "stopped" }, (s: ProbeSettings) => expect(s.wanted).toBe(false)],
  ] as Array<[string, unknown, (s: ProbeSettings) => void]>)("%s", (_, doc, check) => {
    check(ok("tcp", doc, {}, base()));
  });

  test("rollback: the first error restores every section applied so far", () => {
    const cur = base();
    for (const doc of [
      { cmd: { probe: ["tcp_delay"] }, snoopers: { proc_id: [9] }, params: { report_period: 1 } },
      { cmd: { probe: ["tcp_delay"] }, blacklist: { proc_id: [9] }, params: { report_period: 10 }, state: "bogus" },
      { cmd: { probe: ["tcp_delay"] }, snoopers: { pod_id: ["pod1"] } },
      { params: { report_period: 10, l7_protocol: ["nope"] } },
    ]) {
      const r = put("tcp", doc, {}, cur);
      expect(r.ok).toBe(false);
      expect(r.settings).toEqual(cur);
      expect(r.settings).not.toBe(cur);
    }
  });

  test("changed: subitems, params, scope (and labels) — not state alone", () => {
    const cur = base();
    const c = (doc: unknown) => {
      const r = put("tcp", doc, {}, cur);
      return r.ok && r.changed;
    };
    expect(c({ state: "running" })).toBe(false);
    expect(c({ state: "stopped" })).toBe(false);
    expect(c({ params: { report_period: 30 } })).toBe(false);
    expect(c({ cmd: { probe: ["tcp_abnormal", "TCP_RTT"] } })).toBe(false);
    expect(c({ snoopers: { proc_id: [1], proc_name: [{ comm: "java" }] } })).toBe(false);
    expect(c({ params: { report_period: 31 } })).toBe(true);
    expect(c({ cmd: { probe: ["tcp_rtt"] } })).toBe(true);
    expect(c({ snoopers: { proc_id: [2] } })).toBe(true);
    expect(c({ blacklist: { proc_id: [1], proc_name: [{ comm: "java" }] } })).toBe(true);
    expect(c({ snoopers: { proc_id: [1], proc_name: [{ comm: "java" }], custom_labels: { a: "b" } } })).toBe(true);
  });
});

// ---- §9 GET --------------------------------------------------------------------------------

describe("renderGet (§9)", () => {
  test("the tcp example, byte for byte", () => {
    const s = ok(
      "tcp",
      json('{"cmd":{"probe":["tcp_rtt","tcp_abnormal"]},"snoopers":{"proc_name":[{"comm":"^java$"}]},"params":{"report_event":1},"state":"running"}'),
    );
    expect(renderGet(F("tcp"), s, true)).toBe(
      '{"cmd":{"bin":"/opt/gala-gopher/extend_probes/tcpprobe","probe":["tcp_abnormal","tcp_rtt"]},"params":{"cluster_ip_backend":0,"dev_name":"","report_cport":0,"report_event":1,"report_period":60,"res_lower_thr":0,"res_upper_thr":0,"ringbuf_map_size":1,"sample_period":5000},"snoopers":{"container_id":[],"container_name":[],"pod_id":[],"proc_id":[],"proc_name":[{"cmdline":"","comm":"^java$"}]},"state":"running"}\n',
    );
  });

  test("default documents of several features", () => {
    const r = (name: string) => renderGet(F(name), fresh(name), false);
    expect(r("baseinfo")).toBe(
      '{"cmd":{"bin":"system_infos","probe":[]},"params":{"dev_name":"","elf_path":"","report_event":0,"report_period":60,"res_lower_thr":0,"res_upper_thr":0},"snoopers":{},"state":"stopped"}\n',
    );
    expect(r("virt")).toBe(
      '{"cmd":{"bin":"virtualized_infos","probe":[]},"params":{"report_event":0,"report_period":60,"res_lower_thr":0,"res_upper_thr":0},"snoopers":{},"state":"stopped"}\n',
    );
    expect(r("flamegraph")).toBe(
      '{"cmd":{"bin":"/opt/gala-gopher/extend_probes/stackprobe","probe":[]},"params":{"flame_dir":"/var/log/gala-gopher/flamegraph","multi_instance":0,"native_stack":0,"output_dir":"","perf_sample_period":10,"pyroscope_server":"localhost:4040","report_event":0,"report_period":60,"res_lower_thr":0,"res_upper_thr":0,"svg_period":180},"snoopers":{},"state":"stopped"}\n',
    );
    expect(r("l7")).toBe(
      '{"cmd":{"bin":"/opt/gala-gopher/extend_probes/l7probe","probe":[]},"params":{"cluster_ip_backend":0,"l7_protocol":[],"report_event":0,"report_period":60,"res_lower_thr":0,"res_upper_thr":0,"support_ssl":0},"snoopers":{},"state":"stopped"}\n',
    );
    expect(r("kafka")).toBe(
      '{"cmd":{"bin":"/opt/gala-gopher/extend_probes/kafkaprobe","probe":[]},"params":{"dev_name":"","kafka_port":9092,"report_event":0,"report_period":60,"res_lower_thr":0,"res_upper_thr":0},"snoopers":{},"state":"stopped"}\n',
    );
    expect(r("container")).toBe(
      '{"cmd":{"bin":"/opt/gala-gopher/extend_probes/cadvisor_probe.py","probe":[]},"params":{"cadvisor_port":8083,"report_event":0,"report_period":60,"res_lower_thr":0,"res_upper_thr":0},"snoopers":{},"state":"stopped"}\n',
    );
    expect(r("io")).toBe(
      '{"cmd":{"bin":"/opt/gala-gopher/extend_probes/ioprobe","probe":[]},"params":{"dev_name":"","report_event":0,"report_period":60,"res_lower_thr":0,"res_upper_thr":0,"sample_period":5000},"snoopers":{},"state":"stopped"}\n',
    );
    expect(r("ksli")).toBe(
      '{"cmd":{"bin":"/opt/gala-gopher/extend_probes/ksliprobe","probe":[]},"params":{"continuous_sampling":0,"dev_name":"","report_event":0,"report_period":60,"res_lower_thr":0,"res_upper_thr":0},"snoopers":{},"state":"stopped"}\n',
    );
    expect(r("nginx")).toBe(
      '{"cmd":{"bin":"/opt/gala-gopher/extend_probes/nginx_probe","probe":[]},"params":{"elf_path":"","report_event":0,"report_period":60,"res_lower_thr":0,"res_upper_thr":0},"snoopers":{},"state":"stopped"}\n',
    );
    expect(r("socket")).toBe(
      '{"cmd":{"bin":"/opt/gala-gopher/extend_probes/endpoint","probe":[]},"params":{"report_event":0,"report_period":60,"res_lower_thr":0,"res_upper_thr":0,"ringbuf_map_size":1},"snoopers":{},"state":"stopped"}\n',
    );
  });

  test("thresholds appear only when ≠ 0; l7_protocol canonical; proc_name label; full scope lists", () => {
    const s = ok("l7", {
      cmd: { probe: ["l7_rpc_trace", "l7_bytes_metrics"] },
      snoopers: {
        proc_id: [5, 3],
        proc_name: [{ comm: "b", cmdline: "x y", label: { app: "v" } }, { comm: "a" }],
        pod_id: ["01234567-89ab-cdef-0123-456789abcdef"],
        container_id: ["0123456789abcdef"],
        container_name: ["zz", "aa"],
      },
      params: { latency_thr: 100, drops_thr: 10, l7_protocol: ["kafka", "HTTP"], support_ssl: 1 },
    });
    expect(renderGet(F("l7"), s, false)).toBe(
      '{"cmd":{"bin":"/opt/gala-gopher/extend_probes/l7probe","probe":["l7_bytes_metrics","l7_rpc_trace"]},"params":{"cluster_ip_backend":0,"drops_thr":10,"l7_protocol":["http","kafka"],"latency_thr":100,"report_event":0,"report_period":60,"res_lower_thr":0,"res_upper_thr":0,"support_ssl":1},"snoopers":{"container_id":["0123456789ab"],"container_name":["zz","aa"],"pod_id":["01234567-89ab-cdef-0123-456789abcdef"],"proc_id":[5,3],"proc_name":[{"cmdline":"x y","comm":"b","label":{"app":"v"}},{"cmdline":"","comm":"a"}]},"state":"stopped"}\n',
    );
  });

  test("non-ASCII and control characters are escaped like jsoncpp", () => {
    const s = ok("tcp", { snoopers: { proc_name: [{ comm: 'é"\\\n\u0001😀' }] } });
    expect(renderGet(F("tcp"), s, false)).toContain('"comm":"\\u00e9\\"\\\\\\n\\u0001\\ud83d\\ude00"');
    expect(JSON.parse(renderGet(F("tcp"), s, false)).snoopers.proc_name[0].comm).toBe('é"\\\n\u0001😀');
  });

  test("keys sorted byte-wise at every level", () => {
    expect(stringifySorted({ b: 1, a: { d: [{ z: 1, y: 2 }], c: null }, B: 2, é: 0, z: 0 })).toBe(
      '{"B":2,"a":{"c":null,"d":[{"y":2,"z":1}]},"b":1,"z":0,"\\u00e9":0}',
    );
    expect(compareBytes("\uffff", "😀")).toBe(-1); // U+FFFF < U+1F600 in UTF-8, unlike UTF-16
  });
});

// ---- envelope ------------------------------------------------------------------------------

describe("envelope (§3)", () => {
  test("exact bytes", () => {
    expect(envelope(true, "New config takes effect")).toBe('{ "result": "success", "message":"New config takes effect" }\n');
    expect(envelope(false, "url not found")).toBe('{ "result": "failed", "message":"url not found" }\n');
  });

  test("messages are JSON-escaped and never truncated", () => {
    const long = "unsupported probe range: " + "x".repeat(500) + ".";
    const e = envelope(false, long);
    expect(JSON.parse(e)).toEqual({ result: "failed", message: long });
    const tricky = 'invalid state a"b\\c\n\u0001é\ud800: must be running or stopped';
    const parsed = JSON.parse(envelope(false, tricky)) as { message: string };
    expect(parsed.message).toBe(tricky);
    expect(envelope(false, "é")).toBe('{ "result": "failed", "message":"é" }\n');
  });
});

// ---- round trip ----------------------------------------------------------------------------

describe("round trip: the GET document is accepted by PUT (§9)", () => {
  const configured = (f: FeatureDef): unknown => ({
    cmd: { probe: f.subitems.map((s) => s.name) },
    snoopers: {
      proc_id: [1, -1],
      proc_name: [{ comm: "^java$", cmdline: "-jar", label: { app: "x" } }],
      pod_id: ["0123456789abcdef0123456789abcdef"],
      container_id: ["ABCDEF0123456789"],
      container_name: ["web"],
    },
    params: {
      report_period: 30,
      latency_thr: 100,
      offline_thr: 20,
      drops_thr: 30,
      l7_protocol: ["dns", "http"],
      ringbuf_map_size: 4,
      output_dir: "/tmp",
      elf_path: "/usr/sbin/nginx",
      dev_name: "eth0",
    },
    state: "running",
  });

  test.each(FEATURES.map((f) => [f.name]))("%s", (name) => {
    const f = F(name);
    for (const running of [false, true]) {
      for (const variant of ["default+subitems", "configured", "blacklist"]) {
        let s: ProbeSettings;
        if (variant === "configured") s = ok(name, configured(f));
        else if (variant === "blacklist") s = ok(name, { cmd: { probe: f.subitems.slice(0, 1).map((x) => x.name) }, blacklist: { proc_id: [4] } });
        else s = ok(name, { cmd: { probe: f.subitems.slice(0, 1).map((x) => x.name) } });
        const doc = renderGet(f, s, running);
        const body = decodePutBody(new TextEncoder().encode("json=" + doc));
        expect(body.ok).toBe(true);
        if (!body.ok) continue;
        // Nothing on the file system is consulted for unchanged paths.
        const r = applyRequest(f, s, body.doc, { running, exists: () => false, realpath: () => "" });
        if (!r.ok) throw new Error(`${name} ${variant}: ${r.message}`);
        expect(r.changed).toBe(false);
        expect(renderGet(f, r.settings, running)).toBe(doc);
      }
    }
  });
});

// ---- legacy --------------------------------------------------------------------------------

describe("legacy POST form (DECISIONS.md)", () => {
  test("translated document applies like the current form", () => {
    const legacy = json(
      '{"cmd":{"bin":"/opt/gala-gopher/extend_probes/tcpprobe","check_cmd":""},"probes":{"probe":["tcp_rtt"],"proc_id":[12],"pod":["0123456789abcdef0123456789abcdef"]},"params":{"report_period":15},"operate":"start"}',
    );
    const r = put("tcp", translateLegacy(legacy));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.state).toBe("running");
    expect(r.settings.subitems).toEqual(["tcp_rtt"]);
    expect(r.settings.scope.proc_id).toEqual([12]);
    expect(r.settings.scope.pod_id).toEqual(["0123456789abcdef0123456789abcdef"]);
    expect(r.settings.params.report_period).toBe(15);
  });

  test("operate: delete stops and resets to defaults (URL name kept)", () => {
    const cur = ok("tcp", {
      cmd: { probe: ["tcp_rtt"] },
      snoopers: { proc_id: [1], custom_labels: { a: "b" } },
      params: { report_period: 15 },
      state: "running",
    });
    cur.name = "TCP";
    const r = put("tcp", translateLegacy({ operate: "delete" }), {}, cur);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.state).toBe("stopped");
    expect(r.changed).toBe(true);
    expect(r.settings).toEqual({ ...defaultSettings(F("tcp"), "TCP") });
  });

  test("a reset marker is only a symbol: {\"__reset\":true} alone is a Bad request", () => {
    expect(err("tcp", { __reset: true })).toBe("Bad request");
    expect(put("tcp", { [LEGACY_RESET]: true, state: "stopped" }).ok).toBe(true);
  });

  test("operate with an unknown value → state error", () => {
    expect(err("jvm", translateLegacy({ operate: "pause" }))).toBe("invalid state pause: must be running or stopped");
  });
});

// ---- fuzz ----------------------------------------------------------------------------------

/** mulberry32: small deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KNOWN_MESSAGES: RegExp[] = [
  /^put data size exceeds 1048576$/,
  /^put data must start with json=$/,
  /^invalid json format$/,
  /^Bad request$/,
  /^Invalid probe range: must be string\.$/,
  /^The lengh of probe name must range from 0 to 64\.$/,
  /^unsupported probe range: [\s\S]*\.$/,
  /^invalid probe ranges: at least one must be set$/,
  /^Error occurs when parsing snooper (proc_id|proc_name|pod_id|container_id|container_name|custom_labels|pod_labels)$/,
  /^snoopers and blacklist are mutually exclusive$/,
  /^snoopers\.(custom_labels|proc_name) invalid label name [\s\S]+: [\s\S]+$/,
  /^params\.[a-z0-9_]+ invalid data type$/,
  /^params\.[a-z0-9_]+ invalid value -?(\d+|\d(\.\d+)?e[+-]\d+), must be in \[\d+, \d+\]$/,
  /^params\.ringbuf_map_size invalid value \d+, must be power of 2$/,
  /^params\.ringbuf_map_size invalid can only be changed when probe is stopped$/,
  /^params\.l7_protocol invalid value: [\s\S]*$/,
  /^params\.(output_dir|flame_dir|elf_path) contains unsafe characters$/,
  /^params\.(pyroscope_server|dev_name) value is too long, len must be less than (64|32)$/,
  /^custom_param param value /,
  /^invalid state: must be string$/,
  /^invalid state [\s\S]*: must be running or stopped$/,
];
const known = (m: string): boolean => KNOWN_MESSAGES.some((re) => re.test(m));

describe("fuzz: decodePutBody → applyRequest → renderGet never throws", () => {
  const rnd = prng(0x9a1a_60f3);
  const int = (n: number) => Math.floor(rnd() * n);
  const pick = <T,>(xs: readonly T[]): T => xs[int(xs.length)]!;

  const WRONG: unknown[] = [
    null, true, false, 0, -1, 1, 1.5, -0.5, 1e308, -1e308, -(2 ** 63), 2 ** 64, 2 ** 31, -(2 ** 31) - 1, 4294967295,
    "", "x", "pod1", "container1", "running", "RUNNING", "http", "/tmp", "a|b", "x".repeat(100), "é😀\u0000", [], [1], [""],
    [null], [{}], {}, { a: 1 }, { comm: "x" }, { comm: "" }, { probe: [] }, { "": 1 },
  ];

  const validDoc = (f: FeatureDef): Record<string, unknown> => ({
    cmd: { bin: "x", probe: f.subitems.slice(0, 2).map((s) => s.name) },
    snoopers: {
      proc_id: [1, 2],
      proc_name: [{ comm: "java", cmdline: "x", label: { a: "b" } }],
      pod_id: ["0123456789abcdef0123456789abcdef"],
      container_id: ["abcdef"],
      container_name: ["n"],
      custom_labels: { k: "v" },
      pod_labels: ["p"],
    },
    params: {
      report_period: 10,
      l7_protocol: ["http"],
      ringbuf_map_size: 1,
      output_dir: "/tmp",
      pyroscope_server: "h:1",
      custom_param: [],
    },
    state: "running",
  });

  /** Every path (list of keys/indices) inside a value. */
  const paths = (v: unknown, prefix: Array<string | number> = []): Array<Array<string | number>> => {
    const out: Array<Array<string | number>> = [prefix];
    if (Array.isArray(v)) v.forEach((x, i) => out.push(...paths(x, [...prefix, i])));
    else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) out.push(...paths(x, [...prefix, k]));
    return out;
  };
  const setAt = (root: unknown, path: Array<string | number>, value: unknown): unknown => {
    if (path.length === 0) return value;
    const copy = structuredClone(root) as Record<string | number, unknown>;
    let cur = copy;
    for (let i = 0; i < path.length - 1; i++) cur = cur[path[i]!] as Record<string | number, unknown>;
    cur[path[path.length - 1]!] = value;
    return copy;
  };

  const TOKENS = ["{", "}", "[", "]", ",", ":", '"cmd"', '"probe"', '"snoopers"', '"params"', '"state"', '"proc_id"', '"report_period"', "1", "-", "1e999", "1.5e3", "true", "null", "/*c*/", "//c\n", '"', "\\", "\u0000", "é", " ", "json=", "%7B", "+"];

  const exercise = (body: Uint8Array, counter: { n: number }, feature?: FeatureDef): void => {
    counter.n++;
    const d = decodePutBody(body);
    if (!d.ok) {
      expect(known(d.message)).toBe(true);
      return;
    }
    const f = feature ?? pick(FEATURES);
    let cur = fresh(f.name);
    if (rnd() < 0.5) {
      const pre = applyRequest(f, cur, validDoc(f), { running: false, ...fakeFs });
      cur = pre.settings;
    }
    const running = rnd() < 0.3;
    const doc = rnd() < 0.1 ? translateLegacy(d.doc) : d.doc;
    const r = applyRequest(f, cur, doc, { running, ...fakeFs });
    stats[r.ok ? "ok" : "failed"]++;
    if (!r.ok && !known(r.message)) throw new Error(`unknown message: ${r.message}`);
    const out = renderGet(f, r.settings, running);
    expect(out.endsWith("\n")).toBe(true);
    const back = JSON.parse(out) as Record<string, unknown>;
    expect(typeof back).toBe("object");
    expect(envelope(r.ok, r.ok ? "New config takes effect" : r.message).endsWith(" }\n")).toBe(true);
    // Property: a successful result's GET document is accepted again.
    if (r.ok && (f.subitems.length === 0 || r.settings.subitems.length > 0)) {
      const again = applyRequest(f, r.settings, back, { running, exists: () => false, realpath: () => "" });
      if (!again.ok) throw new Error(`round trip failed for ${f.name}: ${again.message} / ${out}`);
    }
  };

  const enc = new TextEncoder();
  const stats = { ok: 0, failed: 0 };

  test("≥10,000 malformed inputs", () => {
    const counter = { n: 0 };
    // 1. random bytes, with and without the prefix
    for (let i = 0; i < 3000; i++) {
      const len = int(200);
      const b = new Uint8Array(len);
      for (let k = 0; k < len; k++) b[k] = int(256);
      if (rnd() < 0.5) b.set(enc.encode("json=").subarray(0, Math.min(5, len)));
      else if (rnd() < 0.3 && len > 0) b[0] = 0x7b;
      exercise(b, counter);
    }
    // 2. wrong types at every position of a valid document (whitelist and blacklist forms)
    for (const f of FEATURES) {
      const white = validDoc(f);
      const { snoopers: _, ...rest } = white;
      const black = { ...rest, blacklist: { proc_id: [1], container_name: ["n"] } };
      for (const doc of [white, black])
      for (const path of paths(doc)) {
        for (let k = 0; k < 12; k++) {
          const mutated = setAt(doc, path, pick(WRONG));
          exercise(enc.encode("json=" + JSON.stringify(mutated)), counter, f);
        }
      }
    }
    // 3. random token soup
    for (let i = 0; i < 3000; i++) {
      let s = rnd() < 0.8 ? "json=" : "";
      const n = int(40);
      for (let k = 0; k < n; k++) s += pick(TOKENS);
      exercise(enc.encode(s), counter);
    }
    // 4. huge numbers everywhere a number may go
    for (const num of ["1e308", "-1e308", "-9223372036854775808", "18446744073709551616", "9".repeat(400), "-0", "2.5e-320"]) {
      for (const tmpl of ['{"params":{"report_period":N}}', '{"snoopers":{"proc_id":[N]}}', '{"cmd":{"probe":[N]}}', '{"state":N}', "N"]) {
        exercise(enc.encode("json=" + tmpl.replace("N", num)), counter);
      }
    }
    expect(counter.n).toBeGreaterThanOrEqual(10000);
    // Both outcomes are exercised in quantity.
    expect(stats.ok).toBeGreaterThan(2000);
    expect(stats.failed).toBeGreaterThan(2000);
  });

  test("deep nesting, 2 MiB bodies, NULs, invalid UTF-8", () => {
    const counter = { n: 0 };
    const deep = (n: number, open: string, close: string) => open.repeat(n) + close.repeat(n);
    for (const body of [
      "json=" + deep(10000, "[", "]"),
      "json=" + deep(10000, '{"a":', "}"),
      'json={"params":' + deep(10000, "[", "]") + "}",
      "json=" + deep(64, '{"a":', "}").replace('"a":}', '"a":1}'),
      deep(10000, "{", "}"),
    ]) {
      exercise(enc.encode(body), counter);
    }
    const twoMiB = new Uint8Array(2 * 1024 * 1024).fill(0x20);
    twoMiB.set(enc.encode("json={"));
    exercise(twoMiB, counter);
    const justUnder = new Uint8Array(MAX_BODY).fill(0x61);
    justUnder.set(enc.encode('json={"state":"'));
    exercise(justUnder, counter);
    const bigString = enc.encode('json={"snoopers":{"container_name":["' + "a".repeat(MAX_BODY - 60) + '"]},"state":"stopped"}');
    exercise(bigString, counter);
    exercise(new Uint8Array([...enc.encode('json={"state":"run'), 0, ...enc.encode('ning"}')]), counter);
    exercise(new Uint8Array([...enc.encode('json={"cmd":{"probe":["'), 0xc3, 0x28, 0xff, 0xed, 0xa0, 0x80, ...enc.encode('"]}}')]), counter);
    exercise(new Uint8Array([0xef, 0xbb, 0xbf, ...enc.encode('{"state":"stopped"}')]), counter);
    expect(counter.n).toBe(11);
  });
});

describe("helpers", () => {
  test("hasUnsafeChars", () => {
    expect(hasUnsafeChars("/var/log/x")).toBe(false);
    expect(hasUnsafeChars("/var/../x")).toBe(true);
    expect(hasUnsafeChars("a.b")).toBe(false);
  });
});

describe("custom_param hook", () => {
  test("declared labels are accepted and stored as label=value; values 1–64 chars", () => {
    const opts = { customParamLabels: ["param_a", "param_b"] };
    expect(ok("tcp", { params: { custom_param: [{ param_a: "v1" }, { param_b: "v2" }] } }, opts).params.custom_param).toEqual([
      "param_a=v1",
      "param_b=v2",
    ]);
    expect(err("tcp", { params: { custom_param: [{ param_c: "v" }] } }, opts)).toBe(
      "custom_param param value has unregistered param : param_c.",
    );
    expect(err("tcp", { params: { custom_param: [{ param_a: "" }] } }, opts)).toBe("custom_param param value of param_a is invalid.");
    expect(err("tcp", { params: { custom_param: [{ param_a: "x".repeat(65) }] } }, opts)).toBe(
      "custom_param param value of param_a is invalid.",
    );
    expect(err("tcp", { params: { custom_param: [{}] } }, opts)).toBe("custom_param param value must be an object.");
  });
});
