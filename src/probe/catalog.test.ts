// A probe outside upstream's §10 list needs nothing outside its folder: a throw-away
// definition, added to the registration list exactly as src/probes/index.ts does, answers
// REST with its own subitems, params, ranges and error texts, starts, collects and reports
// "unsupported: <reason>" — and every other feature's documents stay byte for byte.
import { describe, expect, test } from "bun:test";
import { AgentMetrics } from "../egress/agent-metrics.ts";
import { SinkSet } from "../egress/sink.ts";
import { DEFAULT_HOST_PATHS, HostFs } from "../host/fs.ts";
import { stderrLogger } from "../log/logger.ts";
import { CATALOG } from "../probes/catalog.ts";
import { PROBES } from "../probes/registered.ts";
import { MetricStore } from "../store/store.ts";
import { defineTable } from "../store/table.ts";
import { FeatureCatalog } from "./catalog.ts";
import { defineProbe, NotSupported, type ProbeDefinition } from "./define.ts";
import { ProbeManager } from "./manager.ts";
import { NOT_BUILT } from "./not-built.ts";
import { numberParam, stringParam } from "./params.ts";
import { renderGet } from "./request.ts";

const table = defineTable({
  name: "redis_sli_demo",
  entity: "redis_demo",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "pid" },
    { name: "slow_cmds", type: "gauge", description: "slow commands in the period" },
  ],
});

function throwAway(opts: { unsupported?: string } = {}) {
  const stats = { opened: 0, collects: 0, slowMs: 0 };
  const def = defineProbe({
    feature: "redis_demo",
    scope: "PROC",
    subitems: [
      { name: "slow", bit: 0x1 },
      { name: "latency", bit: 0x2 },
    ],
    params: [numberParam("slow_ms", 10, 1, 1000), stringParam("redis_sock", "/run/redis.sock", { maxLenExclusive: 16 })],
    tables: [table],
    events: [{ entity: "redis_demo", metrics: ["slow_cmds"] }],
    limits: { max_keys: { default: 128, min: 1, max: 1024, help: "keys tracked" } },
    requires: () => opts.unsupported,
    open(ctx) {
      stats.opened++;
      stats.slowMs = ctx.num("slow_ms");
      if (ctx.limit("max_keys") !== 128) throw new Error("limit default not applied");
      return {
        collect() {
          stats.collects++;
          ctx.emit(table, { tgid: "1", slow_cmds: 3 });
        },
        async [Symbol.asyncDispose]() {},
      };
    },
  });
  return { def, stats };
}

function manager(defs: readonly ProbeDefinition[]) {
  const store = new MetricStore({ maxRowsPerTable: 100 });
  const metrics = new AgentMetrics(store, { version: "t", commit: "t" });
  const m = new ProbeManager({
    definitions: defs,
    store,
    metrics,
    host: new HostFs(DEFAULT_HOST_PATHS),
    log: stderrLogger("error"),
    sinks: new SinkSet([]),
    machineId: "m-1",
    eventTimeoutSec: 600,
  });
  return { m, store, metrics };
}

