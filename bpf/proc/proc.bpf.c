/* The proc probe's kernel side (taskprobe's tables): per process in scope, failed
 * syscalls (raw sys_exit), the time spent in selected syscalls (their own classic
 * tracepoints), file-system read/write/open/flush time per file-system type (the type read
 * from the file itself: fd -> file -> f_inode -> i_sb -> s_magic), off-CPU and iowait time
 * (sched_switch), direct-reclaim time and page-cache counts, and DNS lookups (uprobes on
 * libc, one ring record per lookup). Every program asks gopher_in_scope() first. Values
 * are cumulative per tgid in `procs`; user space turns them into per-period deltas. */
#include "gopher.h"
#include "scope.h"
#include "proc.h"

char LICENSE[] SEC("license") = "GPL";

#define NO_SLOT 0xffff
#define EXT4_SUPER_MAGIC 0xEF53
#define TMPFS_MAGIC 0x01021994
#define OVERLAYFS_SUPER_MAGIC 0x794c7630

struct proc_cfg cfg = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096); /* max_procs */
	__type(key, __u32);
	__type(value, struct proc_vals);
} procs SEC(".maps");

/* A syscall in progress on one thread. */
struct inflight {
	__u64 ts;
	__u16 slot;    /* syscall time slot, NO_SLOT: none */
	__u16 fs_slot; /* file-system slot, NO_SLOT: none */
	__u16 open;    /* openat: classify the returned fd at exit */
	__u16 pad;
	__u32 fd;      /* ioctl: its fd and command */
	__u32 cmd;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); /* max_threads */
	__type(key, __u32);
	__type(value, struct inflight);
} inflight SEC(".maps");

struct offcpu {
	__u64 ts;
	__u64 iowait;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); /* max_threads */
	__type(key, __u32);
	__type(value, struct offcpu);
} offstart SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); /* max_threads */
	__type(key, __u32);
	__type(value, __u64);
} reclaim_start SEC(".maps");

struct dns_start {
	__u64 ts;
	__u64 name;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct dns_start);
} dns_inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 128 * 1024); /* 468 lookups between two drains (at most 200 ms apart) */
} dns_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, D_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096); /* max_procs */
	__type(key, __u32);
	__type(value, struct ioctl_max);
} ioctl_max SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192); /* 2 * max_procs */
	__type(key, struct period_max_key);
	__type(value, struct period_max);
} period_max SEC(".maps");

/* A bio submitted by a process in scope, until it completes. */
struct bio_start {
	__u64 ts;
	__u32 tgid;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); /* max_bios */
	__type(key, __u64);
	__type(value, struct bio_start);
} bios SEC(".maps");

/* A Python GC run in progress on one thread. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); /* max_threads */
	__type(key, __u32);
	__type(value, __u64);
} pygc_start SEC(".maps");

static const struct proc_vals zero_vals = {};
static const struct period_max zero_max = {};

static __always_inline void add(__u32 tgid, __u32 slot, __u64 delta)
{
	if (slot >= S_COUNT)
		return;
	struct proc_vals *v = bpf_map_lookup_elem(&procs, &tgid);
	if (!v) {
		if (bpf_map_update_elem(&procs, &tgid, &zero_vals, BPF_NOEXIST) && bpf_map_lookup_elem(&procs, &tgid) == NULL) {
			COUNT_PERCPU(drops, D_PROCS_FULL);
			return;
		}
		v = bpf_map_lookup_elem(&procs, &tgid);
		if (!v)
			return;
	}
	/* Bound the index again on the register that addresses the value (the verifier does
	 * not carry the check above across the calls). */
	__u32 idx = slot;
	asm volatile("" : "=r"(idx) : "0"(idx));
	if (idx >= S_COUNT)
		return;
	__sync_fetch_and_add(&v->v[idx], delta);
}

