/* tcp probe: per-connection TCP metrics of processes in scope, from tracepoints only.
 *
 * Connections are tracked per socket in `conns` (cumulative counters, histogram buckets,
 * epoch-tagged per-period maxima); user space reads the map in batches every report
 * period and turns the cumulative values into per-period deltas. A connection is
 * attributed to a process in that process's context: connect() (the SYN_SENT transition
 * runs in the caller) or its first read (tcp_rcv_space_adjust runs in the reader), or its
 * first send when tcp_delay hooks tcp_sendmsg_locked. Established-but-unattributed
 * sockets wait in the `pending` LRU with their role, handshake RTT and sequence bases.
 * Closed connections are pushed whole into the ring buffer and removed from the map.
 *
 * Byte counts are application bytes, from sequence numbers: tx = write_seq advance (frozen
 * when the FIN is queued), rx = copied_seq advance (capped at the peer's FIN). They are
 * brought up to date at samples, state changes and destruction, and by the `refresh`
 * pass user space runs (BPF_PROG_TEST_RUN) right before it reads the map each period, so
 * a read by the application costs one array load once its socket owns its bucket. */
#include "gopher.h"
#include "scope.h"
#include "tcp.h"

char LICENSE[] SEC("license") = "GPL";

#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_FIN_WAIT1 4
#define TCP_CLOSE 7
#define TCP_CLOSE_WAIT 8
#define TCP_LAST_ACK 9
#define TCP_CLOSING 11
#define ETIMEDOUT 110

/* Written by user space through the mmapped .bss while running. */
struct gtcp_cfg {
	__u64 sample_ns;   /* sample_period */
	__u32 epoch;       /* report period number, selects the maxima slot */
	__u32 delay_on;    /* tcp_delay enabled */
	__u32 eph_lo;      /* ip_local_port_range, for the role of adopted connections */
	__u32 eph_hi;
	__u32 hz;          /* kernel HZ (jiffies → ms) */
	__u32 rst_has_reason; /* tcp_send_reset passes enum sk_rst_reason (>= 6.10) */
	__u32 kfree_has_rx_sk; /* kfree_skb passes the receiving socket (>= 6.12) */
	__u32 reason_backlog; /* enum skb_drop_reason values of this kernel (from BTF) */
	__u32 reason_filter;
	__u32 reason_proto_mem;
	__u32 rst_reason_oom; /* SK_RST_REASON_TCP_ABORT_ON_MEMORY */
	__u32 destroy_hook;   /* tcp_destroy_sock is attached: finalize there, not at TCP_CLOSE */
	__u32 sample_jiffies; /* sample_period in jiffies (per-bucket throttle of tcp_probe) */
	__u32 refresh_on;     /* user space runs `refresh` each period: reads need not count bytes */
	__u64 spilled;        /* written by the kernel: final records put in `spill` so far */
};
struct gtcp_cfg cfg = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct gtcp_conn);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct gtcp_pending);
} pending SEC(".maps");

/* Cheap filters in front of the `conns` hash (array lookups are inlined): sockets hash
 * into BUCKETS buckets. `due` holds, per bucket, the jiffy before which tcp_probe has
 * nothing to sample; `tracked` counts tracked sockets per bucket, so reads on sockets that
 * are not tracked skip the hash lookup (only the kernel changes it; a count that stays too
 * high merely costs a lookup). */
#define BUCKET_BITS 16
#define BUCKETS (1 << BUCKET_BITS)

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} due SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BUCKETS);
	__type(key, __u32);
	__type(value, __u32);
} tracked SEC(".maps");

/* One socket per bucket may own the bucket's slot (tagged with its address): claimed when
 * the connection is established, released when the socket is destroyed. A read on the
 * owner returns after one array load (its bytes come from the refresh pass); every other
 * socket takes the lookup path. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} owner SEC(".maps");

static __always_inline __u32 sk_bucket(struct sock *sk)
{
	__u64 x = (__u64)sk;
	x ^= x >> 21;
	x *= 0x9E3779B97F4A7C15ULL;
	return (__u32)(x >> (64 - BUCKET_BITS));
}

static __always_inline void track(struct sock *sk, int delta)
{
	__u32 b = sk_bucket(sk);
	__u32 *t = bpf_map_lookup_elem(&tracked, &b);
	if (t)
		__sync_fetch_and_add(t, delta);
}

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
	__type(value, struct gtcp_conn);
} zero_conn SEC(".maps");

/* Final records of closed connections that did not fit in the ring buffer (connection
 * churn faster than user space drains): keyed by (sk, id), swept by user space. */
