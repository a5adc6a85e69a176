// Kernel feature detection, done once at start (and on first use): BTF, tracefs (mounted
// at /sys/kernel/tracing when missing), libbpf, program and map types and helpers probed
// the way bpftool does (libbpf_probe_*), and real attach probes for the hook kinds the
// probes rely on (tracepoint, raw tracepoint, kprobe, fentry, uprobe, perf_event,
// cgroup sock_ops). eBPF probes ask it in their `unsupported(host)`.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Gauge, type Registry } from "../egress/prom.ts";
import type { Logger } from "../log/logger.ts";
import { bpfObjectPath } from "../libbpf/assets.ts";
import { KernelBtf } from "../libbpf/btf.ts";
import { errno, libbpf, libc, strerror, tryLibbpf, withQuietLibbpf } from "../libbpf/ffi.ts";
import { BpfObject } from "../libbpf/object.ts";
import { perfEventOpen, PerfSwConfig, PerfType } from "../libbpf/perf.ts";

/** Program types probed (enum bpf_prog_type). */
export const PROG_TYPES = {
  kprobe: 2,
  sched_cls: 3,
  tracepoint: 5,
  xdp: 6,
  perf_event: 7,
  cgroup_skb: 8,
  sock_ops: 13,
  raw_tracepoint: 17,
  tracing: 26,
} as const;
/** Map types probed (enum bpf_map_type). */
export const MAP_TYPES = { hash: 1, array: 2, percpu_array: 6, lru_hash: 9, ringbuf: 27 } as const;
/** Helpers probed for raw tracepoint programs (enum bpf_func_id). */
export const HELPERS = { ktime_get_ns: 5, get_current_pid_tgid: 14, get_current_task: 35, probe_read_kernel: 113, ringbuf_reserve: 131, for_each_map_elem: 164 } as const;

export type AttachKind = "tracepoint" | "raw_tracepoint" | "kprobe" | "fentry" | "uprobe" | "perf_event" | "sock_ops" | "ringbuf";

export interface AttachProbe {
  ok: boolean;
  /** Why it failed (error text), when it failed. */
  reason?: string;
}

export interface KernelFeatures {
  release: string;
  arch: string;
  /** /sys/kernel/btf/vmlinux present. */
  vmlinuxBtf: boolean;
  /** BTF file used for CO-RE when vmlinuxBtf is false (btf/ or /opt/gala-gopher/btf/). */
  btfCustomPath?: string;
  libbpf: { ok: boolean; version?: string; source?: string; error?: string };
  tracefs: { path?: string; mountedByUs: boolean; error?: string };
  cgroupV2?: string;
  progTypes: Record<keyof typeof PROG_TYPES, boolean>;
  mapTypes: Record<keyof typeof MAP_TYPES, boolean>;
  helpers: Record<keyof typeof HELPERS, boolean>;
  attach: Record<AttachKind, AttachProbe>;
  /** Whether tracefs lists `<category>/<name>`. */
  hasTracepoint(category: string, name: string): boolean;
  /** Arguments of a raw tracepoint according to BTF (undefined: absent or no BTF). */
  rawTracepointArgs(name: string): number | undefined;
  /** Whether the kernel's `struct <s>` has `field` (false without BTF). */
  hasField(struct: string, field: string): boolean;
  /** Value of enumerator `name` of the kernel's `enum <e>` (undefined without BTF or when absent). */
  enumValue(e: string, name: string): number | undefined;
  /** Reason eBPF as a whole cannot be used here, or undefined. */
  bpfUnavailable(): string | undefined;
}

/** The detected facts without the BTF-backed lookups: what the report and the gauges need (JSON-safe). */
export type KernelFeatureFacts = Pick<
  KernelFeatures,
  "release" | "arch" | "vmlinuxBtf" | "btfCustomPath" | "libbpf" | "tracefs" | "cgroupV2" | "progTypes" | "mapTypes" | "helpers" | "attach"
>;

export function featureFacts(f: KernelFeatureFacts): KernelFeatureFacts {
  const { release, arch, vmlinuxBtf, btfCustomPath, libbpf, tracefs, cgroupV2, progTypes, mapTypes, helpers, attach } = f;
  return { release, arch, vmlinuxBtf, btfCustomPath, libbpf, tracefs, cgroupV2, progTypes, mapTypes, helpers, attach };
}

/** Returns freed heap memory to the system (glibc malloc_trim); libbpf's BTF parsing leaves a lot. */
export function trimHeap(): void {
  try {
    libc().malloc_trim(0);
  } catch {
    /* not glibc */
  }
}

