/* Self-test object for the libbpf bindings (src/libbpf/libbpf.root.test.ts). */
#include "gopher.h"

char LICENSE[] SEC("license") = "GPL";

const volatile __u32 target_tgid = 0;
__u64 bss_hits = 0;

struct event {
	__u32 tgid;
	__u32 kind;
	__u64 seq;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} ops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} percpu SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

static __u64 seq;

static __always_inline void hit(__u32 kind)
{
	__u32 tgid = current_tgid();
	if (tgid != target_tgid)
		return;
	__u64 one = 1, *v = bpf_map_lookup_elem(&counts, &kind);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&counts, &kind, &one, BPF_NOEXIST);
	__sync_fetch_and_add(&bss_hits, 1);
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return;
	e->tgid = tgid;
	e->kind = kind;
	e->seq = __sync_fetch_and_add(&seq, 1);
	bpf_ringbuf_submit(e, 0);
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int tp_getppid(void *ctx)
{
	hit(1);
	return 0;
}

SEC("raw_tp/sys_enter")
int raw_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	if (ctx->args[1] == 110 /* __NR_getppid on x86-64 */)
		hit(2);
	return 0;
}

SEC("uprobe")
int uprobe_fn(void *ctx)
{
	hit(3);
	return 0;
}

SEC("perf_event")
int on_sample(void *ctx)
{
	__u32 k = 0;
	__u64 *v = bpf_map_lookup_elem(&percpu, &k);
	if (v)
		(*v)++;
	return 0;
}

SEC("sockops")
int on_sockops(struct bpf_sock_ops *skops)
{
	__u32 op = skops->op;
	if (op >= 64)
		return 1;
	__u64 *v = bpf_map_lookup_elem(&ops, &op);
	if (v)
		__sync_fetch_and_add(v, 1);
	return 1;
}

/* Rejected by the verifier (NULL dereference of a hash lookup); autoload is off by default. */
SEC("?raw_tp/sys_exit")
int bad_prog(void *ctx)
{
	__u32 k = 7;
	__u64 *v = bpf_map_lookup_elem(&counts, &k);
	return (int)*v;
}
