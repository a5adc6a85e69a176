/* io probe: per-disk block-layer latency stages, bytes read and written, page-cache
 * activity and I/O errors, from tracepoints only. Every hook exists twice: a tp_btf
 * program (kernel structs read with plain loads) and a raw_tp one (the same reads through
 * bpf_probe_read_kernel), for kernels or configurations where tp_btf does not load; user
 * space loads one set. Both call the same handlers, which take the values already read.
 *
 * Stages of a request (as upstream's ioprobe defines them):
 *   request = completion - start, driver = issue - start, device = completion - issue,
 * where start is rq->start_time_ns (set when the block layer accounts the request), or the
 * block_rq_insert time, or the issue time when neither exists. They are aggregated per disk
 * in a per-CPU hash (cumulative sums and counts, per-period maxima/last/jitter in a slot
 * selected by the period's epoch); user space reads it once per report period. A request is
 * counted once, at its final completion (a partial completion only adds its bytes). Errors
 * go to user space through the ring buffer. Every map is bounded; what does not fit is
 * counted in `drops`. */
#include "io_kernel.h"

char LICENSE[] SEC("license") = "GPL";

/* ---- tp_btf programs ---------------------------------------------------------------------- */

SEC("tp_btf/block_rq_insert")
int BPF_PROG(on_insert_btf, struct request *rq)
{
	stamp(rq, 0);
	return 0;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(on_issue_btf, struct request *rq)
{
	stamp(rq, 1);
	return 0;
}

SEC("tp_btf/block_rq_complete")
int BPF_PROG(on_complete_btf, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	struct gio_dev d = {};
	if (disk_of_rq_btf(rq, &d))
		return 0;
	complete(rq, &d, error, nr_bytes, rq->cmd_flags, rq->__data_len, rq->start_time_ns);
	return 0;
}

SEC("tp_btf/block_rq_error")
int BPF_PROG(on_rq_error_btf, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	struct gio_dev d = {};
	if (error && !disk_of_rq_btf(rq, &d))
		rq_error(rq, &d, error, rq->cmd_flags, rq->__data_len);
	return 0;
}

/* Failed bios of bio-based devices (device mapper, md), which have no requests. */
SEC("tp_btf/block_bio_complete")
int BPF_PROG(on_bio_complete_btf, struct request_queue *q, struct bio *bio)
{
	__u32 status = bio->bi_status;
	struct gio_dev d = {};
	if (!status || q->mq_ops || disk_of_bdev_btf(bio->bi_bdev, &d))
		return 0;
	emit_err(&d, status, bio->bi_opf, bio->bi_iter.bi_size, 0);
	return 0;
}

SEC("tp_btf/mm_filemap_add_to_page_cache")
int BPF_PROG(on_add_to_page_cache_btf, struct folio *folio)
{
	struct gio_dev d = {};
	if (!disk_of_mapping_btf(folio->mapping, &d))
		count_pc(&d, PC_LOAD, 1);
	return 0;
}

SEC("tp_btf/writeback_dirty_folio")
int BPF_PROG(on_dirty_folio_btf, struct folio *folio, struct address_space *mapping)
{
	struct gio_dev d = {};
	if (!disk_of_mapping_btf(mapping, &d))
		count_pc(&d, PC_PAGE_DIRTY, 1);
	return 0;
}

SEC("tp_btf/block_dirty_buffer")
int BPF_PROG(on_dirty_buffer_btf, struct buffer_head *bh)
{
	struct gio_dev d = {};
	if (!disk_of_bdev_btf(bh->b_bdev, &d))
		count_pc(&d, PC_BUFFER_DIRTY, 1);
	return 0;
}

/* Page-cache lookups (>= 6.10): pages found by reads, mapped around a fault, and faults. */
SEC("tp_btf/mm_filemap_get_pages")
int BPF_PROG(on_get_pages_btf, struct address_space *mapping, unsigned long index, unsigned long last_index)
{
	struct gio_dev d = {};
	if (last_index >= index && !disk_of_mapping_btf(mapping, &d))
		count_pc(&d, PC_ACCESS, last_index - index + 1);
	return 0;
}

SEC("tp_btf/mm_filemap_map_pages")
int BPF_PROG(on_map_pages_btf, struct address_space *mapping, unsigned long index, unsigned long last_index)
{
	struct gio_dev d = {};
	if (last_index >= index && !disk_of_mapping_btf(mapping, &d))
		count_pc(&d, PC_ACCESS, last_index - index + 1);
	return 0;
}

SEC("tp_btf/mm_filemap_fault")
int BPF_PROG(on_fault_btf, struct address_space *mapping, unsigned long index)
{
	struct gio_dev d = {};
	if (!disk_of_mapping_btf(mapping, &d))
		count_pc(&d, PC_ACCESS, 1);
	return 0;
}

/* ---- raw_tp programs (same hooks, reads through bpf_probe_read_kernel) ------------------ */

SEC("raw_tp/block_rq_insert")
int on_insert(void *ctx)
{
	stamp((struct request *)RAW_ARG(ctx, 0), 0);
	return 0;
}

SEC("raw_tp/block_rq_issue")
int on_issue(void *ctx)
{
	stamp((struct request *)RAW_ARG(ctx, 0), 1);
	return 0;
}

SEC("raw_tp/block_rq_complete")
int on_complete(void *ctx)
{
	struct request *rq = (struct request *)RAW_ARG(ctx, 0);
	struct gio_dev d = {};
	if (disk_of_rq_raw(rq, &d))
		return 0;
	complete(rq, &d, (__u8)RAW_ARG(ctx, 1), (__u32)RAW_ARG(ctx, 2), BPF_CORE_READ(rq, cmd_flags), BPF_CORE_READ(rq, __data_len), BPF_CORE_READ(rq, start_time_ns));
	return 0;
}

SEC("raw_tp/block_rq_error")
int on_rq_error(void *ctx)
{
	struct request *rq = (struct request *)RAW_ARG(ctx, 0);
	__u32 error = (__u8)RAW_ARG(ctx, 1);
	struct gio_dev d = {};
	if (error && !disk_of_rq_raw(rq, &d))
		rq_error(rq, &d, error, BPF_CORE_READ(rq, cmd_flags), BPF_CORE_READ(rq, __data_len));
	return 0;
}

SEC("raw_tp/block_bio_complete")
int on_bio_complete(void *ctx)
{
	struct request_queue *q = (struct request_queue *)RAW_ARG(ctx, 0);
	struct bio *bio = (struct bio *)RAW_ARG(ctx, 1);
	__u32 status = BPF_CORE_READ(bio, bi_status);
	struct gio_dev d = {};
	if (!status || BPF_CORE_READ(q, mq_ops) || disk_of_bdev_raw(BPF_CORE_READ(bio, bi_bdev), &d))
		return 0;
	emit_err(&d, status, BPF_CORE_READ(bio, bi_opf), BPF_CORE_READ(bio, bi_iter.bi_size), 0);
	return 0;
}

SEC("raw_tp/mm_filemap_add_to_page_cache")
int on_add_to_page_cache(void *ctx)
{
	struct gio_dev d = {};
	if (!bpf_core_type_exists(struct folio))
		return 0; /* before 5.16 the tracepoint passes a struct page */
	struct folio *folio = (struct folio *)RAW_ARG(ctx, 0);
	if (!disk_of_mapping_raw(BPF_CORE_READ(folio, mapping), &d))
		count_pc(&d, PC_LOAD, 1);
	return 0;
}

SEC("raw_tp/writeback_dirty_folio")
int on_dirty_folio(void *ctx)
{
	struct gio_dev d = {};
	if (!disk_of_mapping_raw((struct address_space *)RAW_ARG(ctx, 1), &d))
		count_pc(&d, PC_PAGE_DIRTY, 1);
	return 0;
}

SEC("raw_tp/block_dirty_buffer")
int on_dirty_buffer(void *ctx)
{
	struct buffer_head *bh = (struct buffer_head *)RAW_ARG(ctx, 0);
	struct gio_dev d = {};
	if (!disk_of_bdev_raw(BPF_CORE_READ(bh, b_bdev), &d))
		count_pc(&d, PC_BUFFER_DIRTY, 1);
	return 0;
}

static __always_inline void access_raw(void *ctx, __u64 first, __u64 last)
{
	struct gio_dev d = {};
	if (last >= first && !disk_of_mapping_raw((struct address_space *)RAW_ARG(ctx, 0), &d))
		count_pc(&d, PC_ACCESS, last - first + 1);
}

SEC("raw_tp/mm_filemap_get_pages")
int on_get_pages(void *ctx)
{
	access_raw(ctx, RAW_ARG(ctx, 1), RAW_ARG(ctx, 2));
	return 0;
}

SEC("raw_tp/mm_filemap_map_pages")
int on_map_pages(void *ctx)
{
	access_raw(ctx, RAW_ARG(ctx, 1), RAW_ARG(ctx, 2));
	return 0;
}

SEC("raw_tp/mm_filemap_fault")
int on_fault(void *ctx)
{
	__u64 index = RAW_ARG(ctx, 1);
	access_raw(ctx, index, index);
	return 0;
}
