/* The observation scope every per-process probe shares (include after gopher.h).
 *
 * User space (src/probe/bpf-scope.ts) keeps `gopher_scope` and the mode word in step with
 * the probe's snoopers/blacklist: mode 0 observes every process, mode 1 only the tgids in
 * the map (whitelist), mode 2 every process except them (blacklist). A probe calls
 * `if (!gopher_in_scope(tgid)) return 0;` before it does any work for a process.
 *
 * The three programs below keep the map honest between two user-space updates: an exited
 * process leaves the map (a reused pid must not inherit its entry), and in whitelist mode
 * exec and fork of a listed process are reported so user space can ask the scope again
 * (a `proc_name` match may start or stop matching at exec; a child of a listed process is
 * a new candidate). Records that find the ring full are counted in `lost`. */
#ifndef GOPHER_SCOPE_H
#define GOPHER_SCOPE_H

#define GOPHER_SCOPE_MAX_PIDS 16384
#define GOPHER_SCOPE_RING_BYTES (128 * 1024)

enum gopher_scope_mode {
	GOPHER_SCOPE_ALL = 0,
	GOPHER_SCOPE_LISTED = 1,
	GOPHER_SCOPE_ALL_BUT = 2,
};

enum gopher_proc_kind {
	GOPHER_PROC_EXEC = 1,
	GOPHER_PROC_FORK = 2,
	GOPHER_PROC_EXIT = 3,
};

/* Written by user space (mode, synced) and by the kernel (lost) through the mmapped section. */
struct gopher_scope_state {
	__u32 mode;
	/* 0 until user space has written the mode word and the map for the first time: the
	 * programs are attached before that (a fresh object's mode word reads 0, "every
	 * process"), and a probe must not take in the whole host meanwhile. */
	__u32 synced;
	__u64 lost; /* process events that found the ring full */
};
struct gopher_scope_state gopher_scope_state SEC(".data.gscope") = {};

/* Ring record; src/probe/bpf-scope.ts reads kind and tgid at these offsets. */
struct gopher_proc_event {
	__u32 kind;
	__u32 tgid;
	__u32 ppid;
	char comm[16];
};
_Static_assert(__builtin_offsetof(struct gopher_proc_event, kind) == 0, "gopher_proc_event.kind");
_Static_assert(__builtin_offsetof(struct gopher_proc_event, tgid) == 4, "gopher_proc_event.tgid");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, GOPHER_SCOPE_MAX_PIDS);
	__type(key, __u32);
	__type(value, __u8);
} gopher_scope SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, GOPHER_SCOPE_RING_BYTES);
} gopher_scope_events SEC(".maps");

static __always_inline bool gopher_in_scope(__u32 tgid)
{
	if (!gopher_scope_state.synced)
		return false;
	__u32 mode = gopher_scope_state.mode;
	if (mode == GOPHER_SCOPE_ALL)
		return true;
	bool listed = bpf_map_lookup_elem(&gopher_scope, &tgid) != NULL;
	return mode == GOPHER_SCOPE_LISTED ? listed : !listed;
}

static __always_inline void gopher_proc_event(__u32 kind, __u32 tgid, __u32 ppid)
{
	struct gopher_proc_event *e = bpf_ringbuf_reserve(&gopher_scope_events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&gopher_scope_state.lost, 1);
		return;
	}
	e->kind = kind;
	e->tgid = tgid;
	e->ppid = ppid;
	bpf_get_current_comm(&e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}

SEC("raw_tp/sched_process_exit")
int gopher_scope_exit(struct bpf_raw_tracepoint_args *ctx)
{
	if (gopher_scope_state.mode == GOPHER_SCOPE_ALL)
		return 0;
	struct task_struct *t = (struct task_struct *)ctx->args[0];
	__u32 pid = BPF_CORE_READ(t, pid);
	__u32 tgid = BPF_CORE_READ(t, tgid);
	if (pid != tgid || !bpf_map_lookup_elem(&gopher_scope, &tgid))
		return 0;
	bpf_map_delete_elem(&gopher_scope, &tgid);
	gopher_proc_event(GOPHER_PROC_EXIT, tgid, 0);
	return 0;
}

SEC("raw_tp/sched_process_exec")
int gopher_scope_exec(struct bpf_raw_tracepoint_args *ctx)
{
	if (gopher_scope_state.mode != GOPHER_SCOPE_LISTED)
		return 0;
	gopher_proc_event(GOPHER_PROC_EXEC, current_tgid(), 0);
	return 0;
}

SEC("raw_tp/sched_process_fork")
int gopher_scope_fork(struct bpf_raw_tracepoint_args *ctx)
{
	if (gopher_scope_state.mode != GOPHER_SCOPE_LISTED)
		return 0;
	struct task_struct *parent = (struct task_struct *)ctx->args[0];
	struct task_struct *child = (struct task_struct *)ctx->args[1];
	__u32 cpid = BPF_CORE_READ(child, pid);
	__u32 ctgid = BPF_CORE_READ(child, tgid);
	__u32 ptgid = BPF_CORE_READ(parent, tgid);
	if (cpid != ctgid || !bpf_map_lookup_elem(&gopher_scope, &ptgid))
		return 0;
	gopher_proc_event(GOPHER_PROC_FORK, ctgid, ptgid);
	return 0;
}

#endif
