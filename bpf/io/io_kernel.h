/* The io probe's kernel state and handlers (included once, by io.bpf.c): configuration,
 * maps, reading kernel structs (_raw through bpf_probe_read_kernel, _btf with plain loads),
 * per-disk aggregation and the handlers the programs of both sets call. */
#ifndef GOPHER_IO_KERNEL_H
#define GOPHER_IO_KERNEL_H

#include "gopher.h"
#include "io.h"

#define REQ_OP_MASK 0xff
#define REQ_OP_READ 0
#define REQ_OP_WRITE 1
#define S_IFMT 00170000
#define S_IFBLK 0060000
#define MINORBITS 20

/* Written by user space through the mmapped .bss. */
struct gio_cfg {
	__u32 epoch;  /* report period number; selects the period slot */
	__u32 err_tp; /* block_rq_error is attached: request errors come from it, not from completion */
};
struct gio_cfg cfg = {};

/* Keeps struct gio_err in the object's BTF (user space checks its layout). */
struct gio_err *const gio_err_btf_anchor = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 256);
	__type(key, struct gio_dev);
	__type(value, struct gio_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct gio_inflight);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, GIO_DROPS);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* A zeroed value to create stats entries from (too large for the BPF stack). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gio_stats);
} zero SEC(".maps");

/* Kernels before 5.15 keep the disk in the request itself. */
struct request___rq_disk {
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

/* ---- reading kernel structs: _raw through bpf_probe_read_kernel, _btf with plain loads ---- */

static __always_inline int set_disk(struct gio_dev *d, int major, int first_minor)
{
	d->major = major;
	d->first_minor = first_minor;
	return 0;
}

static __always_inline int disk_of_rq_raw(struct request *rq, struct gio_dev *d)
{
	struct gendisk *disk;
	if (bpf_core_field_exists(((struct request___rq_disk *)0)->rq_disk))
		disk = BPF_CORE_READ((struct request___rq_disk *)rq, rq_disk);
	else
		disk = BPF_CORE_READ(rq, q, disk);
	return disk ? set_disk(d, BPF_CORE_READ(disk, major), BPF_CORE_READ(disk, first_minor)) : -1;
}

static __always_inline int disk_of_rq_btf(struct request *rq, struct gio_dev *d)
{
	struct gendisk *disk;
	if (bpf_core_field_exists(((struct request___rq_disk *)0)->rq_disk))
		disk = ((struct request___rq_disk *)rq)->rq_disk;
	else
		disk = rq->q->disk;
	return disk ? set_disk(d, disk->major, disk->first_minor) : -1;
}

static __always_inline int disk_of_bdev_raw(struct block_device *bdev, struct gio_dev *d)
{
	struct gendisk *disk = bdev ? BPF_CORE_READ(bdev, bd_disk) : 0;
	return disk ? set_disk(d, BPF_CORE_READ(disk, major), BPF_CORE_READ(disk, first_minor)) : -1;
}

static __always_inline int disk_of_bdev_btf(struct block_device *bdev, struct gio_dev *d)
{
	struct gendisk *disk = bdev ? bdev->bd_disk : 0;
	return disk ? set_disk(d, disk->major, disk->first_minor) : -1;
}

/* The disk behind a page-cache mapping: the file system's block device, or, for the page
 * cache of a block device node itself, that device (its minor stands for first_minor). */
static __always_inline int disk_of_devnode(__u32 mode, __u32 rdev, struct gio_dev *d)
{
	if ((mode & S_IFMT) != S_IFBLK)
		return -1;
	return set_disk(d, rdev >> MINORBITS, rdev & ((1U << MINORBITS) - 1));
}

static __always_inline int disk_of_mapping_raw(struct address_space *mapping, struct gio_dev *d)
{
	struct inode *host = mapping ? BPF_CORE_READ(mapping, host) : 0;
	if (!host)
		return -1;
	struct block_device *bdev = BPF_CORE_READ(host, i_sb, s_bdev);
	if (bdev)
		return disk_of_bdev_raw(bdev, d);
	return disk_of_devnode(BPF_CORE_READ(host, i_mode), BPF_CORE_READ(host, i_rdev), d);
}

static __always_inline int disk_of_mapping_btf(struct address_space *mapping, struct gio_dev *d)
{
	struct inode *host = mapping ? mapping->host : 0;
	if (!host)
		return -1;
	struct block_device *bdev = host->i_sb->s_bdev;
	if (bdev)
		return disk_of_bdev_btf(bdev, d);
	return disk_of_devnode(host->i_mode, host->i_rdev, d);
}

/* ---- aggregation ---------------------------------------------------------------------- */

static __always_inline struct gio_stats *stats_of(struct gio_dev *d)
{
	struct gio_stats *s = bpf_map_lookup_elem(&stats, d);
	if (s)
		return s;
	__u32 k = 0;
	struct gio_stats *z = bpf_map_lookup_elem(&zero, &k);
	if (!z)
		return 0;
	if (bpf_map_update_elem(&stats, d, z, BPF_NOEXIST) && bpf_map_lookup_elem(&stats, d) == 0) {
		COUNT_PERCPU(drops, GIO_DROP_DEVICES);
		return 0;
	}
	return bpf_map_lookup_elem(&stats, d);
}

/* The slot of the current period, emptied when it last held an older period. */
static __always_inline struct gio_period *period_of(struct gio_stats *s)
{
	__u32 epoch = cfg.epoch;
	struct gio_period *p = &s->period[epoch & 1];
	if (p->epoch != epoch) {
		__builtin_memset(p, 0, sizeof(*p));
		p->epoch = epoch;
	}
	return p;
}

static __always_inline void record_stage(struct gio_stats *s, struct gio_period *p, int i, __u64 v, __u64 now)
{
	__sync_fetch_and_add(&s->sum[i], v);
	__sync_fetch_and_add(&s->count[i], 1);
	if (v > p->max[i])
		p->max[i] = v;
	if (p->last_ts[i]) {
		__u64 j = v > p->last[i] ? v - p->last[i] : p->last[i] - v;
		if (j > p->jitter[i])
			p->jitter[i] = j;
	}
	p->last[i] = v;
	p->last_ts[i] = now;
}

/* Stamps the request's in-flight entry: `field` 0 queued, 1 issued. A new entry is
 * written whole in one update (no lookup after it); its submitter is the current task. */
static __always_inline void stamp(struct request *rq, int field)
{
	__u64 key = (__u64)rq;
	__u64 now = bpf_ktime_get_ns();
	struct gio_inflight *f = bpf_map_lookup_elem(&inflight, &key);
	if (f && !f->failed) {
		if (field == 0) {
			if (!f->queued_ns)
				f->queued_ns = now;
		} else {
			f->issue_ns = now; /* a requeued request is measured from its last issue */
		}
		return;
	}
	/* New, or a new request at the address of one that failed without block_rq_error. */
	struct gio_inflight n = {};
	if (field == 0)
		n.queued_ns = now;
	else
		n.issue_ns = now;
	n.pid = current_tgid();
	bpf_get_current_comm(n.comm, sizeof(n.comm));
	if (bpf_map_update_elem(&inflight, &key, &n, BPF_ANY))
		COUNT_PERCPU(drops, GIO_DROP_INFLIGHT);
}

static __always_inline void emit_err(struct gio_dev *d, __u32 status, __u32 flags, __u32 len, struct gio_inflight *f)
{
	struct gio_err *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		COUNT_PERCPU(drops, GIO_DROP_RING);
		return;
	}
	e->major = d->major;
	e->first_minor = d->first_minor;
	e->status = status;
	e->flags = flags;
	e->data_len = len;
	e->ts_ns = bpf_ktime_get_ns();
	if (f) {
		e->pid = f->pid;
		__builtin_memcpy(e->comm, f->comm, sizeof(e->comm));
	} else {
		e->pid = current_tgid();
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	}
	bpf_ringbuf_submit(e, 0);
}