/* The period's maxima entry of `tgid`, created when missing (NULL: map full, counted). */
static __always_inline struct period_max *period_max_of(__u32 tgid)
{
	struct period_max_key k = { .tgid = tgid, .parity = cfg.epoch & 1 };
	struct period_max *m = bpf_map_lookup_elem(&period_max, &k);
	if (m)
		return m;
	if (bpf_map_update_elem(&period_max, &k, &zero_max, BPF_NOEXIST) && !bpf_map_lookup_elem(&period_max, &k)) {
		COUNT_PERCPU(drops, D_PERIOD_MAX_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&period_max, &k);
}

/* The file behind descriptor `fd` of the current process, or NULL. */
static __always_inline struct file *fd_file(__u64 fd)
{
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(t, files, fdt);
	if (!fdt)
		return NULL;
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	if (fd >= max)
		return NULL;
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *f = NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

/* The slot of operation `op` on the file system `fd` lives on, NO_SLOT when untracked. */
static __always_inline __u16 fs_slot(__u64 fd, __u32 op)
{
	struct file *f = fd_file(fd);
	if (!f)
		return NO_SLOT;
	unsigned long magic = BPF_CORE_READ(f, f_inode, i_sb, s_magic);
	if (magic == EXT4_SUPER_MAGIC)
		return S_EXT4_READ + op;
	if (magic == OVERLAYFS_SUPER_MAGIC)
		return S_OVL_READ + op;
	if (magic == TMPFS_MAGIC && op != FS_OPEN)
		return S_TMPFS_READ + op;
	return NO_SLOT;
}

/* `io`: the slot is a proc_io one (recorded only while cfg.io_on). */
static __always_inline int sc_enter(__u16 slot, bool io, __u32 fsop, __u64 fd, __u64 cmd)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!gopher_in_scope(id >> 32))
		return 0;
	struct inflight in = { .slot = NO_SLOT, .fs_slot = NO_SLOT };
	if (!io || cfg.io_on)
		in.slot = slot;
	if (fsop != FS_NONE && cfg.fs_on) {
		if (fsop == FS_OPEN)
			in.open = 1;
		else
			in.fs_slot = fs_slot(fd, fsop);
	}
	if (in.slot == NO_SLOT && in.fs_slot == NO_SLOT && !in.open)
		return 0;
	in.fd = fd;
	in.cmd = cmd;
	in.ts = bpf_ktime_get_ns();
	__u32 tid = (__u32)id;
	if (bpf_map_update_elem(&inflight, &tid, &in, BPF_ANY))
		COUNT_PERCPU(drops, D_INFLIGHT_FULL);
	return 0;
}

static __always_inline int sc_exit(struct sc_exit_ctx *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!gopher_in_scope(tgid))
		return 0;
	__u32 tid = (__u32)id;
	struct inflight *in = bpf_map_lookup_elem(&inflight, &tid);
	if (!in)
		return 0;
	__u64 delta = bpf_ktime_get_ns() - in->ts;
	__u16 slot = in->slot, fslot = in->fs_slot;
	struct ioctl_max im = { .ns = delta, .fd = in->fd, .cmd = in->cmd };
	if (in->open && ctx->ret >= 0)
		fslot = fs_slot(ctx->ret, FS_OPEN);
	bpf_map_delete_elem(&inflight, &tid);
	if (slot != NO_SLOT)
		add(tgid, slot, delta);
	if (fslot != NO_SLOT)
		add(tgid, fslot, delta);
	if (slot == S_IOCTL) {
		struct ioctl_max *m = bpf_map_lookup_elem(&ioctl_max, &tgid);
		if (m) {
			if (delta > m->ns)
				*m = im;
		} else if (bpf_map_update_elem(&ioctl_max, &tgid, &im, BPF_NOEXIST) && !bpf_map_lookup_elem(&ioctl_max, &tgid)) {
			COUNT_PERCPU(drops, D_PROCS_FULL);
		}
	}
	return 0;
}

/* A syscall's pair of tracepoints. The enter program reads only the arguments it uses: a
 * tracepoint refuses a program that may read past its record (sched_yield has none). */
