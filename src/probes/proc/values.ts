// The per-process values of bpf/proc/proc.h (struct proc_vals: u64 slots), which table
// field each slot feeds, and the per-period deltas of the cumulative kernel values.
import type { Row, TableDef } from "../../store/table.ts";
import * as T from "./tables.ts";

/** enum proc_slot (bpf/proc/proc.h). */
export const S = {
  SYSCALL_FAILED: 0,
  MOUNT: 1,
  UMOUNT: 2,
  READ: 3,
  WRITE: 4,
  FSYNC: 5,
  SENDMSG: 6,
  RECVMSG: 7,
  SCHED_YIELD: 8,
  FUTEX: 9,
  EPOLL_WAIT: 10,
  EPOLL_PWAIT: 11,
  FORK: 12,
  VFORK: 13,
  CLONE: 14,
  EXT4: 15,
  OVL: 19,
  TMPFS: 23,
  IOWAIT: 27,
  OFFCPU: 28,
  RECLAIM: 29,
  PAGE_ACCESS: 30,
  BUFFER_DIRTY: 31,
  PAGE_LOAD: 32,
  PAGE_DIRTY: 33,
  EXITED: 34,
  IOCTL: 35,
  BIO_READ_SMALL: 36,
  BIO_WRITE_SMALL: 37,
  BIO_READ_BIG: 38,
  BIO_WRITE_BIG: 39,
  BIO_ERR: 40,
  HANG: 41,
  PYGC: 42,
  PYGC_NS: 43,
} as const;
export const SLOT_COUNT = 44;
/** Bytes of struct proc_vals. */
export const VALS_BYTES = SLOT_COUNT * 8;
/** enum proc_fs_op: offset from a file system's first slot. */
const FS_READ = 0;
const FS_WRITE = 1;
const FS_OPEN = 2;
const FS_FLUSH = 3;

/** struct period_max (bpf/proc/proc.h): the maxima of one process over one period, ns. */
export interface PeriodMax {
  bio: number;
  pygc: number;
}
export const NO_MAX: Readonly<PeriodMax> = Object.freeze({ bio: 0, pygc: 0 });
const NS_PER_MS = 1e6;

/** Where a field comes from: a slot (the period's delta) or one of the period's maxima. */
export type FieldSource = number | { readonly max: keyof PeriodMax };

export interface TableSlots {
  readonly table: TableDef;
  readonly subitem: string;
  /** field name → its source, optionally divided by a unit (ns → ms), in the table's field order */
  readonly fields: readonly (readonly [string, FieldSource, number?])[];
}

/** Tables filled from the per-process values (proc_dns comes from the DNS ring). */
export const TABLE_SLOTS: readonly TableSlots[] = [
  { table: T.procSyscallTable, subitem: "proc_syscall", fields: [["syscall_failed", S.SYSCALL_FAILED]] },
  {
    table: T.procSyscallSchedTable,
    subitem: "proc_syscall",
    fields: [
      ["ns_sched_yield", S.SCHED_YIELD],
      ["ns_futex", S.FUTEX],
      ["ns_epoll_wait", S.EPOLL_WAIT],
      ["ns_epoll_pwait", S.EPOLL_PWAIT],
    ],
  },
  {
    table: T.procSyscallForkTable,
    subitem: "proc_syscall",
    fields: [
      ["ns_fork", S.FORK],
      ["ns_vfork", S.VFORK],
      ["ns_clone", S.CLONE],
    ],
  },
  {
    table: T.procSyscallIoTable,
    subitem: "proc_io",
    fields: [
      ["ns_mount", S.MOUNT],
      ["ns_umount", S.UMOUNT],
      ["ns_read", S.READ],
      ["ns_write", S.WRITE],
      ["ns_fsync", S.FSYNC],
    ],
  },
  {
    table: T.procSyscallNetTable,
    subitem: "proc_net",
    fields: [
      ["ns_sendmsg", S.SENDMSG],
      ["ns_recvmsg", S.RECVMSG],
    ],
  },
  {
    table: T.procExt4Table,
    subitem: "proc_fs",
    fields: [
      ["ns_ext4_read", S.EXT4 + FS_READ],
      ["ns_ext4_write", S.EXT4 + FS_WRITE],
      ["ns_ext4_open", S.EXT4 + FS_OPEN],
      ["ns_ext4_flush", S.EXT4 + FS_FLUSH],
    ],
  },
  {
    table: T.procOverlayTable,
    subitem: "proc_fs",
    fields: [
      ["ns_overlay_read", S.OVL + FS_READ],
      ["ns_overlay_write", S.OVL + FS_WRITE],
      ["ns_overlay_open", S.OVL + FS_OPEN],
      ["ns_overlay_flush", S.OVL + FS_FLUSH],
    ],
  },
  {
    table: T.procTmpfsTable,
    subitem: "proc_fs",
    fields: [
      ["ns_tmpfs_read", S.TMPFS + FS_READ],
      ["ns_tmpfs_write", S.TMPFS + FS_WRITE],
      ["ns_tmpfs_flush", S.TMPFS + FS_FLUSH],
    ],
  },
  {
    table: T.procPageTable,
    subitem: "proc_pagecache",
    fields: [
      ["reclaim_ns", S.RECLAIM],
      ["access_pagecache", S.PAGE_ACCESS],
      ["mark_buffer_dirty", S.BUFFER_DIRTY],
      ["load_page_cache", S.PAGE_LOAD],
      ["mark_page_dirty", S.PAGE_DIRTY],
    ],
  },
  {
    table: T.procIoTable,
    subitem: "proc_io",
    fields: [
      ["less_4k_io_read", S.BIO_READ_SMALL],
      ["less_4k_io_write", S.BIO_WRITE_SMALL],
      ["greater_4k_io_read", S.BIO_READ_BIG],
      ["greater_4k_io_write", S.BIO_WRITE_BIG],
      ["bio_latency", { max: "bio" }],
      ["bio_err_count", S.BIO_ERR],
      ["hang_count", S.HANG],
    ],
  },
  {
    table: T.procPygcTable,
    subitem: "proc_pygc",
    fields: [
      ["python_gc", S.PYGC],
      ["latency_sum", S.PYGC_NS, NS_PER_MS],
      ["latency_max", { max: "pygc" }, NS_PER_MS],
    ],
  },
  {
    table: T.procCpuTable,
    subitem: "proc_offcpu",
    fields: [
      ["iowait_ns", S.IOWAIT],
      ["offcpu_ns", S.OFFCPU],
    ],
  },
];