const BTF_DIRS = () => [process.env.GOPHER_BTF_DIR, "/opt/gala-gopher/btf", join(process.cwd(), "btf")].filter((d): d is string => !!d);

/** The BTF file for this kernel release from btf/ or /opt/gala-gopher/btf/, if any. */
export function findCustomBtf(release: string): string | undefined {
  for (const d of BTF_DIRS()) {
    for (const name of [`${release}.btf`, `vmlinux-${release}.btf`, `${release}`]) {
      const p = join(d, name);
      if (existsSync(p)) return p;
    }
  }
  return undefined;
}

function readRelease(): string {
  try {
    return readFileSync("/proc/sys/kernel/osrelease", "utf8").trim();
  } catch {
    return "unknown";
  }
}

const TRACEFS_CANDIDATES = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/** Finds tracefs; mounts it at /sys/kernel/tracing when it is nowhere (needs root). */
export function ensureTracefs(): KernelFeatures["tracefs"] {
  for (const p of TRACEFS_CANDIDATES) if (existsSync(join(p, "events"))) return { path: p, mountedByUs: false };
  const target = TRACEFS_CANDIDATES[0]!;
  if (!existsSync(target)) return { mountedByUs: false, error: `${target} does not exist (tracefs not built in?)` };
  const r = libc().mount(Buffer.from("tracefs\0"), Buffer.from(`${target}\0`), Buffer.from("tracefs\0"), 0, null);
  if (r !== 0) {
    const e = errno();
    return { mountedByUs: false, error: `mount -t tracefs ${target}: ${strerror(e)}` };
  }
  return existsSync(join(target, "events")) ? { path: target, mountedByUs: true } : { mountedByUs: true, error: `tracefs at ${target} has no events/` };
}

function cgroupV2Mount(): string | undefined {
  try {
    for (const line of readFileSync("/proc/self/mounts", "utf8").split("\n")) {
      const f = line.split(" ");
      if (f[2] === "cgroup2" && f[1]) return f[1];
    }
  } catch {
    /* no /proc */
  }
  return undefined;
}

function libcPath(): string | undefined {
  try {
    for (const line of readFileSync("/proc/self/maps", "utf8").split("\n")) {
      const m = /\s(\/\S*libc\.so\.6|\/\S*libc-[\d.]+\.so)$/.exec(line);
      if (m) return m[1];
    }
  } catch {
    /* ignore */
  }
  return undefined;
}

const ATTACH_PROGRAMS: Record<AttachKind, string> = {
  tracepoint: "probe_tracepoint",
  raw_tracepoint: "probe_raw_tp",
  kprobe: "probe_kprobe",
  fentry: "probe_fentry",
  uprobe: "probe_uprobe",
  perf_event: "probe_perf_event",
  sock_ops: "probe_sockops",
  ringbuf: "probe_ringbuf",
};

