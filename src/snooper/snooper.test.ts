import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { HostFs, hostPathsUnder } from "../host/fs.ts";
import type { Logger } from "../log/logger.ts";
import { emptyScope, type ProbeSettings, type ScopeLists } from "../probe/settings.ts";
import { MetricStore } from "../store/store.ts";
import { defineTable, type TableDef } from "../store/table.ts";
import { copyFixture, FIXTURES } from "../../test/harness.ts";
import { createSnooper, parseLoadavg, type Snooper } from "./snooper.ts";

const WEB = "4b5e57f6eb2f";
const APP = "a172cedcae47";
const POD1 = "8d9f2c1e-4b3a-4f5e-9a7b-1c2d3e4f5a6b";
const REDIS = "34fb46c847bb";
const POD2 = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";

const logs: string[] = [];
const log: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: (m) => logs.push(m),
  error: (m) => logs.push(m),
  child: () => log,
};
const hostAt = (dir: string) => new HostFs(hostPathsUnder(dir));
const fixture = (name: string) => hostAt(join(FIXTURES, name));

function settings(p: Partial<ScopeLists> = {}, extra: Partial<ProbeSettings> = {}): ProbeSettings {
  return {
    name: "baseinfo",
    subitems: ["proc"],
    mode: "whitelist",
    scope: { ...emptyScope(), ...p },
    customLabels: {},
    podLabels: [],
    params: {},
    wanted: true,
    ...extra,
  };
}

const procTable: TableDef = defineTable({
  name: "t_proc",
  entity: "proc",
  version: "1",
  fields: [
    { name: "tgid", type: "key", description: "" },
    { name: "v", type: "gauge", description: "" },
  ],
});
const commTable: TableDef = defineTable({
  name: "t_comm",
  entity: "thread",
  version: "1",
  fields: [
    { name: "tgid", type: "key", description: "" },
    { name: "comm", type: "label", description: "" },
    { name: "v", type: "gauge", description: "" },
  ],
});
const conTable: TableDef = defineTable({
  name: "t_con",
  entity: "container",
  version: "1",
  fields: [
    { name: "container_id", type: "key", description: "" },
    { name: "v", type: "gauge", description: "" },
  ],
});
const plainTable: TableDef = defineTable({ name: "t_plain", entity: "cpu", version: "1", fields: [{ name: "cpu", type: "key", description: "" }] });

let snoopers: Snooper[] = [];
const tmp: string[] = [];
function make(host: HostFs, selfPid = 999_999): Snooper {
  const s = createSnooper({ host, log, selfPid, intervalMs: 60_000 });
  snoopers.push(s);
  return s;
}
afterEach(() => {
  for (const s of snoopers) s.close();
  snoopers = [];
  for (const d of tmp.splice(0)) rmSync(d, { recursive: true, force: true });
  logs.length = 0;
});

function writeProc(dir: string, pid: number, comm: string, start: number, opts: { ppid?: number; cmdline?: string[]; cgroup?: string } = {}): void {
  const p = join(dir, "proc", String(pid));
  mkdirSync(p, { recursive: true });
  const f = [pid, `(${comm})`, "S", opts.ppid ?? 1, pid, pid, 0, -1, 0x400100, 1, 0, 0, 0, 10, 5, 0, 0, 20, 0, 1, 0, start, 1000, 10];
  writeFileSync(join(p, "stat"), f.join(" ") + " 0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n");
  writeFileSync(join(p, "cmdline"), (opts.cmdline ?? [comm]).map((a) => a + "\0").join(""));
  writeFileSync(join(p, "cgroup"), opts.cgroup ?? "0::/user.slice\n");
}