/* ---- handlers (values already read) ---------------------------------------------------- */

/* A request part completed: `nr_bytes` of it; the request ends when nothing remains. */
static __always_inline void complete(struct request *rq, struct gio_dev *d, __u32 error, __u32 nr_bytes, __u32 flags, __u32 remaining, __u64 start)
{
	struct gio_stats *s = stats_of(d);
	if (s) {
		__u32 op = flags & REQ_OP_MASK;
		if (op == REQ_OP_READ)
			__sync_fetch_and_add(&s->read_bytes, nr_bytes);
		else if (op == REQ_OP_WRITE)
			__sync_fetch_and_add(&s->write_bytes, nr_bytes);
	}
	if (nr_bytes < remaining)
		return; /* partial completion: the request goes on */
	__u64 key = (__u64)rq;
	struct gio_inflight *f = bpf_map_lookup_elem(&inflight, &key);
	if (error && !cfg.err_tp)
		emit_err(d, error, flags, remaining, f);
	if (s && !error) {
		__u64 now = bpf_ktime_get_ns();
		__u64 issue = f ? f->issue_ns : 0;
		if (!start && f)
			start = f->queued_ns ? f->queued_ns : f->issue_ns;
		struct gio_period *p = period_of(s);
		if (start && now >= start) {
			__u64 v = now - start;
			if (v > p->max[0]) {
				p->max_len = remaining;
				p->max_flags = flags;
				p->max_pid = f ? f->pid : 0;
				if (f)
					__builtin_memcpy(p->max_comm, f->comm, sizeof(p->max_comm));
			}
			record_stage(s, p, 0, v, now);
		}
		if (start && issue >= start)
			record_stage(s, p, 1, issue - start, now);
		if (issue && now >= issue)
			record_stage(s, p, 2, now - issue, now);
	}
	if (f) {
		if (error && cfg.err_tp)
			f->failed = 1; /* block_rq_error comes next and wants its submitter */
		else
			bpf_map_delete_elem(&inflight, &key);
	}
}

/* A failed request as the kernel reports it (block_rq_error, >= 5.16: not quiet or passthrough). */
static __always_inline void rq_error(struct request *rq, struct gio_dev *d, __u32 error, __u32 flags, __u32 remaining)
{
	__u64 key = (__u64)rq;
	struct gio_inflight *f = bpf_map_lookup_elem(&inflight, &key);
	emit_err(d, error, flags, remaining, f);
	if (f)
		bpf_map_delete_elem(&inflight, &key);
}

enum { PC_ACCESS, PC_BUFFER_DIRTY, PC_LOAD, PC_PAGE_DIRTY };

static __always_inline void count_pc(struct gio_dev *d, int what, __u64 n)
{
	struct gio_stats *s = stats_of(d);
	if (!s)
		return;
	if (what == PC_ACCESS)
		__sync_fetch_and_add(&s->access_pagecache, n);
	else if (what == PC_BUFFER_DIRTY)
		__sync_fetch_and_add(&s->mark_buffer_dirty, n);
	else if (what == PC_LOAD)
		__sync_fetch_and_add(&s->load_page_cache, n);
	else
		__sync_fetch_and_add(&s->mark_page_dirty, n);
}

#endif