struct spill_key {
	__u64 sk;
	__u64 id;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct spill_key);
	__type(value, struct gtcp_conn);
} spill SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20); /* ringbuf_map_size, set by user space before load */
} events SEC(".maps");

/* ---- helpers ------------------------------------------------------------------------ */

static __always_inline __u32 hist_bound_kind(int h)
{
	if (h <= H_SYN_SRTT)
		return 0;
	if (h <= H_AVL_SND_WND)
		return 1;
	if (h <= H_ATO)
		return 2;
	if (h <= H_SNDBUF)
		return 3;
	return 4;
}

/* Upper bounds (le) of upstream's buckets; 0 ends a list. */
static const __u64 bounds[5][HIST_SLOTS] = {
	{ 50, 100, 200, 500, 1000 },
	{ 1000, 10000, 100000, 1000000, 10000000 },
	{ 1000, 10000, 20000, 40000, 80000 },
	{ 131072, 262144, 524288, 1048576, 2097152, 4194304, 8388608, 16777216 },
	{ 1000000ULL, 10000000ULL, 100000000ULL, 1000000000ULL, 10000000000ULL },
};

static __always_inline __u32 *max_slot(struct gtcp_conn *c)
{
	__u32 epoch = cfg.epoch;
	__u32 s = epoch & 1;
	if (c->max_epoch[s] != epoch) {
		__builtin_memset(c->maxv[s], 0, sizeof(c->maxv[s]));
		c->max_epoch[s] = epoch;
	}
	return c->maxv[s];
}

static __always_inline void note_max(struct gtcp_conn *c, int k, __u64 v)
{
	if (k < 0 || k >= N_MAX)
		return;
	__u32 *m = max_slot(c);
	__u32 v32 = v > 0xffffffffULL ? 0xffffffffU : (__u32)v;
	if (v32 > m[k])
		m[k] = v32;
}

/* A value v lands in the first bucket with v <= le; v == 0 or above the last bound is
 * not counted (upstream); the maximum sees every value. */
static __always_inline void hist_add(struct gtcp_conn *c, int h, __u64 v)
{
	if (h < 0 || h >= N_HIST || v == 0)
		return;
	note_max(c, h, h >= H_SYS_DELAY ? v / 1000 : v); /* delays: max kept in us (fits u32) */
	__u32 kind = hist_bound_kind(h);
	if (kind >= 5)
		return;
#pragma unroll
	for (int i = 0; i < HIST_SLOTS; i++) {
		__u64 le = bounds[kind][i];
		if (le == 0)
			return;
		if (v <= le) {
			c->hist[h][i]++;
			c->hsum[h] += v;
			return;
		}
	}
}

static __always_inline void drop(__u32 reason)
{
	__u64 *v = bpf_map_lookup_elem(&drops, &reason);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline __u8 sk_state(struct sock *sk)
{
	return BPF_CORE_READ_BITFIELD_PROBED(sk, __sk_common.skc_state);
}

static __always_inline bool is_tcp(struct sock *sk)
{
	__u16 proto = BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol);
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	return proto == IPPROTO_TCP && (family == AF_INET || family == AF_INET6);
}

static __always_inline void read_tuple(struct gtcp_conn *c, struct sock *sk)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);
	c->family = family;
	c->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	c->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		__u32 l = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
		__u32 r = BPF_CORE_READ(sk, __sk_common.skc_daddr);
		__builtin_memcpy(c->laddr, &l, 4);
		__builtin_memcpy(c->raddr, &r, 4);
	} else {
		BPF_CORE_READ_INTO(&c->laddr, sk, __sk_common.skc_v6_rcv_saddr.in6_u.u6_addr8);
		BPF_CORE_READ_INTO(&c->raddr, sk, __sk_common.skc_v6_daddr.in6_u.u6_addr8);
	}
}

/* Role of a connection whose handshake was not seen: the side on an ephemeral port is
 * the client. */
static __always_inline __u8 guess_role(__u16 lport, __u16 rport)
{
	bool l_eph = lport >= cfg.eph_lo && lport <= cfg.eph_hi;
	bool r_eph = rport >= cfg.eph_lo && rport <= cfg.eph_hi;
	if (l_eph != r_eph)
		return l_eph ? 1 : 0;
	return lport > rport ? 1 : 0;
}

static __always_inline __u32 sk_drops_total(struct sock *sk)
{
	__u32 d = BPF_CORE_READ(sk, sk_drops.counter);
	if (bpf_core_field_exists(sk->sk_drop_counters)) {
		struct numa_drop_counters *nd = BPF_CORE_READ(sk, sk_drop_counters);
		if (nd) {
			d += BPF_CORE_READ(nd, drops0.counter);
			d += BPF_CORE_READ(nd, drops1.counter);
		}
	}
	return d;
}

