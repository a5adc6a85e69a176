/* socket probe (endpoint_tcp, endpoint_udp): TCP opens, failures, retransmitted SYNs and
 * SYN-ACKs, request drops and establishment latency per process and endpoint, counted in
 * the kernel from tracepoints; UDP payload bytes per socket; and a walk over every socket
 * file of the processes in scope (iter/task_file) that user space runs once per period to
 * read each TCP listener's and UDP socket's own drop counter (sk_drops, what `ss` and
 * /proc/net/udp show) in every network namespace, including sockets opened before the
 * agent started.
 *
 * Attribution: listen() and connect() run in the caller, so the process is known there;
 * the listener's (netns, port) -> process entry then attributes the passive side, which
 * runs in softirq, and the connecting socket's entry attributes its ESTABLISHED/CLOSE
 * transition and its SYN retransmissions. Counters are cumulative per key; user space
 * turns them into per-period values. Maps are bounded; what does not fit is counted. */
#include "gopher.h"
#include "scope.h"
#include "socket.h"

char LICENSE[] SEC("license") = "GPL";

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define TCP_LISTEN 10
#ifndef IPPROTO_UDP
#define IPPROTO_UDP 17
#endif
#define SOCK_DGRAM 2
#define MSG_PEEK 2
/* A listener's close and the disconnect of its unaccepted children happen in one call. */
#define CLOSING_WINDOW_NS 10000000ULL

#include "sock-read.h"
#include "stats.h"

/* ---- TCP state changes -------------------------------------------------------------- */

static __always_inline void on_listen(struct sock *sk)
{
	__u32 tgid = current_tgid();
	if (!gopher_in_scope(tgid))
		return;
	struct gsock_listen_key lk = { .netns = sk_netns(sk), .port = sk_port(sk) };
	struct gsock_owner o = { .sk = (__u64)sk, .tgid = tgid };
	bpf_get_current_comm(o.comm, sizeof(o.comm));
	if (bpf_map_update_elem(&listeners, &lk, &o, BPF_ANY))
		drop(D_LISTENERS_FULL);
}

static __always_inline void on_listen_close(struct sock *sk)
{
	struct gsock_listen_key lk = { .netns = sk_netns(sk), .port = sk_port(sk) };
	struct gsock_owner *o = bpf_map_lookup_elem(&listeners, &lk);
	if (!o || o->sk != (__u64)sk)
		return;
	/* The entry exists because its owner was in scope. No scope check here: a listener is
	 * mostly closed by its process's exit, after the scope has already let the tgid go. */
	struct gsock_closing c = { .ts = bpf_ktime_get_ns(), .netns = lk.netns, .port = lk.port, .owner = *o };
	__u64 id = bpf_get_current_pid_tgid();
	if (bpf_map_update_elem(&closing, &id, &c, BPF_ANY))
		drop(D_CLOSING_FULL);
	bpf_map_delete_elem(&listeners, &lk);
}

/* A child still in the accept queue is disconnected right after its listener closed, in
 * the same thread: that request is dropped. */
static __always_inline void maybe_req_drop(struct sock *sk)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct gsock_closing *c = bpf_map_lookup_elem(&closing, &id);
	if (!c || bpf_ktime_get_ns() - c->ts > CLOSING_WINDOW_NS)
		return;
	if (BPF_CORE_READ(sk, sk_socket) || c->netns != sk_netns(sk) || c->port != sk_port(sk))
		return;
	struct gsock_tcp_key k;
	server_key(&k, &sk->__sk_common, c->owner.tgid, c->port);
	count(&k, c->owner.comm, C_REQ_DROP);
}

static __always_inline void on_connect(struct sock *sk)
{
	__u32 tgid = current_tgid();
	if (!gopher_in_scope(tgid))
		return;
	struct gsock_conn c = { .ts = bpf_ktime_get_ns(), .tgid = tgid };
	bpf_get_current_comm(c.comm, sizeof(c.comm));
	__u64 key = (__u64)sk;
	if (bpf_map_update_elem(&connecting, &key, &c, BPF_ANY)) {
		drop(D_CONNECTING_FULL);
		return;
	}
	struct gsock_tcp_key k;
	client_key(&k, sk, tgid);
	count(&k, c.comm, C_SYN_SENT);
}

