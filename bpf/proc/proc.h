/* Shared between bpf/proc/proc.bpf.c and src/probes/proc/layout.ts: the slots of the
 * per-process value, the ring record of one DNS lookup, the drop counters. */
#ifndef GOPHER_PROC_H
#define GOPHER_PROC_H

/* Cumulative per-process values (struct proc_vals.v[slot]), ns unless noted. */
enum proc_slot {
	S_SYSCALL_FAILED = 0, /* count */
	S_MOUNT = 1,
	S_UMOUNT = 2,
	S_READ = 3,
	S_WRITE = 4,
	S_FSYNC = 5,
	S_SENDMSG = 6,
	S_RECVMSG = 7,
	S_SCHED_YIELD = 8,
	S_FUTEX = 9,
	S_EPOLL_WAIT = 10,
	S_EPOLL_PWAIT = 11,
	S_FORK = 12,
	S_VFORK = 13,
	S_CLONE = 14,
	S_EXT4_READ = 15, /* + fs op (read, write, open, flush) */
	S_OVL_READ = 19,
	S_TMPFS_READ = 23, /* read, write, (open: unused, tmpfs reports none), flush */
	S_IOWAIT = 27,
	S_OFFCPU = 28,
	S_RECLAIM = 29,
	S_PAGE_ACCESS = 30, /* count */
	S_BUFFER_DIRTY = 31, /* count */
	S_PAGE_LOAD = 32, /* count */
	S_PAGE_DIRTY = 33, /* count */
	S_EXITED = 34, /* 1 once the process exited: user space reads it a last time and deletes it */
	S_IOCTL = 35,
	S_BIO_READ_SMALL = 36, /* count: bios the process submitted, < 4 KiB (proc_io) */
	S_BIO_WRITE_SMALL = 37,
	S_BIO_READ_BIG = 38, /* count: >= 4 KiB */
	S_BIO_WRITE_BIG = 39,
	S_BIO_ERR = 40, /* count: its bios that completed with an error */
	S_HANG = 41, /* count: hung-task reports (sched_process_hang) */
	S_PYGC = 42, /* count: Python GC runs (proc_pygc) */
	S_PYGC_NS = 43,
	S_COUNT = 44,
};

enum proc_fs_op { FS_NONE = 0xff, FS_READ = 0, FS_WRITE = 1, FS_OPEN = 2, FS_FLUSH = 3 };

enum proc_drop {
	D_PROCS_FULL = 0, /* the per-process map was full */
	D_INFLIGHT_FULL = 1,
	D_DNS_RING_FULL = 2,
	D_PERIOD_MAX_FULL = 3, /* the per-period maxima map was full */
	D_COUNT = 4,
};

#define DNS_NAME_MAX 256

enum dns_fn { DNS_GETADDRINFO = 0, DNS_GETHOSTBYNAME = 1 };

/* One DNS lookup, as the ring carries it. */
struct dns_record {
	__u32 tgid;
	__u32 failed;
	__u64 ns;
	char name[DNS_NAME_MAX];
};

/* The slowest ioctl of a process since user space last took it (per period). */
struct ioctl_max {
	__u64 ns;
	__u32 fd;
	__u32 cmd;
};

/* Per-period maxima of one process, kept under (tgid, epoch & 1): user space bumps the
 * epoch, then reads and deletes the entries of the period that ended. */
struct period_max_key {
	__u32 tgid;
	__u32 parity;
};
struct period_max {
	__u64 bio_ns;  /* slowest bio completed without error */
	__u64 pygc_ns; /* longest Python GC run */
};

struct proc_vals {
	__u64 v[S_COUNT];
};

/* Which timings the attached syscall programs record (set by user space after load). */
struct proc_cfg {
	__u32 io_on; /* proc_io: read/write/fsync/mount/umount syscall time */
	__u32 fs_on; /* proc_fs: time per file-system type */
	__u32 epoch; /* report period number: selects the period_max parity */
};

#endif