/* The 64-bit position of a 32-bit sequence number read now, given the last position
 * stored (sequence numbers move less than 2^31 between two reads). */
static __always_inline __u64 seq_ext(__u64 pos, __u32 seq)
{
	return pos + (__s64)(__s32)(seq - (__u32)pos);
}

/* Positions only move forward. The refresh pass runs without the socket lock, so it can
 * race with an update under the lock; the loser may store a slightly older position for a
 * moment (never a byte twice: counts are positions, not increments) and user space keeps
 * the largest count it has seen. */
static __always_inline void advance(__u64 *pos, __u64 base, __u64 *count, __u32 seq)
{
	__u64 was = *pos;
	__u64 now = seq_ext(was, seq);
	if ((__s64)(now - was) > 0) {
		*pos = now;
		*count = now - base;
	}
}

/* tx: application bytes queued (write_seq) until the FIN is queued. */
static __always_inline void refresh_tx(struct gtcp_conn *c, struct sock *sk, struct tcp_sock *tp)
{
	if (!(c->flags & F_ESTABLISHED) || (c->flags & F_TX_FROZEN))
		return;
	advance(&c->tx_pos, c->tx_base, &c->ctr[C_TX_BYTES], BPF_CORE_READ(tp, write_seq));
}

/* rx: application bytes read (copied_seq). Reading the end of stream advances copied_seq
 * past the peer's FIN too; that one is not a byte (tcp_fin set SOCK_DONE, and only then can
 * copied_seq reach a rcv_nxt that includes the FIN). No FIN can have arrived while the
 * socket is ESTABLISHED: the two extra reads are skipped then. */
static __always_inline void refresh_rx(struct gtcp_conn *c, struct sock *sk, struct tcp_sock *tp)
{
	if (!(c->flags & F_ESTABLISHED))
		return;
	__u32 s = BPF_CORE_READ(tp, copied_seq);
	if (c->state != TCP_ESTABLISHED && s == BPF_CORE_READ(tp, rcv_nxt)) {
		unsigned long flags = BPF_CORE_READ(sk, __sk_common.skc_flags);
		if (flags & (1UL << bpf_core_enum_value(enum sock_flags, SOCK_DONE)))
			s -= 1;
	}
	advance(&c->rx_pos, c->rx_base, &c->ctr[C_RX_BYTES], s);
}

/* Frees the bucket's slot if `sk` holds it (at destruction). */
static __always_inline void owner_release(struct sock *sk)
{
	__u32 b = sk_bucket(sk);
	__u64 *o = bpf_map_lookup_elem(&owner, &b);
	if (o && *o == (__u64)sk)
		*o = 0;
}

/* Segment, retransmission and socket-drop counters (deltas of the kernel's own). */
static __always_inline void refresh_counters(struct gtcp_conn *c, struct sock *sk, struct tcp_sock *tp)
{
	__u32 v = BPF_CORE_READ(tp, segs_in);
	c->ctr[C_SEGS_IN] += (__u32)(v - c->last_segs_in);
	c->last_segs_in = v;
	v = BPF_CORE_READ(tp, segs_out);
	c->ctr[C_SEGS_OUT] += (__u32)(v - c->last_segs_out);
	c->last_segs_out = v;
	v = BPF_CORE_READ(tp, total_retrans);
	c->ctr[C_RETRANS] += (__u32)(v - c->last_total_retrans);
	c->last_total_retrans = v;
	v = sk_drops_total(sk);
	c->ctr[C_SK_DROPS] += (__u32)(v - c->last_sk_drops);
	c->last_sk_drops = v;
}

static __always_inline void sample_loss(struct gtcp_conn *c, struct tcp_sock *tp)
{
	note_max(c, M_LOST_OUT, BPF_CORE_READ(tp, lost_out));
	note_max(c, M_SACKED_OUT, BPF_CORE_READ(tp, sacked_out));
}

static __always_inline __u64 jiffies_ms(__u64 j)
{
	__u32 hz = cfg.hz ? cfg.hz : 1000;
	return j * 1000 / hz;
}

