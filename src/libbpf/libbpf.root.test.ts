// The libbpf bindings against the running kernel (root): open from memory, .rodata/.bss,
// tracepoint/raw_tp/uprobe/perf_event/sock_ops attach, map operations and batches, the
// mmap ring-buffer reader, verifier logs and typed errors. Skipped with the reason when
// not root or when the kernel/libbpf cannot run BPF here.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { dlopen, FFIType } from "bun:ffi";
import { ensureBpf } from "../../scripts/bpf.ts";
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { detectFeatures, setFeaturesForTest, type KernelFeatures } from "../host/features.ts";
import type { Logger } from "../log/logger.ts";
import { bpfObjectBytes } from "./assets.ts";
import { BpfError } from "./errors.ts";
import { libbpf, setLibbpfLogger } from "./ffi.ts";
import { BpfObject, possibleCpus } from "./object.ts";
import { perfEventOpen, PerfSwConfig, PerfType } from "./perf.ts";
import { RingBufferReader } from "./ringbuf.ts";

const root = process.getuid?.() === 0;
let features: KernelFeatures | undefined;
let why = root ? "" : "not root";
if (root) {
  try {
    ensureBpf({ quiet: true });
    features = detectFeatures();
    why = features.bpfUnavailable() ?? "";
  } catch (e) {
    why = (e as Error).message;
  }
}
const can = root && !why;
if (!can) console.warn(`libbpf.root.test: skipped: ${why}`);
const canAttach = (k: keyof KernelFeatures["attach"]) => can && !!features?.attach[k].ok;

const lines: string[] = [];
const captureLog: Logger = {
  debug: (m) => lines.push(`D ${m}`),
  info: (m) => lines.push(`I ${m}`),
  warn: (m) => lines.push(`W ${m}`),
  error: (m) => lines.push(`E ${m}`),
  child: () => captureLog,
};

const libcFns = dlopen("libc.so.6", { getppid: { args: [], returns: FFIType.i32 } }).symbols;

function openSelftest(): BpfObject {
  const obj = BpfObject.open(bpfObjectBytes("selftest"), { name: "selftest" });
  obj.map("selftest.rodata").data().setUint32(0, process.pid, true);
  return obj;
}

function count(obj: BpfObject, kind: number): bigint {
  const v = new BigUint64Array(1);
  return obj.map("counts").lookup(new Uint32Array([kind]), v) ? v[0]! : 0n;
}

