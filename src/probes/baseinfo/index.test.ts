import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import baseinfo, { COLLECTORS, openBaseinfo } from "./index.ts";
import { BARE_METAL_STATFS, FixtureHost, fakeDeps } from "./test-fixture-host.ts";
import { baseinfoHostTables } from "./tables.ts";
import { recordingContext } from "./test-context.ts";

const ALL = ["cpu", "mem", "nic", "net", "disk", "fs", "proc", "host", "con"];

describe("baseinfo run", () => {
  test("one collector per subitem, canonical order", () => {
    expect([...COLLECTORS.keys()]).toEqual(ALL);
    expect(baseinfo.tables.map((t) => t.name)).toEqual(["system_cpu", "system_cpu_util", "system_meminfo", "system_dentry", "nic", "system_tcp", "system_udp", "system_iostat", "system_df", "system_os", "system_proc", "system_con_io"]);
  });

  test("first report: no deltas anywhere; second: deltas; reconfigure: none again", async () => {
    const host = new FixtureHost("bare-metal");
    const ctx = recordingContext(host, ALL);
    const run = openBaseinfo(ctx, fakeDeps(host.paths.rootfs, BARE_METAL_STATFS));
    await run.collect();
    expect(ctx.parseErrors).toEqual([]);
    expect(ctx.table("nic").map((r) => r.rx_bytes)).toEqual([undefined, undefined]);
    expect(ctx.table("system_tcp")[0]?.tcp_in_segs).toBeUndefined();
    expect(ctx.table("system_iostat").map((r) => r.util)).toEqual([undefined, undefined]);
    expect(ctx.table("system_df").length).toBe(9);
    expect(ctx.table("system_os").length).toBe(1);
    host.next = true;
    ctx.clear();
    await run.collect();
    expect(ctx.parseErrors).toEqual([]);
    expect(ctx.table("nic").map((r) => r.rx_bytes)).toEqual([5242880, 1000]);
    expect(ctx.table("system_tcp")[0]?.tcp_in_segs).toBe(5000);
    expect(ctx.table("system_iostat").map((r) => r.util)).toEqual(["50.00", "99.80"]);
    expect(ctx.table("system_cpu_util")[0]?.total_used_per).toBeDefined();
    // reconfiguration (e.g. a new dev_name): baselines are forgotten
    ctx.params.dev_name = "eth0";
    await run.reconfigure?.();
    ctx.clear();
    await run.collect();
    expect(ctx.table("nic").map((r) => [r.dev_name, r.rx_bytes])).toEqual([["eth0", undefined]]);
    expect(ctx.table("system_tcp")[0]?.tcp_in_segs).toBeUndefined();
    expect(ctx.table("system_cpu_util")[0]?.total_used_per).toBeUndefined();
    await run[Symbol.asyncDispose]();
  });

  test("subitems turned off stop reporting; con without elf_path is logged once", async () => {
    const host = new FixtureHost("vm");
    const ctx = recordingContext(host, ["host", "proc", "con"]);
    const run = openBaseinfo(ctx, fakeDeps(host.paths.rootfs));
    await run.collect();
    await run.collect();
    expect([...ctx.rows.keys()]).toEqual(["system_os"]);
    expect(ctx.logs.filter((l) => l.includes("elf_path is not set")).length).toBe(1);
    ctx.subitems = new Set(["net"]);
    await run.reconfigure?.();
    ctx.clear();
    await run.collect();
    expect([...ctx.rows.keys()]).toEqual(["system_tcp", "system_udp"]);
  });

  test("broken host: every subitem reports what it can and the run never throws", async () => {
    const host = new FixtureHost("broken");
    const ctx = recordingContext(host, ALL, { dev_name: "sda" });
    const run = openBaseinfo(ctx, fakeDeps(host.paths.rootfs, { "/": BARE_METAL_STATFS["/"]!, "/run": BARE_METAL_STATFS["/run"]! }));
    await run.collect();
    ctx.clear();
    await run.collect();
    expect(ctx.table("system_udp").length).toBe(1);
    expect(ctx.table("system_iostat").length).toBe(1);
    expect(ctx.table("system_df").length).toBe(2);
    expect(ctx.table("system_os").length).toBe(1);
    expect(ctx.parseErrors.length).toBeGreaterThan(5);
    expect(ctx.parseErrors.some((e) => e.item.startsWith("subitem "))).toBe(false);
  });

  test("a collector that throws is isolated: counted, logged, others still run", async () => {
    const host = new FixtureHost("vm");
    const ctx = recordingContext(host, ["net", "host"]);
    const deps = fakeDeps(host.paths.rootfs);
    const run = openBaseinfo(ctx, deps);
    const orig = host.readProc.bind(host);
    host.readProc = (...p: string[]) => {
      if (p.join("/") === "net/snmp") throw new Error("boom");
      return orig(...p);
    };
    await run.collect();
    expect(ctx.parseErrors).toEqual([{ item: "subitem net", detail: "boom" }]);
    expect(ctx.table("system_os").length).toBe(1);
  });
});

describe("tables.ts matches spec metrics.json (nic, net, disk, fs, host)", () => {
  const specPath = path.join(import.meta.dir, "../../../../shared/spec/metrics.json");
  const have = existsSync(specPath);
  if (!have) console.log(`skipping spec comparison: ${specPath} not found (spec folder is not part of the repo)`);
  test.if(have)("every table, field for field", () => {
    const spec = JSON.parse(readFileSync(specPath, "utf8")) as { table_name: string; entity_name: string; subitem: string | null; meta_version?: string | null; fields: { name: string; type: string; description: string }[] }[];
    expect(baseinfoHostTables.map((t) => t.name)).toEqual(["nic", "system_tcp", "system_udp", "system_iostat", "system_df", "system_os"]);
    for (const t of baseinfoHostTables) {
      const s = spec.find((x) => x.table_name === t.name);
      expect(s).toBeDefined();
      if (!s) continue;
      expect(t.entity).toBe(s.entity_name);
      expect(t.version).toBe(s.meta_version ?? "1.0.0");
      expect(t.fields.map((f) => ({ name: f.name, type: f.type as string, description: f.description }))).toEqual(s.fields);
    }
  });
});