static __always_inline void on_connect_done(struct sock *sk, bool ok)
{
	__u64 key = (__u64)sk;
	struct gsock_conn *c = bpf_map_lookup_elem(&connecting, &key);
	if (!c)
		return;
	struct gsock_conn cc = *c;
	bpf_map_delete_elem(&connecting, &key);
	if (!gopher_in_scope(cc.tgid))
		return;
	struct gsock_tcp_key k;
	client_key(&k, sk, cc.tgid);
	count(&k, cc.comm, ok ? C_ACTIVE_OPEN : C_ACTIVE_FAIL);
	if (ok)
		latency(&k, cc.comm, bpf_ktime_get_ns() - cc.ts);
}

/* The child of a listener leaves SYN_RECV (softirq: the listener's entry names the process). */
static __always_inline void on_passive(struct sock *sk, bool ok)
{
	__u16 port = sk_port(sk);
	struct gsock_owner *o = listener_of(sk_netns(sk), port);
	if (!o || !gopher_in_scope(o->tgid))
		return;
	struct gsock_tcp_key k;
	server_key(&k, &sk->__sk_common, o->tgid, port);
	count(&k, o->comm, ok ? C_PASSIVE_OPEN : C_PASSIVE_FAIL);
	if (ok) {
		/* No hook sees the first SYN-ACK leave: the handshake RTT (SYN-ACK -> ACK) it is. */
		struct tcp_sock *tp = (struct tcp_sock *)sk;
		__u64 us = BPF_CORE_READ(tp, srtt_us) >> 3;
		latency(&k, o->comm, us * 1000);
	}
}

SEC("raw_tp/inet_sock_set_state")
int on_state(struct bpf_raw_tracepoint_args *ctx)
{
	if (!cfg.tcp_on)
		return 0;
	struct sock *sk = (struct sock *)ctx->args[0];
	int old = (int)ctx->args[1];
	int new = (int)ctx->args[2];
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (new == TCP_LISTEN) {
		on_listen(sk);
		return 0;
	}
	if (old == TCP_LISTEN && new == TCP_CLOSE) {
		on_listen_close(sk);
		return 0;
	}
	if (new == TCP_SYN_SENT) {
		on_connect(sk);
		return 0;
	}
	if (old == TCP_SYN_SENT) {
		on_connect_done(sk, new == TCP_ESTABLISHED);
		return 0;
	}
	if (old == TCP_SYN_RECV) {
		if (new == TCP_ESTABLISHED)
			on_passive(sk, true);
		else if (new == TCP_CLOSE)
			on_passive(sk, false);
		return 0;
	}
	if (new == TCP_CLOSE)
		maybe_req_drop(sk);
	return 0;
}

/* ---- retransmissions and local SYN drops --------------------------------------------- */

SEC("raw_tp/tcp_retransmit_synack")
int on_retrans_synack(struct bpf_raw_tracepoint_args *ctx)
{
	if (!cfg.tcp_on)
		return 0;
	struct sock *sk = (struct sock *)ctx->args[0];
	struct request_sock *req = (struct request_sock *)ctx->args[1];
	struct gsock_owner *o = listener_of(sk_netns(sk), sk_port(sk));
	if (!o || !gopher_in_scope(o->tgid))
		return 0;
	struct gsock_tcp_key k;
	server_key(&k, &req->__req_common, o->tgid, BPF_CORE_READ(req, __req_common.skc_num));
	count(&k, o->comm, C_RETRAN_SYNACK);
	return 0;
}

static __always_inline void syn_event(struct sock *sk, __u32 ctr)
{
	if (!sk || BPF_CORE_READ(sk, __sk_common.skc_state) != TCP_SYN_SENT)
		return;
	__u64 key = (__u64)sk;
	struct gsock_conn *c = bpf_map_lookup_elem(&connecting, &key);
	if (!c || !gopher_in_scope(c->tgid))
		return;
	struct gsock_tcp_key k;
	client_key(&k, sk, c->tgid);
	count(&k, c->comm, ctr);
}

SEC("raw_tp/tcp_retransmit_skb")
int on_retrans(struct bpf_raw_tracepoint_args *ctx)
{
	if (!cfg.tcp_on)
		return 0;
	syn_event((struct sock *)ctx->args[0], C_RETRAN_SYN);
	return 0;
}