#define TIMED_PAIR(name, enter_call)                                         \
	SEC("tracepoint/syscalls/sys_enter_" #name)                          \
	int enter_##name(struct sc_enter_ctx *ctx)                           \
	{                                                                    \
		return enter_call;                                           \
	}                                                                    \
	SEC("tracepoint/syscalls/sys_exit_" #name)                           \
	int exit_##name(struct sc_exit_ctx *ctx)                             \
	{                                                                    \
		return sc_exit(ctx);                                         \
	}
/* Timed only. */
#define TIMED(name, slot, io) TIMED_PAIR(name, sc_enter(slot, io, FS_NONE, 0, 0))
/* Timed and per file system: args[0] is the fd (openat: classified at exit). */
#define TIMED_FS(name, slot, io, fsop) TIMED_PAIR(name, sc_enter(slot, io, fsop, ctx->args[0], 0))

/* proc_io */
TIMED(mount, S_MOUNT, true)
TIMED(umount, S_UMOUNT, true)
TIMED_FS(read, S_READ, true, FS_READ)
TIMED_FS(write, S_WRITE, true, FS_WRITE)
TIMED_FS(fsync, S_FSYNC, true, FS_FLUSH)
/* proc_fs only */
TIMED_FS(pread64, NO_SLOT, false, FS_READ)
TIMED_FS(pwrite64, NO_SLOT, false, FS_WRITE)
TIMED_FS(readv, NO_SLOT, false, FS_READ)
TIMED_FS(writev, NO_SLOT, false, FS_WRITE)
TIMED_FS(fdatasync, NO_SLOT, false, FS_FLUSH)
TIMED_PAIR(openat, sc_enter(NO_SLOT, false, FS_OPEN, 0, 0))
/* proc_net */
TIMED(sendmsg, S_SENDMSG, false)
TIMED(recvmsg, S_RECVMSG, false)
/* proc_syscall */
TIMED(sched_yield, S_SCHED_YIELD, false)
TIMED(futex, S_FUTEX, false)
TIMED(epoll_wait, S_EPOLL_WAIT, false)
TIMED(epoll_pwait, S_EPOLL_PWAIT, false)
TIMED(fork, S_FORK, false)
TIMED(vfork, S_VFORK, false)
TIMED(clone, S_CLONE, false)
/* proc_ioctl: fd and command of the slowest call */
TIMED_PAIR(ioctl, sc_enter(S_IOCTL, false, FS_NONE, ctx->args[0], ctx->args[1]))

/* proc_syscall: every failed syscall (a negative return). This program runs at the end of
 * every syscall of every process, so it first looks at the return value (a register of its
 * context, no lookup): the scope lookup is paid only by the few syscalls that fail. */
SEC("raw_tp/sys_exit")
int on_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	if ((long)ctx->args[1] >= 0)
		return 0;
	__u32 tgid = current_tgid();
	if (!gopher_in_scope(tgid))
		return 0;
	add(tgid, S_SYSCALL_FAILED, 1);
	return 0;
}

/* proc_offcpu: time from a thread's switch-out to its next switch-in. */
SEC("raw_tp/sched_switch")
int on_switch(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *prev = (struct task_struct *)ctx->args[1];
	struct task_struct *next = (struct task_struct *)ctx->args[2];
	__u32 ptgid = BPF_CORE_READ(prev, tgid);
	__u64 now = bpf_ktime_get_ns();
	if (ptgid && gopher_in_scope(ptgid)) {
		__u32 pid = BPF_CORE_READ(prev, pid);
		struct offcpu o = { .ts = now, .iowait = BPF_CORE_READ_BITFIELD_PROBED(prev, in_iowait) };
		bpf_map_update_elem(&offstart, &pid, &o, BPF_ANY);
	}
	__u32 ntgid = BPF_CORE_READ(next, tgid);
	if (!ntgid || !gopher_in_scope(ntgid))
		return 0;
	__u32 npid = BPF_CORE_READ(next, pid);
	struct offcpu *o = bpf_map_lookup_elem(&offstart, &npid);
	if (!o)
		return 0;
	__u64 delta = now - o->ts;
	bool iowait = o->iowait;
	bpf_map_delete_elem(&offstart, &npid);
	add(ntgid, S_OFFCPU, delta);
	if (iowait)
		add(ntgid, S_IOWAIT, delta);
	return 0;
}

/* proc_pagecache */
SEC("raw_tp/mm_vmscan_direct_reclaim_begin")
int on_reclaim_begin(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!gopher_in_scope(id >> 32))
		return 0;
	__u32 tid = (__u32)id;
	__u64 now = bpf_ktime_get_ns();
	bpf_map_update_elem(&reclaim_start, &tid, &now, BPF_ANY);
	return 0;
}

SEC("raw_tp/mm_vmscan_direct_reclaim_end")
int on_reclaim_end(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!gopher_in_scope(tgid))
		return 0;
	__u32 tid = (__u32)id;
	__u64 *start = bpf_map_lookup_elem(&reclaim_start, &tid);
	if (!start)
		return 0;
	__u64 delta = bpf_ktime_get_ns() - *start;
	bpf_map_delete_elem(&reclaim_start, &tid);
	add(tgid, S_RECLAIM, delta);
	return 0;
}

