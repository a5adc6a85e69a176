// The store's extra labels (enrichers such as pod_labels, custom labels): a name that is
// not a Prometheus label name is left out of the series, counted in
// gala_gopher_agent_dropped_total{channel="series_labels",reason="invalid_label_name"} once
// per left-out label, and logged once per name.
import { expect, test } from "bun:test";
import { AgentMetrics } from "../egress/agent-metrics.ts";
import { MetricStore } from "./store.ts";
import { defineTable } from "./table.ts";

const proc = defineTable({
  name: "proc_test",
  entity: "proc",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "pid" },
    { name: "util", type: "gauge", description: "util" },
  ],
});

const DROPPED = 'gala_gopher_agent_dropped_total{channel="series_labels",reason="invalid_label_name"}';
function droppedValue(text: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${DROPPED} `));
  return line === undefined ? undefined : Number(line.slice(DROPPED.length + 1));
}

test("pod_labels names that are not label names: left out, counted per label, logged once per name", async () => {
  const warnings: string[] = [];
  const store = new MetricStore({ maxRowsPerTable: 10, log: { warn: (m) => void warnings.push(m) } });
  const agent = new AgentMetrics(store, { version: "t", commit: "t" });
  store.addEnricher(() => [
    ["app.kubernetes.io/name", "web"],
    ["ok_name", "v"],
    ["0", "x"],
    ["__name__", "forged"],
  ]);
  expect(droppedValue(await agent.render())).toBeUndefined(); // nothing left out yet

  const row = store.upsert(proc, { tgid: "1", util: 1 }, "tcp", 1, 0)!;
  expect(row.labelPairs).toEqual([
    ["tgid", "1"],
    ["ok_name", "v"],
  ]);
  expect(store.labelsLeftOut).toBe(3);
  expect(droppedValue(await agent.render())).toBe(3);

  // Two more rows: each leaves the same three out again — counted, not logged again.
  store.upsert(proc, { tgid: "2", util: 1 }, "tcp", 1, 0);
  store.upsert(proc, { tgid: "1", util: 2 }, "tcp", 2, 0);
  expect(droppedValue(await agent.render())).toBe(9);
  expect(droppedValue(await agent.render())).toBe(9); // a render adds only what is new
  expect(warnings).toHaveLength(3);
  expect(warnings[0]).toBe(
    'extra label "app.kubernetes.io/name" (probe tcp) is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __): left out of the series, each time counted in gala_gopher_agent_dropped_total{channel="series_labels",reason="invalid_label_name"}; logged once',
  );
  expect(warnings[1]).toStartWith('extra label "0" (probe tcp)');
  expect(warnings[2]).toStartWith('extra label "__name__" (probe tcp)');
});

test("a hostile name is logged as a JSON string (no line break reaches the log), cut to 100 characters", () => {
  const warnings: string[] = [];
  const store = new MetricStore({ maxRowsPerTable: 10, log: { warn: (m) => void warnings.push(m) } });
  const long = `a\nforged line ${"x".repeat(200)}`;
  store.addEnricher(() => [[long, "v"]]);
  store.upsert(proc, { tgid: "1", util: 1 }, "p", 1, 0);
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).not.toContain("\n");
  expect(warnings[0]).toStartWith(`extra label ${JSON.stringify(`${long.slice(0, 100)}…`)} (probe p)`);
});

test("logging stops after 256 distinct names (one note), counting does not", () => {
  const warnings: string[] = [];
  const store = new MetricStore({ maxRowsPerTable: 10, log: { warn: (m) => void warnings.push(m) } });
  const names = Array.from({ length: 300 }, (_, i) => `bad-${i}`);
  store.addEnricher(() => names.map((n) => [n, "v"] as const));
  store.upsert(proc, { tgid: "1", util: 1 }, "p", 1, 0);
  store.upsert(proc, { tgid: "1", util: 1 }, "p", 2, 0);
  expect(store.labelsLeftOut).toBe(600);
  expect(warnings).toHaveLength(257);
  expect(warnings[256]).toStartWith("more than 256 distinct extra label names were left out");
});

test("an extra label that repeats a label of the series (pod_labels `pod`, `tgid`) is left out and counted, so the scrape stays valid", async () => {
  const warnings: string[] = [];
  const store = new MetricStore({ maxRowsPerTable: 10, log: { warn: (m) => void warnings.push(m) } });
  const agent = new AgentMetrics(store, { version: "t", commit: "t" });
  store.addEnricher(() => [
    ["pod", "web-0"],
    ["tgid", "forged"],
    ["pod", "again"],
  ]);
  store.setOwnerLabels("tcp", { team: "a", pod: "owner" });
  const row = store.upsert(proc, { tgid: "1", util: 1 }, "tcp", 1, 0)!;
  expect(row.labelPairs).toEqual([
    ["tgid", "1"],
    ["pod", "web-0"],
    ["team", "a"],
  ]);
  expect(store.labelsDuplicated).toBe(3);
  expect(store.labelsLeftOut).toBe(0);
  const text = await agent.render();
  expect(text).toContain('gala_gopher_agent_dropped_total{channel="series_labels",reason="duplicate_label_name"} 3');
  expect(warnings).toHaveLength(2); // "tgid" and "pod", each once
  expect(warnings[0]).toBe(
    'extra label "tgid" (probe tcp) repeats a label the series already has: left out of the series, each time counted in gala_gopher_agent_dropped_total{channel="series_labels",reason="duplicate_label_name"}; logged once',
  );
});