/* A SYN freed because the neighbour could not be resolved (kfree_skb with a reason). */
SEC("raw_tp/kfree_skb")
int on_kfree_skb(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 reason = (__u32)ctx->args[2];
	if (!cfg.tcp_on || reason < cfg.neigh_lo || reason > cfg.neigh_hi || cfg.neigh_lo == 0)
		return 0;
	struct sk_buff *skb = (struct sk_buff *)ctx->args[0];
	struct sock *sk = BPF_CORE_READ(skb, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	syn_event(sk, C_SYN_DROP);
	return 0;
}

/* ---- UDP bytes ---------------------------------------------------------------------- */

/* These two fire for every sendmsg/recvmsg on the host (TCP included): BTF-typed
 * tracepoints read the protocol with one load, and nothing else happens for a socket
 * that is not UDP, before any per-process work (the scope check comes next). */
static __always_inline void udp_bytes(struct sock *sk, int ret, int flags, bool tx)
{
	if (sk->sk_protocol != IPPROTO_UDP || ret <= 0 || !cfg.udp_on || (!tx && (flags & MSG_PEEK)))
		return;
	__u32 tgid = current_tgid();
	if (!gopher_in_scope(tgid))
		return;
	__u64 key = (__u64)sk;
	/* Direct loads through the BTF-typed pointers (the same inode the walk reports). */
	struct socket *sock = sk->sk_socket;
	__u64 ino = sock && sock->file ? sock->file->f_inode->i_ino : 0;
	struct gsock_udp *u = bpf_map_lookup_elem(&udp_socks, &key);
	if (!u || u->ino != ino) {
		/* New socket (or a new one at a freed socket's address: user space already saw
		 * the old one gone from the walk, or loses at most the bytes since its last read). */
		struct gsock_udp n = { .ino = ino, .tgid = tgid };
		n.family = BPF_CORE_READ(sk, __sk_common.skc_family);
		n.lport = sk_port(sk);
		n.rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
		common_addrs(&sk->__sk_common, n.family, n.laddr, n.raddr);
		bpf_get_current_comm(n.comm, sizeof(n.comm));
		if (tx)
			n.tx = ret;
		else
			n.rx = ret;
		if (bpf_map_update_elem(&udp_socks, &key, &n, BPF_ANY))
			drop(D_UDP_SOCKS_FULL);
		return;
	}
	if (tx)
		__sync_fetch_and_add(&u->tx, ret);
	else
		__sync_fetch_and_add(&u->rx, ret);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(on_send_length, struct sock *sk, int ret, int flags)
{
	udp_bytes(sk, ret, flags, true);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(on_recv_length, struct sock *sk, int ret, int flags)
{
	udp_bytes(sk, ret, flags, false);
	return 0;
}

/* ---- the socket walk ----------------------------------------------------------------- */

SEC("iter/task_file")
int walk(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	if (!task || !file)
		return 0;
	__u32 tgid = BPF_CORE_READ(task, tgid);
	if (!gopher_in_scope(tgid))
		return 0;
	struct socket *sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	struct sock *sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	__u8 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	__u16 proto = BPF_CORE_READ(sk, sk_protocol);
	__u8 state = BPF_CORE_READ(sk, __sk_common.skc_state);
	if (proto == IPPROTO_TCP) {
		if (!cfg.tcp_on || state != TCP_LISTEN)
			return 0;
	} else if (proto == IPPROTO_UDP) {
		if (!cfg.udp_on || BPF_CORE_READ(sk, sk_type) != SOCK_DGRAM)
			return 0;
	} else {
		return 0;
	}
	__u32 zero = 0;
	struct gsock_walk *w = bpf_map_lookup_elem(&walk_rec, &zero);
	if (!w)
		return 0;
	__builtin_memset(w, 0, sizeof(*w));
	w->sk = (__u64)sk;
	w->ino = BPF_CORE_READ(file, f_inode, i_ino);
	w->tgid = tgid;
	w->netns = sk_netns(sk);
	w->drops = sk_drop_count(sk);
	w->proto = proto;
	w->family = family;
	w->lport = sk_port(sk);
	w->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	common_addrs(&sk->__sk_common, family, w->laddr, w->raddr);
	if (proto == IPPROTO_TCP) {
		w->ack_backlog = BPF_CORE_READ(sk, sk_ack_backlog);
		w->max_ack_backlog = BPF_CORE_READ(sk, sk_max_ack_backlog);
		struct inet_connection_sock *icsk = (struct inet_connection_sock *)sk;
		w->syn_qlen = BPF_CORE_READ(icsk, icsk_accept_queue.qlen.counter);
	}
	BPF_CORE_READ_STR_INTO(&w->comm, task, comm);
	bpf_seq_write(seq, w, sizeof(*w));
	return 0;
}