#define COUNTER(tp, slot)                                    \
	SEC("raw_tp/" #tp)                                   \
	int count_##tp(struct bpf_raw_tracepoint_args *ctx)  \
	{                                                    \
		__u32 tgid = current_tgid();                 \
		if (!gopher_in_scope(tgid))                  \
			return 0;                            \
		add(tgid, slot, 1);                          \
		return 0;                                    \
	}

COUNTER(mm_filemap_get_pages, S_PAGE_ACCESS)
COUNTER(mm_filemap_add_to_page_cache, S_PAGE_LOAD)
COUNTER(writeback_dirty_folio, S_PAGE_DIRTY)
COUNTER(block_dirty_buffer, S_BUFFER_DIRTY)

/* proc_io: the bios a process in scope submits (block_bio_queue runs in the submitter's
 * context, once per bio: a bio split later is not queued again). Direct I/O, page-cache
 * misses (readahead) and the writeback a process starts itself (fsync, sync_file_range,
 * O_SYNC) are its own; background writeback by the flusher threads and journal commits run
 * in kernel threads and are attributed to no process, as upstream's. Upstream's size
 * classes: reads are REQ_OP_READ, writes REQ_OP_WRITE and REQ_OP_FLUSH, other operations
 * (discard, zone management) are not counted; "< 4 KiB" is bi_size below 4096. */
#define REQ_OP_MASK_ ((1u << 8) - 1)
#define REQ_OP_READ_ 0
#define REQ_OP_WRITE_ 1
#define REQ_OP_FLUSH_ 2

static __always_inline int bio_queued(struct bio *bio)
{
	__u32 tgid = current_tgid();
	if (!gopher_in_scope(tgid))
		return 0;
	__u32 op = BPF_CORE_READ(bio, bi_opf) & REQ_OP_MASK_;
	__u32 size = BPF_CORE_READ(bio, bi_iter.bi_size);
	__u32 slot;
	if (op == REQ_OP_READ_)
		slot = size < 4096 ? S_BIO_READ_SMALL : S_BIO_READ_BIG;
	else if (op == REQ_OP_WRITE_ || op == REQ_OP_FLUSH_)
		slot = size < 4096 ? S_BIO_WRITE_SMALL : S_BIO_WRITE_BIG;
	else
		return 0;
	add(tgid, slot, 1);
	__u64 key = (__u64)bio;
	struct bio_start s = { .ts = bpf_ktime_get_ns(), .tgid = tgid };
	bpf_map_update_elem(&bios, &key, &s, BPF_ANY);
	return 0;
}

/* block_bio_queue(bio) since Linux 5.11, (q, bio) before: a raw tracepoint program may not
 * read past its arguments, so each form has its own program (user space loads one). */
SEC("raw_tp/block_bio_queue")
int on_bio_queue(struct bpf_raw_tracepoint_args *ctx)
{
	return bio_queued((struct bio *)ctx->args[0]);
}

SEC("raw_tp/block_bio_queue")
int on_bio_queue_q(struct bpf_raw_tracepoint_args *ctx)
{
	return bio_queued((struct bio *)ctx->args[1]);
}

/* A bio ended with `status`: only bios found in `bios` were submitted in scope. */
static __always_inline void bio_ended(struct bio *bio, __u32 status)
{
	__u64 key = (__u64)bio;
	struct bio_start *s = bpf_map_lookup_elem(&bios, &key);
	if (!s)
		return;
	__u64 delta = bpf_ktime_get_ns() - s->ts;
	__u32 tgid = s->tgid;
	bpf_map_delete_elem(&bios, &key);
	if (status) {
		add(tgid, S_BIO_ERR, 1);
		return;
	}
	struct period_max *m = period_max_of(tgid);
	if (m && delta > m->bio_ns)
		m->bio_ns = delta;
}

/* The end of a bio of a bio-based device (device mapper, zram, …): block_bio_complete runs
 * in bio_endio, usually in interrupt context. Request-based devices do not emit it (their
 * completion is traced by block_rq_complete, below). */
SEC("raw_tp/block_bio_complete")
int on_bio_complete(struct bpf_raw_tracepoint_args *ctx)
{
	struct bio *bio = (struct bio *)ctx->args[1];
	bio_ended(bio, BPF_CORE_READ(bio, bi_status));
	return 0;
}

#define RQ_BIOS_MAX 64

/* A request-based device completed `nr_bytes` of a request (blk_update_request, before it
 * ends the bios): the bios those bytes cover end now, with the request's status. A bio
 * only partly covered ends in a later update; a request of more than RQ_BIOS_MAX merged
 * bios leaves the rest unmeasured (their entries age out of the LRU map). */
SEC("raw_tp/block_rq_complete")
int on_rq_complete(struct bpf_raw_tracepoint_args *ctx)
{
	struct request *rq = (struct request *)ctx->args[0];
	__u32 status = (__u32)ctx->args[1] & 0xff;
	__u32 left = (__u32)ctx->args[2];
	struct bio *bio = BPF_CORE_READ(rq, bio);
	for (int i = 0; i < RQ_BIOS_MAX && bio; i++) {
		__u32 size = BPF_CORE_READ(bio, bi_iter.bi_size);
		if (size > left)
			break;
		left -= size;
		bio_ended(bio, status);
		bio = BPF_CORE_READ(bio, bi_next);
	}
	return 0;
}

/* proc_io: the hung-task detector reported a task of the process (runs in khungtaskd). */
SEC("raw_tp/sched_process_hang")
int on_hang(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *t = (struct task_struct *)ctx->args[0];
	__u32 tgid = BPF_CORE_READ(t, tgid);
	if (!gopher_in_scope(tgid))
		return 0;
	add(tgid, S_HANG, 1);
	return 0;
}

/* proc_pygc: a Python GC run, from the interpreter's USDT probes python:gc__start and
 * python:gc__done, or from the entry and return of its collection function. */
SEC("uprobe")
int pygc_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!gopher_in_scope(id >> 32))
		return 0;
	__u32 tid = (__u32)id;
	__u64 now = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&pygc_start, &tid, &now, BPF_ANY))
		COUNT_PERCPU(drops, D_INFLIGHT_FULL);
	return 0;
}

