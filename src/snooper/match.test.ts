import { describe, expect, test } from "bun:test";
import type { ContainerInfo } from "../probe/define.ts";
import { emptyScope, type ScopeLists } from "../probe/settings.ts";
import { compileEre, compileScope, matchProcName, MAX_SCOPE_OBJECTS, resolveScope, type ProcView } from "./match.ts";

const lists = (p: Partial<ScopeLists>): ScopeLists => ({ ...emptyScope(), ...p });
const proc = (pid: number, comm: string, cmdline = comm, ppid = 1, containerId?: string): ProcView => ({ pid, comm, cmdline, ppid, containerId });
const ctr = (id: string, name: string, podId = ""): ContainerInfo => ({ id, name, image: "", podId, pod: "", podNamespace: "", cgroupPath: "" });

describe("POSIX ERE as RegExp", () => {
  test("unanchored by default, anchors work", () => {
    expect(compileEre("java")!.test("javac")).toBe(true);
    expect(compileEre("^java$")!.test("javac")).toBe(false);
    expect(compileEre("^java$")!.test("java")).toBe(true);
    expect(compileEre("redis|nginx")!.test("nginx")).toBe(true);
    expect(compileEre("^ggsleeper$")!.test("ggsleeper")).toBe(true);
  });

  test("named classes are translated", () => {
    expect(compileEre("^[[:alpha:]]+[[:digit:]]$")!.test("python3")).toBe(true);
    expect(compileEre("^[[:alpha:]]+$")!.test("python3")).toBe(false);
    expect(compileEre("[[:space:]]")!.test("a b")).toBe(true);
    expect(compileEre("^[[:xdigit:]]+$")!.test("dead")).toBe(true);
    expect(compileEre("[[:punct:]]")!.test("a.b")).toBe(true);
  });

  test("invalid patterns never match (null)", () => {
    expect(compileEre("(")).toBeNull();
    expect(compileEre("[a")).toBeNull();
    expect(compileEre("*x")).toBeNull();
    expect(compileEre("[[.a.]]")).toBeNull();
  });
});

describe("proc_name", () => {
  const c = compileScope(lists({ proc_name: [{ comm: "^nginx$", cmdline: "worker" }, { comm: "redis", cmdline: "", label: { app: "cache" } }, { comm: "(", cmdline: "" }] }));

  test("comm regex and cmdline substring", () => {
    expect(matchProcName(c, proc(1, "nginx", "nginx: worker process"), 99)).toBeDefined();
    expect(matchProcName(c, proc(1, "nginx", "nginx: master process"), 99)).toBeUndefined();
    expect(matchProcName(c, proc(1, "redis-server", "redis-server *:6379"), 99)?.label).toEqual({ app: "cache" });
  });

  test("children of the agent never match", () => {
    expect(matchProcName(c, proc(5, "redis-server", "x", 99), 99)).toBeUndefined();
  });

  test("empty comm entries are discarded", () => {
    expect(compileScope(lists({ proc_name: [{ comm: "", cmdline: "x" }] })).empty).toBe(true);
  });
});

describe("resolution", () => {
  const procs = [proc(10, "nginx", "nginx: worker process"), proc(11, "bash"), proc(20, "app", "app", 1, "aaaaaaaaaaaa"), proc(21, "sh", "sh", 20, "aaaaaaaaaaaa"), proc(30, "db", "db", 1, "bbbbbbbbbbbb")];
  const containers = [ctr("aaaaaaaaaaaa", "shop_frontend", "8d9f2c1e-4b3a-4f5e-9a7b-1c2d3e4f5a6b"), ctr("bbbbbbbbbbbb", "orders-db")];

  test("proc_id: exact, no existence check", () => {
    const r = resolveScope(compileScope(lists({ proc_id: [11, 4242] })), procs, containers, 1);
    expect([...r.pids].sort((a, b) => a - b)).toEqual([11, 4242]);
    expect(r.containers.size).toBe(0);
  });

  test("container_id (12-char prefix, case-insensitive) → container and its processes", () => {
    const r = resolveScope(compileScope(lists({ container_id: ["AAAAAAAAAAAAFFFF"] })), procs, containers, 1);
    expect([...r.containers.keys()]).toEqual(["aaaaaaaaaaaa"]);
    expect([...r.pids]).toEqual([20, 21]);
  });

  test("container_id stored with its case kept (as PUT stores it) still matches the lower-case id", () => {
    for (const id of ["AaAaAaAaAaAa", "aaaaaaaaaaaa", "AAAAAAAAAAAA"]) {
      const r = resolveScope(compileScope(lists({ container_id: [id] })), procs, containers, 1);
      expect([...r.containers.keys()]).toEqual(["aaaaaaaaaaaa"]);
      expect([...r.pids]).toEqual([20, 21]);
    }
    expect(resolveScope(compileScope(lists({ container_id: ["AaAaAaAaAaAb"] })), procs, containers, 1).pids.size).toBe(0);
  });

  test("pod_id (either form) and container_name (substring)", () => {
    expect([...resolveScope(compileScope(lists({ pod_id: ["8d9f2c1e4b3a4f5e9a7b1c2d3e4f5a6b"] })), procs, containers, 1).pids]).toEqual([20, 21]);
    expect([...resolveScope(compileScope(lists({ container_name: ["ders"] })), procs, containers, 1).pids]).toEqual([30]);
    expect(resolveScope(compileScope(lists({ container_name: ["nomatch"] })), procs, containers, 1).pids.size).toBe(0);
  });

  test("at most 1000 objects; the rest dropped and reported", () => {
    const many: ProcView[] = [];
    for (let i = 1; i <= 1200; i++) many.push(proc(i, "w"));
    const r = resolveScope(compileScope(lists({ proc_name: [{ comm: "^w$", cmdline: "" }] })), many, [], 0);
    expect(r.pids.size).toBe(MAX_SCOPE_OBJECTS);
    expect(r.dropped.length).toBe(200);
    expect(r.pids.has(1)).toBe(true);
    expect(r.pids.has(1001)).toBe(false);
  });

  test("containers count toward the limit and are kept first", () => {
    const r = resolveScope(compileScope(lists({ container_id: ["aaaaaaaaaaaa", "bbbbbbbbbbbb"] })), procs, containers, 1, 2);
    expect(r.containers.size).toBe(2);
    expect(r.pids.size).toBe(0);
    expect(r.dropped).toEqual(["p:20", "p:21", "p:30"]);
  });
});
