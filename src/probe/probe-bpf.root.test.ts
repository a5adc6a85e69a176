// ctx.bpf against the kernel: what a run opened is closed when open() throws half-way, and
// the scope binding keeps scope.h's map and mode word equal to ctx.scope (whitelist,
// blacklist, whole host, replaced scope after reconfiguration).
import { describe, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { ensureBpf } from "../../scripts/bpf.ts";
import { AgentMetrics } from "../egress/agent-metrics.ts";
import { SinkSet } from "../egress/sink.ts";
import { detectFeatures } from "../host/features.ts";
import { DEFAULT_HOST_PATHS, HostFs } from "../host/fs.ts";
import { stderrLogger } from "../log/logger.ts";
import { TestScope } from "./test-root.ts";
import { MetricStore } from "../store/store.ts";
import { SCOPE_MAP, SCOPE_STATE } from "./bpf-scope.ts";
import { defineProbe } from "./define.ts";
import { ProbeManager } from "./manager.ts";
import { wholeHostScope } from "./scope.ts";
import { testKit } from "./test-kit.ts";

function preflight(): string {
  if (process.getuid?.() !== 0) return "not root";
  try {
    ensureBpf({ quiet: true });
    const f = detectFeatures();
    return f.bpfUnavailable() ?? (f.attach.raw_tracepoint.ok ? "" : `raw tracepoints: ${f.attach.raw_tracepoint.reason}`);
  } catch (e) {
    return (e as Error).message;
  }
}
const why = preflight();
if (why) console.warn(`probe-bpf.root.test: skipped: ${why}`);

const fds = () => readdirSync("/proc/self/fd").length;
const log = stderrLogger("error");

describe("ctx.bpf (root)", () => {
  test.if(!why)("an open() that throws after load, attach, ring and scope binding leaves no fd behind", async () => {
    const store = new MetricStore({ maxRowsPerTable: 10 });
    const m = new ProbeManager({
      definitions: [
        defineProbe({
          feature: "bpf_demo",
          scope: "PROC",
          tables: [],
          open(ctx) {
            const obj = ctx.bpf.open("tcp", { maps: { events: { maxEntries: 256 * 1024 } } });
            for (const [name, p] of obj.programs) if (!name.startsWith("gopher_scope_") && name !== "on_state") p.setAutoload(false);
            ctx.bpf.load(obj);
            ctx.bpf.attach(obj, "on_state", "inet_sock_set_state");
            ctx.bpf.ringbuf(obj.map("events"), () => undefined);
            ctx.bpf.scopeSync(obj);
            throw new Error("half-way");
          },
        }),
      ],
      store,
      metrics: new AgentMetrics(store, { version: "t", commit: "t" }),
      host: new HostFs(DEFAULT_HOST_PATHS),
      log,
      sinks: new SinkSet([]),
      machineId: "m",
      eventTimeoutSec: 600,
      restartBaseMs: 60_000,
    });
    // A first start warms up what libbpf and feature detection keep open for the process.
    await m.put("bpf_demo", { state: "running" });
    const before = fds();
    for (let i = 0; i < 3; i++) {
      await m.put("bpf_demo", { state: "stopped" });
      const r = await m.put("bpf_demo", { state: "running" });
      expect(r.body).toContain("failed to start probe");
      expect(m.stateOf("bpf_demo")?.error).toBe("start failed: half-way");
    }
    expect(fds()).toBe(before);
    await m.shutdown();
  });

  test.if(!why)("a loaded and attached object observes no process until its scope is pushed", async () => {
    // A fresh object's mode word reads 0 ("every process"): without scope.h's `synced`
    // word, the programs took in the whole host between attach() and scopeSync() (a small
    // tcp conns map filled with other processes' connections and a process in scope got none).
    const scope = new TestScope([process.pid]);
    const kit = testKit({ feature: "tcp", log, scope: () => scope });
    const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const open: { end(): void }[] = [];
    try {
      const obj = kit.bpf.open("tcp");
      for (const [name, p] of obj.programs) if (!name.startsWith("gopher_scope_") && name !== "on_state") p.setAutoload(false);
      kit.bpf.load(obj);
      kit.bpf.attach(obj, "on_state", "inet_sock_set_state");
      const conns = obj.map("conns");
      const connect = async () => open.push(await Bun.connect({ hostname: "127.0.0.1", port: server.port, socket: { data() {} } }));
      await connect(); // connect() of this process (in ctx.scope), before the scope was pushed
      expect(conns.keys().length).toBe(0);
      expect(kit.bpf.observes(process.pid)).toBe(false);
      kit.bpf.scopeSync(obj);
      expect(kit.bpf.observes(process.pid)).toBe(true);
      await connect();
      expect(conns.keys().length).toBe(1);
    } finally {
      for (const s of open) s.end();
      server.stop(true);
      kit.close();
    }
  });

  test.if(!why)("the scope map and mode follow ctx.scope, and a replaced scope after rescope()", () => {
    let scope: import("./define.ts").ScopeView = new TestScope([101, 102]);
    const kit = testKit({ feature: "tcp", log, scope: () => scope });
    try {
      const obj = kit.bpf.open("tcp");
      for (const [name, p] of obj.programs) if (!name.startsWith("gopher_scope_")) p.setAutoload(false);
      kit.bpf.load(obj);
      const changes: string[] = [];
      const bound = kit.bpf.scopeSync(obj, { onChange: (c) => changes.push(`${c.mode}${c.modeChanged ? "!" : ""} +${c.joined.join(",")} -${c.left.join(",")}`) });
      const mode = () => obj.map(SCOPE_STATE).data().getUint32(0, true);
      const inMap = (t: number) => obj.map(SCOPE_MAP).lookup(new Uint32Array([t]), new Uint8Array(1));
      expect(mode()).toBe(1);
      expect([inMap(101), inMap(102), inMap(103)]).toEqual([true, true, false]);
      (scope as TestScope).add(103);
      (scope as TestScope).remove(101);
      expect([inMap(101), inMap(102), inMap(103)]).toEqual([false, true, true]);
      // observes() answers from the kernel's map and mode word (what a test waits for).
      expect([kit.bpf.observes(101), kit.bpf.observes(102), kit.bpf.observes(103)]).toEqual([false, true, true]);
      obj.map(SCOPE_MAP).delete(new Uint32Array([102])); // behind the binding's back
      expect(kit.bpf.observes(102)).toBe(false);
      scope = wholeHostScope();
      kit.bpf.rescope();
      expect(mode()).toBe(0);
      expect(kit.bpf.observes(101)).toBe(true);
      expect([inMap(102), inMap(103)]).toEqual([false, false]);
      expect([...bound.inMap]).toEqual([]);
      expect(changes).toEqual(["1! +101,102 -", "1 +103 -", "1 + -101", "0! + -"]);
    } finally {
      kit.close();
    }
  });

  test.if(!why)("open({ rodata }) writes the object's const volatile globals before load; they hold after load", () => {
    const kit = testKit({ feature: "selftest", log, scope: () => wholeHostScope() });
    try {
      const obj = kit.bpf.open("selftest", { rodata: (v) => v.setUint32(0, 4242, true) });
      for (const p of ["uprobe_fn", "on_sockops", "on_sample"]) obj.program(p).setAutoload(false);
      kit.bpf.load(obj);
      expect(obj.map("selftest.rodata").data().getUint32(0, true)).toBe(4242);
    } finally {
      kit.close();
    }
  });
});
