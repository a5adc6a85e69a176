/* flamegraph: on-CPU samples (perf_event on every CPU), off-CPU time (sched_switch) and
 * memory (bytes of user page faults, i.e. memory first touched: exceptions:page_fault_user,
 * x86; bytes asked for with brk and anonymous mmap: the syscalls' tracepoints) per
 * (tgid, user stack, kernel stack), counted in the kernel; and (mem_glibc) the live bytes
 * of glibc allocations per allocating stack, from uprobes on malloc/calloc/realloc/free
 * (./flamegraph-glibc.h).
 *
 * Two sets of maps alternate: the programs write the set named by flame_state.active;
 * user space (src/probes/flamegraph/kernel.ts) flips the word, then reads and clears the
 * other set, so a period is read whole while the next one is being counted. Stack ids are
 * only meaningful in the stack map of their own set. Everything the maps refuse is counted
 * in `drops` (indexes FLAME_DROP_*). */
#include "gopher.h"
#include "scope.h"

char LICENSE[] SEC("license") = "GPL";

#define FLAME_MAX_DEPTH 127
#define FLAME_ONCPU 0
#define FLAME_OFFCPU 1
#define FLAME_MEM 2      /* page faults, 4 KiB each */
#define FLAME_MEM_MMAP 3 /* bytes of anonymous mmap calls (no kernel stack) */
#define FLAME_MEM_BRK 4  /* bytes the heap grew by in brk calls (no kernel stack) */
#define FLAME_PAGE_SIZE 4096
#define FLAME_MAP_ANONYMOUS 0x20

enum flame_drop {
	FLAME_DROP_COUNTS_FULL = 0,   /* the counts map of the active set is full */
	FLAME_DROP_STACK_LOST = 1,    /* bpf_get_stackid failed (stack map full or a collision) */
	FLAME_DROP_OFFCPU_FULL = 2,   /* the switch-out map is full: a sleep not timed */
	FLAME_DROP_OFFCPU_PERIOD = 3, /* a sleep that began in the period already read */
	FLAME_DROP_MEM_CALL_FULL = 4, /* the in-flight brk/mmap map is full: a call not counted */
	FLAME_DROP_ALLOC_FULL = 5,      /* mem_glibc: the live allocation map is full: one not tracked */
	FLAME_DROP_ALLOC_LIVE_FULL = 6, /* mem_glibc: the per-stack live bytes map is full */
	FLAME_DROP_ALLOC_CALL_FULL = 7, /* mem_glibc: the in-flight call map is full */
	FLAME_DROP_ALLOC_STACK_LOST = 8, /* mem_glibc: an allocation's stack not stored (counted under no stack) */
	FLAME_DROP_SLOTS = 9,
};

struct flame_state {
	__u32 active; /* 0: set A, 1: set B (written by user space) */
	__u32 agent;  /* the agent's own tgid: its mallocs are not probed (mem_glibc, whole host) */
};
struct flame_state flame_state SEC(".data.flame") = {};

struct flame_key {
	__u32 tgid;
	__s32 ustack;
	__s32 kstack;
	__u32 kind; /* FLAME_ONCPU (value: samples), FLAME_OFFCPU (ns off the CPU), FLAME_MEM* (bytes) */
	__u64 hint; /* FLAME_MEM_MMAP/BRK: the word at the user stack pointer, see flame_mem_exit */
};

#define STACK_MAP(name)                                         \
	struct {                                                    \
		__uint(type, BPF_MAP_TYPE_STACK_TRACE);                 \
		__uint(max_entries, 8192); /* max_stacks, set by user space */ \
		__uint(key_size, sizeof(__u32));                        \
		__uint(value_size, FLAME_MAX_DEPTH * sizeof(__u64));    \
	} name SEC(".maps")
#define COUNT_MAP(name)                                         \
	struct {                                                    \
		__uint(type, BPF_MAP_TYPE_HASH);                        \
		__uint(max_entries, 8192); /* max_stacks, set by user space */ \
		__type(key, struct flame_key);                          \
		__type(value, __u64);                                   \
	} name SEC(".maps")

STACK_MAP(stacks_a);
STACK_MAP(stacks_b);
COUNT_MAP(counts_a);
COUNT_MAP(counts_b);

