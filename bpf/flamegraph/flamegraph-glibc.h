/* mem_glibc: live bytes of glibc heap allocations per (tgid, allocating user stack).
 *
 * uprobes on malloc(size), calloc(n, size) and realloc(ptr, size) remember the call per
 * thread; their uretprobes record the returned pointer with its size and the stack taken at
 * the return (the caller's own frame is then the leaf: a frame-pointer walk from inside
 * malloc would skip it); free(ptr) takes the pointer's bytes off its stack. A pointer seen
 * again while still recorded (its free was missed) is taken off first, so live bytes never
 * count one block twice. realloc frees the old block when it returns a new one, or when it
 * was a realloc(ptr, 0). The maps are not per period: user space reads alloc_live at every
 * collection (src/probes/flamegraph/glibc.ts), removes stacks whose live bytes went to zero
 * and the entries of processes that left the scope. Included by flamegraph.bpf.c. */

#define GLIBC_MALLOC 0
#define GLIBC_CALLOC 1
#define GLIBC_REALLOC 2

struct alloc_key {
	__u64 ptr;
	__u32 tgid;
	__u32 pad;
};

struct alloc_info {
	__u64 size;
	__s32 ustack; /* id in alloc_stacks, or -1 when it could not be stored */
	__u32 pad;
};

struct alloc_live_key {
	__u32 tgid;
	__s32 ustack;
};

struct alloc_call {
	__u64 size;
	__u64 old; /* realloc: the block being resized */
};

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 8192); /* max_alloc_stacks, set by user space */
	__uint(key_size, sizeof(__u32));
	__uint(value_size, FLAME_MAX_DEPTH * sizeof(__u64));
} alloc_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192); /* max_alloc_stacks, set by user space */
	__type(key, struct alloc_live_key);
	__type(value, __s64);
} alloc_live SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* max_allocs, set by user space */
	__type(key, struct alloc_key);
	__type(value, struct alloc_info);
} allocs SEC(".maps");

/* LRU: a call whose return was never seen (longjmp out of a hook, a killed thread) ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); /* max_sleepers, set by user space */
	__type(key, __u64); /* thread id << 2 | GLIBC_* */
	__type(value, struct alloc_call);
} alloc_calls SEC(".maps");

static __always_inline void glibc_live_add(struct alloc_live_key *k, __s64 n)
{
	__s64 *v = bpf_map_lookup_elem(&alloc_live, k);
	if (v) {
		__sync_fetch_and_add(v, n);
		return;
	}
	if (bpf_map_update_elem(&alloc_live, k, &n, BPF_NOEXIST) == 0)
		return;
	v = bpf_map_lookup_elem(&alloc_live, k);
	if (v)
		__sync_fetch_and_add(v, n);
	else
		COUNT_PERCPU(drops, FLAME_DROP_ALLOC_LIVE_FULL);
}

/* Takes a recorded block off its stack; no-op for a pointer not recorded. */
static __always_inline void glibc_forget(__u32 tgid, __u64 ptr)
{
	if (ptr == 0)
		return;
	struct alloc_key k = { .ptr = ptr, .tgid = tgid };
	struct alloc_info *a = bpf_map_lookup_elem(&allocs, &k);
	if (!a)
		return;
	struct alloc_live_key lk = { .tgid = tgid, .ustack = a->ustack };
	__s64 size = a->size;
	if (bpf_map_delete_elem(&allocs, &k) == 0) /* a concurrent free of the same block subtracts once */
		glibc_live_add(&lk, -size);
}

static __always_inline int glibc_enter(__u32 fn, __u64 size, __u64 old)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (tgid == flame_state.agent || !gopher_in_scope(tgid))
		return 0;
	__u64 key = ((__u64)(__u32)id << 2) | fn; /* the thread id in the upper bits */
	struct alloc_call c = { .size = size, .old = old };
	if (bpf_map_update_elem(&alloc_calls, &key, &c, BPF_ANY) != 0)
		COUNT_PERCPU(drops, FLAME_DROP_ALLOC_CALL_FULL);
	return 0;
}

static __always_inline int glibc_exit(void *ctx, __u32 fn, __u64 ptr)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u64 key = ((__u64)(__u32)id << 2) | fn;
	struct alloc_call *c = bpf_map_lookup_elem(&alloc_calls, &key);
	if (!c)
		return 0;
	struct alloc_call call = *c;
	bpf_map_delete_elem(&alloc_calls, &key);
	if (fn == GLIBC_REALLOC && (ptr != 0 || call.size == 0))
		glibc_forget(tgid, call.old);
	if (ptr == 0 || call.size == 0)
		return 0;
	glibc_forget(tgid, ptr); /* still recorded: its free was missed */
	struct alloc_info a = { .size = call.size };
	a.ustack = bpf_get_stackid(ctx, &alloc_stacks, BPF_F_USER_STACK);
	if (a.ustack < 0) {
		COUNT_PERCPU(drops, FLAME_DROP_ALLOC_STACK_LOST);
		a.ustack = -1;
	}
	struct alloc_key k = { .ptr = ptr, .tgid = tgid };
	if (bpf_map_update_elem(&allocs, &k, &a, BPF_NOEXIST) != 0) {
		COUNT_PERCPU(drops, FLAME_DROP_ALLOC_FULL);
		return 0;
	}
	struct alloc_live_key lk = { .tgid = tgid, .ustack = a.ustack };
	glibc_live_add(&lk, call.size);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(glibc_malloc, __u64 size)
{
	return glibc_enter(GLIBC_MALLOC, size, 0);
}

SEC("uprobe")
int BPF_KPROBE(glibc_calloc, __u64 n, __u64 size)
{
	return glibc_enter(GLIBC_CALLOC, n * size, 0);
}

SEC("uprobe")
int BPF_KPROBE(glibc_realloc, __u64 old, __u64 size)
{
	return glibc_enter(GLIBC_REALLOC, size, old);
}

SEC("uprobe")
int BPF_KPROBE(glibc_free, __u64 ptr)
{
	__u32 tgid = current_tgid();
	if (tgid == flame_state.agent || !gopher_in_scope(tgid))
		return 0;
	glibc_forget(tgid, ptr);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(glibc_malloc_ret, __u64 ptr)
{
	return glibc_exit(ctx, GLIBC_MALLOC, ptr);
}

SEC("uretprobe")
int BPF_KRETPROBE(glibc_calloc_ret, __u64 ptr)
{
	return glibc_exit(ctx, GLIBC_CALLOC, ptr);
}

SEC("uretprobe")
int BPF_KRETPROBE(glibc_realloc_ret, __u64 ptr)
{
	return glibc_exit(ctx, GLIBC_REALLOC, ptr);
}