describe("process and container tables", () => {
  test("docker-cgv1: processes, containers, broken entries skipped", () => {
    const s = make(fixture("docker-cgv1"));
    s.refresh();
    expect(s.process(1200)).toMatchObject({ pid: 1200, ppid: 1190, comm: "nginx", cmdline: "nginx: master process nginx -g daemon off;", startTime: 1700000500, containerId: WEB });
    expect(s.process(2001)!.comm).toBe("my proc) (x");
    expect(s.process(1530)!.cmdlineLabel).toBe("com.shop.Frontend");
    expect(s.process(2)!.kthread).toBe(true);
    expect(s.process(2500)).toBeUndefined(); // truncated stat
    expect(s.process(2700)).toBeUndefined(); // no stat
    expect(s.process(2600)!.containerId).toBeUndefined(); // garbage cgroup
    expect([...s.containers().keys()].sort()).toEqual([APP, WEB, "b7ad567477c8"].sort());
    expect(s.container(APP)).toEqual({
      id: APP,
      name: `k8s_app_frontend-7d4b9c_shop_${POD1}_0`,
      image: "registry.local/shop/frontend:2.1",
      podId: POD1,
      pod: "shop/frontend-7d4b9c",
      podNamespace: "shop",
      cgroupPath: `/kubepods/burstable/pod${POD1}/a172cedcae47474b615c54d510a5d84a8dea3032e958587430b413538be3f333`,
    });
  });

  test("k8s-cgv2: containerd pod, kubelet fallback, podman", () => {
    const s = make(fixture("k8s-cgv2"));
    s.refresh();
    expect(s.container(REDIS)).toMatchObject({ name: "redis", image: "docker.io/library/redis:7.2", podId: POD2, pod: "cache/redis-0", podNamespace: "cache" });
    expect(s.container("84532b306f25")).toMatchObject({ name: "envoy", pod: "cache/redis-0" });
    expect(s.container("cc68e1d98775")).toMatchObject({ name: "orders-db", image: "docker.io/library/postgres:16", podId: "" });
    expect(s.process(4001)!.containerId).toBeUndefined(); // conmon is not in the container
  });
});