/* A thread switched out: when, with which stacks, in which set. */
struct flame_off_start {
	__u64 ts;
	__u32 tgid;
	__s32 ustack;
	__s32 kstack;
	__u32 set;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* max_sleepers, set by user space */
	__type(key, __u32); /* thread id */
	__type(value, struct flame_off_start);
} offcpu_start SEC(".maps");

/* A brk or mmap call in flight: what it asked for, read again when it returns. */
struct flame_mem_call {
	__u64 arg; /* mmap: the length; brk: the break before the call */
	__u32 kind; /* FLAME_MEM_MMAP or FLAME_MEM_BRK */
	__u32 pad;
};

/* LRU: a call whose return was never seen (the thread was killed in it) ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384); /* max_sleepers, set by user space */
	__type(key, __u32); /* thread id */
	__type(value, struct flame_mem_call);
} mem_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FLAME_DROP_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline void flame_add(__u32 set, struct flame_key *k, __u64 n)
{
	void *counts = set ? (void *)&counts_b : (void *)&counts_a;
	__u64 *v = bpf_map_lookup_elem(counts, k);
	if (v) {
		__sync_fetch_and_add(v, n);
		return;
	}
	if (bpf_map_update_elem(counts, k, &n, BPF_NOEXIST) == 0)
		return;
	v = bpf_map_lookup_elem(counts, k); /* another CPU added it meanwhile */
	if (v)
		__sync_fetch_and_add(v, n);
	else
		COUNT_PERCPU(drops, FLAME_DROP_COUNTS_FULL);
}

/* Both stacks of the current task into the set's stack map; -EFAULT (no kernel stack for a
 * sample taken in user mode, no user stack for a kernel thread) is not a loss. */
static __always_inline void flame_stacks(void *ctx, __u32 set, __s32 *ustack, __s32 *kstack)
{
	void *stacks = set ? (void *)&stacks_b : (void *)&stacks_a;
	*ustack = bpf_get_stackid(ctx, stacks, BPF_F_USER_STACK);
	*kstack = bpf_get_stackid(ctx, stacks, 0);
	if ((*ustack < 0 && *ustack != -14) || (*kstack < 0 && *kstack != -14))
		COUNT_PERCPU(drops, FLAME_DROP_STACK_LOST);
}

SEC("perf_event")
int flame_oncpu(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (tgid == 0 || !gopher_in_scope(tgid)) /* the idle task is not a process */
		return 0;
	__u32 set = flame_state.active & 1;
	struct flame_key k = { .tgid = tgid, .kind = FLAME_ONCPU };
	flame_stacks(ctx, set, &k.ustack, &k.kstack);
	flame_add(set, &k, 1);
	return 0;
}

static __always_inline void flame_switch(void *ctx, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns();
	__u32 set = flame_state.active & 1;
	__u32 prev_tgid = BPF_CORE_READ(prev, tgid);
	if (prev_tgid != 0 && gopher_in_scope(prev_tgid)) {
		__u32 prev_pid = BPF_CORE_READ(prev, pid);
		struct flame_off_start s = { .ts = now, .tgid = prev_tgid, .set = set };
		flame_stacks(ctx, set, &s.ustack, &s.kstack);
		if (bpf_map_update_elem(&offcpu_start, &prev_pid, &s, BPF_ANY) != 0)
			COUNT_PERCPU(drops, FLAME_DROP_OFFCPU_FULL);
	}
	__u32 next_pid = BPF_CORE_READ(next, pid);
	struct flame_off_start *s = bpf_map_lookup_elem(&offcpu_start, &next_pid);
	if (!s)
		return;
	struct flame_off_start st = *s;
	bpf_map_delete_elem(&offcpu_start, &next_pid);
	if (st.set != set) {
		/* Its stack ids belong to the set user space has read and cleared. */
		COUNT_PERCPU(drops, FLAME_DROP_OFFCPU_PERIOD);
		return;
	}
	struct flame_key k = { .tgid = st.tgid, .ustack = st.ustack, .kstack = st.kstack, .kind = FLAME_OFFCPU };
	flame_add(set, &k, now - st.ts);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(flame_offcpu_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	flame_switch(ctx, prev, next);
	return 0;
}

/* Where tp_btf cannot load: the raw tracepoint (args: preempt, prev, next). */
SEC("raw_tp/sched_switch")
int flame_offcpu_raw(struct bpf_raw_tracepoint_args *ctx)
{
	flame_switch(ctx, (struct task_struct *)ctx->args[1], (struct task_struct *)ctx->args[2]);
	return 0;
}

/* A user-mode page fault (args: address, regs, error_code): memory the process touches for
 * the first time (or that was reclaimed), counted where it happened. */
SEC("raw_tp/page_fault_user")
int flame_mem(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 tgid = current_tgid();
	if (tgid == 0 || !gopher_in_scope(tgid))
		return 0;
	__u32 set = flame_state.active & 1;
	struct flame_key k = { .tgid = tgid, .kind = FLAME_MEM };
	flame_stacks(ctx, set, &k.ustack, &k.kstack);
	flame_add(set, &k, FLAME_PAGE_SIZE);
	return 0;
}

/* Entry of a brk or anonymous mmap call of a process in scope: remembered per thread. */
static __always_inline void flame_mem_enter(__u32 kind, __u64 arg)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (tgid == 0 || !gopher_in_scope(tgid))
		return;
	__u32 tid = (__u32)id;
	struct flame_mem_call c = { .arg = arg, .kind = kind };
	if (bpf_map_update_elem(&mem_calls, &tid, &c, BPF_ANY) != 0)
		COUNT_PERCPU(drops, FLAME_DROP_MEM_CALL_FULL);
}

