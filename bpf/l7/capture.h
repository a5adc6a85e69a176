/* The l7 probe's capture core, shared by the syscall programs (l7.bpf.c) and the TLS
 * uprobes (tls.h): connection lookup by (tgid, fd) with the socket resolved from the
 * task's fd table (CO-RE), kernel byte/segment counters, the verdict cache, and the
 * ring-buffer emitter `l7_emit`. Included once, by l7.bpf.c, after scope.h and l7.h. */
#ifndef GOPHER_L7_CAPTURE_H
#define GOPHER_L7_CAPTURE_H

#define L7_S_IFMT 0170000
#define L7_S_IFSOCK 0140000
#define L7_IPPROTO_UDP 17
#define L7_SOCK_STREAM 1
#define L7_SOCK_DGRAM 2

/* Keeps the compiler from folding a bound the verifier must see. */
#define l7_barrier_var(v) asm volatile("" : "+r"(v))

/* The only .bss variable: user space finds its members at the offsets of struct l7_cfg. */
struct l7_cfg cfg = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* max_conns, set by user space */
	__type(key, __u64);
	__type(value, struct l7_conn);
} l7_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* max_conns */
	__type(key, struct l7_fd_key);
	__type(value, struct l7_fd_val);
} l7_fds SEC(".maps");

/* conn_id -> enum l7_verdict, written by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* max_conns */
	__type(key, __u64);
	__type(value, __u32);
} l7_verdicts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* ringbuf_mib, set by user space */
} l7_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, N_DROP);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* A record being built: one slot per CPU (an ARRAY, not PERCPU: the value is larger than a
 * per-CPU allocation may be); user space sets max_entries to the number of possible CPUs.
 * `busy` guards a slot against a second task on the same CPU (a preemptible kernel can
 * preempt a program between filling the slot and submitting it): that task's record is
 * dropped and counted instead of mixing two records. */
struct l7_scratch {
	__u64 busy;
	struct l7_event ev;
	__u8 data[2 * L7_CAP_MAX];
};
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct l7_scratch);
} l7_scratch SEC(".maps");

/* A thread inside an SSL_read/SSL_write (written by tls.h's uprobes). While an entry exists
 * for a thread, the syscall programs store the socket fd they see into `fd`, mark the
 * connection L7_F_SSL and do not emit the (encrypted) bytes; they still count them. */
struct l7_tls_call {
	__s32 fd;      /* -1 until a syscall inside the call names the socket */
	__u32 dir;     /* for tls.h */
	__u64 arg[4];  /* for tls.h: buffer, length pointer, start time ... */
};
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct l7_tls_call);
} l7_tls_calls SEC(".maps");

static __always_inline void l7_drop(__u32 reason)
{
	__u64 *v = bpf_map_lookup_elem(&drops, &reason);
	if (v)
		__sync_fetch_and_add(v, 1);
}

/* The open file behind `fd` of the current task, or NULL. The fd is not checked against
 * the table's size: a call on a bad fd fails (EBADF), and only calls that moved bytes are
 * ever used; a read past the table is a failed or meaningless probe read, never a fault. */
static __always_inline struct file *l7_fd_file(int fd)
{
	if (fd < 0)
		return NULL;
	struct task_struct *t = (struct task_struct *)bpf_get_current_task();
	struct file **arr = BPF_CORE_READ(t, files, fdt, fd);
	struct file *f = NULL;
	if (!arr || bpf_probe_read_kernel(&f, sizeof(f), &arr[fd]))
		return NULL;
	return f;
}

/* The inet TCP/UDP socket of an open file, or NULL. */
static __always_inline struct sock *l7_file_sock(struct file *f)
{
	if (!f)
		return NULL;
	umode_t mode = BPF_CORE_READ(f, f_inode, i_mode);
	if ((mode & L7_S_IFMT) != L7_S_IFSOCK)
		return NULL;
	struct socket *sock = BPF_CORE_READ(f, private_data);
	if (!sock)
		return NULL;
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return NULL;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return NULL;
	__u16 proto = BPF_CORE_READ(sk, sk_protocol);
	if (proto != IPPROTO_TCP && proto != L7_IPPROTO_UDP)
		return NULL;
	return sk;
}

