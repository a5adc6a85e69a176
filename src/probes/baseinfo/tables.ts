// Table definitions of the baseinfo subitems.
// Generated from spec metrics.json (meta files system_cpu.meta, system_meminfo.meta,
// system_net.meta, system_disk.meta, system_os.meta);
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

/** system_net.meta: nic (subitem nic). */
export const nicTable: TableDef = defineTable({
  name: "nic",
  entity: "nic",
  version: "1.0.1",
  fields: [
    { name: "dev_name", type: "key", description: "network interface name" },
    { name: "status", type: "label", description: "link state of the device" },
    { name: "rx_bytes", type: "gauge", description: "bytes received by the interface" },
    { name: "rx_packets", type: "gauge", description: "packets received" },
    { name: "rx_errs", type: "gauge", description: "receive errors" },
    { name: "rx_dropped", type: "gauge", description: "receive drops" },
    { name: "tx_bytes", type: "gauge", description: "bytes sent by the interface" },
    { name: "tx_packets", type: "gauge", description: "packets sent" },
    { name: "tx_errs", type: "gauge", description: "transmit errors" },
    { name: "tx_dropped", type: "gauge", description: "transmit drops" },
    { name: "rxspeed_KB", type: "gauge", description: "receive rate, KB/s" },
    { name: "txspeed_KB", type: "gauge", description: "transmit rate, KB/s" },
    { name: "tc_sent_drop", type: "gauge", description: "qdisc drops" },
    { name: "tc_sent_overlimits", type: "gauge", description: "qdisc over-limit events" },
    { name: "tc_backlog", type: "gauge", description: "qdisc backlog" },
    { name: "tc_ecn_mark", type: "gauge", description: "qdisc ECN marks" },
  ],
});

/** system_net.meta: system_tcp (subitem net). */
export const systemTcpTable: TableDef = defineTable({
  name: "system_tcp",
  entity: "net",
  version: "1.0.1",
  fields: [
    { name: "origin", type: "key", description: "fixed key naming the source of the record" },
    { name: "tcp_curr_estab", type: "gauge", description: "currently established TCP connections" },
    { name: "tcp_in_segs", type: "gauge", description: "TCP segments received" },
    { name: "tcp_out_segs", type: "gauge", description: "TCP segments sent" },
    { name: "tcp_retrans_segs", type: "gauge", description: "TCP segments retransmitted" },
    { name: "tcp_in_errs", type: "gauge", description: "TCP segments received with errors" },
  ],
});

/** system_net.meta: system_udp (subitem net). */
export const systemUdpTable: TableDef = defineTable({
  name: "system_udp",
  entity: "net",
  version: "1.0.1",
  fields: [
    { name: "origin", type: "key", description: "fixed key naming the source of the record" },
    { name: "udp_indata_grams", type: "gauge", description: "UDP datagrams received" },
    { name: "udp_outdata_grams", type: "gauge", description: "UDP datagrams sent" },
  ],
});

/** system_disk.meta: system_iostat (subitem disk). */
export const systemIostatTable: TableDef = defineTable({
  name: "system_iostat",
  entity: "disk",
  version: "1.0.1",
  fields: [
    { name: "disk_name", type: "key", description: "name of the disk device" },
    { name: "rspeed", type: "gauge", description: "reads per second" },
    { name: "rspeed_kB", type: "gauge", description: "KiB read per second" },
    { name: "r_await", type: "gauge", description: "average read wait, ms" },
    { name: "rareq", type: "gauge", description: "average read request size" },
    { name: "wspeed", type: "gauge", description: "writes per second" },
    { name: "wspeed_kB", type: "gauge", description: "KiB written per second" },
    { name: "w_await", type: "gauge", description: "average write wait, ms" },
    { name: "wareq", type: "gauge", description: "average write request size" },
    { name: "aqu", type: "gauge", description: "average queue length" },
    { name: "util", type: "gauge", description: "device busy time, percent" },
  ],
});

/** system_disk.meta: system_df (subitem fs). */
export const systemDfTable: TableDef = defineTable({
  name: "system_df",
  entity: "fs",
  version: "1.0.1",
  fields: [
    { name: "MountOn", type: "key", description: "mount point" },
    { name: "MountStatus", type: "label", description: "mount state (e.g. rw/ro)" },
    { name: "Fsname", type: "label", description: "file-system source name" },
    { name: "Fstype", type: "label", description: "file-system type" },
    { name: "Inodes", type: "label", description: "total inodes" },
    { name: "IUsed", type: "gauge", description: "inodes in use" },
    { name: "IFree", type: "gauge", description: "inodes free" },
    { name: "IUsePer", type: "gauge", description: "inode usage, percent" },
    { name: "Blocks", type: "label", description: "total size in 1 KiB blocks" },
    { name: "Used", type: "gauge", description: "used space, KiB" },
    { name: "Free", type: "gauge", description: "free space, KiB" },
    { name: "UsePer", type: "gauge", description: "space usage, percent" },
  ],
});

/** system_os.meta: system_os (subitem host). */
export const systemOsTable: TableDef = defineTable({
  name: "system_os",
  entity: "host",
  version: "1.0.0",
  fields: [
    { name: "os_version", type: "key", description: "operating system release string" },
    { name: "hostname", type: "label", description: "node host name (uname -n)" },
    { name: "kversion", type: "label", description: "kernel release" },
    { name: "cpu_num", type: "label", description: "number of CPUs" },
    { name: "memory_MB", type: "label", description: "total memory, MB" },
    { name: "ip_addr", type: "label", description: "host IP addresses" },
    { name: "host_type", type: "label", description: "vm or pm" },
    { name: "clock_ticks", type: "label", description: "clock ticks per second" },
    { name: "os_btime", type: "label", description: "boot time" },
    { name: "value", type: "gauge", description: "constant 1 so that host labels are exported" },
  ],
});
/** Tables of nic, net, disk, fs and host, in report order. */
export const baseinfoHostTables: readonly TableDef[] = [nicTable, systemTcpTable, systemUdpTable, systemIostatTable, systemDfTable, systemOsTable];
