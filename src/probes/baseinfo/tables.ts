// Table definitions for baseinfo subitems cpu and mem.
// Generated from spec metrics.json (meta files system_cpu.meta, system_meminfo.meta);
// field order, types and descriptions follow the spec exactly. Checked against the spec
// by compute.test.ts when the spec folder is present.

import { defineTable, type TableDef } from "../../store/table.ts";

/** system_cpu.meta: system_cpu (subitem cpu). */
export const systemCpuTable: TableDef = defineTable({
  name: "system_cpu",
  entity: "cpu",
  version: "1.0.0",
  fields: [
    { name: "cpu", type: "key", description: "CPU index" },
    { name: "rcu", type: "gauge", description: "RCU softirq count" },
    { name: "timer", type: "gauge", description: "timer softirq count" },
    { name: "sched", type: "gauge", description: "scheduler softirq count" },
    { name: "net_rx", type: "gauge", description: "network-receive softirq count" },
    { name: "user_msec", type: "gauge", description: "user CPU time, ms" },
    { name: "nice_msec", type: "gauge", description: "nice CPU time, ms" },
    { name: "system_msec", type: "gauge", description: "system CPU time, ms" },
    { name: "idle_msec", type: "gauge", description: "idle CPU time, ms" },
    { name: "iowait_msec", type: "gauge", description: "iowait CPU time, ms" },
    { name: "irq_msec", type: "gauge", description: "hard-irq CPU time, ms" },
    { name: "softirq_msec", type: "gauge", description: "soft-irq CPU time, ms" },
    { name: "steal_msec", type: "gauge", description: "steal CPU time, ms" },
    { name: "backlog_drops", type: "gauge", description: "packets dropped because the per-CPU backlog queue was full" },
    { name: "rps_count", type: "gauge", description: "inter-processor wake-ups to process packets (RPS)" },
    { name: "util_per", type: "gauge", description: "CPU utilization, percent" },
    { name: "mhz", type: "gauge", description: "current CPU frequency, MHz" },
  ],
});

/** system_cpu.meta: system_cpu_util (subitem cpu). */
export const systemCpuUtilTable: TableDef = defineTable({
  name: "system_cpu_util",
  entity: "cpu",
  version: "1.0.0",
  fields: [
    { name: "cpu", type: "key", description: "CPU index" },
    { name: "total_used_per", type: "gauge", description: "CPU utilization over all CPUs, percent" },
  ],
});

/** system_meminfo.meta: system_meminfo (subitem mem). */
export const systemMeminfoTable: TableDef = defineTable({
  name: "system_meminfo",
  entity: "mem",
  version: "1.0.0",
  fields: [
    { name: "infos", type: "key", description: "fixed key naming the source of the record" },
    { name: "total_kB", type: "gauge", description: "total memory, KiB" },
    { name: "free_kB", type: "gauge", description: "free memory, KiB" },
    { name: "available_kB", type: "gauge", description: "available memory, KiB" },
    { name: "util", type: "gauge", description: "memory usage, percent" },
    { name: "buffers_kB", type: "gauge", description: "buffer memory, KiB" },
    { name: "cache_kB", type: "gauge", description: "page-cache memory, KiB" },
    { name: "active_kB", type: "gauge", description: "active memory, KiB" },
    { name: "inactive_kB", type: "gauge", description: "inactive memory, KiB" },
    { name: "swap_total_kB", type: "gauge", description: "total swap, KiB" },
    { name: "swap_free_kB", type: "gauge", description: "free swap, KiB" },
    { name: "swap_util", type: "gauge", description: "swap usage, percent" },
    { name: "slab_kB", type: "gauge", description: "slab memory, KiB" },
    { name: "SReclaimable_kB", type: "gauge", description: "reclaimable slab, KiB" },
    { name: "Unreclaim_kB", type: "gauge", description: "unreclaimable slab, KiB" },
    { name: "page_kB", type: "gauge", description: "page-table memory, KiB" },
    { name: "vmalloc_kB", type: "gauge", description: "vmalloc address space in use, KiB" },
    { name: "stack_kB", type: "gauge", description: "kernel stack memory, KiB" },
    { name: "active_anon_kB", type: "gauge", description: "active anonymous memory, KiB" },
    { name: "inactive_anon_kB", type: "gauge", description: "inactive anonymous memory, KiB" },
    { name: "active_file_kB", type: "gauge", description: "active file-backed memory, KiB" },
    { name: "inactive_file_kB", type: "gauge", description: "inactive file-backed memory, KiB" },
    { name: "mlocked", type: "gauge", description: "mlocked memory, KiB" },
    { name: "big_page_kB", type: "gauge", description: "huge-page memory, KiB" },
    { name: "shmem_kB", type: "gauge", description: "shared memory, KiB" },
  ],
});

/** system_meminfo.meta: system_dentry (subitem mem). */
export const systemDentryTable: TableDef = defineTable({
  name: "system_dentry",
  entity: "mem",
  version: "1.0.0",
  fields: [
    { name: "infos", type: "key", description: "fixed key naming the source of the record" },
    { name: "dentry", type: "gauge", description: "allocated dentries" },
    { name: "unused_dentry", type: "gauge", description: "unused dentries" },
    { name: "age_limit", type: "gauge", description: "dentry age limit, seconds" },
  ],
});

/** All baseinfo cpu/mem tables, in report order. */
export const baseinfoCpuMemTables: readonly TableDef[] = [systemCpuTable, systemCpuUtilTable, systemMeminfoTable, systemDentryTable];
