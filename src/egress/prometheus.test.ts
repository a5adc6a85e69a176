import { describe, expect, test } from "bun:test";
import { MetricStore } from "../store/store.ts";
import { defineTable } from "../store/table.ts";
import { PrometheusRenderer, formatSample } from "./prometheus.ts";

const cpu = defineTable({
  name: "system_cpu",
  entity: "cpu",
  version: "1.0.0",
  fields: [
    { name: "cpu", type: "key", description: "CPU index" },
    { name: "util_per", type: "gauge", description: "CPU utilization, percent" },
    { name: "rcu", type: "counter", description: "RCU softirqs" },
  ],
});
const link = defineTable({
  name: "tcp_metric",
  entity: "tcp_link",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "pid" },
    { name: "toa_client_ip", type: "key", description: "toa" },
    { name: "srtt", type: "histogram", description: "smoothed rtt, us" },
  ],
});

function setup(maxRows = 100) {
  const store = new MetricStore({ maxRowsPerTable: maxRows });
  return { store, r: new PrometheusRenderer(store, "uuid-1.2.3.4") };
}

describe("prometheus exposition", () => {
  test("HELP/TYPE once per family, labels in meta order, machine_id last, no timestamps", () => {
    const { store, r } = setup();
    store.upsert(cpu, { cpu: "0", util_per: "3.50", rcu: 12 }, "baseinfo", 1, 0);
    store.upsert(cpu, { cpu: "1", util_per: 7, rcu: undefined }, "baseinfo", 1, 0);
    expect(r.render()).toBe(
      [
        "# HELP gala_gopher_cpu_util_per CPU utilization, percent",
        "# TYPE gala_gopher_cpu_util_per gauge",
        'gala_gopher_cpu_util_per{cpu="0",machine_id="uuid-1.2.3.4"} 3.50',
        'gala_gopher_cpu_util_per{cpu="1",machine_id="uuid-1.2.3.4"} 7',
        "# HELP gala_gopher_cpu_rcu RCU softirqs",
        "# TYPE gala_gopher_cpu_rcu counter",
        'gala_gopher_cpu_rcu{cpu="0",machine_id="uuid-1.2.3.4"} 12',
        "",
      ].join("\n"),
    );
  });

  test("a series appears once however often it is refreshed (snapshot)", () => {
    const { store, r } = setup();
    for (let i = 0; i < 5; i++) store.upsert(cpu, { cpu: "0", util_per: i, rcu: i }, "baseinfo", i, 0);
    const text = r.render();
    expect(text.match(/gala_gopher_cpu_util_per\{/g)?.length).toBe(1);
    expect(text).toContain('gala_gopher_cpu_util_per{cpu="0",machine_id="uuid-1.2.3.4"} 4\n');
  });

  test("histograms: _bucket with +Inf, _sum, _count, and a _max gauge family; empty key omitted", () => {
    const { store, r } = setup();
    store.upsert(link, { tgid: "7", toa_client_ip: "", srtt: { bounds: [50, 100], cumulative: [3, 7], sum: 410, max: 99 } }, "tcp", 1, 0);
    const text = r.render();
    expect(text).toContain("# TYPE gala_gopher_tcp_link_srtt histogram\n");
    expect(text).toContain('gala_gopher_tcp_link_srtt_bucket{tgid="7",machine_id="uuid-1.2.3.4",le="50"} 3\n');
    expect(text).toContain('gala_gopher_tcp_link_srtt_bucket{tgid="7",machine_id="uuid-1.2.3.4",le="+Inf"} 7\n');
    expect(text).toContain('gala_gopher_tcp_link_srtt_sum{tgid="7",machine_id="uuid-1.2.3.4"} 410\n');
    expect(text).toContain('gala_gopher_tcp_link_srtt_count{tgid="7",machine_id="uuid-1.2.3.4"} 7\n');
    expect(text).toContain("# TYPE gala_gopher_tcp_link_srtt_max gauge\n");
    expect(text).toContain('gala_gopher_tcp_link_srtt_max{tgid="7",machine_id="uuid-1.2.3.4"} 99\n');
  });

  test("label values are escaped; non-numeric values are not exported and counted", () => {
    const { store, r } = setup();
    store.upsert(cpu, { cpu: 'a"b\\c\nd', util_per: "abc", rcu: 1 }, "baseinfo", 1, 0);
    const text = r.render();
    expect(text).toContain('cpu="a\\"b\\\\c\\nd"');
    expect(text).not.toContain("util_per{");
    expect(r.badValues).toBe(1);
  });

  test("table cap drops new series and counts them", () => {
    const { store } = setup(2);
    for (let i = 0; i < 5; i++) store.upsert(cpu, { cpu: String(i), util_per: 1 }, "baseinfo", 1, 0);
    expect(store.seriesCount().get("system_cpu")).toBe(2);
    expect(store.dropped.get("system_cpu")?.table_full).toBe(3);
  });

  test("rows not refreshed in a cycle are retired; TTL expiry; render cache follows changes", () => {
    const { store, r } = setup();
    store.upsert(cpu, { cpu: "0", util_per: 1 }, "baseinfo", 1, 0);
    store.upsert(cpu, { cpu: "1", util_per: 1 }, "baseinfo", 1, 0);
    const before = r.render();
    expect(r.render()).toBe(before);
    store.upsert(cpu, { cpu: "0", util_per: 2 }, "baseinfo", 2, 0);
    store.retireUnseen("baseinfo", [cpu], 2);
    expect(r.render()).not.toContain('cpu="1"');
    store.expire(100_000, () => 60_000);
    expect(r.render()).toBe("");
  });

  test("custom labels are sorted and precede machine_id", () => {
    const { store, r } = setup();
    store.setOwnerLabels("baseinfo", { zone: "b", app: "x" });
    store.upsert(cpu, { cpu: "0", util_per: 1 }, "baseinfo", 1, 0);
    expect(r.render()).toContain('{cpu="0",app="x",zone="b",machine_id="uuid-1.2.3.4"} 1');
  });

  test("formatSample", () => {
    expect(formatSample(1.5)).toBe("1.5");
    expect(formatSample("12.00")).toBe("12.00");
    expect(formatSample(Number.NaN)).toBe("NaN");
    expect(formatSample(Infinity)).toBe("+Inf");
    expect(formatSample("")).toBeUndefined();
    expect(formatSample("1e5")).toBe("1e5");
    expect(formatSample("x1")).toBeUndefined();
  });
});