describe("a probe outside upstream's list", () => {
  test("answers REST from its own declaration, starts and collects", async () => {
    const { def, stats } = throwAway();
    const { m, store } = manager([...PROBES, def]);
    expect((await m.put("redis_demo", { cmd: { probe: ["nope"] } })).body).toContain("unsupported probe range: nope.");
    expect((await m.put("redis_demo", { params: { slow_ms: 0 } })).body).toContain("params.slow_ms invalid value 0, must be in [1, 1000]");
    expect((await m.put("redis_demo", { params: { redis_sock: "x".repeat(16) } })).body).toContain(
      "params.redis_sock value is too long, len must be less than 16",
    );
    const r = await m.put("REDIS_DEMO", { cmd: { probe: ["latency", "slow"] }, params: { slow_ms: 25 }, state: "running" });
    expect(r.status).toBe(200);
    await Bun.sleep(20);
    expect(stats.slowMs).toBe(25);
    expect(stats.collects).toBe(1);
    expect(store.seriesCount().get("redis_sli_demo")).toBe(1);
    const doc = JSON.parse(m.get("redis_demo").body);
    expect(doc.cmd).toEqual({ bin: "/opt/gala-gopher/extend_probes/redis_demo", probe: ["slow", "latency"] });
    expect(doc.params.slow_ms).toBe(25);
    expect(doc.params.redis_sock).toBe("/run/redis.sock");
    expect(doc.params.ringbuf_map_size).toBeUndefined();
    expect(doc.state).toBe("running");
    await m.shutdown();
  });

  test("every other feature's GET document is unchanged by its presence", () => {
    const { def } = throwAway();
    const withIt = FeatureCatalog.of([...PROBES, def], NOT_BUILT);
    for (const f of CATALOG.features) {
      const g = withIt.find(f.name)!;
      const settings = { name: f.name, subitems: [], mode: "whitelist" as const, scope: { proc_id: [], proc_name: [], pod_id: [], container_id: [], container_name: [] }, customLabels: {}, podLabels: [], params: f.paramTable.defaults(), wanted: false };
      expect(renderGet(g, { ...settings, params: g.paramTable.defaults() }, false)).toBe(renderGet(f, settings, false));
    }
    expect(withIt.features.at(-1)?.name).toBe("redis_demo");
  });

  test("requires() → unsupported: <reason> in GET and in gala_gopher_agent_probe_unsupported; not restarted", async () => {
    const { def, stats } = throwAway({ unsupported: "no redis here" });
    const { m, metrics } = manager([...PROBES, def]);
    const r = await m.put("redis_demo", { cmd: { probe: ["slow"] }, state: "running" });
    expect(r.body).toContain("failed to start probe");
    expect(stats.opened).toBe(0);
    expect(JSON.parse(m.get("redis_demo").body).error).toBe("unsupported: no redis here");
    const text = await metrics.render();
    expect(text).toContain('gala_gopher_agent_probe_unsupported{probe="redis_demo",reason="no redis here"} 1');
    expect(text).toContain('gala_gopher_agent_probe_state{probe="redis_demo",state="unsupported"} 1');
    await m.put("redis_demo", { state: "stopped" });
    expect(await metrics.render()).not.toContain("gala_gopher_agent_probe_unsupported{");
    await m.shutdown();
  });

  test("NotSupported thrown from open() is the same state, and an undeclared event is refused", async () => {
    const thrown = defineProbe({
      feature: "redis_demo",
      scope: "NONE",
      tables: [table],
      open() {
        throw new NotSupported("redis too old");
      },
    });
    const { m } = manager([thrown]);
    await m.put("redis_demo", { state: "running" });
    expect(m.stateOf("redis_demo")).toEqual({ state: "unsupported", error: "unsupported: redis too old" });
    await m.shutdown();

    const noisy = defineProbe({
      feature: "redis_demo",
      scope: "NONE",
      tables: [table],
      events: [{ entity: "redis_demo", metrics: ["slow_cmds"] }],
      open(ctx) {
        return {
          collect() {
            ctx.event({ entity: "redis_demo", key: "1", metric: "other", message: "x" });
          },
          async [Symbol.asyncDispose]() {},
        };
      },
    });
    const second = manager([noisy]);
    await second.m.put("redis_demo", { state: "running" });
    await Bun.sleep(20);
    expect(second.m.stateOf("redis_demo")?.error).toBe("probe redis_demo raised an undeclared event redis_demo.other");
    await second.m.shutdown();
  });

  test("two declarations of one param must agree", () => {
    const clash = defineProbe({
      feature: "redis_demo",
      scope: "NONE",
      params: [numberParam("ringbuf_map_size", 2, 1, 32)],
      tables: [table],
      open: () => ({ collect() {}, async [Symbol.asyncDispose]() {} }),
    });
    expect(() => FeatureCatalog.of([...PROBES, clash], NOT_BUILT)).toThrow("param ringbuf_map_size is declared twice with different definitions");
  });
});