describe("scopes", () => {
  test("no entries = whole host; containers() lists every known container", () => {
    const s = make(fixture("docker-cgv1"));
    const v = s.scopeFactory("baseinfo", settings());
    expect(v.wholeHost).toBe(true);
    expect(v.includes(12345)).toBe(true);
    expect(v.pids().size).toBe(0);
    expect(v.containers().size).toBe(3);
  });

  test("NONE-kind probes always get the whole host", () => {
    const s = make(fixture("docker-cgv1"));
    const v = s.scopeFactory("virt", settings({ proc_id: [1] }));
    expect(v.wholeHost).toBe(true);
    expect(v.includes(2)).toBe(true);
  });

  test("proc_name: comm regex, cmdline substring, label", () => {
    const s = make(fixture("docker-cgv1"));
    const v = s.scopeFactory("baseinfo", settings({ proc_name: [{ comm: "^nginx$", cmdline: "worker", label: { app: "web" } }] }));
    expect(v.wholeHost).toBe(false);
    expect([...v.pids()]).toEqual([1201]);
    expect(v.labelFor(1201)).toEqual({ app: "web" });
    expect(v.includes(1200)).toBe(false);
  });

  test("processes whose parent is the agent never match proc_name", () => {
    const s = make(fixture("docker-cgv1"), 1190);
    const v = s.scopeFactory("baseinfo", settings({ proc_name: [{ comm: "nginx", cmdline: "" }] }));
    expect([...v.pids()]).toEqual([1201]);
  });

  test("invalid regex never matches", () => {
    const s = make(fixture("docker-cgv1"));
    expect(s.scopeFactory("baseinfo", settings({ proc_name: [{ comm: "(", cmdline: "" }] })).pids().size).toBe(0);
  });

  test("pod_id, container_id, container_name → containers and their processes", () => {
    const s = make(fixture("docker-cgv1"));
    const byPod = s.scopeFactory("baseinfo", settings({ pod_id: [POD1] }));
    expect([...byPod.pids()].sort()).toEqual([1500, 1530]);
    expect([...byPod.containers().keys()].sort()).toEqual([APP, "b7ad567477c8"]);
    const byId = s.scopeFactory("tcp", settings({ container_id: [WEB] }));
    expect([...byId.pids()].sort()).toEqual([1200, 1201]);
    const byName = s.scopeFactory("l7", settings({ container_name: ["_app_"] }));
    expect([...byName.containers().keys()]).toEqual([APP]);
    expect([...byName.pids()]).toEqual([1530]);
  });

  test("blacklist: everything except the matches", () => {
    const s = make(fixture("docker-cgv1"));
    const v = s.scopeFactory("baseinfo", settings({ container_id: [WEB], proc_id: [2000] }, { mode: "blacklist" }));
    expect(v.wholeHost).toBe(true);
    expect([...v.excluded()].sort()).toEqual([1200, 1201, 2000]);
    expect(v.includes(1200)).toBe(false);
    expect(v.includes(1530)).toBe(true);
    expect(v.includes(99999)).toBe(true);
    expect([...v.containers().keys()].sort()).toEqual([APP, "b7ad567477c8"]);
    const empty = s.scopeFactory("tcp", settings({}, { mode: "blacklist" }));
    expect(empty.wholeHost).toBe(true);
    expect(empty.excluded().size).toBe(0);
  });

  test("a process started later is picked up, and dropped when it exits (onChange)", () => {
    const dir = copyFixture("docker-cgv1");
    tmp.push(dir);
    const s = make(hostAt(dir));
    const v = s.scopeFactory("baseinfo", settings({ proc_name: [{ comm: "^ggsleeper$", cmdline: "" }] }));
    const changes: [number[], number[]][] = [];
    v.onChange((a, r) => changes.push([[...a], [...r]]));
    expect(v.pids().size).toBe(0);
    writeProc(dir, 3000, "ggsleeper", 200000);
    s.refresh();
    expect([...v.pids()]).toEqual([3000]);
    rmSync(join(dir, "proc", "3000"), { recursive: true });
    s.refresh();
    expect(v.pids().size).toBe(0);
    expect(changes).toEqual([
      [[3000], []],
      [[], [3000]],
    ]);
  });

  test("exec after fork: a young process is re-read, so its new comm matches", () => {
    const dir = copyFixture("docker-cgv1");
    tmp.push(dir);
    const s = make(hostAt(dir));
    const v = s.scopeFactory("baseinfo", settings({ proc_name: [{ comm: "^ggsleeper$", cmdline: "" }] }));
    writeProc(dir, 3001, "bash", 200000);
    s.refresh();
    expect(v.pids().size).toBe(0);
    writeProc(dir, 3001, "ggsleeper", 200000, { cmdline: ["/tmp/ggsleeper", "30"] });
    s.refresh();
    expect([...v.pids()]).toEqual([3001]);
    expect(s.process(3001)!.cmdline).toBe("/tmp/ggsleeper 30");
  });

  test("pid reuse: a new start time is a new process", () => {
    const dir = copyFixture("docker-cgv1");
    tmp.push(dir);
    const s = make(hostAt(dir));
    writeProc(dir, 3002, "old", 200000);
    s.refresh();
    writeProc(dir, 3002, "new", 300000);
    s.refresh();
    expect(s.process(3002)).toMatchObject({ comm: "new", startTime: 1700003000 });
  });

  test("pushEvent: exec and exit update the table and scopes at once", async () => {
    const dir = copyFixture("docker-cgv1");
    tmp.push(dir);
    const s = make(hostAt(dir));
    const v = s.scopeFactory("baseinfo", settings({ proc_name: [{ comm: "^ggsleeper$", cmdline: "" }] }));
    writeProc(dir, 3003, "ggsleeper", 200000);
    s.pushEvent({ type: "exec", pid: 3003 });
    await Promise.resolve();
    expect([...v.pids()]).toEqual([3003]);
    s.pushEvent({ type: "exit", pid: 3003 });
    await Promise.resolve();
    expect(v.pids().size).toBe(0);
  });

  test("disposed scopes stop receiving changes", () => {
    const dir = copyFixture("docker-cgv1");
    tmp.push(dir);
    const s = make(hostAt(dir));
    const v = s.scopeFactory("baseinfo", settings({ proc_name: [{ comm: "^zz$", cmdline: "" }] }));
    let n = 0;
    v.onChange(() => n++);
    v[Symbol.dispose]();
    writeProc(dir, 3004, "zz", 200000);
    s.refresh();
    expect(n).toBe(0);
  });

  test("more than 1000 matches: the rest dropped and counted", () => {
    const dir = copyFixture("bare-metal");
    tmp.push(dir);
    for (let i = 0; i < 1005; i++) writeProc(dir, 5000 + i, "worker", 1000 + i);
    let dropped = 0;
    const s = createSnooper({ host: hostAt(dir), log, selfPid: 999_999, intervalMs: 60_000, onDrop: (_f, n) => (dropped += n) });
    snoopers.push(s);
    const v = s.scopeFactory("baseinfo", settings({ proc_name: [{ comm: "^worker$", cmdline: "" }] }));
    expect(v.pids().size).toBe(1000);
    expect(dropped).toBe(5);
    expect(s.stats().droppedObjects).toBe(5);
    s.refresh();
    expect(dropped).toBe(5); // the same dropped objects are not counted twice
  });
});