/* The periodic sample of the socket's state (at most once per sample_period). */
static __always_inline void sample(struct gtcp_conn *c, struct sock *sk, struct tcp_sock *tp)
{
	struct inet_connection_sock *icsk = (struct inet_connection_sock *)sk;
	hist_add(c, H_SRTT, BPF_CORE_READ(tp, srtt_us) >> 3);
	hist_add(c, H_RCV_RTT, BPF_CORE_READ(tp, rcv_rtt_est.rtt_us) >> 3);
	__u32 write_seq = BPF_CORE_READ(tp, write_seq);
	__u32 snd_nxt = BPF_CORE_READ(tp, snd_nxt);
	__u32 snd_una = BPF_CORE_READ(tp, snd_una);
	__u32 snd_wnd = BPF_CORE_READ(tp, snd_wnd);
	__u32 rcv_wnd = BPF_CORE_READ(tp, rcv_wnd);
	hist_add(c, H_SND_CWND, BPF_CORE_READ(tp, snd_cwnd));
	hist_add(c, H_NOTSENT, (__s32)(write_seq - snd_nxt) > 0 ? write_seq - snd_nxt : 0);
	hist_add(c, H_NOTACK, (__s32)(snd_nxt - snd_una) > 0 ? snd_nxt - snd_una : 0);
	hist_add(c, H_REORDERING, BPF_CORE_READ(tp, reordering));
	hist_add(c, H_SND_WND, snd_wnd);
	hist_add(c, H_RCV_WND, rcv_wnd);
	__u32 avl = snd_una + snd_wnd - snd_nxt;
	hist_add(c, H_AVL_SND_WND, (__s32)avl > 0 ? avl : 0);
	if (rcv_wnd == 0)
		c->ctr[C_ZERO_RCV_WND]++;
	if (snd_wnd == 0)
		c->ctr[C_ZERO_SND_WND]++;
	hist_add(c, H_RTO, jiffies_ms(BPF_CORE_READ(icsk, icsk_rto)));
	hist_add(c, H_ATO, jiffies_ms(BPF_CORE_READ_BITFIELD_PROBED(icsk, icsk_ack.ato)));
	hist_add(c, H_RCVBUF, (__u32)BPF_CORE_READ(sk, sk_rcvbuf));
	hist_add(c, H_SNDBUF, (__u32)BPF_CORE_READ(sk, sk_sndbuf));
	sample_loss(c, tp);
	refresh_counters(c, sk, tp);
}

/* Sequence bases and handshake RTT when the connection becomes established. */
static __always_inline void set_established(struct gtcp_conn *c, struct sock *sk, struct tcp_sock *tp,
					    __u32 base_write, __u32 base_copied, __u32 syn_srtt_us, __u8 state)
{
	read_tuple(c, sk);
	c->state = state;
	c->tx_pos = c->tx_base = base_write;
	c->rx_pos = c->rx_base = base_copied;
	c->last_segs_in = BPF_CORE_READ(tp, segs_in);
	c->last_segs_out = BPF_CORE_READ(tp, segs_out);
	c->last_total_retrans = BPF_CORE_READ(tp, total_retrans);
	c->last_sk_drops = sk_drops_total(sk);
	c->flags |= F_ESTABLISHED;
	/* Claim the bucket's slot when free. Two sockets racing for it may both see their own
	 * tag for a moment; the fast path checks the tag on every read, so the one that lost
	 * simply takes the lookup path. */
	__u32 b = sk_bucket(sk);
	__u64 *o = bpf_map_lookup_elem(&owner, &b);
	if (o && *o == 0)
		*o = (__u64)sk;
	if (syn_srtt_us)
		hist_add(c, H_SYN_SRTT, syn_srtt_us);
}

/* The entry of a live socket (entries are removed when their socket is destroyed; the
 * flag check guards against a record caught half-way). */
static __always_inline struct gtcp_conn *live(struct gtcp_conn *c)
{
	return c && !(c->flags & F_CLOSED) ? c : NULL;
}

static __always_inline struct gtcp_conn *lookup_conn(struct sock *sk)
{
	__u64 key = (__u64)sk;
	return sk ? live(bpf_map_lookup_elem(&conns, &key)) : NULL;
}

/* Creates the entry of `sk` for `tgid` (in the caller's context); NULL when the map is full. */
static __always_inline struct gtcp_conn *new_conn(struct sock *sk, __u32 tgid, __u8 role)
{
	__u32 zero = 0;
	/* An all-zero value to insert (never written: too large to clear on the stack). */
	struct gtcp_conn *z = bpf_map_lookup_elem(&zero_conn, &zero);
	if (!z)
		return NULL;
	__u64 key = (__u64)sk;
	long err = bpf_map_update_elem(&conns, &key, z, BPF_NOEXIST);
	if (err && err != -17 /* EEXIST */) {
		drop(D_CONN_MAP_FULL);
		return NULL;
	}
	struct gtcp_conn *c = bpf_map_lookup_elem(&conns, &key);
	if (!c)
		return NULL;
	if (err)
		return live(c); /* created meanwhile */
	track(sk, 1);
	c->rec_type = REC_CONN;
	c->sk = key;
	c->id = bpf_ktime_get_ns();
	c->tgid = tgid;
	c->role = role;
	bpf_get_current_comm(&c->comm, sizeof(c->comm));
	return c;
}