static __always_inline void l7_fill_conn(struct l7_conn *c, struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	c->family = family;
	c->l4 = BPF_CORE_READ(sk, sk_protocol) == IPPROTO_TCP ? L7_TCP : L7_UDP;
	c->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
	c->remote_port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	c->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	if (family == AF_INET) {
		__u32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(c->local_addr, &l, 4);
		__builtin_memcpy(c->remote_addr, &r, 4);
	} else {
		BPF_CORE_READ_INTO(&c->local_addr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&c->remote_addr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
}

/* The connection of (tgid, fd) whose socket is `sk`: found, or created with `role`
 * (an fd now naming another socket starts a new connection). NULL when the map is full. */
static __always_inline struct l7_conn *l7_conn_of(__u32 tgid, int fd, struct file *file, struct sock *sk, __u8 role, __u64 *id_out)
{
	struct l7_fd_key k = { .tgid = tgid, .fd = fd };
	struct l7_fd_val *fv = bpf_map_lookup_elem(&l7_fds, &k);
	if (fv && fv->sk == (__u64)sk) {
		fv->file = (__u64)file;
		__u64 id = fv->conn_id;
		struct l7_conn *c = bpf_map_lookup_elem(&l7_conns, &id);
		if (c) {
			*id_out = id;
			if (role != L7_ROLE_UNKNOWN && c->role != role) {
				c->role = role;
				l7_fill_conn(c, sk); /* connect() bound and addressed it */
			}
			return c;
		}
	}
	if (fv) {
		/* The fd names another socket now (dup2, or a close we did not see): the old one ended. */
		__u64 old = fv->conn_id;
		struct l7_conn *oc = bpf_map_lookup_elem(&l7_conns, &old);
		if (oc)
			oc->flags |= L7_F_CLOSED;
	}
	__u64 id = __sync_fetch_and_add(&cfg.next_conn_id, 1) + 1;
	struct l7_conn c = {};
	c.sk = (__u64)sk;
	c.tgid = tgid;
	c.fd = fd;
	c.role = role;
	c.first_ns = bpf_ktime_get_ns();
	l7_fill_conn(&c, sk);
	if (bpf_map_update_elem(&l7_conns, &id, &c, BPF_NOEXIST)) {
		l7_drop(D_CONN_MAP_FULL);
		if (fv)
			bpf_map_delete_elem(&l7_fds, &k);
		return NULL;
	}
	struct l7_fd_val nv = { .conn_id = id, .sk = (__u64)sk, .file = (__u64)file };
	if (bpf_map_update_elem(&l7_fds, &k, &nv, BPF_ANY)) {
		bpf_map_delete_elem(&l7_conns, &id);
		l7_drop(D_CONN_MAP_FULL);
		return NULL;
	}
	*id_out = id;
	return bpf_map_lookup_elem(&l7_conns, &id);
}

/* Whether bytes of this connection are still wanted by user space. */
static __always_inline bool l7_wanted(struct l7_conn *c, __u64 id)
{
	if (c->verdict == L7_UNDECIDED) {
		__u32 *v = bpf_map_lookup_elem(&l7_verdicts, &id);
		if (v)
			c->verdict = *v;
	}
	return c->verdict != L7_IGNORE;
}

/* This CPU's record slot, taken (release it with l7_scratch_put), or NULL. */
static __always_inline struct l7_scratch *l7_scratch_take(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	struct l7_scratch *s = bpf_map_lookup_elem(&l7_scratch, &cpu);
	if (!s)
		return NULL;
	if (s->busy) {
		l7_drop(D_SCRATCH_BUSY);
		return NULL;
	}
	s->busy = 1;
	return s;
}

static __always_inline void l7_scratch_put(struct l7_scratch *s)
{
	s->busy = 0;
}

static __always_inline __u32 l7_cap_limit(void)
{
	__u32 cap = cfg.capture;
	if (cap > L7_CAP_MAX)
		cap = L7_CAP_MAX;
	return cap;
}

static __always_inline void l7_head(struct l7_event *ev, __u32 tgid, __u64 id, int fd, __u8 dir, __u8 l4, __u64 len, __u64 ts, __u8 ssl)
{
	ev->kind = L7_REC_DATA;
	ev->tgid = tgid;
	ev->conn_id = id;
	ev->ts_ns = ts;
	ev->len = len;
	ev->cap = 0;
	ev->fd = fd;
	ev->dir = dir;
	ev->l4 = l4;
	ev->ssl = ssl;
	ev->peer_family = 0;
	ev->peer_port = 0;
	ev->pad = 0;
	__builtin_memset(ev->peer_addr, 0, sizeof(ev->peer_addr));
}

static __always_inline void l7_submit(struct l7_scratch *s, __u32 cap)
{
	l7_barrier_var(cap);
	if (cap > L7_CAP_MAX)
		cap = L7_CAP_MAX;
	s->ev.cap = cap;
	/* The agent drains the ring on a timer: no wakeup (it would cost an irq_work per record). */
	if (bpf_ringbuf_output(&l7_events, &s->ev, sizeof(struct l7_event) + cap, BPF_RB_NO_WAKEUP))
		l7_drop(D_RING_FULL);
}

/* Copies min(len, capture) bytes of one user buffer into the scratch record. */
static __always_inline __u32 l7_copy_flat(struct l7_scratch *s, const void *buf, __u64 len)
{
	__u64 cap = l7_cap_limit();
	if (len < cap)
		cap = len;
	l7_barrier_var(cap);
	if (cap > L7_CAP_MAX)
		cap = L7_CAP_MAX;
	if (bpf_probe_read_user(s->data, cap, buf))
		return 0;
	return cap;
}

/* Copies up to min(total, capture) bytes spread over an iovec array. */
static __always_inline __u32 l7_copy_iov(struct l7_scratch *s, const struct iovec *iov, __u64 iovcnt, __u64 total)
{
	__u64 limit = l7_cap_limit();
	if (total < limit)
		limit = total;
	__u64 off = 0;
	for (int i = 0; i < L7_IOV_MAX; i++) {
		if (i >= iovcnt || off >= limit)
			break;
		struct iovec v = {};
		if (bpf_probe_read_user(&v, sizeof(v), &iov[i]))
			break;
		__u64 n = v.iov_len;
		if (n > limit - off)
			n = limit - off;
		l7_barrier_var(n);
		l7_barrier_var(off);
		if (n > L7_CAP_MAX || off > L7_CAP_MAX)
			break;
		if (bpf_probe_read_user(s->data + off, n, v.iov_base))
			break;
		off += n;
	}
	return off;
}

/* Counts one call's bytes on the connection (cumulative, atomic: threads share sockets). */
static __always_inline void l7_count(struct l7_conn *c, __u8 dir, __u64 bytes, __u64 segs)
{
	if (dir == L7_SEND) {
		__sync_fetch_and_add(&c->bytes_sent, bytes);
		__sync_fetch_and_add(&c->segs_sent, segs);
	} else {
		__sync_fetch_and_add(&c->bytes_recv, bytes);
		__sync_fetch_and_add(&c->segs_recv, segs);
	}
}

/* Inside an SSL call on this thread: records the fd for tls.h and marks the connection.
 * Returns true when the bytes must not be emitted (they are ciphertext). */
static __always_inline bool l7_in_tls(struct l7_conn *c, int fd)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	if (!cfg.tls_on)
		return false;
	struct l7_tls_call *t = bpf_map_lookup_elem(&l7_tls_calls, &pid_tgid);
	if (!t)
		return false;
	t->fd = fd;
	if (!(c->flags & L7_F_SSL))
		c->flags |= L7_F_SSL;
	return true;
}

/* Emits `len` bytes at `user_buf` (a plain buffer) of connection (tgid, fd) as one record,
 * without counting them: the TLS uprobes call it with plaintext (`ssl` 1); the connection
 * must already be known (its syscalls created it) unless its socket resolves from the fd. */
static __always_inline int l7_emit(void *ctx_unused, __u32 tgid, int fd, __u8 dir, const void *user_buf, __u64 len, __u64 ts, __u8 ssl)
{
	struct l7_fd_key k = { .tgid = tgid, .fd = fd };
	struct l7_fd_val *fv = bpf_map_lookup_elem(&l7_fds, &k);
	__u64 id = 0;
	struct l7_conn *c;
	if (fv) {
		id = fv->conn_id;
		c = bpf_map_lookup_elem(&l7_conns, &id);
	} else {
		struct file *f = l7_fd_file(fd);
		struct sock *sk = l7_file_sock(f);
		if (!sk)
			return 0;
		c = l7_conn_of(tgid, fd, f, sk, L7_ROLE_UNKNOWN, &id);
	}
	if (!c || !l7_wanted(c, id))
		return 0;
	if (ssl && !(c->flags & L7_F_SSL))
		c->flags |= L7_F_SSL;
	struct l7_scratch *s = l7_scratch_take();
	if (!s)
		return 0;
	l7_head(&s->ev, tgid, id, fd, dir, c->l4, len, ts, ssl);
	l7_submit(s, l7_copy_flat(s, user_buf, len));
	l7_scratch_put(s);
	return 0;
}

#endif
