/* CO-RE readers of struct sock fields the socket probe needs (include after gopher.h). */
#ifndef GOPHER_SOCKET_SOCK_READ_H
#define GOPHER_SOCKET_SOCK_READ_H

static __always_inline __u32 sk_netns(const struct sock *sk)
{
	return BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
}

/* The bound port. A closing socket has already given its port back (inet_num is 0 at the
 * tracepoint) but still carries it as its source port. */
static __always_inline __u16 sk_port(const struct sock *sk)
{
	__u16 port = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (!port) {
		const struct inet_sock *inet = (const struct inet_sock *)sk;
		port = bpf_ntohs(BPF_CORE_READ(inet, inet_sport));
	}
	return port;
}

/* Local and remote address of a socket or request socket (both start with sock_common). */
static __always_inline void common_addrs(const struct sock_common *c, __u8 family, __u8 *local, __u8 *remote)
{
	if (family == AF_INET) {
		__u32 l = BPF_CORE_READ(c, skc_rcv_saddr);
		__u32 r = BPF_CORE_READ(c, skc_daddr);
		__builtin_memcpy(local, &l, 4);
		__builtin_memcpy(remote, &r, 4);
	} else {
		BPF_CORE_READ_INTO(local, c, skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(remote, c, skc_v6_daddr.in6_u.u6_addr8);
	}
}

/* What the kernel itself reports as the socket's drops (sk_drops_read()). */
static __always_inline __u32 sk_drop_count(const struct sock *sk)
{
	__u32 n = BPF_CORE_READ(sk, sk_drops.counter);
	if (bpf_core_field_exists(sk->sk_drop_counters)) {
		struct numa_drop_counters *dc = BPF_CORE_READ(sk, sk_drop_counters);
		if (dc)
			n += BPF_CORE_READ(dc, drops0.counter) + BPF_CORE_READ(dc, drops1.counter);
	}
	return n;
}

#endif