/* Attributes `sk` to the current process when it is in scope (first read or send). */
static __always_inline struct gtcp_conn *adopt(struct sock *sk)
{
	__u64 key = (__u64)sk;
	__u32 b = sk_bucket(sk);
	__u32 *t = bpf_map_lookup_elem(&tracked, &b);
	struct gtcp_conn *c;
	if (t && *t) {
		c = live(bpf_map_lookup_elem(&conns, &key));
		if (c)
			return c;
	}
	__u32 tgid = current_tgid();
	if (!gopher_in_scope(tgid) || !is_tcp(sk))
		return NULL;
	c = live(bpf_map_lookup_elem(&conns, &key)); /* counts are hints: look before creating */
	if (c)
		return c;
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	struct gtcp_pending *p = bpf_map_lookup_elem(&pending, &key);
	if (p) {
		struct gtcp_pending pv = *p;
		bpf_map_delete_elem(&pending, &key);
		c = new_conn(sk, tgid, pv.role);
		if (c)
			set_established(c, sk, tp, pv.base_write_seq, pv.base_copied_seq, pv.syn_srtt_us, sk_state(sk));
		return c;
	}
	__u8 st = sk_state(sk);
	if (st == TCP_SYN_SENT || st == TCP_SYN_RECV || st == TCP_CLOSE)
		return NULL;
	__u16 lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	__u16 rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	c = new_conn(sk, tgid, guess_role(lport, rport));
	if (c) {
		set_established(c, sk, tp, BPF_CORE_READ(tp, write_seq), BPF_CORE_READ(tp, copied_seq), 0, st);
		c->flags |= F_ADOPTED;
	}
	return c;
}

static __always_inline void close_conn(struct gtcp_conn *c, struct sock *sk)
{
	__u64 key = (__u64)sk;
	if (!(c->flags & F_ESTABLISHED)) {
		if (bpf_map_delete_elem(&conns, &key) == 0) /* never connected: nothing to report */
			track(sk, -1);
		return;
	}
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	refresh_tx(c, sk, tp);
	refresh_rx(c, sk, tp);
	owner_release(sk);
	refresh_counters(c, sk, tp);
	sample_loss(c, tp);
	c->flags |= F_CLOSED;
	c->state = TCP_CLOSE;
	if (bpf_ringbuf_output(&events, c, sizeof(*c), 0) != 0) {
		/* Ring full: park the record where user space sweeps it. */
		drop(D_CLOSED_RB_FULL);
		struct spill_key sk2 = { .sk = key, .id = c->id };
		if (bpf_map_update_elem(&spill, &sk2, c, BPF_NOEXIST) == 0)
			__sync_fetch_and_add(&cfg.spilled, 1);
		else
			drop(D_CLOSED_LOST);
	}
	if (bpf_map_delete_elem(&conns, &key) == 0)
		track(sk, -1);
}

/* tcp_delay: the peer acknowledged the data of the send being timed (net_delay). */
static __always_inline void settle_net_delay(struct gtcp_conn *c, __u32 ack, __u64 now)
{
	if ((__s32)(ack - c->tx_pending_seq) >= 0) {
		hist_add(c, H_NET_DELAY, now - c->tx_pending_ns);
		c->tx_pending_ns = 0;
	}
}

/* ---- connection lifecycle ------------------------------------------------------------ */

