// Table definitions for baseinfo subitems proc and con (spec metrics.json: meta files
// system_proc.meta and system_con.meta); field order, types and descriptions follow the
// spec exactly (checked by proc.test.ts when the spec folder is present).
import { defineTable, type TableDef } from "../../store/table.ts";

/** system_con.meta: system_con_io (subitem con). */
export const systemConIoTable: TableDef = defineTable({
  name: "system_con_io",
  entity: "container",
  version: "1.0.0",
  fields: [
    { name: "container_id", type: "key", description: "container id (12-hex-char short form)" },
    { name: "dir", type: "label", description: "monitored directory inside the container" },
    { name: "write_rate", type: "gauge", description: "write rate into the directory, bytes/s" },
  ],
});

/** system_proc.meta: system_proc (subitem proc). */
export const systemProcTable: TableDef = defineTable({
  name: "system_proc",
  entity: "proc",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "process id (thread-group id) the record belongs to" },
    { name: "pgid", type: "label", description: "process group id of the process" },
    { name: "ppid", type: "label", description: "parent process id" },
    { name: "fd_count", type: "gauge", description: "open file descriptors" },
    { name: "fd_free_per", type: "gauge", description: "remaining fd headroom, percent" },
    { name: "rchar_bytes", type: "gauge", description: "bytes read via syscalls" },
    { name: "wchar_bytes", type: "gauge", description: "bytes written via syscalls" },
    { name: "syscr_count", type: "gauge", description: "read syscalls" },
    { name: "syscw_count", type: "gauge", description: "write syscalls" },
    { name: "read_bytes", type: "gauge", description: "bytes the process caused to be read from storage" },
    { name: "write_bytes", type: "gauge", description: "bytes the process caused to be written to storage" },
    { name: "cancelled_write_bytes", type: "gauge", description: "write bytes cancelled (truncated dirty pages)" },
    { name: "shared_clean_size", type: "gauge", description: "shared clean pages, KiB" },
    { name: "shared_dirty_size", type: "gauge", description: "shared dirty pages, KiB" },
    { name: "private_clean_size", type: "gauge", description: "private clean pages, KiB" },
    { name: "private_dirty_size", type: "gauge", description: "private dirty pages, KiB" },
    { name: "referenced_size", type: "gauge", description: "referenced memory, KiB" },
    { name: "lazyfree_size", type: "gauge", description: "lazily freed memory, KiB" },
    { name: "swap_data_size", type: "gauge", description: "swapped-out memory, KiB" },
    { name: "swap_data_pss_size", type: "gauge", description: "proportional swapped-out memory, KiB" },
    { name: "minor_pagefault_count", type: "gauge", description: "minor page faults" },
    { name: "major_pagefault_count", type: "gauge", description: "major page faults" },
    { name: "utime_jiffies", type: "gauge", description: "user time, jiffies" },
    { name: "stime_jiffies", type: "gauge", description: "system time, jiffies" },
    { name: "cutime_jiffies", type: "gauge", description: "waited-for children user time, jiffies" },
    { name: "cstime_jiffies", type: "gauge", description: "waited-for children system time, jiffies" },
    { name: "priority", type: "gauge", description: "dynamic priority" },
    { name: "nice", type: "gauge", description: "nice value" },
    { name: "num_threads", type: "gauge", description: "threads in the process" },
    { name: "vm_size", type: "gauge", description: "virtual memory size, bytes" },
    { name: "pm_size", type: "gauge", description: "resident memory size, bytes" },
    { name: "pm_util", type: "gauge", description: "resident memory share of total, percent" },
    { name: "cpu", type: "gauge", description: "CPU the process last ran on" },
    { name: "cpu_util", type: "gauge", description: "CPU usage, percent" },
    { name: "cpu_user_util", type: "gauge", description: "user-mode CPU usage, percent" },
    { name: "cpu_system_util", type: "gauge", description: "kernel-mode CPU usage, percent" },
  ],
});

export const baseinfoProcTables: readonly TableDef[] = [systemProcTable, systemConIoTable];
