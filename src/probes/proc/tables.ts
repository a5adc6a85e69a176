// Tables of the proc probe, from spec metrics.json (taskprobe's meta files): entity proc
// (key tgid) for every table but proc_dns (entity dns, keys tgid and domain). Field order,
// types and descriptions follow the spec exactly.
import { defineTable, type TableDef } from "../../store/table.ts";

/** proc.meta: proc_syscall (subitem proc_syscall). */
export const procSyscallTable: TableDef = defineTable({
  name: "proc_syscall",
  entity: "proc",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "process id (thread-group id) the record belongs to" },
    { name: "syscall_failed", type: "gauge", description: "number of failed system calls" },
  ],
});

/** proc.meta: proc_syscall_sched (subitem proc_syscall). */
export const procSyscallSchedTable: TableDef = defineTable({
  name: "proc_syscall_sched",
  entity: "proc",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "process id (thread-group id) the record belongs to" },
    { name: "ns_sched_yield", type: "gauge", description: "time in sched_yield(), ns" },
    { name: "ns_futex", type: "gauge", description: "time in futex(), ns" },
    { name: "ns_epoll_wait", type: "gauge", description: "time in epoll_wait(), ns" },
    { name: "ns_epoll_pwait", type: "gauge", description: "time in epoll_pwait(), ns" },
  ],
});

/** proc.meta: proc_syscall_fork (subitem proc_syscall). */
export const procSyscallForkTable: TableDef = defineTable({
  name: "proc_syscall_fork",
  entity: "proc",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "process id (thread-group id) the record belongs to" },
    { name: "ns_fork", type: "gauge", description: "time in fork(), ns" },
    { name: "ns_vfork", type: "gauge", description: "time in vfork(), ns" },
    { name: "ns_clone", type: "gauge", description: "time in clone(), ns" },
  ],
});

/** proc.meta: proc_syscall_io (subitem proc_io). */
export const procSyscallIoTable: TableDef = defineTable({
  name: "proc_syscall_io",
  entity: "proc",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "process id (thread-group id) the record belongs to" },
    { name: "ns_mount", type: "gauge", description: "time in mount(), ns" },
    { name: "ns_umount", type: "gauge", description: "time in umount(), ns" },
    { name: "ns_read", type: "gauge", description: "time in read(), ns" },
    { name: "ns_write", type: "gauge", description: "time in write(), ns" },
    { name: "ns_fsync", type: "gauge", description: "time in fsync(), ns" },
  ],
});

/** proc.meta: proc_syscall_net (subitem proc_net). */
export const procSyscallNetTable: TableDef = defineTable({
  name: "proc_syscall_net",
  entity: "proc",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "process id (thread-group id) the record belongs to" },
    { name: "ns_sendmsg", type: "gauge", description: "time in sendmsg(), ns" },
    { name: "ns_recvmsg", type: "gauge", description: "time in recvmsg(), ns" },
  ],
});

/** proc.meta: proc_ext4 (subitem proc_fs). */
export const procExt4Table: TableDef = defineTable({
  name: "proc_ext4",
  entity: "proc",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "process id (thread-group id) the record belongs to" },
    { name: "ns_ext4_read", type: "gauge", description: "time in ext4 read, ns" },
    { name: "ns_ext4_write", type: "gauge", description: "time in ext4 write, ns" },
    { name: "ns_ext4_open", type: "gauge", description: "time in ext4 open, ns" },
    { name: "ns_ext4_flush", type: "gauge", description: "time in ext4 fsync/flush, ns" },
  ],
});

/** proc.meta: proc_overlay (subitem proc_fs). */
export const procOverlayTable: TableDef = defineTable({
  name: "proc_overlay",
  entity: "proc",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "process id (thread-group id) the record belongs to" },
    { name: "ns_overlay_read", type: "gauge", description: "time in overlayfs read, ns" },
    { name: "ns_overlay_write", type: "gauge", description: "time in overlayfs write, ns" },
    { name: "ns_overlay_open", type: "gauge", description: "time in overlayfs open, ns" },
    { name: "ns_overlay_flush", type: "gauge", description: "time in overlayfs fsync/flush, ns" },
  ],
});

/** proc.meta: proc_tmpfs (subitem proc_fs). */
export const procTmpfsTable: TableDef = defineTable({
  name: "proc_tmpfs",
  entity: "proc",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "process id (thread-group id) the record belongs to" },
    { name: "ns_tmpfs_read", type: "gauge", description: "time in tmpfs read, ns" },
    { name: "ns_tmpfs_write", type: "gauge", description: "time in tmpfs write, ns" },
    { name: "ns_tmpfs_flush", type: "gauge", description: "time in tmpfs fsync/flush, ns" },
  ],
});

