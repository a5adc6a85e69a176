/* Test-only: bpf/l7/tls.h with a stand-in for the l7 core's capture.h (src/probes/l7/tls/
 * tls.root.test.ts). l7_emit copies up to TLS_TEST_CAP plaintext bytes into a ring record;
 * the syscall tracepoints fill the fd of a thread's l7_tls_calls entry from the first socket
 * call made inside the TLS call, as the core's syscall programs do. Not shipped. */
#include "gopher.h"

char LICENSE[] SEC("license") = "GPL";

#define TLS_TEST_CAP 4096
#define L7_SEND 0
#define L7_RECV 1

/* Every process: the test keeps the records of its own processes. */
#define L7_TLS_IN_SCOPE(tgid) 1

struct l7_tls_call {
	__s32 fd;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct l7_tls_call);
} l7_tls_calls SEC(".maps");

struct tls_test_rec {
	__u32 tgid;
	__s32 fd;
	__u64 len;
	__u64 ts;
	__u32 cap;
	__u8 dir;
	__u8 ssl;
	__u16 pad;
	__u8 data[TLS_TEST_CAP];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} tls_test_events SEC(".maps");

/* [0] records that found the ring full. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} tls_test_lost SEC(".maps");

static __always_inline int l7_emit(void *ctx_unused, __u32 tgid, int fd, __u8 dir, const void *user_buf, __u64 len, __u64 ts, __u8 ssl)
{
	struct tls_test_rec *r = bpf_ringbuf_reserve(&tls_test_events, sizeof(*r), 0);
	if (!r) {
		__u32 k = 0;
		__u64 *v = bpf_map_lookup_elem(&tls_test_lost, &k);
		if (v)
			__sync_fetch_and_add(v, 1);
		return 0;
	}
	__u32 cap = len < TLS_TEST_CAP ? (__u32)len : TLS_TEST_CAP;
	r->tgid = tgid;
	r->fd = fd;
	r->len = len;
	r->ts = ts;
	r->dir = dir;
	r->ssl = ssl;
	r->pad = 0;
	asm volatile("%0 &= 0x1fff" : "+r"(cap)); /* a bound the verifier sees */
	if (cap > TLS_TEST_CAP)
		cap = TLS_TEST_CAP;
	if (bpf_probe_read_user(r->data, cap, user_buf))
		cap = 0;
	r->cap = cap;
	bpf_ringbuf_submit(r, 0);
	return 0;
}

static __always_inline int fill_fd(long fd)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct l7_tls_call *c = bpf_map_lookup_elem(&l7_tls_calls, &id);
	if (c && c->fd < 0)
		c->fd = fd;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int tt_write(struct trace_event_raw_sys_enter *ctx) { return fill_fd(ctx->args[0]); }
SEC("tracepoint/syscalls/sys_enter_read")
int tt_read(struct trace_event_raw_sys_enter *ctx) { return fill_fd(ctx->args[0]); }
SEC("tracepoint/syscalls/sys_enter_sendto")
int tt_sendto(struct trace_event_raw_sys_enter *ctx) { return fill_fd(ctx->args[0]); }
SEC("tracepoint/syscalls/sys_enter_recvfrom")
int tt_recvfrom(struct trace_event_raw_sys_enter *ctx) { return fill_fd(ctx->args[0]); }
SEC("tracepoint/syscalls/sys_enter_sendmsg")
int tt_sendmsg(struct trace_event_raw_sys_enter *ctx) { return fill_fd(ctx->args[0]); }
SEC("tracepoint/syscalls/sys_enter_recvmsg")
int tt_recvmsg(struct trace_event_raw_sys_enter *ctx) { return fill_fd(ctx->args[0]); }
SEC("tracepoint/syscalls/sys_enter_writev")
int tt_writev(struct trace_event_raw_sys_enter *ctx) { return fill_fd(ctx->args[0]); }
SEC("tracepoint/syscalls/sys_enter_readv")
int tt_readv(struct trace_event_raw_sys_enter *ctx) { return fill_fd(ctx->args[0]); }

/* (tgid, fd) -> 1 accepted, 2 socket(): the test checks that every record names one. */
struct tt_fd_key {
	__u32 tgid;
	__s32 fd;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tt_fd_key);
	__type(value, __u32);
} tt_sockets SEC(".maps");

static __always_inline int note_socket(long ret, __u32 kind)
{
	if (ret < 0)
		return 0;
	struct tt_fd_key k = { .tgid = current_tgid(), .fd = ret };
	bpf_map_update_elem(&tt_sockets, &k, &kind, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int tt_accept4(struct trace_event_raw_sys_exit *ctx) { return note_socket(ctx->ret, 1); }
SEC("tracepoint/syscalls/sys_exit_accept")
int tt_accept(struct trace_event_raw_sys_exit *ctx) { return note_socket(ctx->ret, 1); }
SEC("tracepoint/syscalls/sys_exit_socket")
int tt_socket(struct trace_event_raw_sys_exit *ctx) { return note_socket(ctx->ret, 2); }

#include "../../../../../bpf/l7/tls.h"
