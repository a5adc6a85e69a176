/* l7 probe: the payload of every TCP/UDP send and receive of the processes in scope.
 *
 * Per-syscall tracepoints (sys_enter/sys_exit of read, write, readv, writev, sendto,
 * recvfrom, sendmsg, recvmsg, sendmmsg, recvmmsg, sendfile64, connect, accept, accept4,
 * close). The
 * enter program asks the scope first, then resolves the fd to its socket through the
 * task's fd table (CO-RE: task->files->fdt->fd[fd], a socket inode, file->private_data);
 * anything but an inet TCP/UDP socket ends there. The exit program counts the bytes the
 * call moved on the connection (l7_conns, kernel counters) and, unless user space has
 * marked the connection "not an enabled protocol" (l7_verdicts), copies a bounded prefix
 * with the true length into the ring (capture.h). connect() makes a tcp_client, accept()
 * a tcp_server; a connection already open when first seen is L7_ROLE_UNKNOWN. */
#include "gopher.h"
#include "scope.h"
#include "l7.h"
#include "capture.h"

char LICENSE[] SEC("license") = "GPL";

#define L7_EINPROGRESS 115

enum l7_call_kind {
	K_FLAT = 1,    /* read/write/sendto/recvfrom: one buffer */
	K_IOV = 2,     /* readv/writev */
	K_MSG = 3,     /* sendmsg/recvmsg */
	K_MMSG = 4,    /* sendmmsg/recvmmsg */
	K_CONNECT = 5,
	K_ACCEPT = 6,
	K_SENDFILE = 7, /* sendfile: the bytes come from a file, never from user memory */
};

/* A syscall in flight on a thread (key pid_tgid). */
struct l7_call {
	__u64 ts;
	__u64 sk;
	__u64 file;
	__u64 conn_id; /* the connection, when the fd was known at entry (0: resolve at exit) */
	__u64 buf;  /* buffer / iovec array / msghdr / mmsghdr array */
	__u64 n;    /* iovec count / message count */
	__u64 addr; /* sendto/recvfrom sockaddr */
	__s32 fd;
	__u32 kind; /* enum l7_call_kind */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* max_threads */
	__type(key, __u64);
	__type(value, struct l7_call);
} l7_calls SEC(".maps");

static __always_inline int l7_enter(int fd, __u32 kind, __u64 buf, __u64 n, __u64 addr)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	if (!gopher_in_scope(tgid))
		return 0;
	struct l7_call c = { .ts = bpf_ktime_get_ns(), .buf = buf, .n = n, .addr = addr, .fd = fd, .kind = kind };
	if (kind != K_ACCEPT) {
		struct file *f = l7_fd_file(fd);
		if (!f)
			return 0;
		c.file = (__u64)f;
		/* A known connection whose fd still names the same file: no socket checks. */
		struct l7_fd_key k = { .tgid = tgid, .fd = fd };
		struct l7_fd_val *fv = bpf_map_lookup_elem(&l7_fds, &k);
		if (fv && fv->file == (__u64)f) {
			c.sk = fv->sk;
			c.conn_id = fv->conn_id;
		} else {
			struct sock *sk = l7_file_sock(f);
			if (!sk)
				return 0;
			c.sk = (__u64)sk;
		}
	}
	if (bpf_map_update_elem(&l7_calls, &pid_tgid, &c, BPF_ANY))
		l7_drop(D_CALLS_FULL);
	return 0;
}

static __always_inline void l7_peer(struct l7_event *ev, const void *uaddr)
{
	if (!uaddr)
		return;
	__u16 fam = 0;
	if (bpf_probe_read_user(&fam, sizeof(fam), uaddr))
		return;
	if (fam == AF_INET) {
		struct sockaddr_in a = {};
		if (bpf_probe_read_user(&a, sizeof(a), uaddr))
			return;
		ev->peer_family = AF_INET;
		ev->peer_port = bpf_ntohs(a.sin_port);
		__builtin_memcpy(ev->peer_addr, &a.sin_addr.s_addr, 4);
	} else if (fam == AF_INET6) {
		struct sockaddr_in6 a = {};
		if (bpf_probe_read_user(&a, sizeof(a), uaddr))
			return;
		ev->peer_family = AF_INET6;
		ev->peer_port = bpf_ntohs(a.sin6_port);
		__builtin_memcpy(ev->peer_addr, a.sin6_addr.in6_u.u6_addr8, 16);
	}
}

/* Bytes of the first `n` messages of an mmsghdr array at user address `m` (the kernel wrote
 * msg_len). A global function: the verifier checks its loop once, not on every path of
 * the exit programs. */
__noinline long l7_mmsg_bytes(__u64 m, __u64 n)
{
	const struct mmsghdr *mm = (const struct mmsghdr *)m;
	long total = 0;
	for (int i = 0; i < L7_MMSG_COUNT_MAX; i++) {
		if (i >= n)
			break;
		__u32 len = 0;
		bpf_probe_read_user(&len, sizeof(len), &mm[i].msg_len);
		total += len;
	}
	return total;
}