SEC("uprobe")
int pygc_exit(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!gopher_in_scope(tgid))
		return 0;
	__u32 tid = (__u32)id;
	__u64 *start = bpf_map_lookup_elem(&pygc_start, &tid);
	if (!start)
		return 0;
	__u64 delta = bpf_ktime_get_ns() - *start;
	bpf_map_delete_elem(&pygc_start, &tid);
	add(tgid, S_PYGC, 1);
	add(tgid, S_PYGC_NS, delta);
	struct period_max *m = period_max_of(tgid);
	if (m && delta > m->pygc_ns)
		m->pygc_ns = delta;
	return 0;
}

/* A process ended: user space reports its last values and deletes it. */
SEC("raw_tp/sched_process_exit")
int on_proc_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct task_struct *t = (struct task_struct *)ctx->args[0];
	__u32 pid = BPF_CORE_READ(t, pid);
	__u32 tgid = BPF_CORE_READ(t, tgid);
	if (pid != tgid)
		return 0;
	struct proc_vals *v = bpf_map_lookup_elem(&procs, &tgid);
	if (v)
		v->v[S_EXITED] = 1;
	return 0;
}

/* proc_dns: getaddrinfo(name, ...), gethostbyname(name), gethostbyname2(name, af). */
SEC("uprobe")
int BPF_KPROBE(dns_enter, const char *name)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!gopher_in_scope(id >> 32))
		return 0;
	__u32 tid = (__u32)id;
	struct dns_start s = { .ts = bpf_ktime_get_ns(), .name = (__u64)name };
	bpf_map_update_elem(&dns_inflight, &tid, &s, BPF_ANY);
	return 0;
}

static __always_inline int dns_done(bool failed)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!gopher_in_scope(tgid))
		return 0;
	__u32 tid = (__u32)id;
	struct dns_start *s = bpf_map_lookup_elem(&dns_inflight, &tid);
	if (!s)
		return 0;
	__u64 ts = s->ts, name = s->name;
	bpf_map_delete_elem(&dns_inflight, &tid);
	struct dns_record *r = bpf_ringbuf_reserve(&dns_events, sizeof(*r), 0);
	if (!r) {
		COUNT_PERCPU(drops, D_DNS_RING_FULL);
		return 0;
	}
	r->tgid = tgid;
	r->failed = failed;
	r->ns = bpf_ktime_get_ns() - ts;
	if (bpf_probe_read_user_str(r->name, sizeof(r->name), (const void *)name) < 0)
		r->name[0] = 0;
	bpf_ringbuf_submit(r, 0);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(dns_exit_gai, int ret)
{
	return dns_done(ret != 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(dns_exit_ghbn, void *ret)
{
	return dns_done(ret == NULL);
}
