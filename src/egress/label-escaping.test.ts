// Label values with quotes, backslashes, newlines and invalid UTF-8 in every output:
// Prometheus text (endpoint and log file), JSON log lines and Kafka metric messages.
import { describe, expect, test } from "bun:test";
import { MetricStore } from "../store/store.ts";
import { defineTable } from "../store/table.ts";
import { kafkaMetricMessage } from "./kafka-format.ts";
import { renderRowJson, renderRowsPrometheus } from "./logs.ts";
import { PrometheusRenderer } from "./prometheus.ts";

const proc = defineTable({
  name: "proc_test",
  entity: "proc",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "pid" },
    { name: "comm", type: "label", description: "name" },
    { name: "util", type: "gauge", description: "util" },
  ],
});

// /proc/<pid>/comm bytes that are not UTF-8, decoded as the probes read files.
const fromProc = new TextDecoder().decode(new Uint8Array([0x78, 0xff, 0xfe, 0x79]));
const HOSTILE: [string, string][] = [
  ["quote", 'a"b'],
  ["backslash", "a\\b\\"],
  ["newline", 'x"} 1\nforged_metric{x="1"} 1\n# x'],
  ["lone surrogate", "a\ud800b\udc00"],
  ["bytes from /proc comm", fromProc],
];
const utf8 = new TextDecoder("utf-8", { fatal: true });
const strict = (s: string) => utf8.decode(new TextEncoder().encode(s));

function storeWith(comm: string, custom: string) {
  const store = new MetricStore({ maxRowsPerTable: 10 });
  store.setOwnerLabels("p", { team: custom });
  const row = store.upsert(proc, { tgid: "1", comm, util: 1 }, "p", 1, 0)!;
  return { store, row };
}

/** Parses one sample line's label set the way the text format defines it. */
function parseLabels(line: string): Record<string, string> {
  const out: Record<string, string> = {};
  const body = line.slice(line.indexOf("{") + 1);
  const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|\})/y;
  let m: RegExpExecArray | null;
  while ((m = re.exec(body))) {
    out[m[1]!] = m[2]!.replace(/\\(["\\n])/g, (_, c: string) => (c === "n" ? "\n" : c));
    if (m[3] === "}") break;
  }
  return out;
}

describe.each(HOSTILE)("label value with %s", (_, value) => {
  const expected = value.toWellFormed();

  test("Prometheus endpoint: one sample line, the value round-trips, valid UTF-8", () => {
    const { store } = storeWith(value, value);
    const text = new PrometheusRenderer(store, "m-1").render();
    strict(text);
    const lines = text.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toStartWith("gala_gopher_proc_util{");
    expect(lines[0]).toEndWith("} 1");
    expect(parseLabels(lines[0]!)).toEqual({ tgid: "1", comm: expected, team: expected, machine_id: "m-1" });
    expect(text).not.toMatch(/^forged_metric/m);
  });

  test("log file Prometheus text: same escaping", () => {
    const { row } = storeWith(value, value);
    const text = renderRowsPrometheus([{ table: proc, rows: [row] }], "m-1", 1_700_000_000_000);
    strict(text);
    const lines = text.split("\n").filter((l) => l !== "");
    expect(lines).toHaveLength(1);
    expect(parseLabels(lines[0]!)).toEqual({ tgid: "1", comm: expected, team: expected, machine_id: "m-1" });
  });

  test("JSON log line: one line, valid JSON, the value round-trips", () => {
    const { row } = storeWith(value, value);
    const line = renderRowJson(proc, row, "m-1", 1_700_000_000_000);
    expect(line).not.toContain("\n");
    expect(line).not.toMatch(/\\ud[89a-f]/i);
    const doc = JSON.parse(strict(line));
    expect(doc.labels).toEqual({ tgid: "1", comm: expected, team: expected, machine_id: "m-1" });
  });

  test("Kafka metric message: valid JSON, the value round-trips", () => {
    const msg = kafkaMetricMessage(proc, { tgid: "1", comm: value, util: 1 }, "uuid", 1_700_000_000_000);
    expect(msg).not.toContain("\n");
    expect(msg).not.toMatch(/\\ud[89a-f]/i);
    expect(JSON.parse(strict(msg)).comm).toBe(expected);
  });
});

test("an extra label whose name is not a label name never reaches the text (pod_labels keys)", () => {
  const store = new MetricStore({ maxRowsPerTable: 10 });
  store.addEnricher(() => [
    ['a="b"} 1\nforged_metric{x="1"} 1\n# x', "v"],
    ["app.kubernetes.io/name", "v"],
    ["ok_name", "v"],
  ]);
  store.upsert(proc, { tgid: "1", comm: "c", util: 1 }, "p", 1, 0);
  const text = new PrometheusRenderer(store, "m-1").render();
  expect(text).toContain('gala_gopher_proc_util{tgid="1",comm="c",ok_name="v",machine_id="m-1"} 1\n');
  expect(text).not.toContain("forged_metric");
});
