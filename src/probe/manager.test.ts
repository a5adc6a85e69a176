import { describe, expect, test } from "bun:test";
import { AgentMetrics } from "../egress/agent-metrics.ts";
import { SinkSet } from "../egress/sink.ts";
import { HostFs } from "../host/fs.ts";
import { stderrLogger } from "../log/logger.ts";
import { MetricStore } from "../store/store.ts";
import { defineTable } from "../store/table.ts";
import { defineProbe, type ProbeDefinition } from "./define.ts";
import { ProbeManager } from "./manager.ts";
import { CATALOG } from "../probes/catalog.ts";

const table = defineTable({
  name: "virt_proc",
  entity: "proc",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "pid" },
    { name: "value", type: "gauge", description: "one" },
  ],
});

function setup(defs: ProbeDefinition[], extra: { collectTimeoutMs?: number; restartBaseMs?: number } = {}) {
  const store = new MetricStore({ maxRowsPerTable: 100 });
  const metrics = new AgentMetrics(store, { version: "t", commit: "t" });
  const events: string[] = [];
  const meta: string[] = [];
  const sinks = new SinkSet([{ event: (l) => events.push(l), meta: (l) => meta.push(l) }]);
  const m = new ProbeManager({
    definitions: defs,
    catalog: CATALOG,
    store,
    metrics,
    host: new HostFs({ procfs: "/proc", sysfs: "/sys", rootfs: "/" }),
    log: stderrLogger("error"),
    sinks,
    machineId: "m-1",
    eventTimeoutSec: 600,
    ...extra,
  });
  return { m, store, metrics, events, meta };
}

const counting = (opts: { throwAt?: number; hangAt?: number; openFails?: boolean } = {}) => {
  const stats = { opened: 0, collects: 0, disposed: 0 };
  const def = defineProbe({
    feature: "virt",
    scope: "NONE",
    tables: [table],
    open(ctx) {
      stats.opened++;
      if (opts.openFails) throw new Error("cannot open");
      return {
        collect() {
          stats.collects++;
          if (stats.collects === opts.throwAt) throw new Error("boom");
          if (stats.collects === opts.hangAt) return new Promise<void>(() => undefined);
          ctx.emit(table, { tgid: "1", value: stats.collects });
          ctx.event({ entity: "proc", key: "1", metric: "value", message: "hello" });
        },
        async [Symbol.asyncDispose]() {
          stats.disposed++;
        },
      };
    },
  });
  return { def, stats };
};

describe("probe manager", () => {
  test("start collects at once, stop removes its series, GET shows the state", async () => {
    const { def, stats } = counting();
    const { m, store, meta } = setup([def]);
    expect(m.get("virt").body).toBe("{}\n");
    const r = await m.put("virt", { state: "running" });
    expect(r).toEqual({ status: 200, body: '{ "result": "success", "message":"New config takes effect" }\n' });
    await Bun.sleep(20);
    expect(stats.collects).toBe(1);
    expect(store.seriesCount().get("virt_proc")).toBe(1);
    expect(meta.length).toBe(1);
    expect(JSON.parse(m.get("virt").body).state).toBe("running");
    await m.put("virt", { state: "stopped" });
    expect(stats.disposed).toBe(1);
    expect(store.seriesCount().get("virt_proc")).toBe(0);
    expect(JSON.parse(m.get("virt").body).state).toBe("stopped");
    await m.shutdown();
  });

  test("a probe without an implementation fails to start and the other sections roll back", async () => {
    const { m } = setup([]);
    const r = await m.put("tcp", { cmd: { probe: ["tcp_rtt"] }, params: { report_period: 10 }, state: "running" });
    expect(r.status).toBe(400);
    expect(r.body).toBe('{ "result": "failed", "message":"failed to start probe" }\n');
    const doc = JSON.parse(m.get("tcp").body);
    expect(doc.cmd.probe).toEqual([]);
    expect(doc.params.report_period).toBe(60);
    await m.shutdown();
  });

  test("report_event gates events; duplicates within event.timeout are suppressed", async () => {
    const { def } = counting();
    const { m, events } = setup([def]);
    await m.put("virt", { params: { report_event: 1, report_period: 5 }, state: "running" });
    await Bun.sleep(20);
    expect(events.length).toBe(1);
    expect(JSON.parse(events[0] ?? "").Attributes.entity_id).toBe("m-1_proc_1");
    await m.shutdown();
  });

  test("a probe that throws is marked failed, restarted with back-off, and recovers", async () => {
    const { def, stats } = counting({ throwAt: 1 });
    const { m, metrics } = setup([def], { restartBaseMs: 50 });
    await m.put("virt", { params: { report_period: 5 }, state: "running" });
    await Bun.sleep(20);
    expect(m.stateOf("virt")?.state).toBe("failed");
    expect(JSON.parse(m.get("virt").body).error).toBe("boom");
    const text = await metrics.render();
    expect(text).toContain('gala_gopher_agent_probe_state{probe="virt",state="failed"} 1');
    expect(text).toContain('gala_gopher_agent_probe_errors_total{probe="virt"} 1');
    await Bun.sleep(200);
    expect(m.stateOf("virt")?.state).toBe("running");
    expect(stats.opened).toBe(2);
    expect(stats.disposed).toBe(1);
    expect((await metrics.render())).toContain('gala_gopher_agent_probe_restarts_total{probe="virt"} 1');
    await m.shutdown();
  });

  test("a hung collection is detected by its timeout and does not block requests", async () => {
    const { def } = counting({ hangAt: 1 });
    const { m } = setup([def], { collectTimeoutMs: 100, restartBaseMs: 10_000 });
    await m.put("virt", { params: { report_period: 5 }, state: "running" });
    const t0 = performance.now();
    const r = await m.put("virt", { params: { report_event: 1 } });
    expect(r.status).toBe(200);
    expect(performance.now() - t0).toBeLessThan(100);
    await Bun.sleep(200);
    expect(m.stateOf("virt")?.state).toBe("failed");
    expect(m.stateOf("virt")?.error).toContain("did not finish within 100 ms");
    await m.shutdown();
  });

  test("open() failure is a failed start: 400 and the probe stays wanted", async () => {
    const { def } = counting({ openFails: true });
    const { m } = setup([def], { restartBaseMs: 10_000 });
    const r = await m.put("virt", { state: "running" });
    expect(r.body).toContain("failed to start probe");
    expect(m.stateOf("virt")?.state).toBe("failed");
    expect(m.savedConfiguration()).toContain('virt {"cmd":');
    await m.shutdown();
  });

  test("live reconfiguration reopens a run without reconfigure()", async () => {
    const { def, stats } = counting();
    const { m } = setup([def]);
    await m.put("virt", { params: { report_period: 5 }, state: "running" });
    await m.put("virt", { params: { report_period: 7 } });
    expect(stats.opened).toBe(2);
    expect(stats.disposed).toBe(1);
    expect(JSON.parse(m.get("virt").body).params.report_period).toBe(7);
    await m.shutdown();
    expect(stats.disposed).toBe(2);
  });

  test("requests are serialised: concurrent PUTs all apply in order", async () => {
    const { def } = counting();
    const { m } = setup([def]);
    await Promise.all([5, 6, 7, 8, 9].map((p) => m.put("virt", { params: { report_period: p } })));
    expect(JSON.parse(m.get("virt").body).params.report_period).toBe(9);
    await m.shutdown();
  });
});