function attachProbe(kind: AttachKind, bytes: Uint8Array, btfCustomPath: string | undefined, cgroup: string | undefined): AttachProbe {
  try {
    using obj = BpfObject.open(bytes, { name: "features", btfCustomPath });
    for (const [k, prog] of Object.entries(ATTACH_PROGRAMS)) obj.program(prog).setAutoload(k === kind);
    obj.load();
    const prog = obj.program(ATTACH_PROGRAMS[kind]);
    switch (kind) {
      case "uprobe": {
        const lc = libcPath();
        if (!lc) return { ok: false, reason: "libc not found in /proc/self/maps" };
        prog.attachUprobe({ binary: lc, func: "getpid", pid: process.pid }).destroy();
        break;
      }
      case "perf_event": {
        const fd = perfEventOpen({ type: PerfType.SOFTWARE, config: PerfSwConfig.CPU_CLOCK, period: 1_000_000_000, cpu: 0 });
        prog.attachPerfEvent(fd).destroy();
        break;
      }
      case "sock_ops":
        if (!cgroup) return { ok: false, reason: "no cgroup v2 hierarchy mounted" };
        prog.attachCgroup(cgroup).destroy();
        break;
      default:
        prog.attach().destroy();
    }
    return { ok: true };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

let cached: KernelFeatures | undefined;
let logged = false;

/** The detection of this process, if one was made. */
export function detectedFeatures(): KernelFeatures | undefined {
  return cached;
}

/** The summary was logged from another source (the detection child): detectFeatures() does not log it again. */
export function markFeatureSummaryLogged(): void {
  logged = true;
}

function logSummary(f: KernelFeatureFacts, log: Logger | undefined): void {
  if (!log || logged) return;
  logged = true;
  log.info(describeFeatures(f));
  for (const [k, a] of Object.entries(f.attach)) if (!a.ok) log.debug(`kernel feature ${k} unavailable: ${a.reason}`);
}

/** Detects once per process; the summary is logged the first time a logger is given. */
export function detectFeatures(log?: Logger): KernelFeatures {
  if (cached) {
    logSummary(cached, log);
    return cached;
  }
  const release = readRelease();
  // GOPHER_BTF_IGNORE_VMLINUX=1 behaves as on a kernel without BTF (tests of btf/).
  const vmlinuxBtf = process.env.GOPHER_BTF_IGNORE_VMLINUX !== "1" && existsSync("/sys/kernel/btf/vmlinux");
  const btfCustomPath = vmlinuxBtf ? undefined : findCustomBtf(release);
  const tracefs = ensureTracefs();
  const cgroupV2 = cgroupV2Mount();
  const lib = tryLibbpf();
  let libError: string | undefined;
  if (!lib) {
    try {
      libbpf();
    } catch (e) {
      libError = (e as Error).message;
    }
  }
  const progTypes = {} as KernelFeatures["progTypes"];
  const mapTypes = {} as KernelFeatures["mapTypes"];
  const helpers = {} as KernelFeatures["helpers"];
  for (const [k, v] of Object.entries(PROG_TYPES)) progTypes[k as keyof typeof PROG_TYPES] = !!lib && lib.sym.libbpf_probe_bpf_prog_type(v, null) === 1;
  for (const [k, v] of Object.entries(MAP_TYPES)) mapTypes[k as keyof typeof MAP_TYPES] = !!lib && lib.sym.libbpf_probe_bpf_map_type(v, null) === 1;
  for (const [k, v] of Object.entries(HELPERS)) helpers[k as keyof typeof HELPERS] = !!lib && lib.sym.libbpf_probe_bpf_helper(PROG_TYPES.raw_tracepoint, v, null) === 1;
  const attach = {} as KernelFeatures["attach"];
  const objPath = bpfObjectPath("features");
  const bytes = objPath && lib ? new Uint8Array(readFileSync(objPath)) : undefined;
  for (const kind of Object.keys(ATTACH_PROGRAMS) as AttachKind[]) {
    if (!lib) attach[kind] = { ok: false, reason: libError ?? "libbpf unavailable" };
    else if (!bytes) attach[kind] = { ok: false, reason: "features.bpf.o not built (bun run scripts/bpf.ts)" };
    else if ((kind === "tracepoint" || kind === "kprobe") && !tracefs.path) attach[kind] = { ok: false, reason: tracefs.error ?? "no tracefs" };
    else attach[kind] = withQuietLibbpf(() => attachProbe(kind, bytes, btfCustomPath, cgroupV2));
  }
  // The parsed vmlinux BTF is large (tens of MB): answers are cached and the BTF is
  // freed as soon as the current synchronous work is done.
  let btf: KernelBtf | undefined;
  let freeTimer: ReturnType<typeof setTimeout> | undefined;
  const withBtf = <T>(f: (b: KernelBtf) => T): T | undefined => {
    if (!lib) return undefined;
    btf ??= KernelBtf.open(btfCustomPath);
    if (!btf) return undefined;
    if (!freeTimer) {
      freeTimer = setTimeout(() => {
        btf?.[Symbol.dispose]();
        btf = undefined;
        freeTimer = undefined;
        trimHeap();
      }, 0);
      freeTimer.unref?.();
    }
    return f(btf);
  };
  const answers = new Map<string, unknown>();
  const cachedAnswer = <T>(key: string, f: (b: KernelBtf) => T): T | undefined => {
    if (answers.has(key)) return answers.get(key) as T | undefined;
    const v = withBtf(f);
    answers.set(key, v);
    return v;
  };
  const tpCache = new Map<string, boolean>();
  const f: KernelFeatures = {
    release,
    arch: process.arch,
    vmlinuxBtf,
    btfCustomPath,
    libbpf: lib ? { ok: true, version: lib.version, source: lib.source } : { ok: false, error: libError },
    tracefs,
    cgroupV2,
    progTypes,
    mapTypes,
    helpers,
    attach,
    hasTracepoint(category, name) {
      const k = `${category}/${name}`;
      let v = tpCache.get(k);
      if (v === undefined) tpCache.set(k, (v = !!tracefs.path && existsSync(join(tracefs.path, "events", category, name))));
      return v;
    },
    rawTracepointArgs: (name) => cachedAnswer(`tp:${name}`, (b) => b.rawTracepointArgs(name)),
    hasField: (st, field) => cachedAnswer(`field:${st}.${field}`, (b) => b.hasField(st, field)) ?? false,
    enumValue: (e, name) => cachedAnswer(`enum:${e}.${name}`, (b) => b.enumValue(e, name)),
    bpfUnavailable() {
      if (!lib) return `libbpf unavailable: ${libError ?? "unknown"}`;
      if (!vmlinuxBtf && !btfCustomPath) return `kernel ${release} has no BTF (/sys/kernel/btf/vmlinux) and no ${release}.btf in ${BTF_DIRS().join(" or ")}`;
      if (!attach.raw_tracepoint.ok && !attach.tracepoint.ok) return `BPF programs cannot be attached: ${attach.raw_tracepoint.reason}`;
      return undefined;
    },
  };
  cached = f;
  trimHeap();
  logSummary(f, log);
  return f;
}

/** Logs the summary of facts detected elsewhere (the detection child), once. */
export function logFeatureSummary(f: KernelFeatureFacts, log: Logger): void {
  logSummary(f, log);
}

/** Replaces the cached detection (tests). */
export function setFeaturesForTest(f: KernelFeatures | undefined): void {
  cached = f;
  logged = false;
}

/** One log line: `kernel 6.18 x64: BTF vmlinux, libbpf 1.1 (embedded), tracefs /sys/kernel/tracing; hooks: +tracepoint +raw_tracepoint -kprobe …`. */
export function describeFeatures(f: KernelFeatureFacts): string {
  const btf = f.vmlinuxBtf ? "BTF vmlinux" : f.btfCustomPath ? `BTF ${f.btfCustomPath}` : "no BTF";
  const lib = f.libbpf.ok ? `libbpf ${f.libbpf.version} (${f.libbpf.source})` : `libbpf unavailable (${f.libbpf.error})`;
  const tfs = f.tracefs.path ? `tracefs ${f.tracefs.path}${f.tracefs.mountedByUs ? " (mounted)" : ""}` : `no tracefs (${f.tracefs.error})`;
  const hooks = Object.entries(f.attach)
    .map(([k, a]) => `${a.ok ? "+" : "-"}${k}`)
    .join(" ");
  const types = Object.entries(f.progTypes)
    .map(([k, v]) => `${v ? "+" : "-"}${k}`)
    .join(" ");
  return `kernel ${f.release} ${f.arch}: ${btf}, ${lib}, ${tfs}, cgroup2 ${f.cgroupV2 ?? "none"}; hooks: ${hooks}; prog types: ${types}`;
}

/** Flat 0/1 list: `attach_<kind>`, `prog_<type>`, `map_<type>`, `helper_<name>`, `btf`, `tracefs`, `libbpf`. */
export function featureFlags(f: KernelFeatureFacts): Record<string, boolean> {
  const out: Record<string, boolean> = { btf: f.vmlinuxBtf || !!f.btfCustomPath, tracefs: !!f.tracefs.path, libbpf: f.libbpf.ok, cgroup2: !!f.cgroupV2 };
  for (const [k, a] of Object.entries(f.attach)) out[`attach_${k}`] = a.ok;
  for (const [k, v] of Object.entries(f.progTypes)) out[`prog_${k}`] = v;
  for (const [k, v] of Object.entries(f.mapTypes)) out[`map_${k}`] = v;
  for (const [k, v] of Object.entries(f.helpers)) out[`helper_${k}`] = v;
  return out;
}

/**
 * Registers `gala_gopher_agent_kernel_feature{feature="…"}` (1 available, 0 not) and
 * `gala_gopher_agent_kernel_info{release,btf,libbpf,libbpf_source}` (value 1) on `registry`.
 */
export function registerKernelFeatureMetrics(registry: Registry, f: KernelFeatureFacts): void {
  const g = new Gauge({
    name: "gala_gopher_agent_kernel_feature",
    help: "kernel and eBPF features detected at start (1 available, 0 not)",
    labelNames: ["feature"],
    registers: [registry],
  });
  for (const [k, v] of Object.entries(featureFlags(f))) g.set({ feature: k }, v ? 1 : 0);
  new Gauge({
    name: "gala_gopher_agent_kernel_info",
    help: "running kernel, BTF source and libbpf used by the agent; value 1",
    labelNames: ["release", "btf", "libbpf", "libbpf_source"],
    registers: [registry],
  }).set(
    {
      release: f.release,
      btf: f.vmlinuxBtf ? "vmlinux" : (f.btfCustomPath ?? "none"),
      libbpf: f.libbpf.version ?? "none",
      libbpf_source: f.libbpf.source ?? "none",
    },
    1,
  );
}


