// The built-in collection features (probe names) of rest-api.md §10.
//
// Choice: the two native probes report the bare upstream executable names
// (`system_infos`, `virtualized_infos`) as cmd.bin, exactly as the §10 table lists them;
// extend probes report their absolute path under /opt/gala-gopher/extend_probes/.
import type { FeatureDef, ScopeKind, Subitem } from "./settings.ts";

const EXT = "/opt/gala-gopher/extend_probes/";

function feature(
  name: string,
  kind: "native" | "extend",
  bin: string,
  ipcType: number,
  scopeKind: ScopeKind,
  subitems: ReadonlyArray<readonly [string, number]> = [],
): FeatureDef {
  const subs: Subitem[] = subitems.map(([n, bit]) => Object.freeze({ name: n, bit }));
  return Object.freeze({
    name,
    kind,
    bin: kind === "extend" ? EXT + bin : bin,
    ipcType,
    scopeKind,
    subitems: Object.freeze(subs),
  });
}

const L7_SUBITEMS = [
  ["l7_bytes_metrics", 0x1],
  ["l7_rpc_metrics", 0x2],
  ["l7_rpc_trace", 0x4],
] as const;

/** Every built-in feature, in the order of rest-api.md §10 (= IPC type order). */
export const FEATURES: readonly FeatureDef[] = Object.freeze([
  feature("baseinfo", "native", "system_infos", 1, "ALL", [
    ["cpu", 0x1],
    ["mem", 0x2],
    ["nic", 0x4],
    ["net", 0x8],
    ["disk", 0x10],
    ["fs", 0x20],
    ["proc", 0x40],
    ["host", 0x80],
    ["con", 0x100],
  ]),
  feature("virt", "native", "virtualized_infos", 2, "NONE"),
  feature("flamegraph", "extend", "stackprobe", 3, "PROC", [
    ["oncpu", 0x1],
    ["offcpu", 0x2],
    ["mem", 0x4],
    ["mem_glibc", 0x8],
    ["io", 0x10],
  ]),
  feature("l7", "extend", "l7probe", 4, "ALL", L7_SUBITEMS),
  feature("tcp", "extend", "tcpprobe", 5, "PROC", [
    ["tcp_abnormal", 0x1],
    ["tcp_rtt", 0x4],
    ["tcp_windows", 0x2],
    ["tcp_srtt", 0x40],
    ["tcp_rate", 0x20],
    ["tcp_sockbuf", 0x10],
    ["tcp_stats", 0x8],
    ["tcp_delay", 0x80],
  ]),
  feature("socket", "extend", "endpoint", 6, "PROC", [
    ["tcp_socket", 0x1],
    ["udp_socket", 0x2],
  ]),
  feature("io", "extend", "ioprobe", 7, "NONE", [
    ["io_trace", 0x1],
    ["io_err", 0x2],
    ["io_count", 0x4],
    ["page_cache", 0x8],
  ]),
  feature("proc", "extend", "taskprobe", 8, "ALL", [
    ["proc_syscall", 0x1],
    ["proc_fs", 0x2],
    ["proc_dns", 0x4],
    ["proc_io", 0x8],
    ["proc_pagecache", 0x10],
    ["proc_net", 0x20],
    ["proc_offcpu", 0x40],
    ["proc_ioctl", 0x80],
    ["proc_pygc", 0x100],
  ]),
  feature("jvm", "extend", "jvmprobe", 9, "PROC"),
  feature("postgre_sli", "extend", "pgsliprobe", 10, "NONE"),
  feature("opengauss_sli", "extend", "pg_stat_probe.py", 11, "NONE"),
  feature("nginx", "extend", "nginx_probe", 12, "NONE"),
  feature("lvs", "extend", "trace_lvs", 13, "NONE"),
  feature("kafka", "extend", "kafkaprobe", 14, "NONE"),
  feature("tprofiling", "extend", "tprofiling", 15, "PROC", [
    ["oncpu", 0x1],
    ["syscall_file", 0x2],
    ["syscall_net", 0x4],
    ["syscall_lock", 0x10],
    ["syscall_sched", 0x8],
    ["python_gc", 0x20],
    ["pthread_sync", 0x40],
    ["oncpu_sample", 0x80],
    ["mem_usage", 0x100],
    ["mem_glibc", 0x200],
    ["offcpu", 0x400],
  ]),
  feature("hw", "extend", "hwprobe", 16, "NONE", [
    ["hw_nic", 0x1],
    ["hw_mem", 0x2],
  ]),
  feature("ksli", "extend", "ksliprobe", 17, "NONE"),
  feature("container", "extend", "cadvisor_probe.py", 18, "PROC"),
  feature("sermant", "extend", "sermant_probe.py", 19, "PROC", L7_SUBITEMS),
  feature("sli", "extend", "sliprobe", 20, "CON", [
    ["cpu", 0x1],
    ["mem", 0x2],
    ["io", 0x4],
    ["node", 0x8],
    ["container", 0x10],
    ["histogram", 0x20],
  ]),
  feature("flowtracer", "extend", "flowtracer", 21, "NONE"),
]);

const BY_NAME: ReadonlyMap<string, FeatureDef> = new Map(FEATURES.map((f) => [f.name, f]));

/** ASCII-only lower-casing, like strcasecmp (so e.g. the Kelvin sign never folds to "k"). */
export function asciiLower(s: string): string {
  return s.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

/** The built-in feature named `urlName`, compared case-insensitively (ASCII), exact otherwise. */
export function findFeature(urlName: string): FeatureDef | undefined {
  if (typeof urlName !== "string" || urlName.length === 0 || urlName.length > 64) return undefined;
  return BY_NAME.get(asciiLower(urlName));
}

/** The subitem of `f` whose name equals `name` case-insensitively (ASCII). */
export function findSubitem(f: FeatureDef, name: string): Subitem | undefined {
  const lower = asciiLower(name);
  return f.subitems.find((s) => s.name === lower);
}