/* Builds and submits the record(s) of one call in the taken slot `s`. */
static __always_inline void l7_build(struct l7_scratch *s, const struct l7_call *cp, __u32 tgid, __u64 id, __u8 l4, __u8 dir, __u64 bytes, __u64 segs, __u64 ts, const __u32 kind)
{
	struct l7_call a = *cp;
	__u8 udp = l4 == L7_UDP;
	if (kind == K_FLAT) {
		l7_head(&s->ev, tgid, id, a.fd, dir, l4, bytes, ts, 0);
		if (udp)
			l7_peer(&s->ev, (const void *)a.addr);
		l7_submit(s, l7_copy_flat(s, (const void *)a.buf, bytes));
	} else if (kind == K_IOV) {
		l7_head(&s->ev, tgid, id, a.fd, dir, l4, bytes, ts, 0);
		l7_submit(s, l7_copy_iov(s, (const struct iovec *)a.buf, a.n, bytes));
	} else if (kind == K_MSG) {
		struct user_msghdr m = {};
		if (bpf_probe_read_user(&m, sizeof(m), (const void *)a.buf))
			return;
		l7_head(&s->ev, tgid, id, a.fd, dir, l4, bytes, ts, 0);
		if (udp)
			l7_peer(&s->ev, m.msg_name);
		l7_submit(s, l7_copy_iov(s, m.msg_iov, m.msg_iovlen, bytes));
	} else if (kind == K_SENDFILE) {
		/* All gap: the parsers step over bytes whose length they know (a Kafka fetch). */
		l7_head(&s->ev, tgid, id, a.fd, dir, l4, bytes, ts, 0);
		l7_submit(s, 0);
	} else if (kind == K_MMSG) {
		const struct mmsghdr *mm = (const struct mmsghdr *)a.buf;
		for (int i = 0; i < L7_MMSG_MAX; i++) {
			if (i >= segs)
				break;
			struct mmsghdr m = {};
			if (bpf_probe_read_user(&m, sizeof(m), &mm[i]))
				break;
			l7_head(&s->ev, tgid, id, a.fd, dir, l4, m.msg_len, ts, 0);
			if (udp)
				l7_peer(&s->ev, m.msg_hdr.msg_name);
			struct iovec v = {};
			if (m.msg_hdr.msg_iovlen < 1 || bpf_probe_read_user(&v, sizeof(v), m.msg_hdr.msg_iov))
				break;
			l7_submit(s, l7_copy_flat(s, v.iov_base, v.iov_len < m.msg_len ? v.iov_len : m.msg_len));
		}
	}
}

/* `kind` is a constant at every call: each exit program keeps only its own branch. */
static __always_inline int l7_exit(long ret, __u8 dir, const __u32 kind)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct l7_call *p = bpf_map_lookup_elem(&l7_calls, &pid_tgid);
	if (!p)
		return 0;
	struct l7_call a = *p;
	bpf_map_delete_elem(&l7_calls, &pid_tgid);
	if (ret <= 0)
		return 0;
	__u32 tgid = pid_tgid >> 32;
	__u64 now = bpf_ktime_get_ns();
	__u64 ts = dir == L7_SEND ? a.ts : now;
	__u64 id = a.conn_id;
	struct l7_conn *c = id ? bpf_map_lookup_elem(&l7_conns, &id) : NULL;
	if (!c)
		c = l7_conn_of(tgid, a.fd, (struct file *)a.file, (struct sock *)a.sk, L7_ROLE_UNKNOWN, &id);
	if (!c)
		return 0;
	__u64 bytes = (__u64)ret, segs = 1;
	if (kind == K_MMSG) {
		segs = (__u64)ret;
		bytes = (__u64)l7_mmsg_bytes(a.buf, segs);
	}
	l7_count(c, dir, bytes, segs);
	/* Ciphertext: inside an SSL call, or of a connection whose plaintext comes from tls.h. */
	if (l7_in_tls(c, a.fd) || (c->flags & L7_F_SSL) || !l7_wanted(c, id))
		return 0;
	struct l7_scratch *s = l7_scratch_take();
	if (!s)
		return 0;
	l7_build(s, &a, tgid, id, c->l4, dir, bytes, segs, ts, kind);
	l7_scratch_put(s);
	return 0;
}