describe("labels (outputs.md §2.3)", () => {
  function store(s: Snooper): MetricStore {
    const st = new MetricStore({ maxRowsPerTable: 1000 });
    st.addEnricher(s.enricher);
    return st;
  }

  test("entity proc without a comm field: comm, cmdline, start_time, proc_name label, container and pod labels", () => {
    const s = make(fixture("docker-cgv1"));
    s.scopeFactory("baseinfo", settings({ proc_name: [{ comm: "java", cmdline: "", label: { team: "shop" } }] }, { podLabels: ["app", "missing"] }));
    const st = store(s);
    const r = st.upsert(procTable, { tgid: "1530", v: 1 }, "baseinfo", 1, 0)!;
    expect(r.labelPairs).toEqual([
      ["tgid", "1530"],
      ["comm", "java"],
      ["cmdline", "com.shop.Frontend"],
      ["start_time", "1700000601"],
      ["team", "shop"],
      ["container_id", APP],
      ["container_name", `k8s_app_frontend-7d4b9c_shop_${POD1}_0`],
      ["container_image", "registry.local/shop/frontend:2.1"],
      ["pod_id", POD1],
      ["pod", "shop/frontend-7d4b9c"],
      ["pod_namespace", "shop"],
      ["app", "frontend"],
      ["missing", "not found"],
    ]);
  });

  test("another owner gets neither the proc_name label nor pod labels", () => {
    const s = make(fixture("docker-cgv1"));
    s.scopeFactory("baseinfo", settings({ proc_name: [{ comm: "java", cmdline: "", label: { team: "shop" } }] }, { podLabels: ["app"] }));
    const r = store(s).upsert(procTable, { tgid: "1530", v: 1 }, "tcp", 1, 0)!;
    expect(r.labelPairs.map((p) => p[0])).toEqual(["tgid", "comm", "cmdline", "start_time", "container_id", "container_name", "container_image", "pod_id", "pod", "pod_namespace"]);
  });

  test("host process, table with a comm field: no comm repeated, no cmdline (entity not proc)", () => {
    const s = make(fixture("docker-cgv1"));
    const r = store(s).upsert(commTable, { tgid: "2000", comm: "bash", v: 1 }, "x", 1, 0)!;
    expect(r.labelPairs).toEqual([
      ["tgid", "2000"],
      ["comm", "bash"],
    ]);
  });

  test("cmdline label is cut to 127 characters, never pre-escaped", () => {
    const dir = copyFixture("bare-metal");
    tmp.push(dir);
    writeProc(dir, 77, "long", 500, { cmdline: ["/bin/long", 'say "hi"', "x".repeat(300)] });
    const s = make(hostAt(dir));
    const r = store(s).upsert(procTable, { tgid: 77, v: 1 }, "x", 1, 0)!;
    const cmd = r.labelPairs.find((p) => p[0] === "cmdline")![1];
    expect(cmd.length).toBe(127);
    expect(cmd.startsWith('/bin/long say "hi" xxx')).toBe(true);
    expect(r.labels).toContain('cmdline="/bin/long say \\"hi\\" xxx');
  });

  test("a gone process: row dropped without a comm field, kept bare with one", () => {
    const s = make(fixture("docker-cgv1"));
    const st = store(s);
    expect(st.upsert(procTable, { tgid: "424242", v: 1 }, "x", 1, 0)).toBeUndefined();
    expect(st.upsert(commTable, { tgid: "424242", comm: "gone", v: 1 }, "x", 1, 0)!.labelPairs).toEqual([
      ["tgid", "424242"],
      ["comm", "gone"],
    ]);
    expect(st.upsert(procTable, { tgid: "garbage", v: 1 }, "x", 1, 0)).toBeUndefined();
  });

  test("container_id tables get container labels without repeating the id", () => {
    const s = make(fixture("k8s-cgv2"));
    s.refresh();
    const r = store(s).upsert(conTable, { container_id: REDIS, v: 1 }, "baseinfo", 1, 0)!;
    expect(r.labelPairs).toEqual([
      ["container_id", REDIS],
      ["container_name", "redis"],
      ["container_image", "docker.io/library/redis:7.2"],
      ["pod_id", POD2],
      ["pod", "cache/redis-0"],
      ["pod_namespace", "cache"],
    ]);
    expect(store(s).upsert(conTable, { container_id: "ffffffffffff", v: 1 }, "baseinfo", 1, 0)!.labelPairs).toEqual([["container_id", "ffffffffffff"]]);
  });

  test("containerd pods: pod labels are `not found` (not on disk)", () => {
    const s = make(fixture("k8s-cgv2"));
    s.scopeFactory("baseinfo", settings({}, { podLabels: ["app"] }));
    const r = store(s).upsert(procTable, { tgid: 3150, v: 1 }, "baseinfo", 1, 0)!;
    expect(r.labelPairs.at(-1)).toEqual(["app", "not found"]);
  });

  test("tables without tgid or container_id are untouched", () => {
    const s = make(fixture("docker-cgv1"));
    expect(store(s).upsert(plainTable, { cpu: "0" }, "x", 1, 0)!.labelPairs).toEqual([["cpu", "0"]]);
  });

  test("a process newer than the last scan is read on demand", () => {
    const dir = copyFixture("bare-metal");
    tmp.push(dir);
    const s = make(hostAt(dir));
    s.refresh();
    writeProc(dir, 88, "fresh", 500);
    expect(store(s).upsert(procTable, { tgid: 88, v: 1 }, "x", 1, 0)!.labelPairs[1]).toEqual(["comm", "fresh"]);
  });
});

