/* Test-only BPF iterators over TCP and UDP sockets (src/libbpf/iter.root.test.ts).
 * Each socket is written as one fixed 40-byte record with bpf_seq_write. Not shipped. */
#include "gopher.h"

char LICENSE[] SEC("license") = "GPL";

/* Layout read by the test (little-endian, 40 bytes). */
struct sock_rec {
	__u16 family;
	__u8 state;
	__u8 proto;   /* 6 TCP, 17 UDP */
	__u8 full;    /* 1: a full socket (drops/backlog valid), 0: request or time-wait */
	__u8 pad[3];
	__u16 sport;  /* host order */
	__u16 dport;  /* host order */
	__u32 drops;  /* sk_drops plus the per-NUMA counters where the kernel has them */
	__u32 ack_backlog;
	__u32 max_ack_backlog;
	__u32 uid;
	__u32 netns;  /* network namespace inode */
	__u32 saddr4;
	__u32 daddr4;
};

static __always_inline __u32 sock_drops(struct sock *sk)
{
	__u32 d = BPF_CORE_READ(sk, sk_drops.counter);
	if (bpf_core_field_exists(sk->sk_drop_counters)) {
		struct numa_drop_counters *c = BPF_CORE_READ(sk, sk_drop_counters);
		if (c)
			d += BPF_CORE_READ(c, drops0.counter) + BPF_CORE_READ(c, drops1.counter);
	}
	return d;
}

static __always_inline void fill_common(struct sock_rec *r, struct sock_common *skc)
{
	r->family = BPF_CORE_READ(skc, skc_family);
	r->state = BPF_CORE_READ(skc, skc_state);
	r->sport = BPF_CORE_READ(skc, skc_num);
	r->dport = bpf_ntohs(BPF_CORE_READ(skc, skc_dport));
	r->saddr4 = BPF_CORE_READ(skc, skc_rcv_saddr);
	r->daddr4 = BPF_CORE_READ(skc, skc_daddr);
	r->netns = BPF_CORE_READ(skc, skc_net.net, ns.inum);
}

SEC("iter/tcp")
int iter_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	if (!skc)
		return 0;
	struct sock_rec r = {};
	fill_common(&r, skc);
	r.proto = 6;
	r.uid = ctx->uid;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(skc);
	if (tp) {
		struct sock *sk = (struct sock *)tp;
		r.full = 1;
		r.drops = sock_drops(sk);
		r.ack_backlog = BPF_CORE_READ(sk, sk_ack_backlog);
		r.max_ack_backlog = BPF_CORE_READ(sk, sk_max_ack_backlog);
	} else if (r.state == 6 /* TCP_TIME_WAIT */) {
		/* An orphaned FIN_WAIT2 socket lives on as a time-wait socket; like inet_diag
		 * (and so ss), report its substate. */
		struct tcp_timewait_sock *tw = bpf_skc_to_tcp_timewait_sock(skc);
		if (tw)
			r.state = BPF_CORE_READ(tw, tw_sk.tw_substate);
	}
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}

SEC("iter/udp")
int iter_udp(struct bpf_iter__udp *ctx)
{
	struct udp_sock *us = ctx->udp_sk;
	if (!us)
		return 0;
	struct sock *sk = (struct sock *)us;
	struct sock_rec r = {};
	fill_common(&r, &sk->__sk_common);
	r.proto = 17;
	r.full = 1;
	r.uid = ctx->uid;
	r.drops = sock_drops(sk);
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}