describe("libbpf bindings", () => {
  beforeAll(() => setLibbpfLogger(captureLog));
  afterAll(() => setLibbpfLogger(undefined));

  test.if(can)("loads libbpf (bundled copy first) and reports its version", () => {
    const lib = libbpf();
    expect(lib.version).toMatch(/^\d+\.\d+$/);
    expect(["embedded", "system"]).toContain(lib.source);
    expect(possibleCpus()).toBeGreaterThan(0);
  });

  test.if(can)("tracepoint and raw tracepoint: counts, .bss and the ring buffer agree", () => {
    using obj = openSelftest();
    for (const p of ["uprobe_fn", "on_sample", "on_sockops"]) obj.program(p).setAutoload(false);
    obj.load();
    const bss = obj.map("selftest.bss").data();
    const tp = obj.own(obj.program("tp_getppid").attach());
    const raw = obj.own(obj.program("raw_sys_enter").attachRawTracepoint("sys_enter"));
    for (let i = 0; i < 25; i++) libcFns.getppid();
    expect(count(obj, 1)).toBe(25n);
    expect(count(obj, 2)).toBe(25n);
    expect(bss.getBigUint64(0, true)).toBe(50n);
    using rb = new RingBufferReader(obj.map("events"));
    const seen: { tgid: number; kind: number; seq: bigint }[] = [];
    const n = rb.drain((d, off) => seen.push({ tgid: d.getUint32(off, true), kind: d.getUint32(off + 4, true), seq: d.getBigUint64(off + 8, true) }));
    expect(n).toBe(50);
    expect(seen.every((e) => e.tgid === process.pid)).toBe(true);
    expect(new Set(seen.map((e) => e.seq)).size).toBe(50);
    expect(rb.drain(() => undefined)).toBe(0);
    tp.destroy();
    raw.destroy();
    libcFns.getppid();
    expect(count(obj, 1)).toBe(25n);
  });

  test.if(can)("map update, lookup, delete, keys, batch lookup and lookup-and-delete", () => {
    using obj = openSelftest();
    for (const p of ["uprobe_fn", "on_sample", "on_sockops"]) obj.program(p).setAutoload(false);
    obj.load();
    const m = obj.map("counts");
    expect(m.keySize).toBe(4);
    expect(m.valueSize).toBe(8);
    expect(m.maxEntries).toBe(4096);
    for (let k = 100; k < 3100; k++) m.update(new Uint32Array([k]), new BigUint64Array([BigInt(k * 2)]));
    const v = new BigUint64Array(1);
    expect(m.lookup(new Uint32Array([1234]), v)).toBe(true);
    expect(v[0]).toBe(2468n);
    expect(m.lookup(new Uint32Array([99]), v)).toBe(false);
    expect(m.delete(new Uint32Array([100]))).toBe(true);
    expect(m.delete(new Uint32Array([100]))).toBe(false);
    expect(m.keys().length).toBe(2999);
    const got = new Map<number, bigint>();
    const total = m.lookupBatch(({ keys, values, count }) => {
      const kv = new DataView(keys.buffer);
      const vv = new DataView(values.buffer);
      for (let i = 0; i < count; i++) got.set(kv.getUint32(i * 4, true), vv.getBigUint64(i * 8, true));
    }, 256);
    expect(total).toBe(2999);
    expect(got.get(3099)).toBe(6198n);
    let deleted = 0;
    m.lookupAndDeleteBatch(({ count }) => void (deleted += count), 500);
    expect(deleted).toBe(2999);
    expect(m.keys().length).toBe(0);
    expect(() => m.update(new Uint32Array([1]), new BigUint64Array([1n]), 2 /* BPF_EXIST */)).toThrow(BpfError);
  });

  test.if(canAttach("uprobe"))("uprobe on libc getppid", () => {
    using obj = openSelftest();
    for (const p of ["tp_getppid", "raw_sys_enter", "on_sample", "on_sockops"]) obj.program(p).setAutoload(false);
    obj.load();
    const libc = require("node:fs")
      .readFileSync("/proc/self/maps", "utf8")
      .split("\n")
      .map((l: string) => /\s(\/\S*libc\.so\.6)$/.exec(l)?.[1])
      .find(Boolean) as string;
    obj.own(obj.program("uprobe_fn").attachUprobe({ binary: libc, func: "getppid", pid: process.pid }));
    for (let i = 0; i < 7; i++) libcFns.getppid();
    expect(count(obj, 3)).toBe(7n);
  });

  test.if(canAttach("perf_event"))("perf_event programs sample on every CPU", async () => {
    using obj = openSelftest();
    for (const p of ["tp_getppid", "raw_sys_enter", "uprobe_fn", "on_sockops"]) obj.program(p).setAutoload(false);
    obj.load();
    const cpus = possibleCpus();
    for (let cpu = 0; cpu < cpus; cpu++) {
      try {
        obj.own(obj.program("on_sample").attachPerfEvent(perfEventOpen({ type: PerfType.SOFTWARE, config: PerfSwConfig.CPU_CLOCK, frequency: 1000, cpu })));
      } catch (e) {
        if ((e as BpfError).code !== "ENODEV" && (e as BpfError).code !== "EINVAL") throw e; // offline CPU
      }
    }
    const end = Date.now() + 150;
    while (Date.now() < end) Math.sqrt(Math.random());
    const m = obj.map("percpu");
    const buf = new BigUint64Array(m.valueBufferSize / 8);
    m.lookup(new Uint32Array([0]), buf);
    expect(buf.reduce((a, b) => a + b, 0n)).toBeGreaterThan(20n);
  });

  test.if(canAttach("sock_ops"))("sock_ops on the cgroup v2 root sees TCP connections", async () => {
    using obj = openSelftest();
    for (const p of ["tp_getppid", "raw_sys_enter", "uprobe_fn", "on_sample"]) obj.program(p).setAutoload(false);
    obj.load();
    obj.own(obj.program("on_sockops").attachCgroup(features!.cgroupV2!));
    const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const s = await Bun.connect({ hostname: "127.0.0.1", port: server.port, socket: { data() {} } });
    await Bun.sleep(50);
    s.end();
    server.stop(true);
    const v = new BigUint64Array(1);
    const seen = (op: number) => (obj.map("ops").lookup(new Uint32Array([op]), v) ? v[0]! : 0n);
    expect(seen(4)).toBeGreaterThanOrEqual(1n); // BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB
    expect(seen(5)).toBeGreaterThanOrEqual(1n); // BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB
  });

  test.if(can)("a verifier rejection is a BpfError carrying the verifier log, also sent to the logger", () => {
    using obj = openSelftest();
    for (const p of ["uprobe_fn", "on_sample", "on_sockops"]) obj.program(p).setAutoload(false);
    obj.program("bad_prog").setAutoload(true);
    lines.length = 0;
    let err: unknown;
    try {
      obj.load();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BpfError);
    const be = err as BpfError;
    expect(be.code).toBe("EACCES");
    expect(be.errno).toBe(13);
    expect(be.message).toContain("bad_prog");
    expect(lines.some((l) => l.startsWith("W libbpf:") && /invalid mem access|R0/.test(l))).toBe(true);
  });

  test.if(can)("typed errors: garbage object, unknown program", () => {
    expect(() => BpfObject.open(new Uint8Array(64).fill(7), { name: "junk" })).toThrow(BpfError);
    try {
      BpfObject.open(new Uint8Array(64).fill(7), { name: "junk" });
    } catch (e) {
      expect((e as BpfError).errno).toBeGreaterThan(0);
      expect((e as BpfError).op).toBe("open junk.bpf.o");
    }
    using obj = openSelftest();
    expect(() => obj.program("nope")).toThrow(/no such program/);
    try {
      obj.map("nope");
    } catch (e) {
      expect((e as BpfError).code).toBe("ENOENT");
    }
  });

  test.if(can)("feature detection: tracepoints, raw tracepoint arguments and struct fields from BTF", () => {
    const f = features!;
    expect(f.attach.raw_tracepoint.ok).toBe(true);
    expect(f.hasTracepoint("sched", "sched_process_exec")).toBe(true);
    expect(f.hasTracepoint("sched", "no_such_event")).toBe(false);
    if (f.vmlinuxBtf) {
      expect(f.rawTracepointArgs("inet_sock_set_state")).toBe(3);
      expect(f.rawTracepointArgs("no_such_tracepoint")).toBeUndefined();
      expect(f.hasField("tcp_sock", "srtt_us")).toBe(true);
      expect(f.hasField("tcp_sock", "no_such_field")).toBe(false);
    }
  });

  test.if(can && !!features?.vmlinuxBtf)("without /sys/kernel/btf/vmlinux, <release>.btf from the BTF directory is used for CO-RE", () => {
    const dir = mkdtempSync(join(tmpdir(), "gg-btf-"));
    const saved = { ...process.env };
    try {
      copyFileSync("/sys/kernel/btf/vmlinux", join(dir, `${features!.release}.btf`));
      process.env.GOPHER_BTF_DIR = dir;
      process.env.GOPHER_BTF_IGNORE_VMLINUX = "1";
      setFeaturesForTest(undefined);
      const f = detectFeatures();
      expect(f.vmlinuxBtf).toBe(false);
      expect(f.btfCustomPath).toBe(join(dir, `${features!.release}.btf`));
      expect(f.bpfUnavailable()).toBeUndefined();
      expect(f.rawTracepointArgs("inet_sock_set_state")).toBe(3);
      // An object with CO-RE relocations loads against the custom file.
      using obj = BpfObject.open(bpfObjectBytes("tcp"), { name: "tcp", btfCustomPath: f.btfCustomPath });
      obj.load();
      // Without any BTF the reason names the release and the directories searched.
      rmSync(join(dir, `${features!.release}.btf`));
      setFeaturesForTest(undefined);
      expect(detectFeatures().bpfUnavailable()).toContain(`kernel ${features!.release} has no BTF`);
    } finally {
      process.env = saved;
      setFeaturesForTest(undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