SEC("raw_tp/inet_sock_set_state")
int on_state(struct bpf_raw_tracepoint_args *ctx)
{
	struct sock *sk = (struct sock *)ctx->args[0];
	int oldstate = (int)ctx->args[1];
	int newstate = (int)ctx->args[2];
	__u64 key = (__u64)sk;
	struct gtcp_conn *c = live(bpf_map_lookup_elem(&conns, &key));

	if (!c) {
		if (newstate == TCP_SYN_SENT) {
			/* connect(): runs in the caller's context. */
			__u32 tgid = current_tgid();
			if (gopher_in_scope(tgid) && is_tcp(sk))
				new_conn(sk, tgid, 1);
		} else if (newstate == TCP_ESTABLISHED && (oldstate == TCP_SYN_RECV || oldstate == TCP_SYN_SENT)) {
			/* Softirq, owner unknown yet: remember role, handshake RTT and bases. */
			if (!is_tcp(sk))
				return 0;
			struct tcp_sock *tp = (struct tcp_sock *)sk;
			struct gtcp_pending p = {};
			p.est_ns = bpf_ktime_get_ns();
			p.syn_srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
			p.base_write_seq = BPF_CORE_READ(tp, write_seq);
			p.base_copied_seq = BPF_CORE_READ(tp, rcv_nxt);
			p.role = oldstate == TCP_SYN_SENT ? 1 : 0;
			bpf_map_update_elem(&pending, &key, &p, BPF_ANY);
		} else if (newstate == TCP_CLOSE) {
			bpf_map_delete_elem(&pending, &key);
		}
		return 0;
	}

	struct tcp_sock *tp = (struct tcp_sock *)sk;
	c->state = newstate;
	/* tcp_probe only sees segments of ESTABLISHED sockets: the ACK that ends a timed send
	 * after shutdown() (FIN_WAIT1 -> FIN_WAIT2, CLOSING, LAST_ACK -> CLOSE) shows here. */
	if (cfg.delay_on && c->tx_pending_ns && (c->flags & F_ESTABLISHED))
		settle_net_delay(c, BPF_CORE_READ(tp, snd_una), bpf_ktime_get_ns());
	if (newstate == TCP_ESTABLISHED && !(c->flags & F_ESTABLISHED)) {
		set_established(c, sk, tp, BPF_CORE_READ(tp, write_seq), BPF_CORE_READ(tp, rcv_nxt),
				BPF_CORE_READ(tp, srtt_us) >> 3, TCP_ESTABLISHED);
		return 0;
	}
	if (newstate == TCP_CLOSE) {
		/* The application may still read data queued before the close (e.g. a reply that
		 * came with the peer's FIN): with tcp_destroy_sock the record is finalized when the
		 * socket is destroyed, after the last read. */
		if (cfg.destroy_hook && (c->flags & F_ESTABLISHED)) {
			refresh_tx(c, sk, tp);
			refresh_rx(c, sk, tp);
			refresh_counters(c, sk, tp);
			sample_loss(c, tp);
		} else {
			close_conn(c, sk);
		}
		return 0;
	}
	if (!(c->flags & F_ESTABLISHED))
		return 0;
	/* Our FIN is about to be queued: count what the application wrote, then freeze. */
	if (newstate == TCP_FIN_WAIT1 || newstate == TCP_LAST_ACK) {
		refresh_tx(c, sk, tp);
		c->flags |= F_TX_FROZEN;
	}
	refresh_rx(c, sk, tp);
	return 0;
}

/* The socket is being destroyed (after close() of the last descriptor). */
SEC("raw_tp/tcp_destroy_sock")
int on_destroy(struct bpf_raw_tracepoint_args *ctx)
{
	struct sock *sk = (struct sock *)ctx->args[0];
	__u64 key = (__u64)sk;
	bpf_map_delete_elem(&pending, &key);
	struct gtcp_conn *c = live(bpf_map_lookup_elem(&conns, &key));
	if (c)
		close_conn(c, sk);
	else
		owner_release(sk); /* its entry was removed by user space (left the scope) */
	return 0;
}

/* Every segment received on an established socket (before it is processed). */
SEC("raw_tp/tcp_probe")
int on_tcp_probe(struct bpf_raw_tracepoint_args *ctx)
{
	struct sock *sk = (struct sock *)ctx->args[0];
	__u64 key = (__u64)sk;
	if (!cfg.delay_on) {
		/* Only sampling to do: at most once per sample_period per bucket. */
		__u32 b = sk_bucket(sk);
		__u64 *d = bpf_map_lookup_elem(&due, &b);
		if (!d)
			return 0;
		__u64 j = bpf_jiffies64();
		if (j < *d)
			return 0;
		*d = j + cfg.sample_jiffies;
	}
	struct gtcp_conn *c = live(bpf_map_lookup_elem(&conns, &key));
	if (!c || !(c->flags & F_ESTABLISHED))
		return 0;
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	__u64 now = bpf_ktime_get_ns();
	if (cfg.delay_on) {
		struct sk_buff *skb = (struct sk_buff *)ctx->args[1];
		struct tcp_skb_cb *tcb = (struct tcp_skb_cb *)__builtin_preserve_access_index(&skb->cb);
		__u32 seq = BPF_CORE_READ(tcb, seq);
		__u32 end_seq = BPF_CORE_READ(tcb, end_seq);
		if (end_seq != seq && c->rx_pending_ns == 0) {
			/* Arrival of unread data: NIC time when a tc stamp is there, else now. */
			__u64 ts = BPF_CORE_READ(skb, tstamp);
			c->rx_pending_ns = (ts && ts < now && now - ts < 10000000000ULL) ? ts : now;
		}
		if (c->tx_pending_ns)
			settle_net_delay(c, BPF_CORE_READ(tcb, ack_seq), now);
	}
	/* Everything else at most once per sample_period: this runs for every segment. */
	if (now - c->last_sample_ns >= cfg.sample_ns) {
		c->last_sample_ns = now;
		refresh_tx(c, sk, tp);
		sample(c, sk, tp);
	}
	return 0;
}

