/* flamegraph: on-CPU samples (perf_event on every CPU), off-CPU time (sched_switch) and
 * user page faults (memory first touched: exceptions:page_fault_user, x86) per
 * (tgid, user stack, kernel stack), counted in the kernel.
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
#define FLAME_MEM 2

enum flame_drop {
	FLAME_DROP_COUNTS_FULL = 0,   /* the counts map of the active set is full */
	FLAME_DROP_STACK_LOST = 1,    /* bpf_get_stackid failed (stack map full or a collision) */
	FLAME_DROP_OFFCPU_FULL = 2,   /* the switch-out map is full: a sleep not timed */
	FLAME_DROP_OFFCPU_PERIOD = 3, /* a sleep that began in the period already read */
	FLAME_DROP_SLOTS = 4,
};

struct flame_state {
	__u32 active; /* 0: set A, 1: set B (written by user space) */
	__u32 pad;
};
struct flame_state flame_state SEC(".data.flame") = {};

struct flame_key {
	__u32 tgid;
	__s32 ustack;
	__s32 kstack;
	__u32 kind; /* FLAME_ONCPU (value: samples), FLAME_OFFCPU (ns off the CPU), FLAME_MEM (user page faults) */
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
	flame_add(set, &k, 1);
	return 0;
}