describe("cost", () => {
  test("scans run only while a scope is open; stats are kept", () => {
    const s = make(fixture("docker-cgv1"));
    expect(s.stats().scans).toBe(0);
    const v = s.scopeFactory("baseinfo", settings());
    expect(s.stats().scans).toBe(1);
    v[Symbol.dispose]();
    s.refresh();
    expect(s.stats().processes).toBeGreaterThan(5);
  });
});


describe("discovery from /proc/loadavg between full listings", () => {
  test("new pids in (last, now] are read; threads skipped; matched exits seen at once; full listing every 5 scans", () => {
    const dir = copyFixture("docker-cgv1");
    tmp.push(dir);
    const la = (threads: number, last: number) => writeFileSync(join(dir, "proc", "loadavg"), `0.00 0.01 0.05 1/${threads} ${last}\n`);
    const status = (pid: number, tgid: number) => writeFileSync(join(dir, "proc", String(pid), "status"), `Name:\tx\nTgid:\t${tgid}\nPid:\t${pid}\n`);
    la(100, 3000);
    const s = createSnooper({ host: hostAt(dir), log, selfPid: 999_999, intervalMs: 60_000, lastPidDiscovery: true });
    snoopers.push(s);
    const v = s.scopeFactory("baseinfo", settings({ proc_name: [{ comm: "^gg", cmdline: "" }] })); // full listing (first scan)
    writeProc(dir, 3001, "ggone", 200000);
    status(3001, 3001);
    writeProc(dir, 3002, "ggthread", 200000);
    status(3002, 3001); // a thread of 3001: not a process
    writeProc(dir, 2990, "ggold", 200000); // below the last pid: only a full listing finds it
    la(103, 3002);
    s.refresh();
    expect([...v.pids()]).toEqual([3001]);
    rmSync(join(dir, "proc", "3001"), { recursive: true });
    la(101, 3002);
    s.refresh();
    expect(v.pids().size).toBe(0);
    rmSync(join(dir, "proc", "3002"), { recursive: true }); // the kernel does not list threads in /proc
    for (let i = 0; i < 4; i++) s.refresh();
    expect([...v.pids()]).toEqual([2990]);
  });
});

