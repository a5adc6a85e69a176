/* The socket probe's configuration word, maps and endpoint_tcp counting (included once,
 * by socket.bpf.c). */
#ifndef GOPHER_SOCKET_STATS_H
#define GOPHER_SOCKET_STATS_H

/* Written by user space through the mmapped .bss. */
struct gsock_cfg {
	__u32 epoch;          /* report period number: selects the max slot */
	__u32 neigh_lo;       /* skb_drop_reason range of neighbour failures (from BTF), 0: none */
	__u32 neigh_hi;
	__u32 tcp_on;         /* tcp_socket subitem */
	__u32 udp_on;         /* udp_socket subitem */
};
struct gsock_cfg cfg = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct gsock_tcp_key);
	__type(value, struct gsock_tcp_val);
} tcp_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct gsock_listen_key);
	__type(value, struct gsock_owner);
} listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct gsock_conn);
} connecting SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);
	__type(value, struct gsock_closing);
} closing SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct gsock_udp);
} udp_socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, N_DROP);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gsock_tcp_val);
} zero_val SEC(".maps");

/* Scratch record of the walk (also what puts struct gsock_walk in the BTF user space reads). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct gsock_walk);
} walk_rec SEC(".maps");

static const __u64 bounds[N_BUCKETS] = {
	3000000ULL, 10000000ULL, 50000000ULL, 100000000ULL, 500000000ULL, 1000000000ULL, 10000000000ULL,
};

static __always_inline void drop(__u32 reason)
{
	COUNT_PERCPU(drops, reason);
}

static __always_inline struct gsock_tcp_val *stats_of(struct gsock_tcp_key *k, const char *comm)
{
	struct gsock_tcp_val *v = bpf_map_lookup_elem(&tcp_stats, k);
	if (v)
		return v;
	__u32 zero = 0;
	struct gsock_tcp_val *z = bpf_map_lookup_elem(&zero_val, &zero);
	if (!z)
		return NULL;
	__builtin_memset(z, 0, sizeof(*z));
	__builtin_memcpy(z->comm, comm, sizeof(z->comm));
	if (bpf_map_update_elem(&tcp_stats, k, z, BPF_NOEXIST) && bpf_map_lookup_elem(&tcp_stats, k) == NULL) {
		drop(D_TCP_STATS_FULL);
		return NULL;
	}
	return bpf_map_lookup_elem(&tcp_stats, k);
}

static __always_inline void count(struct gsock_tcp_key *k, const char *comm, __u32 ctr)
{
	struct gsock_tcp_val *v = stats_of(k, comm);
	if (v && ctr < N_CTR)
		__sync_fetch_and_add(&v->ctr[ctr], 1);
}

static __always_inline void latency(struct gsock_tcp_key *k, const char *comm, __u64 ns)
{
	struct gsock_tcp_val *v = stats_of(k, comm);
	if (!v || ns == 0)
		return;
	__u32 epoch = cfg.epoch;
	__u32 s = epoch & 1;
	if (v->max_epoch[s] != epoch) {
		v->maxv[s] = 0;
		v->max_epoch[s] = epoch;
	}
	if (ns > v->maxv[s])
		v->maxv[s] = ns;
#pragma unroll
	for (int i = 0; i < N_BUCKETS; i++) {
		if (ns <= bounds[i]) {
			__sync_fetch_and_add(&v->hist[i], 1);
			__sync_fetch_and_add(&v->hsum, ns);
			return;
		}
	}
}

/* Key of the socket's process as client (connect side). */
static __always_inline void client_key(struct gsock_tcp_key *k, const struct sock *sk, __u32 tgid)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->tgid = tgid;
	k->role = ROLE_CLIENT;
	k->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	k->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	common_addrs(&sk->__sk_common, k->family, k->client, k->server);
}

/* Key of a passive (accepted) socket or request socket of a listener owned by `tgid`. */
static __always_inline void server_key(struct gsock_tcp_key *k, const struct sock_common *c, __u32 tgid, __u16 port)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->tgid = tgid;
	k->role = ROLE_SERVER;
	k->family = BPF_CORE_READ(c, skc_family);
	k->port = port;
	common_addrs(c, k->family, k->server, k->client);
}

static __always_inline struct gsock_owner *listener_of(__u32 netns, __u16 port)
{
	struct gsock_listen_key lk = { .netns = netns, .port = port };
	return bpf_map_lookup_elem(&listeners, &lk);
}

#endif
