/* Test-only: every getppid() of the target process emits one record into ring_a and two into
 * ring_b (4 KiB, overflows under a burst; failed reservations are counted per CPU in
 * ring_b_drops). src/libbpf/poller.root.test.ts. Not shipped. */
#include "gopher.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 target_tgid = 0;

struct rec {
	__u32 ring;
	__u32 part;
	__u64 seq;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} ring_a SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} ring_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} ring_b_drops SEC(".maps");

__u64 calls = 0;

static __always_inline void emit(void *ring, __u32 id, __u32 part, __u64 seq)
{
	struct rec *r = bpf_ringbuf_reserve(ring, sizeof(*r), 0);
	if (!r) {
		if (id == 2)
			COUNT_PERCPU(ring_b_drops, 0);
		return;
	}
	r->ring = id;
	r->part = part;
	r->seq = seq;
	bpf_ringbuf_submit(r, 0);
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int on_getppid(void *ctx)
{
	if (current_tgid() != target_tgid)
		return 0;
	__u64 seq = __sync_fetch_and_add(&calls, 1);
	emit(&ring_a, 1, 0, seq);
	emit(&ring_b, 2, 0, seq);
	emit(&ring_b, 2, 1, seq);
	return 0;
}
