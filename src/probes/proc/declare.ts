// What the proc probe is to the REST API (rest-api.md §10: taskprobe, scope ALL, upstream's
// subitem bits), the events it raises (events-and-metadata.md §1.4: DNS error ratio; the
// proc entity's own events are compiled out upstream) and its tuning limits.
import type { EventDecl, FeatureDeclaration, LimitDecl } from "../../probe/define.ts";

export const PROC_FEATURE = {
  feature: "proc",
  bin: "taskprobe",
  ipcType: 8,
  scope: "ALL",
  subitems: [
    { name: "proc_syscall", bit: 0x1 },
    { name: "proc_fs", bit: 0x2 },
    { name: "proc_dns", bit: 0x4 },
    { name: "proc_io", bit: 0x8 },
    { name: "proc_pagecache", bit: 0x10 },
    { name: "proc_net", bit: 0x20 },
    { name: "proc_offcpu", bit: 0x40 },
    { name: "proc_ioctl", bit: 0x80 },
    { name: "proc_pygc", bit: 0x100 },
  ],
} as const satisfies FeatureDeclaration;

export const PROC_EVENTS: readonly EventDecl[] = [{ entity: "dns", metrics: ["error_ratio"] }];

export const PROC_LIMITS: Readonly<Record<string, LimitDecl>> = {
  max_procs: { default: 4096, min: 64, max: 1 << 20, help: "processes with values in the kernel at once (the procs map); more are counted as procs_map_full drops" },
  max_threads: { default: 16384, min: 256, max: 1 << 22, help: "threads inside a timed syscall or off CPU at once (LRU maps: the oldest entries are evicted)" },
  max_bios: { default: 16384, min: 256, max: 1 << 22, help: "bios submitted by processes in scope and not yet completed (LRU map: the oldest entries are evicted, their latency is not measured)" },
  max_dns_domains: { default: 4096, min: 16, max: 1 << 20, help: "(process, domain) pairs aggregated per period; more are counted as dns_domains_full drops" },
  max_python: { default: 256, min: 1, max: 65536, help: "distinct Python interpreter files (device:inode) with GC probes at once" },
  max_libc: { default: 256, min: 1, max: 65536, help: "distinct libc files (device:inode) with DNS uprobes at once" },
};
