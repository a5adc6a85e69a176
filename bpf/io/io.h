/* Records shared by io.bpf.c and src/probes/io (bpf.ts checks these layouts against the
 * object's BTF when it loads, so a change here that user space does not follow fails
 * loudly instead of decoding garbage). */
#ifndef GOPHER_IO_H
#define GOPHER_IO_H

#define GIO_STAGES 3 /* 0 request (start → completion), 1 driver (start → issue), 2 device (issue → completion) */

/* A disk: (major, first_minor) of its gendisk. */
struct gio_dev {
	__u32 major;
	__u32 first_minor;
};

/* Per-period values: user space reads the slot of the period that just ended (epoch & 1)
 * after it has moved the kernel on to the next epoch, so the two never share a slot. */
struct gio_period {
	__u32 epoch;     /* period these values belong to; a slot of an older epoch is empty */
	__u32 max_pid;   /* process that submitted the slowest request of the period */
	__u32 max_len;   /* its length, bytes */
	__u32 max_flags; /* its cmd_flags (op and REQ_* bits) */
	char max_comm[16];
	__u64 max[GIO_STAGES];
	__u64 last[GIO_STAGES];
	__u64 last_ts[GIO_STAGES]; /* completion time of `last`; 0: none this period on this CPU */
	__u64 jitter[GIO_STAGES];  /* largest |latency - previous latency| of the period */
};

/* One disk on one CPU (BPF_MAP_TYPE_PERCPU_HASH value). Counters are cumulative. */
struct gio_stats {
	struct gio_period period[2];
	__u64 sum[GIO_STAGES];   /* ns */
	__u64 count[GIO_STAGES];
	__u64 read_bytes;
	__u64 write_bytes;
	__u64 access_pagecache;
	__u64 mark_buffer_dirty;
	__u64 load_page_cache;
	__u64 mark_page_dirty;
};

/* A request in flight, keyed by its struct request address. */
struct gio_inflight {
	__u64 queued_ns; /* block_rq_insert (0: the request was issued directly) */
	__u64 issue_ns;  /* block_rq_issue */
	__u32 pid;
	__u32 failed; /* completed with an error: kept for block_rq_error, which follows */
	char comm[16];
};

/* A failed I/O (ring buffer record). */
struct gio_err {
	__u32 major;
	__u32 first_minor;
	__u32 pid;
	__u32 data_len;
	__u32 flags;  /* cmd_flags / bi_opf */
	__u32 status; /* blk_status_t */
	__u64 ts_ns;  /* bpf_ktime_get_ns() at the error */
	char comm[16];
};

#define GIO_DROP_INFLIGHT 0 /* in-flight map full: the request's stages are not measured */
#define GIO_DROP_DEVICES 1  /* stats map full: a disk is not reported */
#define GIO_DROP_RING 2     /* ring buffer full: an io_err event is lost */
#define GIO_DROPS 3

#endif
