/* Shared layout of the tcp probe's kernel maps. User space (src/probes/tcp/decode.ts)
 * reads the field offsets from this object's BTF, so the order here is free; sizes and
 * meanings are the contract. */
#ifndef GOPHER_TCP_H
#define GOPHER_TCP_H

/* Histogram slots; bounds per kind in tcp.bpf.c and src/probes/tcp/tables.ts. */
enum gtcp_hist {
	H_SRTT = 0,      /* us */
	H_RCV_RTT,       /* us */
	H_SYN_SRTT,      /* us */
	H_SND_CWND,      /* segments */
	H_NOTSENT,       /* bytes */
	H_NOTACK,        /* bytes */
	H_REORDERING,    /* segments */
	H_SND_WND,       /* bytes */
	H_RCV_WND,       /* bytes */
	H_AVL_SND_WND,   /* bytes */
	H_RTO,           /* ms */
	H_ATO,           /* ms */
	H_RCVBUF,        /* bytes */
	H_SNDBUF,        /* bytes */
	H_SYS_DELAY,     /* ns */
	H_NET_DELAY,     /* ns */
	N_HIST
};

/* Per-period maxima: one per histogram, then these. */
enum gtcp_max {
	M_LOST_OUT = N_HIST,
	M_SACKED_OUT,
	N_MAX
};

#define HIST_SLOTS 8

/* Monotonic counters (u64). */
enum gtcp_ctr {
	C_RX_BYTES = 0,
	C_TX_BYTES,
	C_SEGS_IN,
	C_SEGS_OUT,
	C_RETRANS,
	C_SK_DROPS,
	C_BACKLOG_DROPS,
	C_FILTER_DROPS,
	C_RMEM_DROPS,
	C_TMOUT,
	C_SNDBUF_LIMIT,
	C_TCP_OOM,
	C_SEND_RSTS,
	C_RECV_RSTS,
	C_ZERO_RCV_WND,
	C_ZERO_SND_WND,
	N_CTR
};

enum gtcp_flags {
	F_ESTABLISHED = 1, /* tuple and bases valid */
	F_CLOSED = 2,      /* connection reached TCP_CLOSE; final record */
	F_TX_FROZEN = 4,   /* FIN queued: write_seq no longer counts application bytes */
	F_FIN_RCVD = 8,    /* the application read the end of stream (peer FIN) */
	F_ADOPTED = 16,    /* existed before the probe saw its handshake: counted from adoption */
};

enum gtcp_rec_type {
	REC_CONN = 1, /* a closed connection (struct gtcp_conn) */
};

/* Losses counted in the `drops` per-CPU array. */
enum gtcp_drop_reason {
	D_CONN_MAP_FULL = 0, /* a connection could not be tracked */
	D_CLOSED_RB_FULL,    /* a closed connection went to the spill map (ring full); still reported */
	D_CLOSED_LOST,       /* a closed connection's final record fit neither the ring nor the spill map */
	N_DROP
};

struct gtcp_conn {
	/* Hot: touched for every segment or read (first cache line after the hash key). */
	__u32 rec_type; /* REC_CONN */
	__u32 flags;
	__u64 last_sample_ns;
	__u64 rx_pending_ns;
	__u64 tx_pending_ns;
	__u32 tx_pending_seq;
	__u32 tgid;
	/* Byte positions: 64-bit extensions of write_seq / copied_seq (see seq_ext). */
	__u64 tx_pos;
	__u64 rx_pos;
	__u64 sk;
	__u64 id;       /* ktime at creation: (sk, id) names one connection */
	/* Cold. */
	__u16 family;
	__u8 role;      /* 0 server, 1 client (upstream's numbering) */
	__u8 state;
	__u32 last_segs_in;
	__u32 last_segs_out;
	__u32 last_total_retrans;
	__u32 last_sk_drops;
	__u32 max_epoch[2];
	__u16 lport;
	__u16 rport;
	__u32 pad0;
	__u64 tx_base;  /* tx_pos / rx_pos when the connection was established or adopted */
	__u64 rx_base;
	char comm[16];
	__u8 laddr[16];
	__u8 raddr[16];
	__u64 ctr[N_CTR];
	__u64 hsum[N_HIST];
	__u32 hist[N_HIST][HIST_SLOTS];
	__u32 maxv[2][N_MAX];
};

struct gtcp_pending {
	__u64 est_ns;
	__u32 syn_srtt_us;
	__u32 base_write_seq;
	__u32 base_copied_seq;
	__u8 role;
	__u8 pad[3];
};

#endif
