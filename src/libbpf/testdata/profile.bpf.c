/* Test-only CPU profiler: counts every sample per CPU (samples) and, for the target process,
 * counts (user stack, kernel stack) pairs taken with bpf_get_stackid (stacks, counts).
 * src/libbpf/perf-cpus.root.test.ts, src/libbpf/stacks.root.test.ts. Not shipped. */
#include "gopher.h"

char LICENSE[] SEC("license") = "GPL";

#define MAX_DEPTH 127

const volatile __u32 target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 4096);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MAX_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct stack_key {
	__u32 tgid;
	__s32 ustack;
	__s32 kstack;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct stack_key);
	__type(value, __u64);
} counts SEC(".maps");

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	COUNT_PERCPU(samples, 0);
	__u32 tgid = current_tgid();
	if (!target_tgid || tgid != target_tgid)
		return 0;
	struct stack_key k = {
		.tgid = tgid,
		.ustack = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK),
		.kstack = bpf_get_stackid(ctx, &stacks, 0),
	};
	__u64 one = 1, *v = bpf_map_lookup_elem(&counts, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&counts, &k, &one, BPF_NOEXIST);
	return 0;
}

/* Not a perf_event program: attaching it to a perf event must fail (fd leak test). */
SEC("tracepoint/syscalls/sys_enter_getppid")
int not_perf(void *ctx)
{
	return 0;
}