/* Return of the call: the bytes it gave (mmap: the page-rounded length when it succeeded;
 * brk: how far the break moved up) under the user stack that asked. libc's syscall wrappers
 * (mmap64, brk) set up no frame pointer, so the frame-pointer walk from inside them skips
 * their caller; the word at the user stack pointer is that caller's return address when the
 * wrapper pushed nothing. It goes in the key as a hint, which user space inserts after the
 * leaf only when it is code of a mapped file and not already the next frame. */
static __always_inline void flame_mem_exit(void *ctx, __u32 kind, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct flame_mem_call *c = bpf_map_lookup_elem(&mem_calls, &tid);
	if (!c)
		return;
	struct flame_mem_call call = *c;
	bpf_map_delete_elem(&mem_calls, &tid);
	if (call.kind != kind)
		return;
	__u64 bytes = 0;
	if (kind == FLAME_MEM_MMAP && (unsigned long)ret < (unsigned long)-4095)
		bytes = (call.arg + FLAME_PAGE_SIZE - 1) & ~(__u64)(FLAME_PAGE_SIZE - 1);
	if (kind == FLAME_MEM_BRK && (unsigned long)ret > call.arg)
		bytes = (unsigned long)ret - call.arg;
	if (bytes == 0)
		return;
	__u32 set = flame_state.active & 1;
	struct flame_key k = { .tgid = id >> 32, .kstack = -1, .kind = kind };
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	if (regs && bpf_probe_read_user(&k.hint, sizeof(k.hint), (void *)BPF_CORE_READ(regs, sp)) != 0)
		k.hint = 0;
	void *stacks = set ? (void *)&stacks_b : (void *)&stacks_a;
	k.ustack = bpf_get_stackid(ctx, stacks, BPF_F_USER_STACK);
	if (k.ustack < 0 && k.ustack != -14)
		COUNT_PERCPU(drops, FLAME_DROP_STACK_LOST);
	flame_add(set, &k, bytes);
}

SEC("tracepoint/syscalls/sys_enter_mmap")
int flame_mmap_enter(struct trace_event_raw_sys_enter *ctx)
{
	if ((ctx->args[3] & FLAME_MAP_ANONYMOUS) && ctx->args[1] > 0)
		flame_mem_enter(FLAME_MEM_MMAP, ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_mmap")
int flame_mmap_exit(struct trace_event_raw_sys_exit *ctx)
{
	flame_mem_exit(ctx, FLAME_MEM_MMAP, ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_brk")
int flame_brk_enter(struct trace_event_raw_sys_enter *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	flame_mem_enter(FLAME_MEM_BRK, BPF_CORE_READ(task, mm, brk));
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_brk")
int flame_brk_exit(struct trace_event_raw_sys_exit *ctx)
{
	flame_mem_exit(ctx, FLAME_MEM_BRK, ctx->ret);
	return 0;
}

#include "flamegraph-glibc.h"