/** Decodes one struct proc_vals. */
export function decodeVals(view: DataView, offset = 0): Float64Array {
  const out = new Float64Array(SLOT_COUNT);
  for (let i = 0; i < SLOT_COUNT; i++) out[i] = Number(view.getBigUint64(offset + i * 8, true));
  return out;
}

/** Cumulative kernel values per tgid → per-period deltas, rows once a table has seen activity. */
export class PeriodDeltas {
  private readonly last = new Map<number, Float64Array>();
  /** The last period's time in ioctl() (the one delta read outside the tables). */
  private readonly ioctlNs = new Map<number, number>();
  /** Tables (index into TABLE_SLOTS) a tgid has had activity in: its rows continue until it goes. */
  private readonly active = new Map<number, Set<number>>();

  /** The rows of one process for this period, for the tables of the enabled subitems. */
  rows(tgid: number, now: Float64Array, subitems: ReadonlySet<string>, max: Readonly<PeriodMax> = NO_MAX): { table: TableDef; row: Row }[] {
    const prev = this.last.get(tgid);
    this.last.set(tgid, now);
    const delta = new Float64Array(SLOT_COUNT);
    // A reused entry (a value lower than last time) starts again from zero.
    for (let s = 0; s < SLOT_COUNT; s++) delta[s] = now[s]! - (prev && prev[s]! <= now[s]! ? prev[s]! : 0);
    if (delta[S.IOCTL]) this.ioctlNs.set(tgid, delta[S.IOCTL]!);
    else this.ioctlNs.delete(tgid);
    let act = this.active.get(tgid);
    const out: { table: TableDef; row: Row }[] = [];
    TABLE_SLOTS.forEach((ts, i) => {
      if (!subitems.has(ts.subitem)) return;
      const row: Record<string, number> = { tgid };
      let any = false;
      for (const [field, src, unit] of ts.fields) {
        const v = typeof src === "number" ? delta[src]! : max[src.max];
        row[field] = unit ? v / unit : v;
        if (typeof src === "number" ? now[src]! > 0 : v > 0) any = true;
      }
      if (any) {
        act ??= new Set();
        this.active.set(tgid, act);
        act.add(i);
      }
      if (act?.has(i)) out.push({ table: ts.table, row: { ...row, tgid: String(tgid) } });
    });
    return out;
  }

  /** The time in ioctl() of the period rows() last computed for `tgid`. */
  ioctlDelta(tgid: number): number {
    return this.ioctlNs.get(tgid) ?? 0;
  }

  forget(tgid: number): void {
    this.last.delete(tgid);
    this.ioctlNs.delete(tgid);
    this.active.delete(tgid);
  }

  /** Every tgid seen. */
  tgids(): IterableIterator<number> {
    return this.last.keys();
  }
}

/** struct ioctl_max: the slowest ioctl of a process in the period. */
export interface IoctlMax {
  ns: number;
  fd: number;
  cmd: number;
}

/**
 * The proc_syscall_ioctl row of a period: the slowest call's fd and command fields
 * (asm-generic _IOC layout: nr bits 0-7, type 8-15, size 16-29, dir 30-31) and the time
 * spent in ioctl() over the period.
 */
export function ioctlRow(tgid: number, max: IoctlMax, nsIoctl: number): Row {
  const cmd = max.cmd >>> 0;
  return {
    tgid: String(tgid),
    ioctl_fd: String(max.fd),
    ioctl_dir: String(cmd >>> 30),
    ioctl_type: String((cmd >>> 8) & 0xff),
    ioctl_nr: String(cmd & 0xff),
    ioctl_size: (cmd >>> 16) & 0x3fff,
    ns_ioctl: nsIoctl,
  };
}