#define L7_PAIR(name, dir, kind, enter_call)                   \
	SEC("tracepoint/syscalls/sys_enter_" #name)           \
	int enter_##name(struct sc_enter_ctx *ctx)            \
	{                                                      \
		return enter_call;                             \
	}                                                      \
	SEC("tracepoint/syscalls/sys_exit_" #name)            \
	int exit_##name(struct sc_exit_ctx *ctx)              \
	{                                                      \
		return l7_exit(ctx->ret, dir, kind);           \
	}

L7_PAIR(read, L7_RECV, K_FLAT, l7_enter(ctx->args[0], K_FLAT, ctx->args[1], 0, 0))
L7_PAIR(write, L7_SEND, K_FLAT, l7_enter(ctx->args[0], K_FLAT, ctx->args[1], 0, 0))
L7_PAIR(readv, L7_RECV, K_IOV, l7_enter(ctx->args[0], K_IOV, ctx->args[1], ctx->args[2], 0))
L7_PAIR(writev, L7_SEND, K_IOV, l7_enter(ctx->args[0], K_IOV, ctx->args[1], ctx->args[2], 0))
L7_PAIR(sendto, L7_SEND, K_FLAT, l7_enter(ctx->args[0], K_FLAT, ctx->args[1], 0, ctx->args[4]))
L7_PAIR(recvfrom, L7_RECV, K_FLAT, l7_enter(ctx->args[0], K_FLAT, ctx->args[1], 0, ctx->args[4]))
L7_PAIR(sendmsg, L7_SEND, K_MSG, l7_enter(ctx->args[0], K_MSG, ctx->args[1], 0, 0))
L7_PAIR(recvmsg, L7_RECV, K_MSG, l7_enter(ctx->args[0], K_MSG, ctx->args[1], 0, 0))
L7_PAIR(sendmmsg, L7_SEND, K_MMSG, l7_enter(ctx->args[0], K_MMSG, ctx->args[1], ctx->args[2], 0))
L7_PAIR(recvmmsg, L7_RECV, K_MMSG, l7_enter(ctx->args[0], K_MMSG, ctx->args[1], ctx->args[2], 0))
L7_PAIR(sendfile64, L7_SEND, K_SENDFILE, l7_enter(ctx->args[0], K_SENDFILE, 0, 0, 0))

static __always_inline int l7_connected(long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct l7_call *p = bpf_map_lookup_elem(&l7_calls, &pid_tgid);
	if (!p)
		return 0;
	struct l7_call a = *p;
	bpf_map_delete_elem(&l7_calls, &pid_tgid);
	__u64 id = 0;
	if (a.kind == K_CONNECT) {
		if (ret == 0 || ret == -L7_EINPROGRESS)
			l7_conn_of(pid_tgid >> 32, a.fd, (struct file *)a.file, (struct sock *)a.sk, L7_ROLE_CLIENT, &id);
	} else if (a.kind == K_ACCEPT && ret >= 0) {
		struct file *f = l7_fd_file((int)ret);
		struct sock *sk = l7_file_sock(f);
		if (sk)
			l7_conn_of(pid_tgid >> 32, (int)ret, f, sk, L7_ROLE_SERVER, &id);
	}
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_connect")
int enter_connect(struct sc_enter_ctx *ctx)
{
	return l7_enter(ctx->args[0], K_CONNECT, 0, 0, 0);
}
SEC("tracepoint/syscalls/sys_exit_connect")
int exit_connect(struct sc_exit_ctx *ctx)
{
	return l7_connected(ctx->ret);
}
SEC("tracepoint/syscalls/sys_enter_accept")
int enter_accept(struct sc_enter_ctx *ctx)
{
	return l7_enter(ctx->args[0], K_ACCEPT, 0, 0, 0);
}
SEC("tracepoint/syscalls/sys_exit_accept")
int exit_accept(struct sc_exit_ctx *ctx)
{
	return l7_connected(ctx->ret);
}
SEC("tracepoint/syscalls/sys_enter_accept4")
int enter_accept4(struct sc_enter_ctx *ctx)
{
	return l7_enter(ctx->args[0], K_ACCEPT, 0, 0, 0);
}
SEC("tracepoint/syscalls/sys_exit_accept4")
int exit_accept4(struct sc_exit_ctx *ctx)
{
	return l7_connected(ctx->ret);
}

SEC("tracepoint/syscalls/sys_enter_close")
int enter_close(struct sc_enter_ctx *ctx)
{
	__u32 tgid = current_tgid();
	if (!gopher_in_scope(tgid))
		return 0;
	struct l7_fd_key k = { .tgid = tgid, .fd = (int)ctx->args[0] };
	struct l7_fd_val *fv = bpf_map_lookup_elem(&l7_fds, &k);
	if (!fv)
		return 0;
	__u64 id = fv->conn_id;
	bpf_map_delete_elem(&l7_fds, &k);
	struct l7_conn *c = bpf_map_lookup_elem(&l7_conns, &id);
	if (!c)
		return 0;
	c->flags |= L7_F_CLOSED;
	struct l7_event *ev = bpf_ringbuf_reserve(&l7_events, sizeof(*ev), 0);
	if (!ev) {
		l7_drop(D_CLOSE_LOST);
		return 0;
	}
	l7_head(ev, tgid, id, k.fd, 0, c->l4, 0, bpf_ktime_get_ns(), 0);
	ev->kind = L7_REC_CLOSE;
	bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
	return 0;
}

/* support_ssl: the OpenSSL and Go crypto/tls uprobes (attached by src/probes/l7/tls/). */
#include "tls.h"