test("pid wrap-around: the pids handed out again are re-validated (pid reuse)", () => {
  const dir = copyFixture("docker-cgv1");
  tmp.push(dir);
  const la = (threads: number, last: number) => writeFileSync(join(dir, "proc", "loadavg"), `0.00 0.01 0.05 1/${threads} ${last}\n`);
  writeProc(dir, 300, "old", 1000);
  la(100, 30000);
  const s = createSnooper({ host: hostAt(dir), log, selfPid: 999_999, intervalMs: 60_000, lastPidDiscovery: true });
  snoopers.push(s);
  s.scopeFactory("baseinfo", settings({ proc_name: [{ comm: "^new$", cmdline: "" }] }));
  expect(s.process(300)?.comm).toBe("old");
  s.refresh(); // a quiet scan
  writeProc(dir, 300, "new", 900000); // exited, and pid_max wrapped onto 300
  la(100, 310);
  s.refresh();
  expect(s.process(300)?.comm).toBe("new");
});

test("loadavg fields", () => {
  expect(parseLoadavg("0.00 0.01 0.05 1/244 25286\n")).toEqual({ threads: 244, lastPid: 25286 });
  expect(parseLoadavg("0.00 0.01 0.05 1/244\n")).toBeUndefined();
  expect(parseLoadavg("")).toBeUndefined();
  expect(parseLoadavg(undefined)).toBeUndefined();
});

test("without any scope the enricher keeps the table current itself (at most once per interval)", () => {
  const dir = copyFixture("bare-metal");
  tmp.push(dir);
  let clock = 0;
  const s = createSnooper({ host: hostAt(dir), log, selfPid: 999_999, intervalMs: 1000, now: () => clock });
  snoopers.push(s);
  const st = new MetricStore({ maxRowsPerTable: 100 });
  st.addEnricher(s.enricher);
  writeProc(dir, 4100, "qemu-kvm", 500);
  expect(st.upsert(procTable, { tgid: 4100, v: 1 }, "virt", 1, 0)!.labelPairs[1]).toEqual(["comm", "qemu-kvm"]);
  rmSync(join(dir, "proc", "4100"), { recursive: true });
  writeProc(dir, 4100, "bash", 900); // pid reused
  clock += 1000;
  expect(st.upsert(procTable, { tgid: 4100, v: 1 }, "virt", 2, 0)!.labelPairs[1]).toEqual(["comm", "bash"]);
  rmSync(join(dir, "proc", "4100"), { recursive: true });
  clock += 1000;
  expect(st.upsert(procTable, { tgid: 4100, v: 1 }, "virt", 3, 0)).toBeUndefined();
});
