/* Test-only: counts entries and returns of a uprobed function per process
 * (src/libbpf/uprobe.root.test.ts). Not shipped. */
#include "gopher.h"

char LICENSE[] SEC("license") = "GPL";

struct call_key {
	__u32 tgid;
	__u32 kind; /* 1 entry, 2 return */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct call_key);
	__type(value, __u64);
} calls SEC(".maps");

static __always_inline void count(__u32 kind)
{
	struct call_key k = { .tgid = current_tgid(), .kind = kind };
	__u64 one = 1, *v = bpf_map_lookup_elem(&calls, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&calls, &k, &one, BPF_NOEXIST);
}

SEC("uprobe")
int on_entry(void *ctx)
{
	count(1);
	return 0;
}

SEC("uretprobe")
int on_return(void *ctx)
{
	count(2);
	return 0;
}