/* The application copied received data (process context, socket locked). */
SEC("raw_tp/tcp_rcv_space_adjust")
int on_rcv_space(struct bpf_raw_tracepoint_args *ctx)
{
	struct sock *sk = (struct sock *)ctx->args[0];
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	if (cfg.refresh_on && !cfg.delay_on) {
		/* Fast path: the socket owns its bucket's slot; its bytes come from the refresh pass. */
		__u32 b = sk_bucket(sk);
		__u64 *o = bpf_map_lookup_elem(&owner, &b);
		if (o && *o == (__u64)sk)
			return 0;
	}
	struct gtcp_conn *c = adopt(sk);
	if (!c)
		return 0;
	refresh_rx(c, sk, tp);
	refresh_tx(c, sk, tp); /* what it wrote before this read (request/response: the last reply) */
	if (c->rx_pending_ns) {
		__u64 now = bpf_ktime_get_ns();
		if (now > c->rx_pending_ns)
			hist_add(c, H_SYS_DELAY, now - c->rx_pending_ns);
		c->rx_pending_ns = 0;
	}
	return 0;
}

/* tcp_delay only: data was queued for the application (any state; no skb here). */
SEC("raw_tp/sk_data_ready")
int on_data_ready(struct bpf_raw_tracepoint_args *ctx)
{
	struct gtcp_conn *c = lookup_conn((struct sock *)ctx->args[0]);
	if (c && c->rx_pending_ns == 0 && (c->flags & F_ESTABLISHED))
		c->rx_pending_ns = bpf_ktime_get_ns();
	return 0;
}

/* tcp_delay only: the application starts a send (process context, socket locked). */
SEC("raw_tp/tcp_sendmsg_locked")
int on_sendmsg(struct bpf_raw_tracepoint_args *ctx)
{
	struct sock *sk = (struct sock *)ctx->args[0];
	struct gtcp_conn *c = adopt(sk);
	if (!c || !(c->flags & F_ESTABLISHED))
		return 0;
	if (c->tx_pending_ns == 0) {
		struct msghdr *msg = (struct msghdr *)ctx->args[1];
		__u64 len = BPF_CORE_READ(msg, msg_iter.count);
		struct tcp_sock *tp = (struct tcp_sock *)sk;
		c->tx_pending_seq = BPF_CORE_READ(tp, write_seq) + (__u32)len;
		c->tx_pending_ns = bpf_ktime_get_ns();
	}
	return 0;
}

/* ---- abnormal events ------------------------------------------------------------------ */

SEC("raw_tp/tcp_retransmit_skb")
int on_retrans(struct bpf_raw_tracepoint_args *ctx)
{
	struct sock *sk = (struct sock *)ctx->args[0];
	struct gtcp_conn *c = lookup_conn(sk);
	if (!c || !(c->flags & F_ESTABLISHED))
		return 0;
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	__u32 v = BPF_CORE_READ(tp, total_retrans);
	c->ctr[C_RETRANS] += (__u32)(v - c->last_total_retrans);
	c->last_total_retrans = v;
	sample_loss(c, tp);
	return 0;
}

/* A raw tracepoint program may only read as many arguments as the tracepoint has on this
 * kernel (checked at attach), hence one variant per argument count. */
SEC("raw_tp/tcp_send_reset")
int on_send_reset(struct bpf_raw_tracepoint_args *ctx)
{
	struct gtcp_conn *c = lookup_conn((struct sock *)ctx->args[0]);
	if (c)
		__sync_fetch_and_add(&c->ctr[C_SEND_RSTS], 1);
	return 0;
}

/* >= 6.10: the reset reason tells an abort on memory pressure (tcp_check_oom). */
SEC("raw_tp/tcp_send_reset")
int on_send_reset_reason(struct bpf_raw_tracepoint_args *ctx)
{
	struct gtcp_conn *c = lookup_conn((struct sock *)ctx->args[0]);
	if (!c)
		return 0;
	__sync_fetch_and_add(&c->ctr[C_SEND_RSTS], 1);
	if (cfg.rst_reason_oom && (__u32)ctx->args[2] == cfg.rst_reason_oom)
		__sync_fetch_and_add(&c->ctr[C_TCP_OOM], 1);
	return 0;
}