/** proc.meta: proc_page (subitem proc_pagecache). */
export const procPageTable: TableDef = defineTable({
  name: "proc_page",
  entity: "proc",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "process id (thread-group id) the record belongs to" },
    { name: "reclaim_ns", type: "gauge", description: "time the process spent in direct memory reclaim, ns" },
    { name: "access_pagecache", type: "gauge", description: "page-cache accesses" },
    { name: "mark_buffer_dirty", type: "gauge", description: "buffer pages marked dirty" },
    { name: "load_page_cache", type: "gauge", description: "pages added to the page cache LRU" },
    { name: "mark_page_dirty", type: "gauge", description: "pages marked dirty" },
  ],
});

/** proc.meta: proc_io (subitem proc_io). */
export const procIoTable: TableDef = defineTable({
  name: "proc_io",
  entity: "proc",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "process id (thread-group id) the record belongs to" },
    { name: "less_4k_io_read", type: "gauge", description: "bio reads smaller than 4 KiB" },
    { name: "less_4k_io_write", type: "gauge", description: "bio writes smaller than 4 KiB" },
    { name: "greater_4k_io_read", type: "gauge", description: "bio reads of 4 KiB or more" },
    { name: "greater_4k_io_write", type: "gauge", description: "bio writes of 4 KiB or more" },
    { name: "bio_latency", type: "gauge", description: "block-I/O (bio) latency, ns" },
    { name: "bio_err_count", type: "gauge", description: "failed bio operations" },
    { name: "hang_count", type: "gauge", description: "times the process was reported hung" },
  ],
});

/** proc.meta: proc_cpu (subitem proc_offcpu). */
export const procCpuTable: TableDef = defineTable({
  name: "proc_cpu",
  entity: "proc",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "process id (thread-group id) the record belongs to" },
    { name: "iowait_ns", type: "gauge", description: "time the process waited on I/O, ns" },
    { name: "offcpu_ns", type: "gauge", description: "time the process was off CPU, ns" },
  ],
});

/** proc.meta: proc_syscall_ioctl (subitem proc_ioctl). */
export const procSyscallIoctlTable: TableDef = defineTable({
  name: "proc_syscall_ioctl",
  entity: "proc",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "process id (thread-group id) the record belongs to" },
    { name: "ioctl_fd", type: "label", description: "file descriptor the ioctl was issued on" },
    { name: "ioctl_dir", type: "label", description: "ioctl direction bits" },
    { name: "ioctl_type", type: "label", description: "ioctl type field" },
    { name: "ioctl_nr", type: "label", description: "ioctl command number" },
    { name: "ioctl_size", type: "gauge", description: "ioctl argument size" },
    { name: "ns_ioctl", type: "gauge", description: "time in ioctl(), ns" },
  ],
});

/** proc.meta: proc_pygc (subitem proc_pygc). */
export const procPygcTable: TableDef = defineTable({
  name: "proc_pygc",
  entity: "proc",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "process id (thread-group id) the record belongs to" },
    { name: "python_gc", type: "gauge", description: "number of Python GC runs" },
    { name: "latency_sum", type: "gauge", description: "total Python GC time, ms" },
    { name: "latency_max", type: "gauge", description: "longest Python GC run, ms" },
  ],
});

/** proc_dns.meta: proc_dns (subitem proc_dns). */
export const procDnsTable: TableDef = defineTable({
  name: "proc_dns",
  entity: "dns",
  version: "1.0.0",
  fields: [
    { name: "tgid", type: "key", description: "process id (thread-group id) the record belongs to" },
    { name: "domain", type: "key", description: "DNS domain name queried" },
    { name: "delay_avg", type: "gauge", description: "average DNS lookup latency" },
    { name: "max_delay", type: "gauge", description: "largest DNS lookup latency" },
    { name: "error_ratio", type: "gauge", description: "fraction of failed DNS lookups" },
    { name: "count", type: "gauge", description: "number of DNS lookups (successful or not)" },
    { name: "error_count", type: "gauge", description: "number of failed DNS lookups" },
  ],
});

export const procTables: readonly TableDef[] = [procSyscallTable, procSyscallSchedTable, procSyscallForkTable, procSyscallIoTable, procSyscallNetTable, procExt4Table, procOverlayTable, procTmpfsTable, procPageTable, procIoTable, procCpuTable, procSyscallIoctlTable, procPygcTable, procDnsTable];
