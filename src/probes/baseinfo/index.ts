// baseinfo: whole-host basics read straight from /proc, /sys and statfs (no child
// processes). One collector per subitem, in the table below: adding a subitem is one
// entry (name → factory); the run creates a collector when its subitem is first enabled,
// resets every delta baseline on reconfiguration and disposes collectors of subitems
// that were turned off.
import { statfs as statfsAsync } from "node:fs/promises";
import { dumpQdiscs } from "../../host/netlink.ts";
import { defineProbe, NotSupported, type ProbeContext, type ProbeRun } from "../../probe/define.ts";
import { stringParam } from "../../probe/params.ts";
import type { Collector, CollectorDeps, CollectorFactory } from "./collector.ts";
import { createCpuCollector, createMemCollector } from "./cpumem.ts";
import { createDiskCollector } from "./disk.ts";
import { createFsCollector } from "./fs.ts";
import { createHostCollector } from "./host.ts";
import { createNetCollector } from "./net.ts";
import { createNicCollector } from "./nic.ts";
import { createConCollector } from "./con.ts";
import { createProcCollector } from "./proc.ts";
import { baseinfoCpuMemTables, baseinfoHostTables } from "./tables.ts";
import { baseinfoProcTables } from "./tables-proc.ts";

export { parseCpuList } from "./cpulist.ts";

/** Subitem → collector, in the canonical subitem order (rest-api.md §10). */
export const COLLECTORS: ReadonlyMap<string, CollectorFactory> = new Map<string, CollectorFactory>([
  ["cpu", createCpuCollector],
  ["mem", createMemCollector],
  ["nic", createNicCollector],
  ["net", createNetCollector],
  ["disk", createDiskCollector],
  ["fs", createFsCollector],
  ["proc", createProcCollector],
  ["host", createHostCollector],
  ["con", createConCollector],
]);

/** The real host: statfs(2), an rtnetlink dump when /proc is the agent's own. */
export function defaultDeps(ctx: Pick<ProbeContext, "host">): CollectorDeps {
  const pendingStatfs = new Set<string>();
  const ownNetns = ctx.host.paths.procfs === "/proc";
  return {
    statfs: (p) => {
      // Asynchronous (libuv thread pool), so a dead NFS server cannot freeze the agent; a
      // path whose previous call has not come back yet is not asked again.
      if (pendingStatfs.has(p)) return undefined;
      pendingStatfs.add(p);
      return statfsAsync(p).then(
        (s) => ({ type: s.type, bsize: s.bsize, blocks: s.blocks, bfree: s.bfree, bavail: s.bavail, files: s.files, ffree: s.ffree }),
        () => undefined,
      ).finally(() => pendingStatfs.delete(p));
    },
    // A rooted procfs (fixture, or a host mounted elsewhere) is not the namespace the
    // netlink socket would see: no qdisc figures rather than another namespace's.
    qdiscs: () => (ownNetns ? dumpQdiscs() : undefined),
    monotonicSeconds: () => performance.now() / 1000,
  };
}

/** The probe run over injectable dependencies (tests stub statfs and qdiscs). */
export function openBaseinfo(ctx: ProbeContext, deps: CollectorDeps = defaultDeps(ctx)): ProbeRun {
  const active = new Map<string, Collector>();
  const warned = new Set<string>();

  const sync = async () => {
    for (const [name, c] of active) {
      if (!ctx.subitems.has(name)) {
        active.delete(name);
        await c.dispose?.();
      }
    }
    for (const s of ctx.subitems) {
      const make = COLLECTORS.get(s);
      if (!make) {
        if (!warned.has(s)) ctx.log.warn(`subitem ${s} is not implemented in this version; it reports nothing`);
        warned.add(s);
        continue;
      }
      if (!active.has(s)) active.set(s, make(ctx, deps));
    }
  };

  return {
    async collect() {
      await sync();
      for (const [name, c] of ordered(active)) {
        try {
          await c.collect();
        } catch (e) {
          // One subitem's failure never stops the others.
          ctx.parseError(`subitem ${name}`, e instanceof Error ? e.message : String(e));
          ctx.log.error(`subitem ${name}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
        }
      }
    },
    async reconfigure() {
      // New subitems, params (dev_name) or period: restart every delta baseline, so the
      // first report after a reconfiguration carries no bogus deltas.
      await sync();
      for (const c of active.values()) c.reset();
    },
    async [Symbol.asyncDispose]() {
      for (const c of active.values()) await c.dispose?.();
      active.clear();
    },
  };
}

/** Active collectors in the order of COLLECTORS. */
function ordered(active: ReadonlyMap<string, Collector>): [string, Collector][] {
  return [...COLLECTORS.keys()].flatMap((n) => {
    const c = active.get(n);
    return c ? [[n, c] as [string, Collector]] : [];
  });
}

export default defineProbe({
  feature: "baseinfo",
  kind: "native",
  bin: "system_infos",
  ipcType: 1,
  scope: "ALL",
  subitems: [
    { name: "cpu", bit: 0x1 },
    { name: "mem", bit: 0x2 },
    { name: "nic", bit: 0x4 },
    { name: "net", bit: 0x8 },
    { name: "disk", bit: 0x10 },
    { name: "fs", bit: 0x20 },
    { name: "proc", bit: 0x40 },
    { name: "host", bit: 0x80 },
    { name: "con", bit: 0x100 },
  ],
  params: [stringParam("dev_name", "", { maxLenExclusive: 32 }), stringParam("elf_path", "", { path: true })],
  tables: [...baseinfoCpuMemTables, ...baseinfoHostTables, ...baseinfoProcTables],
  events: [
    { entity: "cpu", metrics: ["total_used_per"] },
    { entity: "mem", metrics: ["util", "swap_util"] },
    { entity: "disk", metrics: ["util"] },
    { entity: "fs", metrics: ["IUsePer", "UsePer"] },
    { entity: "nic", metrics: ["tx_dropped", "rx_dropped", "tx_errs", "rx_errs"] },
  ],
  open(ctx): ProbeRun {
    const stat = ctx.host.proc("stat");
    if (!ctx.host.exists(stat)) throw new NotSupported(`${stat} is not readable (is procfs mounted?)`);
    return openBaseinfo(ctx);
  },
});
