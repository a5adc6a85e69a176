import { afterEach, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { HostFs, hostPathsUnder } from "../../host/fs.ts";
import type { Logger } from "../../log/logger.ts";
import type { ProbeContext } from "../../probe/define.ts";
import { wholeHostScope } from "../../probe/scope.ts";
import { MetricStore } from "../../store/store.ts";
import type { ProbeEvent, Row, TableDef } from "../../store/table.ts";
import { createSnooper } from "../../snooper/snooper.ts";
import { copyFixture, FIXTURES } from "../../../test/harness.ts";
import virt, { hostIsVm, libvirtDomains, virtRows } from "./index.ts";
import { virtProcTable } from "./tables.ts";
import { testKit } from "../../probe/test-kit.ts";

const hostAt = (dir: string) => new HostFs(hostPathsUnder(dir));
const KVM = path.join(FIXTURES, "kvm-host");
const U1 = "6f1c9a2e-3b4d-4e5f-8a9b-0c1d2e3f4a5b";
const U2 = "a0b1c2d3-e4f5-4a6b-9c8d-7e6f5a4b3c2d";
const tmp: string[] = [];
afterEach(() => {
  for (const d of tmp.splice(0)) rmSync(d, { recursive: true, force: true });
});

function context(host: HostFs): ProbeContext & { rows: Row[]; logs: string[] } {
  const logs: string[] = [];
  const log: Logger = { debug() {}, info: (m) => logs.push(m), warn: (m) => logs.push(m), error: (m) => logs.push(m), child: () => log };
  const rows: Row[] = [];
  return {
    ...testKit({ feature: "virt", log, scope: () => wholeHostScope() }),
    feature: "virt",
    settings: { name: "virt", subitems: [], mode: "whitelist", scope: { proc_id: [], proc_name: [], pod_id: [], container_id: [], container_name: [] }, customLabels: {}, podLabels: [], params: {}, wanted: true },
    subitems: new Set(),
    params: { report_period: 5 },
    host,
    log,
    signal: new AbortController().signal,
    scope: wholeHostScope(),
    emit: (_t: TableDef, r: Row) => rows.push(r),
    event: (_e: ProbeEvent) => undefined,
    parseError: () => undefined,
    num: () => 0,
    rows,
    logs,
  };
}

describe("virt on the kvm-host fixture", () => {
  test("physical host; two libvirt guests; a plain qemu and qemu-img are not guests", () => {
    const host = hostAt(KVM);
    expect(hostIsVm(host)).toBeUndefined();
    expect(libvirtDomains(host).map((d) => d.name ?? "?").sort()).toEqual(["?", "vm-db", "vm-web"]);
    expect(virtRows(host)).toEqual([
      { tgid: "4100", uuid: U1, vm_name: "vm-web", value: 1 },
      // no -uuid on its command line: completed from /run/libvirt/qemu/vm-db.xml
      { tgid: "4200", uuid: U2, vm_name: "vm-db", value: 1 },
    ]);
  });

  test("probe run emits the rows; the store adds comm, cmdline and start_time", async () => {
    const host = hostAt(KVM);
    const ctx = context(host);
    const run = await virt.open(ctx);
    await run.collect();
    expect(ctx.rows.length).toBe(2);
    const snooper = createSnooper({ host, log: ctx.log, selfPid: 999_999, intervalMs: 60_000 });
    const store = new MetricStore({ maxRowsPerTable: 100 });
    store.addEnricher(snooper.enricher);
    const stored = store.upsert(virtProcTable, ctx.rows[0]!, "virt", 1, 0)!;
    expect(stored.labelPairs.map((p) => p[0])).toEqual(["tgid", "uuid", "vm_name", "comm", "cmdline", "start_time"]);
    expect(stored.labelPairs[3]).toEqual(["comm", "qemu-kvm"]);
    expect(stored.labelPairs[5]).toEqual(["start_time", "1700000900"]);
    snooper.close();
    await run[Symbol.asyncDispose]();
  });

  test("the same host as a VM reports nothing and says why once", async () => {
    const dir = copyFixture("kvm-host");
    tmp.push(dir);
    writeFileSync(path.join(dir, "sys/class/dmi/id/sys_vendor"), "QEMU\n");
    const ctx = context(hostAt(dir));
    const run = await virt.open(ctx);
    await run.collect();
    await run.collect();
    expect(ctx.rows).toEqual([]);
    expect(ctx.logs.filter((l) => l.includes("virtual machine")).length).toBe(1);
  });

  test("a guest whose status file is gone but whose command line has -uuid is still reported", () => {
    const dir = copyFixture("kvm-host");
    tmp.push(dir);
    rmSync(path.join(dir, "run/libvirt"), { recursive: true });
    expect(virtRows(hostAt(dir))).toEqual([{ tgid: "4100", uuid: U1, vm_name: "vm-web", value: 1 }]);
  });

  test("other fixture hosts: no guests, never a throw", () => {
    for (const h of ["bare-metal", "broken", "docker-cgv1", "k8s-cgv2"]) expect(virtRows(hostAt(path.join(FIXTURES, h)))).toEqual([]);
  });
});

describe("tables.ts matches spec metrics.json", () => {
  const specPath = path.join(import.meta.dir, "../../../../shared/spec/metrics.json");
  const have = existsSync(specPath);
  if (!have) console.log(`skipping spec comparison: ${specPath} not found (spec folder is not part of the repo)`);
  test.if(have)("virt_proc", () => {
    type SpecTable = { table_name: string; entity_name: string; meta_version: string; fields: { name: string; type: string; description: string }[] };
    const s = (JSON.parse(readFileSync(specPath, "utf8")) as SpecTable[]).find((x) => x.table_name === "virt_proc")!;
    expect(virtProcTable.entity).toBe(s.entity_name);
    expect(virtProcTable.version).toBe(s.meta_version);
    expect(virtProcTable.fields.map((f) => [f.name, f.type, f.description])).toEqual(s.fields.map((f) => [f.name, f.type, f.description]));
  });
});
