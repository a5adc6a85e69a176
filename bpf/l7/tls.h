/* TLS plaintext for the l7 probe: uprobes on OpenSSL (1.1 and 3, shared or static) and on
 * Go's crypto/tls. Included by l7.bpf.c after capture.h, which provides:
 *   - l7_emit(ctx, tgid, fd, dir, user_buf, len, ts, ssl): one capture record for a socket fd;
 *   - l7_tls_calls: per-thread map (key pid_tgid, value struct l7_tls_call with a `__s32 fd`
 *     member). While a thread has an entry, the syscall programs take its socket calls for
 *     the TLS call's ciphertext: they store the fd into the entry, mark the connection
 *     L7_F_SSL and do not emit the bytes (OpenSSL: the socket is learnt from the syscall made
 *     inside the call, never from OpenSSL's struct layout, so versions and builds differ freely);
 *   - and, for Go, that a connection marked L7_F_SSL emits no syscall bytes any more: a Go
 *     Read may wait, with its goroutine parked, and finish its read(2) on another thread, so
 *     only Write (which returns without parking in all but a full-socket case) gets a thread
 *     entry; the first Write marks the connection and its later reads stay quiet.
 * The includer may define L7_TLS_IN_SCOPE(tgid) (default: gopher_in_scope from scope.h).
 *
 * OpenSSL: entry uprobes remember the buffer (and the _ex out-count pointer) per thread;
 * uretprobes emit the plaintext the call moved (SSL_write: at entry time, as a send starts;
 * SSL_read: at return time, as a receive ends). A call that made no socket syscall (a read
 * served from OpenSSL's buffer) uses the fd the same SSL* had last (tls_ssl_fds).
 * Go (register ABI, go1.17+): entry at crypto/tls.(*Conn).Read/Write (RAX *Conn, RBX buf,
 * RCX len), and one uprobe at each RET (RAX n); calls paired by goroutine (g in R14), since
 * a goroutine may change threads while it waits. Uretprobes are never used on Go code.
 * Write emits at entry (len RCX), Read at RET (n RAX).
 * The fd comes from *tls.Conn (conn iface data -> netFD -> poll.FD.Sysfd). */
#ifndef GOPHER_L7_TLS_H
#define GOPHER_L7_TLS_H

#ifndef L7_TLS_IN_SCOPE
#define L7_TLS_IN_SCOPE(tgid) gopher_in_scope(tgid)
#endif

/* Field offsets from *tls.Conn to the socket fd (src/probes/l7/tls/go-binary.ts GO_TLS_FD_PATH). */
#define GO_TLS_CONN_IFACE_DATA 8
#define GO_TLS_NETFD_IN_CONN 0
#define GO_TLS_SYSFD_IN_NETFD 16

/* Counters in tls_stats (src/probes/l7/tls/stats.ts mirrors them). */
enum tls_stat {
	TLS_SSL_NO_FD = 0,   /* an SSL call moved bytes but its socket is unknown: not emitted */
	TLS_GO_NO_FD,        /* the fd could not be read through *tls.Conn: not emitted */
	TLS_GO_UNPAIRED,     /* a RET without its entry (attached mid-call, or the entry was evicted) */
	TLS_SSL_UNPAIRED,    /* an SSL return without its entry */
	TLS_N_STAT
};

struct tls_ssl_arg {
	__u64 buf;
	__u64 count_ptr; /* size_t * of SSL_read_ex/SSL_write_ex; 0 for SSL_read/SSL_write */
	__u64 ssl;
	__u64 ts;
};

struct tls_ssl_key {
	__u32 tgid;
	__u32 pad;
	__u64 ssl;
};

struct tls_go_key {
	__u32 tgid;
	__u32 dir;
	__u64 g;
};

struct tls_go_arg {
	__u64 buf;
	__u64 ts;
	__u64 thread; /* pid_tgid that entered (its l7_tls_calls entry, Write only) */
	__s32 fd;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct tls_ssl_arg);
} tls_ssl_args SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tls_ssl_key);
	__type(value, __s32);
} tls_ssl_fds SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct tls_go_key);
	__type(value, struct tls_go_arg);
} tls_go_args SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TLS_N_STAT);
	__type(key, __u32);
	__type(value, __u64);
} tls_stats SEC(".maps");

