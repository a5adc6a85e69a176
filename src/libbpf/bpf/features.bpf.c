/* Attach probes for kernel feature detection (src/host/features.ts): each program is
 * loaded alone, attached to a rarely-hit hook, and detached at once. */
#include "gopher.h"

char LICENSE[] SEC("license") = "GPL";

SEC("tracepoint/sched/sched_process_exec")
int probe_tracepoint(void *ctx) { return 0; }

SEC("raw_tp/sched_process_exec")
int probe_raw_tp(void *ctx) { return 0; }

SEC("kprobe/do_nanosleep")
int probe_kprobe(void *ctx) { return 0; }

SEC("fentry/do_nanosleep")
int probe_fentry(void *ctx) { return 0; }

SEC("uprobe")
int probe_uprobe(void *ctx) { return 0; }

SEC("perf_event")
int probe_perf_event(void *ctx) { return 0; }

SEC("sockops")
int probe_sockops(struct bpf_sock_ops *skops) { return 1; }

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} probe_rb SEC(".maps");

SEC("raw_tp/sched_process_exec")
int probe_ringbuf(void *ctx)
{
	void *e = bpf_ringbuf_reserve(&probe_rb, 8, 0);
	if (e)
		bpf_ringbuf_discard(e, 0);
	return 0;
}