SEC("raw_tp/tcp_receive_reset")
int on_recv_reset(struct bpf_raw_tracepoint_args *ctx)
{
	struct gtcp_conn *c = lookup_conn((struct sock *)ctx->args[0]);
	if (c)
		__sync_fetch_and_add(&c->ctr[C_RECV_RSTS], 1);
	return 0;
}

static __always_inline int drop_counter(__u32 reason)
{
	if (reason == 0)
		return -1;
	if (reason == cfg.reason_backlog)
		return C_BACKLOG_DROPS;
	if (reason == cfg.reason_filter)
		return C_FILTER_DROPS;
	if (reason == cfg.reason_proto_mem)
		return C_RMEM_DROPS;
	return -1;
}

static __always_inline void count_drop(struct sock *sk, int idx)
{
	struct gtcp_conn *c = lookup_conn(sk);
	if (c && idx >= 0 && idx < N_CTR)
		__sync_fetch_and_add(&c->ctr[idx], 1);
}

/* 5.17 - 6.11: (skb, location, reason); the socket is skb->sk when set. */
SEC("raw_tp/kfree_skb")
int on_kfree_skb(struct bpf_raw_tracepoint_args *ctx)
{
	int idx = drop_counter((__u32)ctx->args[2]);
	if (idx < 0)
		return 0;
	struct sk_buff *skb = (struct sk_buff *)ctx->args[0];
	count_drop(BPF_CORE_READ(skb, sk), idx);
	return 0;
}

/* >= 6.12: (skb, location, reason, rx_sk): the receiving socket even before skb->sk is set. */
SEC("raw_tp/kfree_skb")
int on_kfree_skb_rx(struct bpf_raw_tracepoint_args *ctx)
{
	int idx = drop_counter((__u32)ctx->args[2]);
	if (idx < 0)
		return 0;
	struct sock *sk = (struct sock *)ctx->args[3];
	if (!sk) {
		struct sk_buff *skb = (struct sk_buff *)ctx->args[0];
		sk = BPF_CORE_READ(skb, sk);
	}
	count_drop(sk, idx);
	return 0;
}

SEC("raw_tp/sock_exceed_buf_limit")
int on_buf_limit(struct bpf_raw_tracepoint_args *ctx)
{
	struct gtcp_conn *c = lookup_conn((struct sock *)ctx->args[0]);
	if (c)
		__sync_fetch_and_add(&c->ctr[C_SNDBUF_LIMIT], 1);
	return 0;
}

SEC("raw_tp/inet_sk_error_report")
int on_sk_error(struct bpf_raw_tracepoint_args *ctx)
{
	struct sock *sk = (struct sock *)ctx->args[0];
	struct gtcp_conn *c = lookup_conn(sk);
	if (!c)
		return 0;
	if (BPF_CORE_READ(sk, sk_err) == ETIMEDOUT)
		__sync_fetch_and_add(&c->ctr[C_TMOUT], 1);
	return 0;
}

/* ---- refresh pass (run by user space before it reads `conns`) ----------------------- */

static long refresh_one(struct bpf_map *map, __u64 *key, struct gtcp_conn *c, void *ctx)
{
	if ((c->flags & (F_ESTABLISHED | F_CLOSED)) != F_ESTABLISHED)
		return 0;
	struct sock *sk = (struct sock *)c->sk;
	/* No socket lock here: a socket being torn down right now may already be reused; its
	 * ports tell (the final record is taken under the lock at destruction anyway). A socket
	 * in TCP_CLOSE still counts, the application may read what came with the peer's FIN;
	 * its local port was released then (skc_num 0), the remote one stays. */
	__u16 num = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (num != c->lport && (num != 0 || bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport)) != c->rport))
		return 0;
	struct tcp_sock *tp = (struct tcp_sock *)sk;
	refresh_tx(c, sk, tp);
	refresh_rx(c, sk, tp);
	return 0;
}

SEC("raw_tp")
int refresh(void *ctx)
{
	bpf_for_each_map_elem(&conns, refresh_one, NULL, 0);
	return 0;
}

/* ---- tcp_delay with dev_name: stamp packets at the NIC's ingress --------------------- */

SEC("tc")
int tc_stamp(struct __sk_buff *skb)
{
	skb->tstamp = bpf_ktime_get_ns();
	return 0; /* TC_ACT_OK */
}