static __always_inline int tls_ssl_enter(struct pt_regs *ctx, __u64 count_ptr)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!L7_TLS_IN_SCOPE((__u32)(id >> 32)))
		return 0;
	struct tls_ssl_arg a = {
		.buf = PT_REGS_PARM2(ctx),
		.count_ptr = count_ptr,
		.ssl = PT_REGS_PARM1(ctx),
		.ts = bpf_ktime_get_ns(),
	};
	struct l7_tls_call call = {};
	call.fd = -1;
	bpf_map_update_elem(&tls_ssl_args, &id, &a, BPF_ANY);
	bpf_map_update_elem(&l7_tls_calls, &id, &call, BPF_ANY);
	return 0;
}

static __always_inline int tls_ssl_exit(struct pt_regs *ctx, __u8 dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct tls_ssl_arg *a = bpf_map_lookup_elem(&tls_ssl_args, &id);
	struct l7_tls_call *call = bpf_map_lookup_elem(&l7_tls_calls, &id);
	if (!a) {
		if (call)
			bpf_map_delete_elem(&l7_tls_calls, &id);
		if (L7_TLS_IN_SCOPE(tgid))
			COUNT_PERCPU(tls_stats, TLS_SSL_UNPAIRED);
		return 0;
	}
	struct tls_ssl_arg arg = *a;
	__s32 fd = call ? call->fd : -1;
	bpf_map_delete_elem(&tls_ssl_args, &id);
	if (call)
		bpf_map_delete_elem(&l7_tls_calls, &id);

	int rc = (int)PT_REGS_RC(ctx); /* C int: the upper half of RAX is undefined */
	__u64 n = 0;
	if (arg.count_ptr) {
		if (rc != 1 || bpf_probe_read_user(&n, sizeof(n), (void *)arg.count_ptr))
			return 0;
	} else {
		if (rc <= 0)
			return 0;
		n = rc;
	}
	struct tls_ssl_key k = { .tgid = tgid, .ssl = arg.ssl };
	if (fd >= 0) {
		bpf_map_update_elem(&tls_ssl_fds, &k, &fd, BPF_ANY);
	} else {
		__s32 *known = bpf_map_lookup_elem(&tls_ssl_fds, &k);
		if (!known) {
			COUNT_PERCPU(tls_stats, TLS_SSL_NO_FD);
			return 0;
		}
		fd = *known;
	}
	if (n == 0)
		return 0;
	__u64 ts = dir == L7_SEND ? arg.ts : bpf_ktime_get_ns();
	return l7_emit(ctx, tgid, fd, dir, (const void *)arg.buf, n, ts, 1);
}

SEC("uprobe")
int BPF_KPROBE(tls_ssl_write_enter) { return tls_ssl_enter(ctx, 0); }
SEC("uretprobe")
int BPF_KPROBE(tls_ssl_write_exit) { return tls_ssl_exit(ctx, L7_SEND); }
SEC("uprobe")
int BPF_KPROBE(tls_ssl_read_enter) { return tls_ssl_enter(ctx, 0); }
SEC("uretprobe")
int BPF_KPROBE(tls_ssl_read_exit) { return tls_ssl_exit(ctx, L7_RECV); }
/* SSL_write_ex(ssl, buf, num, size_t *written) / SSL_read_ex(ssl, buf, num, size_t *readbytes): 1 on success. */
SEC("uprobe")
int BPF_KPROBE(tls_ssl_write_ex_enter) { return tls_ssl_enter(ctx, PT_REGS_PARM4(ctx)); }
SEC("uretprobe")
int BPF_KPROBE(tls_ssl_write_ex_exit) { return tls_ssl_exit(ctx, L7_SEND); }
SEC("uprobe")
int BPF_KPROBE(tls_ssl_read_ex_enter) { return tls_ssl_enter(ctx, PT_REGS_PARM4(ctx)); }
SEC("uretprobe")
int BPF_KPROBE(tls_ssl_read_ex_exit) { return tls_ssl_exit(ctx, L7_RECV); }

/* The socket fd of a *tls.Conn whose conn is a *net.TCPConn (or another *net.conn embedder). */
static __always_inline __s32 tls_go_fd(__u64 tls_conn)
{
	__u64 conn = 0, netfd = 0;
	__s64 sysfd = -1;
	if (bpf_probe_read_user(&conn, sizeof(conn), (void *)(tls_conn + GO_TLS_CONN_IFACE_DATA)) || !conn)
		return -1;
	if (bpf_probe_read_user(&netfd, sizeof(netfd), (void *)(conn + GO_TLS_NETFD_IN_CONN)) || !netfd)
		return -1;
	if (bpf_probe_read_user(&sysfd, sizeof(sysfd), (void *)(netfd + GO_TLS_SYSFD_IN_NETFD)))
		return -1;
	if (sysfd < 0 || sysfd > 0x7fffffff)
		return -1;
	return (__s32)sysfd;
}

static __always_inline int tls_go_enter(struct pt_regs *ctx, __u32 dir)
{
	/* Registers read once, up front (the verifier refuses a ctx offset chosen at run time). */
	__u64 conn = ctx->ax, buf = ctx->bx, len = ctx->cx, g = ctx->r14;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!L7_TLS_IN_SCOPE(tgid))
		return 0;
	__s32 fd = tls_go_fd(conn);
	if (fd < 0) {
		COUNT_PERCPU(tls_stats, TLS_GO_NO_FD);
		return 0;
	}
	struct tls_go_key k = { .tgid = tgid, .dir = dir, .g = g };
	/* The prologue's stack growth (morestack) re-runs the entry: same goroutine, same buffer. */
	struct tls_go_arg *prev = bpf_map_lookup_elem(&tls_go_args, &k);
	if (prev && prev->buf == buf && prev->fd == fd)
		return 0;
	struct tls_go_arg a = { .buf = buf, .ts = bpf_ktime_get_ns(), .thread = id, .fd = fd };
	bpf_map_update_elem(&tls_go_args, &k, &a, BPF_ANY);
	if (dir != L7_SEND)
		return 0;
	struct l7_tls_call call = {};
	call.fd = fd;
	bpf_map_update_elem(&l7_tls_calls, &id, &call, BPF_ANY);
	/* Write's plaintext goes out now, before its bytes reach the socket: emitted at RET it
	 * could follow the answer, read meanwhile by another goroutine. Write returns short only
	 * with an error (the connection is broken). */
	long n = (long)len;
	if (n <= 0)
		return 0;
	return l7_emit(ctx, tgid, fd, L7_SEND, (const void *)a.buf, (__u64)n, a.ts, 1);
}

static __always_inline int tls_go_ret(struct pt_regs *ctx, __u32 dir)
{
	__u64 ret = ctx->ax, g = ctx->r14;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct tls_go_key k = { .tgid = tgid, .dir = dir, .g = g };
	struct tls_go_arg *a = bpf_map_lookup_elem(&tls_go_args, &k);
	if (!a) {
		if (L7_TLS_IN_SCOPE(tgid))
			COUNT_PERCPU(tls_stats, TLS_GO_UNPAIRED);
		return 0;
	}
	struct tls_go_arg arg = *a;
	bpf_map_delete_elem(&tls_go_args, &k);
	if (dir == L7_SEND) {
		bpf_map_delete_elem(&l7_tls_calls, &arg.thread);
		return 0;
	}
	long n = (long)ret;
	if (n <= 0)
		return 0;
	return l7_emit(ctx, tgid, arg.fd, L7_RECV, (const void *)arg.buf, (__u64)n, bpf_ktime_get_ns(), 1);
}

SEC("uprobe")
int tls_go_write_enter(struct pt_regs *ctx) { return tls_go_enter(ctx, L7_SEND); }
SEC("uprobe")
int tls_go_write_ret(struct pt_regs *ctx) { return tls_go_ret(ctx, L7_SEND); }
SEC("uprobe")
int tls_go_read_enter(struct pt_regs *ctx) { return tls_go_enter(ctx, L7_RECV); }
SEC("uprobe")
int tls_go_read_ret(struct pt_regs *ctx) { return tls_go_ret(ctx, L7_RECV); }

#endif
